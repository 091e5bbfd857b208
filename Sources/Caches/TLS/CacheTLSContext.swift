import NIOCore

/// TLS for one node configuration: one OpenSSL context shared by every connection. (Being written.)
final class CacheTLSContext: Sendable {
    let configuration: CacheTLSConfiguration

    init(configuration: CacheTLSConfiguration) throws {
        self.configuration = configuration
    }

    func makeHandler(host: String) throws -> any ChannelHandler {
        throw CacheError(.invalidConfiguration, "TLS is not built yet")
    }
}

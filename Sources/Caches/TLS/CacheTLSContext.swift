import CacheTLS
import NIOCore

/// TLS for one node configuration: one OpenSSL context (`SSL_CTX`), built once and shared by every connection.
final class CacheTLSContext: Sendable {
    let configuration: CacheTLSConfiguration
    let context: OpenSSLContext

    /// Builds the OpenSSL context; a bad CA file, certificate or key fails here, before any connection.
    init(configuration: CacheTLSConfiguration) throws(CacheError) {
        self.configuration = configuration
        let trust: OpenSSLConfiguration.TrustRoots =
            switch configuration.trust {
            case .system: .system
            case .caFile(let path): .file(path)
            case .caDirectory(let path): .directory(path)
            }
        let verification: OpenSSLConfiguration.CertificateVerification =
            switch configuration.verification {
            case .full: .fullVerification
            case .noHostnameVerification: .noHostnameVerification
            case .none: .none
            }
        let openSSL = OpenSSLConfiguration(
            trustRoots: trust,
            certificateChainFile: configuration.certificateFile,
            privateKeyFile: configuration.keyFile,
            privateKeyPassphrase: configuration.keyPassphrase,
            minimumVersion: configuration.minimumVersion == .tls13 ? .tls13 : .tls12,
            certificateVerification: verification
        )
        do {
            self.context = try OpenSSLContext(configuration: openSSL)
        } catch {
            throw CacheError(.invalidConfiguration, "TLS configuration: \(error)", underlyingError: error)
        }
    }

    /// A handler for one connection; `host` is used for SNI and verification unless a server name is configured.
    ///
    /// The handshake must complete within `handshakeTimeout` (the connect timeout): a plaintext port never answers a
    /// ClientHello, and the handler then fails with a message that says so instead of a bare timeout.
    func makeHandler(host: String, handshakeTimeout: TimeAmount) throws -> OpenSSLClientHandler {
        do {
            return try OpenSSLClientHandler(
                context: self.context,
                serverHostname: self.configuration.serverName ?? host,
                handshakeTimeout: handshakeTimeout
            )
        } catch {
            throw CacheError(.tlsHandshake, "cannot start TLS: \(error)", underlyingError: error)
        }
    }
}

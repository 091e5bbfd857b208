import Logging
import NIOCore
import NIOPosix
import Testing

@testable import Caches

/// The connection set-up (AUTH/SELECT/PING) is bounded by the connect timeout, and its error says so.
@Suite("Connection set-up timeout")
struct ConnectionSetUpTimeoutTests {
    @Test("a server that accepts but never replies fails the set-up naming the connect timeout, not the command timeout")
    func silentServerNamesTheConnectTimeout() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        // Accepts connections and never writes a byte.
        let server = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let settings = CacheConnection.Settings(
            nodeName: "silent",
            host: "127.0.0.1",
            port: port,
            connectTimeout: .milliseconds(200),
            commandTimeout: .seconds(5)
        )
        let result = await Result(catching: {
            try await CacheConnection.connect(id: 1, settings: settings, eventLoop: group.next(), logger: Logger(label: "test")).get()
        })
        let error = try #require(result.failure as? CacheError)
        #expect(error.code == .connectFailed)
        #expect(error.message.contains("connect timeout (0.2 seconds)"), "\(error.message)")
        #expect(!error.message.contains("command timeout"), "\(error.message)")
        #expect(error.node == "silent")
        try await server.close()
        try await group.shutdownGracefully()
    }
}

extension Result where Failure == any Error {
    fileprivate init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }

    fileprivate var failure: (any Error)? {
        if case .failure(let error) = self { return error }
        return nil
    }
}

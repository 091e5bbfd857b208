import CacheTLS
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOTLS
import RedisTestSupport
import Testing

/// Records what reaches the end of a TLS channel's pipeline.
final class Recorder: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    private(set) var received: [UInt8] = []
    private(set) var events: [TLSUserEvent] = []
    private(set) var errors: [any Error] = []
    private(set) var becameInactive = false

    var receivedText: String { String(decoding: self.received, as: UTF8.self) }

    var handshakeCompleted: Bool {
        self.events.contains { if case .handshakeCompleted = $0 { true } else { false } }
    }

    var openSSLErrors: [OpenSSLError] { self.errors.compactMap { $0 as? OpenSSLError } }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        self.received += self.unwrapInboundIn(data).readableBytesView
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? TLSUserEvent { self.events.append(event) }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        self.errors.append(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.becameInactive = true
    }
}

/// A TLS client and a TLS server on two `EmbeddedChannel`s whose bytes are shuttled in memory.
final class InMemoryTLSPair {
    let client = EmbeddedChannel()
    let server = EmbeddedChannel()
    let clientHandler: OpenSSLClientHandler
    let serverHandler: OpenSSLClientHandler
    let clientRecorder = Recorder()
    let serverRecorder = Recorder()

    init(client: OpenSSLContext, server: OpenSSLContext, serverHostname: String?) throws {
        self.clientHandler = try OpenSSLClientHandler(context: client, serverHostname: serverHostname)
        self.serverHandler = try OpenSSLClientHandler(serverContext: server)
        try self.client.pipeline.syncOperations.addHandler(self.clientHandler)
        try self.client.pipeline.syncOperations.addHandler(self.clientRecorder)
        try self.server.pipeline.syncOperations.addHandler(self.serverHandler)
        try self.server.pipeline.syncOperations.addHandler(self.serverRecorder)
    }

    /// Activates both channels (the server first, so it is listening when the ClientHello arrives).
    func connect() throws {
        try self.server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try self.client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
    }

    /// Moves bytes between the channels until neither has anything left to send.
    func interact() throws {
        var rounds = 0
        while true {
            rounds += 1
            precondition(rounds < 100, "the TLS peers never went quiet")
            let toServer = try Self.drain(self.client)
            let toClient = try Self.drain(self.server)
            if toServer.isEmpty && toClient.isEmpty { return }
            for buffer in toServer where self.server.isActive { try self.server.writeInbound(buffer) }
            for buffer in toClient where self.client.isActive { try self.client.writeInbound(buffer) }
        }
    }

    /// Connects and runs the handshake to the end (whatever the end is).
    func handshake() throws {
        try self.connect()
        try self.interact()
    }

    static func drain(_ channel: EmbeddedChannel) throws -> [ByteBuffer] {
        var buffers: [ByteBuffer] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { buffers.append(buffer) }
        return buffers
    }

    func finish() {
        _ = try? self.client.finish(acceptAlreadyClosed: true)
        _ = try? self.server.finish(acceptAlreadyClosed: true)
    }
}

/// One set of test certificates for a whole suite: made before its first test, deleted after its last.
struct SharedCertificates: SuiteTrait, TestScoping {
    @TaskLocal static var current: TestCertificates?

    func provideScope(
        for test: Test,
        testCase: Test.Case?,
        performing function: @Sendable () async throws -> Void
    ) async throws {
        let certificates = try await TestCertificates.generate()
        defer { certificates.remove() }
        try await Self.$current.withValue(certificates) { try await function() }
    }
}

extension Trait where Self == SharedCertificates {
    /// Gives the suite's tests one set of ``TestCertificates`` through ``withCertificates(_:)``.
    static var sharedCertificates: Self { SharedCertificates() }
}

/// Runs `body` with the suite's certificates (or a fresh set, deleted afterwards, outside such a suite).
func withCertificates<T>(_ body: (TestCertificates) throws -> T) throws -> T {
    if let certificates = SharedCertificates.current {
        return try body(certificates)
    }
    let certificates = try TestCertificates.make()
    defer { certificates.remove() }
    return try body(certificates)
}

/// A server context presenting `certificate`; when `requireClientCertificateFrom` is set, clients must present a
/// certificate signed by that CA.
func serverContext(
    certificate: String,
    key: String,
    requireClientCertificateFrom clientCA: String? = nil
) throws -> OpenSSLContext {
    try OpenSSLContext(
        configuration: OpenSSLConfiguration(
            trustRoots: clientCA.map { .file($0) } ?? .system,
            certificateChainFile: certificate,
            privateKeyFile: key,
            certificateVerification: clientCA == nil ? .none : .fullVerification
        ),
        role: .server
    )
}

extension ByteBuffer {
    init(text: String) {
        self.init(string: text)
    }
}

/// Remembers how a future completed, for checking without waiting on it.
final class FutureObserver: Sendable {
    private let box = NIOLockedValueBox<Result<Void, any Error>?>(nil)

    init(_ future: EventLoopFuture<Void>) {
        future.whenComplete { result in self.box.withLockedValue { $0 = result } }
    }

    /// The result, or `nil` while the future is pending.
    var result: Result<Void, any Error>? { self.box.withLockedValue { $0 } }
}

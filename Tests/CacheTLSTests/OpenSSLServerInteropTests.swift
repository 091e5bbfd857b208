import CacheTLS
import Foundation
import NIOCore
import NIOPosix
import NIOTLS
import RedisTestSupport
import Testing

/// Talks to a real `openssl s_server` on a loopback socket.
@Suite("OpenSSLClientHandler against openssl s_server", .sharedCertificates, .timeLimit(.minutes(1)))
struct OpenSSLServerInteropTests {
    /// Collects decrypted bytes until a newline and reports the line (or the first error).
    private final class LineCollector: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        private let line: EventLoopPromise<String>
        private let handshake: EventLoopPromise<TLSUserEvent>
        private var bytes: [UInt8] = []

        init(line: EventLoopPromise<String>, handshake: EventLoopPromise<TLSUserEvent>) {
            self.line = line
            self.handshake = handshake
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            self.bytes += self.unwrapInboundIn(data).readableBytesView
            if let end = self.bytes.firstIndex(of: UInt8(ascii: "\n")) {
                self.line.succeed(String(decoding: self.bytes[..<end], as: UTF8.self))
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? TLSUserEvent { self.handshake.succeed(event) }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.handshake.fail(error)
            self.line.fail(error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            // A connection that ends first fails what is still awaited (a fulfilled promise ignores this).
            self.handshake.fail(ChannelError.eof)
            self.line.fail(ChannelError.eof)
            context.fireChannelInactive()
        }
    }

    /// Starts `openssl s_server -rev` (it answers each line reversed) on a free loopback port.
    private func startServer(_ certificates: TestCertificates, extraArguments: [String] = []) throws -> (Process, port: Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-rev",
                "-cert", certificates.serverCertificate, "-key", certificates.serverKey,
            ] + extraArguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        // s_server prints "ACCEPT 127.0.0.1:<port>" once it listens.
        var text = ""
        while true {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty {
                process.terminate()
                throw OpenSSLError(code: .handshakeFailed, message: "openssl s_server did not start: \(text)")
            }
            text += String(decoding: data, as: UTF8.self)
            if let range = text.range(of: "ACCEPT 127.0.0.1:"),
                let port = Int(text[range.upperBound...].prefix { $0.isNumber })
            {
                return (process, port)
            }
        }
    }

    /// Starts `openssl s_server` in its default mode, where a line on its standard input is a command (`r`: ask the
    /// client for a renegotiation). Returns the output read up to `ACCEPT`.
    private func startCommandServer(
        _ certificates: TestCertificates,
        extraArguments: [String]
    ) throws -> (Process, port: Int, input: FileHandle, output: FileHandle, text: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            [
                "openssl", "s_server", "-accept", "127.0.0.1:0", "-naccept", "1",
                "-cert", certificates.serverCertificate, "-key", certificates.serverKey,
            ] + extraArguments
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = output
        try process.run()
        var text = ""
        while true {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty {
                process.terminate()
                throw OpenSSLError(code: .handshakeFailed, message: "openssl s_server did not start: \(text)")
            }
            text += String(decoding: data, as: UTF8.self)
            if let range = text.range(of: "ACCEPT 127.0.0.1:"),
                let port = Int(text[range.upperBound...].prefix { $0.isNumber })
            {
                return (process, port, input.fileHandleForWriting, output.fileHandleForReading, text)
            }
        }
    }

    private static func stop(_ process: Process) {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }

    /// Connects a TLS client to `port` and returns the channel with promises for the handshake and the first line.
    private func connect(
        port: Int,
        context: OpenSSLContext,
        serverHostname: String
    ) throws -> (any Channel, handshake: EventLoopFuture<TLSUserEvent>, line: EventLoopFuture<String>) {
        let eventLoop = MultiThreadedEventLoopGroup.singleton.next()
        let line = eventLoop.makePromise(of: String.self)
        let handshake = eventLoop.makePromise(of: TLSUserEvent.self)
        let channel = try ClientBootstrap(group: eventLoop)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        OpenSSLClientHandler(context: context, serverHostname: serverHostname)
                    )
                    try channel.pipeline.syncOperations.addHandler(LineCollector(line: line, handshake: handshake))
                }
            }
            .connect(host: "127.0.0.1", port: port)
            .wait()
        return (channel, handshake.futureResult, line.futureResult)
    }

    @Test func tls12ServerWorks() throws {
        let certificates = try #require(SharedCertificates.current)
        let (server, port) = try self.startServer(certificates, extraArguments: ["-tls1_2"])
        defer { Self.stop(server) }
        let context = try OpenSSLContext(configuration: OpenSSLConfiguration(trustRoots: .file(certificates.caCertificate)))
        let (channel, handshake, line) = try self.connect(port: port, context: context, serverHostname: "localhost")
        try channel.writeAndFlush(ByteBuffer(string: "abc\n")).wait()
        #expect(try handshake.wait() == .handshakeCompleted(negotiatedProtocol: nil))
        #expect(try line.wait() == "cba")
        try channel.close().wait()
    }

    @Test func aRenegotiationTheServerAsksForIsRefused() throws {
        let certificates = try #require(SharedCertificates.current)
        // TLS 1.2: TLS 1.3 has no renegotiation at all.
        let (server, port, input, output, started) = try self.startCommandServer(certificates, extraArguments: ["-tls1_2"])
        defer { Self.stop(server) }
        let context = try OpenSSLContext(configuration: OpenSSLConfiguration(trustRoots: .file(certificates.caCertificate)))
        let (channel, handshake, _) = try self.connect(port: port, context: context, serverHostname: "localhost")
        #expect(try handshake.wait() == .handshakeCompleted(negotiatedProtocol: nil))
        // `r` makes s_server send a HelloRequest. A client that refuses answers with a no_renegotiation alert, which
        // s_server takes as fatal: it logs "no renegotiation" and closes the connection.
        input.write(Data("r\n".utf8))
        // Bounds a failing test only (a client that renegotiated would keep the connection open).
        let bound = channel.eventLoop.scheduleTask(in: .seconds(10)) { channel.close(promise: nil) }
        try? channel.closeFuture.wait()
        bound.cancel()
        if server.isRunning { server.terminate() }
        server.waitUntilExit()
        let text = started + String(decoding: output.readDataToEndOfFile(), as: UTF8.self)
        #expect(text.contains("no renegotiation"), "s_server output:\n\(text)")
    }

    @Test func tls13MinimumRefusesATLS12Server() throws {
        let certificates = try #require(SharedCertificates.current)
        let (server, port) = try self.startServer(certificates, extraArguments: ["-tls1_2"])
        defer { Self.stop(server) }
        let context = try OpenSSLContext(
            configuration: OpenSSLConfiguration(trustRoots: .file(certificates.caCertificate), minimumVersion: .tls13)
        )
        let (channel, handshake, _) = try self.connect(port: port, context: context, serverHostname: "localhost")
        let error = #expect(throws: OpenSSLError.self) { try handshake.wait() }
        #expect(error?.code == .handshakeFailed)
        #expect(error?.openSSLErrors.isEmpty == false)
        try channel.closeFuture.wait()
    }

    @Test(arguments: ["localhost", "127.0.0.1"])
    func handshakeAndRoundTripOverTCP(serverHostname: String) throws {
        let certificates = try #require(SharedCertificates.current)
        let (server, port) = try self.startServer(certificates)
        defer { Self.stop(server) }
        let context = try OpenSSLContext(configuration: OpenSSLConfiguration(trustRoots: .file(certificates.caCertificate)))
        let (channel, handshake, line) = try self.connect(port: port, context: context, serverHostname: serverHostname)
        // Written while the handshake runs: held, then sent; the write completes only after the handshake.
        try channel.writeAndFlush(ByteBuffer(string: "hello redis\n")).wait()
        #expect(try handshake.wait() == .handshakeCompleted(negotiatedProtocol: nil))
        #expect(try line.wait() == "sider olleh")
        try channel.close().wait()
    }
}

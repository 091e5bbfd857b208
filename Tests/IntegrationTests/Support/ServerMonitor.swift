import Foundation
import NIOCore
import NIOPosix
import RedisTestSupport
import Testing

/// A `MONITOR` connection to a real server: every command the server runs, in the order it runs it.
///
/// Redis feeds a transaction's queued commands to monitors when `EXEC` runs them, between the `MULTI` and the
/// `EXEC` lines, so the order of the lines is the order of execution.
final class ServerMonitor: Sendable {
    /// One command as `MONITOR` reports it.
    struct Command: Sendable, CustomStringConvertible {
        /// The client's address (`127.0.0.1:40000`).
        var client: String
        /// The command name as sent (`EXPIRE`).
        var name: String
        /// The arguments after the name.
        var arguments: [String]

        var description: String { ([self.name] + self.arguments).joined(separator: " ") + " from \(self.client)" }
    }

    private let channel: any Channel
    private let lines: AsyncStream<String>

    private init(channel: any Channel, lines: AsyncStream<String>) {
        self.channel = channel
        self.lines = lines
    }

    /// Connects to `server`'s plaintext port and sends `MONITOR`; returns once the server confirmed it.
    static func start(_ server: RedisServer) async throws -> ServerMonitor {
        let (lines, continuation) = AsyncStream<String>.makeStream()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(LineHandler(continuation))
                }
            }
            .connect(host: server.host, port: server.port)
            .get()
        var authentication = ""
        if let password = server.password { authentication = "AUTH \(password)\r\n" }
        try await channel.writeAndFlush(ByteBuffer(string: authentication + "MONITOR\r\n"))
        let monitor = ServerMonitor(channel: channel, lines: lines)
        var iterator = lines.makeAsyncIterator()
        for _ in 0..<(authentication.isEmpty ? 1 : 2) {
            let reply = await iterator.next()
            #expect(reply == "+OK", "MONITOR replied \(reply ?? "nothing")")
        }
        return monitor
    }

    /// The commands the server ran from now until it ran `ECHO marker` (sent through `redis-cli`), which is how
    /// a test knows that every command sent before has been seen, without waiting for a time.
    func commands(through server: RedisServer, marker: String = "monitor-marker-\(UUID().uuidString)") async throws
        -> [Command]
    {
        _ = try await server.cli("ECHO", marker)
        var commands: [Command] = []
        for await line in self.lines {
            guard let command = Self.parse(line) else {
                Issue.record("not a MONITOR line: \(line)")
                continue
            }
            if command.name.uppercased() == "ECHO" && command.arguments == [marker] { return commands }
            commands.append(command)
        }
        Issue.record("the MONITOR connection closed before ECHO \(marker) was seen")
        return commands
    }

    func close() async throws {
        try await self.channel.close()
    }

    /// Parses `1700000000.123456 [0 127.0.0.1:40000] "EXPIRE" "key" "100"` (keys without quotes or backslashes).
    static func parse(_ line: String) -> Command? {
        guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]") else { return nil }
        let client = String(line[line.index(after: open)..<close].split(separator: " ").last ?? "")
        var tokens: [String] = []
        var current: String?
        for character in line[line.index(after: close)...] {
            if character == "\"" {
                if let token = current {
                    tokens.append(token)
                    current = nil
                } else {
                    current = ""
                }
            } else if current != nil {
                current!.append(character)
            }
        }
        guard let name = tokens.first else { return nil }
        return Command(client: client, name: name, arguments: Array(tokens.dropFirst()))
    }

    /// Splits the inbound bytes into lines (without `\r\n`).
    private final class LineHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer

        private let continuation: AsyncStream<String>.Continuation
        private var pending: [UInt8] = []

        init(_ continuation: AsyncStream<String>.Continuation) {
            self.continuation = continuation
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = self.unwrapInboundIn(data)
            self.pending.append(contentsOf: buffer.readableBytesView)
            var start = 0
            var index = 0
            while index + 1 < self.pending.count {
                if self.pending[index] == UInt8(ascii: "\r") && self.pending[index + 1] == UInt8(ascii: "\n") {
                    self.continuation.yield(String(decoding: self.pending[start..<index], as: UTF8.self))
                    index += 2
                    start = index
                } else {
                    index += 1
                }
            }
            self.pending.removeFirst(start)
        }

        func channelInactive(context: ChannelHandlerContext) {
            self.continuation.finish()
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            self.continuation.finish()
            context.close(promise: nil)
        }
    }
}

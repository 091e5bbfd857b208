import NIOCore
import NIOPosix
import RESP

/// An in-process stand-in for one Redis node: a loopback server that answers the commands `Cache` sends.
///
/// It listens on 127.0.0.1 on a port the system picks, on its own one-thread event loop group, so every
/// connection's handler runs on that one thread and shares one ``FakeRedisStore`` without locks. Values live in a
/// dictionary and never expire: TTLs are accepted and ignored. `MULTI` … `EXEC` runs each queued command at once
/// and replays the replies at `EXEC`, which is indistinguishable for the cache's batches.
///
/// Allocation counters count the whole process, so a benchmark's counts include this server's share. The server
/// keeps that share small: it parses commands in place (arguments are slices of the read buffer), reuses one
/// output buffer per connection and one argument array, looks keys up by their bytes, and overwrites an existing
/// value in its own storage. What is left is mostly NIO's own per-read and per-write work on the server side.
struct FakeRedisNode: Sendable {
    /// The port the node listens on, on 127.0.0.1.
    let port: Int
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// Starts a node on 127.0.0.1 and a free port.
    static func start() async throws -> FakeRedisNode {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let store = FakeRedisStore()
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(FakeRedisHandler(store: store))
                    }
                }
                .bind(host: "127.0.0.1", port: 0)
                .get()
            guard let port = channel.localAddress?.port else {
                throw FakeRedisError(message: "the server channel has no port")
            }
            return FakeRedisNode(port: port, group: group, channel: channel)
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Closes the listening socket and every open connection, and stops the node's thread.
    func stop() async throws {
        let closed: EventLoopFuture<Void> = self.channel.close()
        try? await closed.get()
        try await self.group.shutdownGracefully()
    }
}

struct FakeRedisError: Error {
    var message: String
}

/// The node's data: keys and values as bytes, shared by the node's connections.
///
/// Unchecked: only the handlers use it, and they all run on the node's one event loop thread.
final class FakeRedisStore: @unchecked Sendable {
    var entries: [ByteBuffer: ByteBuffer] = [:]

    func value(forKey key: ByteBuffer) -> ByteBuffer? {
        self.entries[key]
    }

    /// Stores a value; an existing key's value is overwritten in its own storage, without an allocation when it
    /// fits.
    func set(_ key: ByteBuffer, _ value: ByteBuffer) {
        if let index = self.entries.index(forKey: key) {
            self.entries.values[index].clear()
            self.entries.values[index].writeImmutableBuffer(value)
        } else {
            // Copies: slices of the read buffer would keep the whole buffer alive.
            var ownKey = ByteBufferAllocator().buffer(capacity: key.readableBytes)
            ownKey.writeImmutableBuffer(key)
            var ownValue = ByteBufferAllocator().buffer(capacity: max(value.readableBytes, 128))
            ownValue.writeImmutableBuffer(value)
            self.entries[ownKey] = ownValue
        }
    }

    func remove(_ key: ByteBuffer) -> Bool {
        self.entries.removeValue(forKey: key) != nil
    }
}

/// One connection's side of the fake node: parses pipelined RESP commands and writes every reply of one read into
/// one buffer, flushed once per read burst.
final class FakeRedisHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let store: FakeRedisStore
    /// Bytes of an incomplete command carried over to the next read.
    private var pending = ByteBuffer()
    /// The replies not yet written; reused from read to read.
    private var output = ByteBufferAllocator().buffer(capacity: 16 * 1024)
    /// The current command's arguments, slices of the input; reused from command to command.
    private var arguments: [ByteBuffer] = []
    /// Between `MULTI` and `EXEC`: the queued commands' replies and their count.
    private var transaction: (replies: ByteBuffer, count: Int)?

    init(store: FakeRedisStore) {
        self.store = store
        self.arguments.reserveCapacity(256)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = Self.unwrapInboundIn(data)
        do {
            if self.pending.readableBytes > 0 {
                self.pending.writeBuffer(&input)
                try self.process(&self.pending)
                self.pending.discardReadBytes()
            } else {
                try self.process(&input)
                if input.readableBytes > 0 {
                    self.pending.clear()
                    self.pending.writeBuffer(&input)
                }
            }
        } catch {
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        guard self.output.readableBytes > 0 else { return }
        context.writeAndFlush(Self.wrapOutboundOut(self.output), promise: nil)
        // The write has usually left the socket by now, so `clear` keeps the storage.
        self.output.clear()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Parsing

    /// Answers every complete command in `buffer`, leaving an incomplete one unread.
    private func process(_ buffer: inout ByteBuffer) throws {
        while try self.readCommand(&buffer) {
            self.execute()
            self.arguments.removeAll(keepingCapacity: true)
        }
    }

    /// Reads one command (an array of bulk strings) into ``arguments``; false, with `buffer` as it was, when the
    /// command is not complete yet.
    private func readCommand(_ buffer: inout ByteBuffer) throws -> Bool {
        let start = buffer.readerIndex
        self.arguments.removeAll(keepingCapacity: true)
        guard let count = try Self.readLine(&buffer, marker: UInt8(ascii: "*")) else { return false }
        for _ in 0..<count {
            guard let length = try Self.readLine(&buffer, marker: UInt8(ascii: "$")),
                buffer.readableBytes >= length + 2,
                let argument = buffer.readSlice(length: length)
            else {
                buffer.moveReaderIndex(to: start)
                self.arguments.removeAll(keepingCapacity: true)
                return false
            }
            buffer.moveReaderIndex(forwardBy: 2)
            self.arguments.append(argument)
        }
        return count > 0
    }

    /// Reads `<marker><digits>\r\n`; nil, with the reader index where it was, when the line is not complete.
    private static func readLine(_ buffer: inout ByteBuffer, marker: UInt8) throws -> Int? {
        let start = buffer.readerIndex
        guard let first = buffer.getInteger(at: start, as: UInt8.self) else { return nil }
        guard first == marker else { throw FakeRedisError(message: "expected an array of bulk strings") }
        var index = start + 1
        var value = 0
        while let byte = buffer.getInteger(at: index, as: UInt8.self) {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                index += 1
            case UInt8(ascii: "\r"):
                guard let newline = buffer.getInteger(at: index + 1, as: UInt8.self) else { return nil }
                guard newline == UInt8(ascii: "\n") else { throw FakeRedisError(message: "expected CRLF") }
                buffer.moveReaderIndex(to: index + 2)
                return value
            default:
                throw FakeRedisError(message: "unexpected byte in a length")
            }
        }
        return nil
    }

    // MARK: Commands

    private func execute() {
        let name = self.arguments[0]
        if var transaction = self.transaction {
            if Self.is(name, "EXEC") {
                self.transaction = nil
                self.output.writeRESPArrayHeader(count: transaction.count)
                self.output.writeBuffer(&transaction.replies)
            } else if Self.is(name, "DISCARD") {
                self.transaction = nil
                self.output.writeStaticString("+OK\r\n")
            } else {
                // Run now, reply at EXEC: swap the output buffer for the transaction's.
                self.transaction = nil
                swap(&self.output, &transaction.replies)
                self.answer(name)
                swap(&self.output, &transaction.replies)
                transaction.count += 1
                self.transaction = transaction
                self.output.writeStaticString("+QUEUED\r\n")
            }
            return
        }
        if Self.is(name, "MULTI") {
            self.transaction = (ByteBufferAllocator().buffer(capacity: 1024), 0)
            self.output.writeStaticString("+OK\r\n")
        } else {
            self.answer(name)
        }
    }

    /// Writes the reply of one command (other than the transaction commands) to ``output``.
    private func answer(_ name: ByteBuffer) {
        let arguments = self.arguments
        let count = arguments.count
        if Self.is(name, "GET"), count == 2 {
            self.writeBulk(self.store.value(forKey: arguments[1]))
        } else if Self.is(name, "MGET"), count >= 2 {
            self.output.writeRESPArrayHeader(count: count - 1)
            for index in 1..<count { self.writeBulk(self.store.value(forKey: arguments[index])) }
        } else if Self.is(name, "SET"), count >= 3 {
            // SET key value [EX n | PX n | NX | XX | KEEPTTL …]: only NX changes the reply.
            var onlyIfNew = false
            for index in 3..<count where Self.is(arguments[index], "NX") { onlyIfNew = true }
            if onlyIfNew, self.store.value(forKey: arguments[1]) != nil {
                self.output.writeStaticString("$-1\r\n")
            } else {
                self.store.set(arguments[1], arguments[2])
                self.output.writeStaticString("+OK\r\n")
            }
        } else if Self.is(name, "SETEX"), count == 4 {
            self.store.set(arguments[1], arguments[3])
            self.output.writeStaticString("+OK\r\n")
        } else if Self.is(name, "MSET"), count >= 3, count % 2 == 1 {
            for index in stride(from: 1, to: count, by: 2) { self.store.set(arguments[index], arguments[index + 1]) }
            self.output.writeStaticString("+OK\r\n")
        } else if Self.is(name, "EXPIRE") || Self.is(name, "PERSIST"), count >= 2 {
            self.writeInteger(self.store.value(forKey: arguments[1]) == nil ? 0 : 1)
        } else if Self.is(name, "TTL"), count == 2 {
            self.writeInteger(self.store.value(forKey: arguments[1]) == nil ? -2 : -1)
        } else if Self.is(name, "UNLINK") || Self.is(name, "DEL"), count >= 2 {
            var removed = 0
            for index in 1..<count where self.store.remove(arguments[index]) { removed += 1 }
            self.writeInteger(removed)
        } else if Self.is(name, "PING") {
            self.output.writeStaticString("+PONG\r\n")
        } else if Self.is(name, "DBSIZE") {
            self.writeInteger(self.store.entries.count)
        } else if Self.is(name, "FLUSHDB") {
            self.store.entries.removeAll()
            self.output.writeStaticString("+OK\r\n")
        } else if Self.is(name, "CLIENT") || Self.is(name, "SELECT") || Self.is(name, "AUTH") {
            self.output.writeStaticString("+OK\r\n")
        } else {
            self.output.writeStaticString("-ERR unknown command\r\n")
        }
    }

    private func writeBulk(_ value: ByteBuffer?) {
        if let value {
            self.output.writeRESPBulkString(value)
        } else {
            self.output.writeStaticString("$-1\r\n")
        }
    }

    private func writeInteger(_ value: Int) {
        self.output.writeRESPValue(.integer(Int64(value)))
    }

    /// Whether an argument is `name`, ignoring ASCII case.
    private static func `is`(_ argument: ByteBuffer, _ name: StaticString) -> Bool {
        guard argument.readableBytes == name.utf8CodeUnitCount else { return false }
        return argument.withUnsafeReadableBytes { bytes in
            for index in 0..<bytes.count {
                let byte = bytes[index]
                let upper = byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z") ? byte - 32 : byte
                if upper != name.utf8Start[index] { return false }
            }
            return true
        }
    }
}

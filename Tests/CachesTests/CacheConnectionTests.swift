import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import RESP
import Synchronization
import Testing

@testable import Caches

/// ``CacheConnectionState`` and ``CacheChannelHandler`` on an `EmbeddedChannel`: no server, every byte checked.
@Suite("Connection state and channel handler")
struct CacheConnectionTests {
    /// A handler in an active embedded channel, with helpers to enqueue requests and feed replies.
    final class Harness {
        let channel: EmbeddedChannel
        let state: CacheConnectionState
        let handler: CacheChannelHandler

        init() throws {
            self.state = CacheConnectionState()
            self.handler = CacheChannelHandler(state: self.state, nodeName: "node-under-test")
            self.channel = EmbeddedChannel(handler: self.handler)
            try self.channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
        }

        deinit {
            // Closing removes the handler, which cancels its timer (the loop's scheduled task holds the handler)
            // and fails whatever a test left pending.
            _ = try? self.channel.finish()
        }

        /// Enqueues one request and returns its id and the future of its reply.
        ///
        /// - Parameters:
        ///   - replies: How many replies the request expects.
        ///   - deadline: The request's deadline; far in the future unless a test says otherwise.
        ///   - encode: Writes the command(s).
        /// - Returns: The slot id, the reply future and whether this caller had to schedule the drain.
        @discardableResult
        func enqueue(
            replies: Int = 1,
            deadline: NIODeadline = .now() + .hours(1),
            _ encode: (inout RESPCommandEncoder) -> Void
        ) throws -> (id: UInt64, reply: EventLoopFuture<RESPValue>, mustDrain: Bool) {
            let id = self.state.makeID()
            let promise = self.channel.eventLoop.makePromise(of: RESPReply.self)
            let result = self.state.enqueue(id: id, replies: replies, deadline: deadline, completion: .promise(promise), encode: encode)
            let mustDrain = try result.get()
            // Callers get the reply's bytes; decode them fully so tests compare values.
            return (id, promise.futureResult.flatMapThrowing { try $0.value() }, mustDrain)
        }

        /// Enqueues `GET key`.
        func get(_ key: String) throws -> (id: UInt64, reply: EventLoopFuture<RESPValue>, mustDrain: Bool) {
            try self.enqueue { encoder in
                encoder.writeCommand("GET", key)
            }
        }

        /// Every write the handler made since the last call, as strings.
        func writes() throws -> [String] {
            var writes: [String] = []
            while let buffer = try self.channel.readOutbound(as: ByteBuffer.self) {
                writes.append(String(buffer: buffer))
            }
            return writes
        }

        /// Feeds raw reply bytes to the handler, as the server would send them.
        func serverSends(_ text: String) throws {
            try self.channel.writeInbound(ByteBuffer(string: text))
        }
    }

    /// The result of a completed future, or nil while it is pending (embedded futures complete synchronously).
    static func result<Value>(of future: EventLoopFuture<Value>) -> Result<Value, any Error>? {
        var result: Result<Value, any Error>?
        future.whenComplete { result = $0 }
        return result
    }

    static func reply(of future: EventLoopFuture<RESPValue>) throws -> RESPValue? {
        switch Self.result(of: future) {
        case nil: return nil
        case .success(let value): return value
        case .failure(let error): throw error
        }
    }

    static func error(of future: EventLoopFuture<RESPValue>) -> CacheError? {
        if case .failure(let error) = Self.result(of: future) { return error as? CacheError }
        return nil
    }

    // MARK: Writing

    @Test func manyEnqueuedRequestsAreWrittenAsOneCoalescedWrite() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        var drains = 0
        for index in 0..<50 {
            let request = try harness.get("key-\(index)")
            if request.mustDrain { drains += 1 }
        }
        #expect(drains == 1, "only the first caller of a batch schedules a drain")
        #expect(try harness.writes().isEmpty, "nothing is written before the drain runs")

        harness.handler.drain()
        let writes = try harness.writes()
        #expect(writes.count == 1)
        let expected = (0..<50).map { index in
            let key = "key-\(index)"
            return "*2\r\n$3\r\nGET\r\n$\(key.utf8.count)\r\n\(key)\r\n"
        }.joined()
        #expect(writes.first == expected)

        // The next request starts a new batch.
        let next = try harness.get("after")
        #expect(next.mustDrain)
        harness.handler.drain()
        #expect(try harness.writes() == ["*2\r\n$3\r\nGET\r\n$5\r\nafter\r\n"])
        // A drain with nothing encoded writes nothing.
        harness.handler.drain()
        #expect(try harness.writes().isEmpty)
    }

    // MARK: Matching replies

    @Test func repliesAreMatchedInFIFOOrder() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let requests = try (0..<5).map { try harness.get("key-\($0)") }
        harness.handler.drain()
        #expect(harness.state.inFlight.load(ordering: .relaxed) == 5)

        // Two replies in one read, then one split over two reads, then the rest.
        try harness.serverSends("$7\r\nvalue-0\r\n$7\r\nvalue-1\r\n$7\r\nval")
        #expect(try Self.reply(of: requests[0].reply) == RESPValue(bulkString: "value-0"))
        #expect(try Self.reply(of: requests[1].reply) == RESPValue(bulkString: "value-1"))
        #expect(try Self.reply(of: requests[2].reply) == nil, "a partial reply completes nobody")
        try harness.serverSends("ue-2\r\n_\r\n:42\r\n")
        #expect(try Self.reply(of: requests[2].reply) == RESPValue(bulkString: "value-2"))
        #expect(try Self.reply(of: requests[3].reply) == .null)
        #expect(try Self.reply(of: requests[4].reply) == .integer(42))
        #expect(harness.state.inFlight.load(ordering: .relaxed) == 0)
        #expect(harness.channel.isActive)
    }

    @Test func anAbandonedSlotsReplyIsDroppedAndTheNextCallerGetsItsOwn() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let first = try harness.get("first")
        let abandoned = try harness.get("abandoned")
        let last = try harness.get("last")
        harness.handler.drain()

        // The caller gives up (cancelled): it takes its completion and fails it itself.
        let completion = try #require(harness.state.abandon(id: abandoned.id))
        completion.resume(.failure(CacheError(.cancelled, "cancelled by the test")))
        #expect(harness.state.abandon(id: abandoned.id) == nil, "a slot is abandoned once")
        #expect(Self.error(of: abandoned.reply)?.code == .cancelled)
        #expect(harness.state.inFlight.load(ordering: .relaxed) == 3, "the abandoned slot still waits for its reply")

        try harness.serverSends("$5\r\nfirst\r\n$9\r\nabandoned\r\n")
        #expect(try Self.reply(of: first.reply) == RESPValue(bulkString: "first"))
        #expect(try Self.reply(of: last.reply) == nil, "the abandoned slot's reply must not reach the next caller")
        try harness.serverSends("$4\r\nlast\r\n")
        #expect(try Self.reply(of: last.reply) == RESPValue(bulkString: "last"))
        #expect(harness.state.inFlight.load(ordering: .relaxed) == 0)
        #expect(harness.channel.isActive)
    }

    @Test func anErrorReplyIsHandedToItsCallerAndTheConnectionStaysOpen() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let failing = try harness.get("k")
        let next = try harness.get("k2")
        harness.handler.drain()
        try harness.serverSends("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n$2\r\nok\r\n")
        #expect(try Self.reply(of: failing.reply)?.errorMessage?.hasPrefix("WRONGTYPE") == true)
        #expect(try Self.reply(of: next.reply) == RESPValue(bulkString: "ok"))
        #expect(harness.channel.isActive)
    }

    /// The next batch is encoded into a buffer sized for the last one, so its callers do not grow it.
    @Test func theNextBatchBufferIsSizedForTheLastBatch() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let keys = (0..<40).map { "key-\($0)-" + String(repeating: "x", count: 20) }
        for key in keys { try harness.get(key) }
        harness.handler.drain()
        let written = try #require(try harness.channel.readOutbound(as: ByteBuffer.self))
        #expect(written.readableBytes > 256)
        let capacity = harness.state.inner.withLockedValue { $0.encoder.buffer.capacity }
        #expect(capacity >= written.readableBytes, "the next batch fits without growing")
        for key in keys { try harness.get(key) }
        #expect(harness.state.inner.withLockedValue { $0.encoder.buffer.capacity } == capacity, "and did not grow")
        harness.handler.drain()
        #expect(try harness.writes() == [String(buffer: written)])
    }

    // MARK: Protocol violations

    @Test func anUnexpectedReplyClosesTheConnection() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let asked = try harness.get("asked")
        harness.handler.drain()
        // One reply that was asked for, then one nobody asked for.
        try harness.serverSends("$5\r\nasked\r\n+SURPRISE\r\n")
        #expect(try Self.reply(of: asked.reply) == RESPValue(bulkString: "asked"))
        #expect(!harness.channel.isActive, "an out-of-sync stream must close the connection")
        #expect(harness.handler.closedWith?.code == .protocolViolation)

        // Later callers fail at once with the error the connection broke with.
        let id = harness.state.makeID()
        let promise = harness.channel.eventLoop.makePromise(of: RESPReply.self)
        let result = harness.state.enqueue(id: id, replies: 1, deadline: .now() + .hours(1), completion: .promise(promise)) { encoder in
            encoder.writeCommand("PING")
        }
        promise.succeed(RESPReply(.null))
        #expect(throws: CacheError.self) { try result.get() }
        if case .failure(let error) = result {
            #expect(error.code == .protocolViolation)
        }
    }

    @Test func invalidRESPFailsEveryPendingCallerWithProtocolViolation() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let requests = try (0..<3).map { try harness.get("key-\($0)") }
        harness.handler.drain()
        try harness.serverSends("$5\r\nfirst\r\n")
        #expect(try Self.reply(of: requests[0].reply) == RESPValue(bulkString: "first"))

        // `!` is no RESP type byte.
        try harness.serverSends("!garbage\r\n")
        for request in requests.dropFirst() {
            let error = try #require(Self.error(of: request.reply))
            #expect(error.code == .protocolViolation)
            #expect(error.node == "node-under-test")
        }
        #expect(!harness.channel.isActive)
        #expect(harness.state.inFlight.load(ordering: .relaxed) == 0)
    }

    // MARK: Batches

    @Test func aMultiBatchReturnsItsLastReply() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let batch = try harness.enqueue(replies: 4) { encoder in
            encoder.writeCommand("MULTI")
            encoder.writeCommand("SET", "a", "1")
            encoder.writeCommand("EXPIRE", "a", 10)
            encoder.writeCommand("EXEC")
        }
        let after = try harness.get("after")
        harness.handler.drain()
        let writes = try harness.writes()
        #expect(writes.count == 1)
        #expect(writes.first?.hasPrefix("*1\r\n$5\r\nMULTI\r\n*3\r\n$3\r\nSET\r\n") == true)

        try harness.serverSends("+OK\r\n+QUEUED\r\n+QUEUED\r\n")
        #expect(try Self.reply(of: batch.reply) == nil, "a batch completes with its last reply")
        try harness.serverSends("*2\r\n+OK\r\n:1\r\n$5\r\nafter\r\n")
        #expect(try Self.reply(of: batch.reply) == .array([RESPValue(simpleString: "OK"), .integer(1)]))
        #expect(try Self.reply(of: after.reply) == RESPValue(bulkString: "after"), "the batch consumed exactly its replies")
    }

    @Test func aMultiBatchReturnsItsFirstErrorReply() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let batch = try harness.enqueue(replies: 4) { encoder in
            encoder.writeCommand("MULTI")
            encoder.writeCommand("SET", "a")
            encoder.writeCommand("SET", "b")
            encoder.writeCommand("EXEC")
        }
        let after = try harness.get("after")
        harness.handler.drain()
        try harness.serverSends(
            "+OK\r\n-ERR wrong number of arguments for 'set' command\r\n-ERR second error\r\n"
                + "-EXECABORT Transaction discarded because of previous errors.\r\n$5\r\nafter\r\n"
        )
        #expect(try Self.reply(of: batch.reply)?.errorMessage == "ERR wrong number of arguments for 'set' command")
        #expect(try Self.reply(of: after.reply) == RESPValue(bulkString: "after"))
        #expect(harness.channel.isActive)
    }

    @Test func aCollectingRequestGetsEveryReplyInOrderErrorsIncludedAcrossReads() async throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        var after: EventLoopFuture<RESPValue>?
        var writes: [String] = []
        let replies = try await withUnsafeThrowingContinuation { continuation in
            let collector = CacheConnectionState.ReplyCollector(expecting: 3, continuation: continuation)
            let enqueued = harness.state.enqueue(
                id: harness.state.makeID(),
                replies: 3,
                deadline: .now() + .hours(1),
                completion: .collect(collector)
            ) { encoder in
                encoder.writeCommand("MGET", "a", "b")
                encoder.writeCommand("MGET", "c")
                encoder.writeCommand("GET", "d")
            }
            #expect((try? enqueued.get()) == true)
            after = try? harness.get("after").reply
            harness.handler.drain()
            writes = (try? harness.writes()) ?? []
            // The first two replies, then the third (a redirection) with the next request's, in another read.
            try? harness.serverSends("*2\r\n$1\r\nA\r\n$-1\r\n*1\r\n$1\r\nC\r\n")
            try? harness.serverSends("-MOVED 3000 127.0.0.1:7001\r\n$5\r\nafter\r\n")
        }
        #expect(writes.count == 1, "the three commands and the next request went out in one write")
        #expect(
            try replies.map { try $0.value() } == [
                .array([RESPValue(bulkString: "A"), .null]),
                .array([RESPValue(bulkString: "C")]),
                .simpleError(ByteBuffer(string: "MOVED 3000 127.0.0.1:7001")),
            ]
        )
        #expect(try after.map { try Self.reply(of: $0) } == RESPValue(bulkString: "after"), "the pipeline consumed exactly its replies")
        #expect(harness.channel.isActive)
    }

    /// A RESP3 push read among a collecting request's replies goes to the node's tracking, and the request's replies
    /// around it are joined (copied) into one run.
    @Test func aPushAmongACollectingRequestsRepliesGoesToTracking() async throws {
        let store = CacheNearCache(limits: .init(maxEntries: 10, maxBytes: 1 << 20, maxLifetime: .seconds(60)))
        let token = store.begin("k")
        store.complete("k", token: token, value: ByteBuffer(string: "cached"), milliseconds: -1, node: 1, sentAt: CacheNearCache.now())
        #expect(store.value(for: "k") != nil)
        let state = CacheConnectionState()
        let handler = CacheChannelHandler(state: state, nodeName: "node-under-test", tracking: CacheTracking(nearCache: store, node: 1))
        let channel = EmbeddedChannel(handler: handler)
        defer { _ = try? channel.finish() }
        try await channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).get()
        let replies = try await withUnsafeThrowingContinuation { continuation in
            let collector = CacheConnectionState.ReplyCollector(expecting: 3, continuation: continuation)
            _ = state.enqueue(id: state.makeID(), replies: 3, deadline: .now() + .hours(1), completion: .collect(collector)) { encoder in
                encoder.writeCommand("GET", "a")
                encoder.writeCommand("GET", "b")
                encoder.writeCommand("GET", "c")
            }
            handler.drain()
            try? channel.writeInbound(ByteBuffer(string: "$1\r\nA\r\n>2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n$-1\r\n$1\r\nC\r\n"))
        }
        #expect(store.value(for: "k") == nil, "the push invalidated the key")
        #expect(String(buffer: replies.bytes) == "$1\r\nA\r\n$-1\r\n$1\r\nC\r\n")
        #expect(replies.bulkStringNulls == 1)
        #expect(channel.isActive)
    }

    /// A reply cut into many reads is handed over once whole, with the reply after it; a large one grows in place.
    @Test(arguments: [1, 7, 4096])
    func aReplyArrivingInPiecesIsHandedOverOnceWhole(pieceSize: Int) throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let large = try harness.get("large")
        let small = try harness.get("small")
        harness.handler.drain()
        let value = String(repeating: "0123456789", count: 5_000)
        let largeReply = "$\(value.utf8.count)\r\n\(value)\r\n"
        let text = Array((largeReply + "$5\r\nsmall\r\n").utf8)
        var offset = 0
        while offset < text.count {
            if offset < largeReply.utf8.count {
                #expect(Self.result(of: large.reply) == nil, "the reply is handed over only once whole")
            }
            let piece = text[offset..<min(offset + pieceSize, text.count)]
            try harness.channel.writeInbound(ByteBuffer(bytes: piece))
            offset += piece.count
        }
        #expect(try Self.reply(of: large.reply) == RESPValue(bulkString: value))
        #expect(try Self.reply(of: small.reply) == RESPValue(bulkString: "small"))
        #expect(harness.channel.isActive)
    }

    @Test func anErrorInsideABatchIsReturnedEvenWhenTheLastReplyIsNotAnError() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let batch = try harness.enqueue(replies: 3) { encoder in
            encoder.writeCommand("PING")
            encoder.writeCommand("INCR", "text")
            encoder.writeCommand("PING")
        }
        harness.handler.drain()
        try harness.serverSends("+PONG\r\n-ERR value is not an integer or out of range\r\n+PONG\r\n")
        #expect(try Self.reply(of: batch.reply)?.errorMessage == "ERR value is not an integer or out of range")
    }

    // MARK: Timeouts and closing

    @Test func aRequestPastItsDeadlineTimesOutAndClosesTheConnection() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        // The embedded loop's clock starts at uptime 0; real uptime is far beyond one second, so once the timer
        // fires the handler finds the deadline passed.
        let late = try harness.enqueue(deadline: .uptimeNanoseconds(1_000_000_000)) { encoder in
            encoder.writeCommand("GET", "slow")
        }
        let behind = try harness.get("behind")
        harness.handler.drain()
        #expect(Self.result(of: late.reply) == nil)
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(Self.error(of: late.reply)?.code == .timeout)
        #expect(Self.error(of: behind.reply)?.code == .timeout, "a late reply could reach the wrong caller, so all fail")
        #expect(!harness.channel.isActive)
    }

    @Test func aShortCommandTimeoutIsNotDelayedByALongerSetUpDeadline() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        // The set-up runs with the connect timeout (long), the commands after it with the command timeout (short).
        let setUp = try harness.enqueue(deadline: .uptimeNanoseconds(100_000_000_000)) { encoder in
            encoder.writeCommand("PING")
        }
        harness.handler.drain()
        try harness.serverSends("+PONG\r\n")
        #expect(try Self.reply(of: setUp.reply) == RESPValue(simpleString: "PONG"))

        let command = try harness.enqueue(deadline: .uptimeNanoseconds(1_000_000_000)) { encoder in
            encoder.writeCommand("GET", "slow")
        }
        harness.handler.drain()
        harness.channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(Self.error(of: command.reply)?.code == .timeout, "the command waited for the set-up's deadline")
    }

    @Test func closeWhenIdleWaitsForPendingRepliesAndRefusesNewRequests() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let pending = try harness.get("pending")
        harness.handler.drain()
        harness.handler.closeWhenIdle()
        #expect(harness.channel.isActive, "a pending request keeps the connection open")

        let refused = harness.state.enqueue(id: harness.state.makeID(), replies: 1, deadline: .now() + .hours(1), completion: .none) { encoder in
            encoder.writeCommand("PING")
        }
        if case .failure(let error) = refused {
            #expect(error.code == .connectionClosed)
        } else {
            Issue.record("a closing connection accepted a request")
        }

        try harness.serverSends("$7\r\npending\r\n")
        #expect(try Self.reply(of: pending.reply) == RESPValue(bulkString: "pending"))
        #expect(!harness.channel.isActive, "closes once the last reply is in")
    }

    @Test func channelInactiveFailsPendingCallersWithConnectionClosed() throws {
        let harness = try Harness()
        defer { _ = try? harness.channel.finish() }
        let pending = try harness.get("pending")
        harness.handler.drain()
        harness.channel.pipeline.fireChannelInactive()
        #expect(Self.error(of: pending.reply)?.code == .connectionClosed)
        #expect(harness.state.inFlight.load(ordering: .relaxed) == 0)
    }
}

import CacheTLS
import NIOCore
import RESP

/// The channel handler of one Redis connection: writes batches of encoded commands, decodes replies and hands
/// each to the oldest waiting slot of ``CacheConnectionState``.
///
/// Lives on the channel's event loop. One timer watches the oldest pending request: when it is older than the
/// command timeout, the server has stopped answering, so the connection is closed and every pending caller gets
/// ``CacheError/Code/timeout`` (a late reply can then never reach the wrong caller).
final class CacheChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    let state: CacheConnectionState
    let nodeName: String
    /// Where invalidation pushes go, for a connection of a near-cached node.
    let tracking: CacheTracking?
    private var context: ChannelHandlerContext?
    private var decoder: RESPDecoder
    /// The first bytes of a reply that has not fully arrived yet.
    private var partial: ByteBuffer?
    /// The end offsets of the replies of one read, their ranges once pushes are taken out, and the callers they
    /// complete: kept to reuse their memory from read to read.
    private var ends: [Int] = []
    private var ranges: [Range<Int>] = []
    private var completions: [(CacheConnectionState.Completion, Result<RESPReply, any Error>)] = []
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var closeError: CacheError?

    init(state: CacheConnectionState, nodeName: String, tracking: CacheTracking? = nil) {
        self.state = state
        self.nodeName = nodeName
        self.tracking = tracking
        self.decoder = RESPDecoder()
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.timer?.cancel()
        self.timer = nil
    }

    // MARK: Writing

    /// Writes and flushes what callers encoded since the last drain. Called on the event loop.
    ///
    /// The next batch gets a new buffer sized for the last one (256 bytes to 64 KiB), so its callers encode without
    /// growing it. Reusing the written buffer itself saved that allocation too, but measured about 40 % more client
    /// CPU per GET for callers on Swift's global executor (see the README's benchmarks), so it is not done.
    func drain() {
        guard let context = self.context else { return }
        let allocator = context.channel.allocator
        let (bytes, oldestDeadline) = self.state.takeOutbound { size in
            allocator.buffer(capacity: max(256, min(size, 64 * 1024)))
        }
        guard let bytes else { return }
        context.writeAndFlush(NIOAny(bytes), promise: nil)
        if let oldestDeadline {
            self.armTimer(for: oldestDeadline)
        }
    }

    /// Schedules the deadline check for the oldest pending request. A timer armed for a later deadline (the
    /// set-up's connect timeout, say) is moved earlier, so a command never waits past its own timeout.
    private func armTimer(for deadline: NIODeadline) {
        guard let context = self.context else { return }
        if self.timer != nil, let armed = self.timerDeadline, armed <= deadline { return }
        self.timer?.cancel()
        self.timerDeadline = deadline
        self.timer = context.eventLoop.scheduleTask(deadline: deadline) { [self] in
            self.timer = nil
            self.timerDeadline = nil
            self.checkDeadlines()
        }
    }

    private func checkDeadlines() {
        guard let deadline = self.state.oldestDeadline() else { return }
        if deadline <= .now() {
            self.fail(CacheError(.timeout, "no reply within the command timeout", node: self.nodeName), close: true)
        } else {
            self.armTimer(for: deadline)
        }
    }

    // MARK: Reading

    /// Scans the replies a read completes and hands them to their callers in one locked section.
    ///
    /// No reply is sliced from the read's buffer here: the scan records where each one ends, and only a caller's
    /// reply (or a pipeline's run of them) becomes a slice. A reply cut off by the end of the read waits, copied, for
    /// the rest of it.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = self.unwrapInboundIn(data)
        if var partial = self.partial {
            self.partial = nil
            partial.writeBuffer(&buffer)
            buffer = partial
        }
        let frames = buffer
        var failure: CacheError?
        // Taken out of the handler for the read (and put back, to keep their memory): a class's arrays are checked
        // for exclusive access at each use.
        var ends: [Int] = []
        var ranges: [Range<Int>] = []
        swap(&ends, &self.ends)
        swap(&ranges, &self.ranges)
        do {
            try self.decoder.scanFrames(in: &buffer, ends: &ends)
        } catch {
            failure = CacheError(.protocolViolation, "the server sent invalid RESP", node: self.nodeName, underlyingError: error)
        }
        if failure == nil, buffer.readableBytes > 0 {
            // Behind replies handed out, only the partial one is kept (it is copied when more bytes come); a buffer
            // that holds nothing else is kept whole, so a large reply grows in place over many reads.
            self.partial = ends.isEmpty ? buffer : buffer.slice()
        }
        var start = 0
        for end in ends {
            // RESP3 pushes are not replies to requests. Invalidations are applied before the replies read with them
            // are handed out, though the near cache does not depend on that (see CacheNearCache).
            if frames.getInteger(at: frames.readerIndex + start, as: UInt8.self) == UInt8(ascii: ">") {
                self.tracking?.receive(push: RESPReply(validated: frames.getSlice(at: frames.readerIndex + start, length: end - start)!))
            } else {
                ranges.append(start..<end)
            }
            start = end
        }
        ends.removeAll(keepingCapacity: true)
        // The replies scanned before an error still go to their callers.
        let received = self.state.receive(frames, ranges, into: &self.completions)
        ranges.removeAll(keepingCapacity: true)
        swap(&ends, &self.ends)
        swap(&ranges, &self.ranges)
        for (completion, result) in self.completions {
            completion.resume(result)
        }
        self.completions.removeAll(keepingCapacity: true)
        if received.unexpected {
            failure = failure ?? CacheError(.protocolViolation, "the server sent a reply nobody asked for", node: self.nodeName)
        }
        if let failure {
            self.fail(failure, close: true)
        } else if received.closingAndIdle {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.tracking?.trackingLost()
        self.fail(CacheError(.connectionClosed, "the connection closed", node: self.nodeName), close: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let cacheError: CacheError
        if let error = error as? CacheError {
            cacheError = error
        } else if let error = error as? OpenSSLError {
            cacheError = CacheError(.tlsHandshake, "TLS failed: \(error)", node: self.nodeName, underlyingError: error)
        } else {
            cacheError = CacheError(.connectionClosed, "the connection failed: \(error)", node: self.nodeName, underlyingError: error)
        }
        self.fail(cacheError, close: true)
    }

    /// Fails every pending request with `error` and, if asked, closes the channel.
    func fail(_ error: CacheError, close: Bool) {
        if self.closeError == nil { self.closeError = error }
        self.timer?.cancel()
        self.timer = nil
        for completion in self.state.close(with: self.closeError ?? error) {
            completion.resume(.failure(self.closeError ?? error))
        }
        if close, let context = self.context {
            context.close(promise: nil)
        }
    }

    /// Closes once nothing is pending. Called on the event loop.
    func closeWhenIdle() {
        if self.state.beginClosing() {
            self.context?.close(promise: nil)
        }
    }

    /// The error the connection closed with, if it did.
    var closedWith: CacheError? { self.closeError }
}

import NIOConcurrencyHelpers
import NIOCore
import RESP
import Synchronization

/// The state one connection shares between its callers (any thread) and its channel handler (the event loop).
///
/// Callers encode their commands straight into one outbound buffer under the lock and append their reply slots
/// in the same order; the first caller of a batch schedules one drain on the event loop, which writes and flushes
/// everything encoded so far. So concurrent callers share writes and flushes (automatic pipelining), and replies
/// are matched to slots in FIFO order. A slot whose caller timed out or was cancelled stays in the queue with no
/// completion, so its reply is read and dropped and never reaches another caller.
final class CacheConnectionState: Sendable {
    /// How a reply slot is completed.
    enum Completion {
        case continuation(UnsafeContinuation<RESPReply, any Error>)
        case promise(EventLoopPromise<RESPReply>)
        /// A pipeline that wants every reply (see ``ReplyCollector``).
        case collect(ReplyCollector)
        /// Nobody waits (a keepalive `PING`, or a caller that gave up).
        case none
    }

    /// Gathers every reply of a request that wants them all (several commands written in one flush), and resumes
    /// its caller with them once the last one arrived.
    ///
    /// Only ``receive(_:_:into:)`` appends, under the connection's lock, until the slot is removed; the caller reads
    /// the replies only after being resumed, so they are never touched by two threads at once. The replies of one read
    /// are taken as one slice of it; replies that arrive over several reads, or around a push, are copied together.
    final class ReplyCollector: @unchecked Sendable {
        private var bytes: ByteBuffer?
        private var ends: [Int] = []
        let continuation: UnsafeContinuation<RESPReplies, any Error>

        init(expecting count: Int, continuation: UnsafeContinuation<RESPReplies, any Error>) {
            self.continuation = continuation
            self.ends.reserveCapacity(count)
        }

        /// Appends the replies at `ranges` of `frames` (offsets from its reader index).
        func append(_ frames: ByteBuffer, _ ranges: ArraySlice<Range<Int>>) {
            guard let first = ranges.first, let last = ranges.last else { return }
            // Worked on locally: each use of a class's property is checked for exclusive access.
            var ends: [Int] = []
            swap(&ends, &self.ends)
            defer { swap(&ends, &self.ends) }
            if self.bytes == nil, last.upperBound - first.lowerBound == ranges.reduce(0, { $0 + $1.count }) {
                // Back to back: one slice, no copy.
                self.bytes = frames.getSlice(at: frames.readerIndex + first.lowerBound, length: last.upperBound - first.lowerBound)
                for range in ranges { ends.append(range.upperBound - first.lowerBound) }
                return
            }
            var bytes = self.bytes ?? ByteBuffer()
            self.bytes = nil
            frames.withUnsafeReadableBytes { memory in
                for range in ranges {
                    bytes.writeBytes(UnsafeRawBufferPointer(rebasing: memory[range]))
                    ends.append(bytes.readableBytes)
                }
            }
            self.bytes = bytes
        }

        var replies: RESPReplies {
            RESPReplies(validated: self.bytes ?? ByteBuffer(), ends: self.ends)
        }
    }

    struct Slot {
        let id: UInt64
        var completion: Completion
        /// Replies this request expects (a `MULTI`…`EXEC` batch expects several; the last one completes it).
        var remainingReplies: Int
        /// The first error reply among the intermediate replies of a batch.
        var firstError: RESPReply?
        let deadline: NIODeadline
    }

    struct Inner {
        var encoder = RESPCommandEncoder()
        var slots = CircularBuffer<Slot>(initialCapacity: 16)
        var drainScheduled = false
        var closing = false
        var closedError: CacheError?
    }

    let inner = NIOLockedValueBox(Inner())
    let inFlight = Atomic<Int>(0)

    /// Appends one request (one or more commands, encoded by `encode`) and its reply slot.
    ///
    /// - Returns: Whether the caller must schedule a drain on the event loop, or the error when the connection is
    ///   closed or closing.
    func enqueue(
        id: UInt64,
        replies: Int,
        deadline: NIODeadline,
        completion: Completion,
        encode: (inout RESPCommandEncoder) -> Void
    ) -> Result<Bool, CacheError> {
        self.inner.withLockedValue { inner in
            if let error = inner.closedError { return .failure(error) }
            if inner.closing {
                return .failure(CacheError(.connectionClosed, "the connection is closing"))
            }
            encode(&inner.encoder)
            inner.slots.append(Slot(id: id, completion: completion, remainingReplies: replies, firstError: nil, deadline: deadline))
            self.inFlight.add(1, ordering: .relaxed)
            if inner.drainScheduled { return .success(false) }
            inner.drainScheduled = true
            return .success(true)
        }
    }

    private let nextID = Atomic<UInt64>(0)

    func makeID() -> UInt64 {
        self.nextID.wrappingAdd(1, ordering: .relaxed).newValue
    }

    /// Takes the bytes encoded since the last drain, and the deadline of the oldest pending request.
    ///
    /// - Parameter makeBuffer: Makes the next batch's buffer, given the size of the batch taken.
    func takeOutbound(makeBuffer: (Int) -> ByteBuffer) -> (bytes: ByteBuffer?, oldestDeadline: NIODeadline?) {
        self.inner.withLockedValue { inner in
            inner.drainScheduled = false
            let deadline = inner.slots.first?.deadline
            guard inner.encoder.buffer.readableBytes > 0 else { return (nil, deadline) }
            let bytes = inner.encoder.buffer
            inner.encoder = RESPCommandEncoder(buffer: makeBuffer(bytes.readableBytes))
            return (bytes, deadline)
        }
    }

    /// What happened to a batch of replies.
    struct Received {
        /// A reply arrived that nobody asked for: the stream is out of sync.
        var unexpected = false
        /// The connection is closing and nothing is pending any more.
        var closingAndIdle = false
    }

    /// Matches replies (`ranges` of `frames`, offsets from its reader index) with the oldest slots, in one locked
    /// section for all of them, and appends the completions to resume (after unlocking) to `completions`.
    ///
    /// A reply is sliced only for the caller that gets it: a batch's intermediate replies are checked for an error by
    /// their type marker, and a collecting slot takes its replies of this read as one run.
    func receive(
        _ frames: ByteBuffer,
        _ ranges: [Range<Int>],
        into completions: inout [(Completion, Result<RESPReply, any Error>)]
    ) -> Received {
        self.inner.withLockedValue { inner in
            var received = Received()
            var answered = 0
            var index = ranges.startIndex
            while index < ranges.endIndex {
                guard !inner.slots.isEmpty else {
                    received.unexpected = true
                    break
                }
                let first = inner.slots.startIndex
                let remaining = inner.slots[first].remainingReplies
                if case .collect(let collector) = inner.slots[first].completion {
                    let taken = min(remaining, ranges.endIndex - index)
                    collector.append(frames, ranges[index..<(index + taken)])
                    index += taken
                    if taken < remaining {
                        inner.slots[first].remainingReplies -= taken
                        continue
                    }
                    inner.slots.removeFirst()
                    answered += 1
                    completions.append((.collect(collector), .success(RESPReply(validated: frames))))
                    continue
                }
                let range = ranges[index]
                index += 1
                if remaining > 1 {
                    inner.slots[first].remainingReplies -= 1
                    if inner.slots[first].firstError == nil, Self.isError(frames, at: range.lowerBound) {
                        inner.slots[first].firstError = Self.reply(frames, range)
                    }
                    continue
                }
                let slot = inner.slots.removeFirst()
                answered += 1
                if case .none = slot.completion { continue }
                // The first error of a batch explains the failure better than a final `EXECABORT`.
                completions.append((slot.completion, .success(slot.firstError ?? Self.reply(frames, range))))
            }
            if answered > 0 {
                self.inFlight.add(-answered, ordering: .relaxed)
            }
            received.closingAndIdle = inner.closing && inner.slots.isEmpty
            return received
        }
    }

    private static func reply(_ frames: ByteBuffer, _ range: Range<Int>) -> RESPReply {
        RESPReply(validated: frames.getSlice(at: frames.readerIndex + range.lowerBound, length: range.count)!)
    }

    private static func isError(_ frames: ByteBuffer, at offset: Int) -> Bool {
        RESPReply.isErrorMarker(frames.getInteger(at: frames.readerIndex + offset) ?? 0)
    }

    /// Takes the completion of the slot `id` (it stays queued so its reply is still consumed).
    func abandon(id: UInt64) -> Completion? {
        self.inner.withLockedValue { inner in
            var index = inner.slots.endIndex
            while index > inner.slots.startIndex {
                index = inner.slots.index(before: index)
                if inner.slots[index].id == id {
                    let completion = inner.slots[index].completion
                    inner.slots[index].completion = .none
                    if case .none = completion { return nil }
                    return completion
                }
            }
            return nil
        }
    }

    /// The deadline of the oldest slot, or nil when nothing is pending.
    func oldestDeadline() -> NIODeadline? {
        self.inner.withLockedValue { $0.slots.first?.deadline }
    }

    /// Marks the connection closed and takes every pending completion.
    func close(with error: CacheError) -> [Completion] {
        self.inner.withLockedValue { inner in
            if inner.closedError == nil { inner.closedError = error }
            var completions: [Completion] = []
            completions.reserveCapacity(inner.slots.count)
            for slot in inner.slots {
                if case .none = slot.completion { continue }
                completions.append(slot.completion)
            }
            self.inFlight.add(-inner.slots.count, ordering: .relaxed)
            inner.slots.removeAll()
            inner.encoder = RESPCommandEncoder()
            return completions
        }
    }

    /// Stops new requests; returns true when nothing is pending (the channel can close now).
    func beginClosing() -> Bool {
        self.inner.withLockedValue { inner in
            inner.closing = true
            return inner.slots.isEmpty
        }
    }
}

extension CacheConnectionState.Completion {
    func resume(_ result: Result<RESPReply, any Error>) {
        switch self {
        case .continuation(let continuation): continuation.resume(with: result)
        case .promise(let promise): promise.completeWith(result)
        case .collect(let collector):
            switch result {
            case .success: collector.continuation.resume(returning: collector.replies)
            case .failure(let error): collector.continuation.resume(throwing: error)
            }
        case .none: break
        }
    }
}

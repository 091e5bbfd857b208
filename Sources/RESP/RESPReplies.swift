import NIOCore

/// Consecutive whole replies, as they arrived: the answers to several commands written at once.
///
/// The replies share one buffer, and a reply is sliced from it only when it is asked for, so reading a pipeline of
/// `GET` replies with ``forEachBulkString(_:)`` costs what reading the elements of one `MGET` reply does.
public struct RESPReplies: Sendable, RandomAccessCollection {
    /// The replies' bytes, back to back.
    public let bytes: ByteBuffer
    /// The end of each reply, as an offset from the reader index of ``bytes``.
    @usableFromInline
    let ends: [Int]

    /// Wraps bytes that ``RESPDecoder`` validated as `ends.count` values, ending at `ends`.
    ///
    /// - Parameters:
    ///   - bytes: The values, back to back.
    ///   - ends: The end of each, as an offset from the reader index of `bytes`, ascending; the last is the number
    ///     of readable bytes.
    public init(validated bytes: ByteBuffer, ends: [Int]) {
        precondition(ends.last ?? 0 == bytes.readableBytes, "the replies end where the bytes do")
        self.bytes = bytes
        self.ends = ends
    }

    /// Wraps whole replies (for tests and fakes), copying their bytes.
    ///
    /// - Parameters:
    ///   - replies: The replies, in order.
    public init(_ replies: some Sequence<RESPReply>) {
        var bytes = ByteBuffer()
        var ends: [Int] = []
        for reply in replies {
            bytes.writeImmutableBuffer(reply.bytes)
            ends.append(bytes.readableBytes)
        }
        self.init(validated: bytes, ends: ends)
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { self.ends.count }

    /// Where reply `index` starts, as an offset from the reader index.
    @inlinable
    func start(of index: Int) -> Int {
        index == 0 ? 0 : self.ends[index - 1]
    }

    /// Reply `index`, sliced from the shared bytes.
    public subscript(index: Int) -> RESPReply {
        let start = self.start(of: index)
        return RESPReply(validated: self.bytes.getSlice(at: self.bytes.readerIndex + start, length: self.ends[index] - start)!)
    }

    /// Whether reply `index` is a simple or a bulk error (reads its type marker only).
    @inlinable
    public func isError(at index: Int) -> Bool {
        RESPReply.isErrorMarker(self.bytes.getInteger(at: self.bytes.readerIndex + self.start(of: index)) ?? 0)
    }

    /// When every reply is a bulk string or a null (as the replies to `GET`s are): how many are null. Nil for any
    /// other shape. Reads two bytes of each reply (the decoder validated the rest).
    public var bulkStringNulls: Int? {
        self.bytes.withUnsafeReadableBytes { memory in
            var nulls = 0
            var start = 0
            for end in self.ends {
                switch memory[start] {
                case UInt8(ascii: "$"):
                    // `$-1`: the only bulk string header with a sign.
                    if memory[start + 1] == UInt8(ascii: "-") { nulls += 1 }
                case UInt8(ascii: "_"):
                    nulls += 1
                default:
                    return nil
                }
                start = end
            }
            return nulls
        }
    }

    /// Calls `body` with the position and the bytes (nil for a null) of each reply, when each is a bulk string or a
    /// null. Check the shape first with ``bulkStringNulls``: on another shape, this stops at the first reply that
    /// does not fit.
    ///
    /// - Parameters:
    ///   - body: Called once per reply, in order; each value is a slice sharing the replies' memory.
    @inlinable
    @inline(__always)
    public func forEachBulkString(_ body: (Int, ByteBuffer?) throws -> Void) rethrows {
        var reader = RESPReply.Reader(self.bytes)
        for index in 0..<self.ends.count {
            guard let element = reader.bulkStringOrNull() else { return }
            try body(index, element)
        }
    }
}

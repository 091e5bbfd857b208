import NIOCore

/// One whole reply as it arrived, validated and not yet decoded (see ``RESPFrameDecoder``).
///
/// The readers below take the shapes a client expects (a bulk string or null, an integer, an array of bulk
/// strings) straight from the bytes. Each returns `nil` when the reply has another shape, and the caller falls back
/// to ``value()``, which builds the full ``RESPValue`` (RESP3 attributes, maps and every other type included).
public struct RESPReply: Sendable, Equatable {
    /// The reply's bytes, from its type marker to its last CR LF.
    public let bytes: ByteBuffer

    /// Wraps bytes that ``RESPDecoder`` validated as exactly one value.
    ///
    /// - Parameters:
    ///   - bytes: One complete, valid RESP value.
    public init(validated bytes: ByteBuffer) {
        self.bytes = bytes
    }

    /// Encodes `value` as a reply (for tests and fakes).
    ///
    /// - Parameters:
    ///   - value: The value a server would send.
    public init(_ value: RESPValue) {
        var buffer = ByteBuffer()
        buffer.writeRESPValue(value)
        self.bytes = buffer
    }

    /// The first byte: the type marker (`$`, `*`, `:`, `+`, `-`, `_`, …).
    @inlinable
    public var marker: UInt8 {
        self.bytes.getInteger(at: self.bytes.readerIndex) ?? 0
    }

    /// Whether the reply is a simple or a bulk error.
    @inlinable
    public var isError: Bool {
        Self.isErrorMarker(self.marker)
    }

    /// Whether `marker`, a reply's first byte, starts a simple or a bulk error.
    @inlinable
    public static func isErrorMarker(_ marker: UInt8) -> Bool {
        marker == UInt8(ascii: "-") || marker == UInt8(ascii: "!")
    }

    /// Whether the reply is a RESP3 push (out-of-band data such as an invalidation, never a reply to a request).
    @inlinable
    public var isPush: Bool {
        self.marker == UInt8(ascii: ">")
    }

    /// The text of an error reply, or nil.
    public var errorMessage: String? {
        guard self.isError else { return nil }
        return (try? self.value())?.errorMessage
    }

    /// The full value. Cannot fail for a reply that ``RESPFrameDecoder`` produced.
    ///
    /// - Returns: The value.
    /// - Throws: ``RESPParsingError`` when the bytes are not one valid value (only for replies made by hand).
    public func value() throws -> RESPValue {
        var decoder = RESPDecoder()
        var input = self.bytes
        guard let value = try decoder.decodeLast(buffer: &input, seenEOF: true) else {
            throw RESPParsingError(.truncated, message: "an empty reply", buffer: self.bytes, offset: 0)
        }
        return value
    }

    // MARK: Fast readers

    /// A bulk string (`.some(bytes)`) or a null (`.some(nil)`); nil for any other shape.
    public var bulkStringOrNull: ByteBuffer?? {
        var reader = Reader(self.bytes)
        guard let element = reader.bulkStringOrNull(), reader.isAtEnd else { return nil }
        return element
    }

    /// An integer reply; nil for any other shape.
    public var integer: Int64? {
        var reader = Reader(self.bytes)
        guard reader.take(UInt8(ascii: ":")), let value = reader.line(), reader.isAtEnd else { return nil }
        return value
    }

    /// Whether the reply is the simple string `+OK`.
    public var isOK: Bool {
        self.bytes.readableBytesView.elementsEqual("+OK\r\n".utf8)
    }

    /// For an array of bulk strings and nulls (such as the reply to `MGET`): its element count and how many are
    /// null. Nil for any other shape. Reads the headers only.
    public var bulkStringArrayShape: (count: Int, nulls: Int)? {
        var reader = Reader(self.bytes)
        guard reader.take(UInt8(ascii: "*")), let count = reader.line(), count >= 0 else { return nil }
        var nulls = 0
        for _ in 0..<count {
            guard let element = reader.skipBulkStringOrNull() else { return nil }
            if !element { nulls += 1 }
        }
        guard reader.isAtEnd else { return nil }
        return (Int(count), nulls)
    }

    /// Calls `body` with the position and the bytes (nil for a null) of each element of an array of bulk strings
    /// and nulls, such as the reply to `MGET`. Check the shape first with ``bulkStringArrayShape``: on another
    /// shape, this stops at the first element that does not fit.
    ///
    /// - Parameters:
    ///   - body: Called once per element, in order; each element is a slice sharing the reply's memory.
    public func forEachBulkString(_ body: (Int, ByteBuffer?) throws -> Void) rethrows {
        var reader = Reader(self.bytes)
        guard reader.take(UInt8(ascii: "*")), let count = reader.line(), count >= 0 else { return }
        for index in 0..<Int(count) {
            guard let element = reader.bulkStringOrNull() else { return }
            try body(index, element)
        }
    }

    /// Reads lines of a validated reply; every method returns nil (or false) on bytes of another shape.
    @usableFromInline
    struct Reader {
        @usableFromInline let buffer: ByteBuffer
        @usableFromInline var offset: Int
        @usableFromInline let end: Int

        @inlinable
        init(_ buffer: ByteBuffer) {
            self.buffer = buffer
            self.offset = buffer.readerIndex
            self.end = buffer.writerIndex
        }

        @inlinable
        var isAtEnd: Bool { self.offset == self.end }

        @inlinable
        mutating func take(_ marker: UInt8) -> Bool {
            guard self.offset < self.end, self.buffer.getInteger(at: self.offset, as: UInt8.self) == marker else { return false }
            self.offset += 1
            return true
        }

        /// A signed decimal up to CR LF, and the CR LF.
        @inlinable
        mutating func line() -> Int64? {
            var value: Int64 = 0
            var negative = false
            var digits = 0
            var index = self.offset
            while index < self.end {
                let byte: UInt8 = self.buffer.getInteger(at: index)!
                if byte == UInt8(ascii: "\r") { break }
                if byte == UInt8(ascii: "-") && digits == 0 && !negative {
                    negative = true
                } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") && digits < 18 {
                    value = value * 10 + Int64(byte - UInt8(ascii: "0"))
                    digits += 1
                } else {
                    return nil
                }
                index += 1
            }
            guard digits > 0, index + 1 < self.end, self.buffer.getInteger(at: index + 1, as: UInt8.self) == UInt8(ascii: "\n") else {
                return nil
            }
            self.offset = index + 2
            return negative ? -value : value
        }

        /// Moves past a bulk string (true) or a null (false); nil for anything else.
        @inlinable
        mutating func skipBulkStringOrNull() -> Bool? {
            if self.take(UInt8(ascii: "_")) {
                guard self.offset + 2 <= self.end else { return nil }
                self.offset += 2
                return false
            }
            guard self.take(UInt8(ascii: "$")), let length = self.line() else { return nil }
            if length == -1 { return false }
            guard length >= 0, self.offset + Int(length) + 2 <= self.end else { return nil }
            self.offset += Int(length) + 2
            return true
        }

        /// `$<n>\r\n<bytes>\r\n` as `.some(bytes)`, `$-1\r\n` or `_\r\n` as `.some(nil)`.
        @inlinable
        mutating func bulkStringOrNull() -> ByteBuffer?? {
            if self.take(UInt8(ascii: "_")) {
                guard self.offset + 2 <= self.end else { return nil }
                self.offset += 2
                return .some(nil)
            }
            guard self.take(UInt8(ascii: "$")), let length = self.line() else { return nil }
            if length == -1 { return .some(nil) }
            guard length >= 0, self.offset + Int(length) + 2 <= self.end,
                let slice = self.buffer.getSlice(at: self.offset, length: Int(length))
            else { return nil }
            self.offset += Int(length) + 2
            return .some(slice)
        }
    }
}

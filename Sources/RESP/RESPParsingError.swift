import NIOCore

/// An error thrown by ``RESPDecoder`` when the bytes it reads are not valid RESP or exceed its limits.
///
/// Compare ``code`` with `==` against the static members of ``Code``; new codes may be added without breaking
/// callers that do so.
public struct RESPParsingError: Error, CustomStringConvertible {
    /// What went wrong, as a value that can be compared with `==`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case invalidTypeMarker
            case invalidTerminator
            case invalidInteger
            case invalidLength
            case invalidDouble
            case invalidBoolean
            case invalidBigNumber
            case invalidNull
            case invalidVerbatimString
            case unsupportedStreamedType
            case lineTooLong
            case bulkStringTooLong
            case aggregateTooLarge
            case nestingTooDeep
            case truncated
        }

        fileprivate let base: Base

        fileprivate init(_ base: Base) {
            self.base = base
        }

        /// The first byte of a value is not one of the RESP2 or RESP3 type markers.
        public static var invalidTypeMarker: Self { .init(.invalidTypeMarker) }
        /// A line or a bulk payload does not end with CR LF.
        public static var invalidTerminator: Self { .init(.invalidTerminator) }
        /// An integer reply (`:`) is not a decimal number that fits in 64 bits.
        public static var invalidInteger: Self { .init(.invalidInteger) }
        /// A length or element count is not a decimal number, or is negative other than `-1`.
        public static var invalidLength: Self { .init(.invalidLength) }
        /// A double reply (`,`) is not a number, `inf`, `-inf` or `nan`.
        public static var invalidDouble: Self { .init(.invalidDouble) }
        /// A boolean reply (`#`) is neither `t` nor `f`.
        public static var invalidBoolean: Self { .init(.invalidBoolean) }
        /// A big number reply (`(`) is not a decimal number.
        public static var invalidBigNumber: Self { .init(.invalidBigNumber) }
        /// A null reply (`_`) carries bytes before its CR LF.
        public static var invalidNull: Self { .init(.invalidNull) }
        /// A verbatim string (`=`) does not start with a three-byte format and a colon.
        public static var invalidVerbatimString: Self { .init(.invalidVerbatimString) }
        /// A streamed string or aggregate (length `?`), which Redis never sends, was received.
        public static var unsupportedStreamedType: Self { .init(.unsupportedStreamedType) }
        /// A simple line (string, error, number) is longer than ``RESPDecoder/Limits/maximumLineLength``.
        public static var lineTooLong: Self { .init(.lineTooLong) }
        /// A bulk string or bulk error is longer than ``RESPDecoder/Limits/maximumBulkLength``.
        public static var bulkStringTooLong: Self { .init(.bulkStringTooLong) }
        /// An aggregate has more elements than ``RESPDecoder/Limits/maximumAggregateCount``.
        public static var aggregateTooLarge: Self { .init(.aggregateTooLarge) }
        /// Aggregates are nested deeper than ``RESPDecoder/Limits/maximumDepth``.
        public static var nestingTooDeep: Self { .init(.nestingTooDeep) }
        /// The stream ended in the middle of a value.
        public static var truncated: Self { .init(.truncated) }

        /// The name of the code.
        public var description: String {
            switch self.base {
            case .invalidTypeMarker: "invalidTypeMarker"
            case .invalidTerminator: "invalidTerminator"
            case .invalidInteger: "invalidInteger"
            case .invalidLength: "invalidLength"
            case .invalidDouble: "invalidDouble"
            case .invalidBoolean: "invalidBoolean"
            case .invalidBigNumber: "invalidBigNumber"
            case .invalidNull: "invalidNull"
            case .invalidVerbatimString: "invalidVerbatimString"
            case .unsupportedStreamedType: "unsupportedStreamedType"
            case .lineTooLong: "lineTooLong"
            case .bulkStringTooLong: "bulkStringTooLong"
            case .aggregateTooLarge: "aggregateTooLarge"
            case .nestingTooDeep: "nestingTooDeep"
            case .truncated: "truncated"
            }
        }
    }

    /// The most bytes of the offending input kept in ``buffer``.
    public static let maximumContextLength = 64

    /// What went wrong.
    public let code: Code
    /// A human-readable detail, if any.
    public let message: String?
    /// The start of the value that failed to parse, at most ``maximumContextLength`` bytes.
    public let buffer: ByteBuffer
    /// The offset of the offending byte, counted from the start of ``buffer``.
    public let offset: Int
    /// The source file that threw the error.
    public let file: StaticString
    /// The source line that threw the error.
    public let line: UInt

    /// Creates a parsing error.
    ///
    /// - Parameters:
    ///   - code: What went wrong.
    ///   - message: A human-readable detail, if any.
    ///   - buffer: The start of the value that failed to parse; it is cut to ``maximumContextLength`` bytes.
    ///   - offset: The offset of the offending byte from the start of `buffer`.
    ///   - file: The source file that throws the error.
    ///   - line: The source line that throws the error.
    public init(
        _ code: Code,
        message: String? = nil,
        buffer: ByteBuffer,
        offset: Int = 0,
        file: StaticString = #fileID,
        line: UInt = #line
    ) {
        self.code = code
        self.message = message
        self.buffer = buffer.getSlice(at: buffer.readerIndex, length: min(buffer.readableBytes, Self.maximumContextLength)) ?? buffer
        self.offset = offset
        self.file = file
        self.line = line
    }

    /// A one-line summary with the code, the message, the offset and the offending bytes.
    public var description: String {
        var text = "RESPParsingError(\(self.code)"
        if let message = self.message {
            text += ": \(message)"
        }
        text += " at byte \(self.offset), input \(String(reflecting: String(decoding: self.buffer.readableBytesView, as: UTF8.self))))"
        return text
    }
}

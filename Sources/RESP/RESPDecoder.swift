import NIOCore

/// A bounded decoder of RESP2 and RESP3 values, one complete top-level value per call.
///
/// Use it through `NIOSingleStepByteToMessageProcessor` in a channel handler, or wrap it in a
/// `ByteToMessageHandler`. A call either consumes one whole value or consumes nothing: if the buffer holds only
/// part of a value, ``decode(buffer:)`` returns `nil` and parses it again from its start once more bytes arrived.
/// String payloads are slices of the input buffer, not copies.
///
/// The decoder never allocates in proportion to a length or count it has not yet received the bytes for, and
/// ``Limits`` bound line lengths, bulk lengths, element counts and nesting. RESP3 attributes (`|`) are read and
/// dropped; the value they annotate is returned.
public struct RESPDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    /// The value produced for each complete RESP value in the input.
    public typealias InboundOut = RESPValue

    /// Bounds on what the decoder accepts; input beyond them throws a ``RESPParsingError``.
    public struct Limits: Sendable, Hashable {
        /// The deepest nesting of aggregates (arrays, maps, sets, pushes, attributes); `0` allows none.
        public var maximumDepth: Int
        /// The longest bulk string, bulk error or verbatim string payload, in bytes.
        public var maximumBulkLength: Int
        /// The most elements of one array, set or push, or pairs of one map or attribute.
        public var maximumAggregateCount: Int
        /// The longest simple string, simple error, integer, double, big number or length line, in bytes.
        public var maximumLineLength: Int

        /// Creates limits.
        ///
        /// - Parameters:
        ///   - maximumDepth: The deepest nesting of aggregates. Default 32.
        ///   - maximumBulkLength: The longest bulk payload in bytes. Default 512 MiB, Redis's `proto-max-bulk-len`.
        ///   - maximumAggregateCount: The most elements (or map pairs) of one aggregate. Default 16,777,216.
        ///   - maximumLineLength: The longest simple line in bytes, CR LF excluded. Default 65,536.
        public init(
            maximumDepth: Int = 32,
            maximumBulkLength: Int = 512 * 1024 * 1024,
            maximumAggregateCount: Int = 1 << 24,
            maximumLineLength: Int = 64 * 1024
        ) {
            precondition(maximumDepth >= 0 && maximumBulkLength >= 0 && maximumAggregateCount >= 0 && maximumLineLength >= 0)
            self.maximumDepth = maximumDepth
            self.maximumBulkLength = maximumBulkLength
            self.maximumAggregateCount = maximumAggregateCount
            self.maximumLineLength = maximumLineLength
        }
    }

    /// The bounds this decoder enforces.
    public var limits: Limits

    /// Creates a decoder.
    ///
    /// - Parameters:
    ///   - limits: The bounds to enforce. Default ``Limits/init(maximumDepth:maximumBulkLength:maximumAggregateCount:maximumLineLength:)``.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// Decodes one complete value from the start of `buffer`.
    ///
    /// - Parameters:
    ///   - buffer: The received bytes. On success its reader index moves past the value; otherwise it is unchanged.
    /// - Returns: The value, or `nil` if `buffer` holds only part of one.
    /// - Throws: ``RESPParsingError`` if the bytes are not valid RESP or exceed ``limits``.
    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        let source = buffer
        let limits = self.limits
        let decoded: (value: RESPValue, length: Int)? = try source.withUnsafeReadableBytes { bytes in
            var parser = Parser(bytes: bytes, source: source, limits: limits)
            guard let value = try parser.parseValue(depth: 0) else {
                return nil
            }
            return (value, parser.position)
        }
        guard let decoded else {
            return nil
        }
        buffer.moveReaderIndex(forwardBy: decoded.length)
        return decoded.value
    }

    /// Decodes one complete value after the input ended or the handler was removed.
    ///
    /// - Parameters:
    ///   - buffer: The bytes left over.
    ///   - seenEOF: Whether the stream saw end-of-file.
    /// - Returns: The value, or `nil` if `buffer` is empty.
    /// - Throws: ``RESPParsingError`` with code ``RESPParsingError/Code/truncated`` if bytes of an incomplete
    ///   value remain, or any error of ``decode(buffer:)``.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPValue? {
        if let value = try self.decode(buffer: &buffer) {
            return value
        }
        guard buffer.readableBytes == 0 else {
            throw RESPParsingError(
                .truncated,
                message: "\(buffer.readableBytes) bytes of an incomplete value left at the end of the input",
                buffer: buffer,
                offset: buffer.readableBytes
            )
        }
        return nil
    }
}

// MARK: - Parser

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")
private let minus = UInt8(ascii: "-")
private let plus = UInt8(ascii: "+")
private let zero = UInt8(ascii: "0")

/// The smallest encoding of any RESP value (`_\r\n`, `+\r\n`), used to reject counts the input cannot hold yet.
private let minimumValueLength = 3

/// One pass over the readable bytes of a buffer; positions are offsets from its reader index.
private struct Parser {
    let bytes: UnsafeRawBufferPointer
    let source: ByteBuffer
    let limits: RESPDecoder.Limits
    var position = 0

    init(bytes: UnsafeRawBufferPointer, source: ByteBuffer, limits: RESPDecoder.Limits) {
        self.bytes = bytes
        self.source = source
        self.limits = limits
    }

    /// Parses the value at ``position`` and the attributes before it; `nil` if the bytes end first.
    mutating func parseValue(depth: Int) throws -> RESPValue? {
        while true {
            guard self.position < self.bytes.count else {
                return nil
            }
            let start = self.position
            let marker = self.bytes[start]
            self.position += 1
            switch marker {
            case UInt8(ascii: "+"):
                guard let line = try self.readLine(valueStart: start) else { return nil }
                return .simpleString(self.slice(line))
            case UInt8(ascii: "-"):
                guard let line = try self.readLine(valueStart: start) else { return nil }
                return .simpleError(self.slice(line))
            case UInt8(ascii: ":"):
                guard let line = try self.readLine(valueStart: start) else { return nil }
                guard let value = self.parseInt64(line) else {
                    throw self.error(.invalidInteger, "not a 64-bit decimal integer", valueStart: start, at: line.lowerBound)
                }
                return .integer(value)
            case UInt8(ascii: "$"):
                guard let payload = try self.readBulk(valueStart: start) else { return nil }
                return payload.map { .bulkString(self.slice($0)) } ?? .null
            case UInt8(ascii: "*"):
                return try self.parseList(valueStart: start, depth: depth, allowsNull: true).map { $0.map(RESPValue.array) ?? .null }
            case UInt8(ascii: "_"):
                guard let line = try self.readLine(valueStart: start) else { return nil }
                guard line.isEmpty else {
                    throw self.error(.invalidNull, "bytes after the null marker", valueStart: start, at: line.lowerBound)
                }
                return .null
            case UInt8(ascii: ","):
                guard let line = try self.readLine(valueStart: start) else { return nil }
                guard let value = self.parseDouble(line) else {
                    throw self.error(.invalidDouble, "not a RESP3 double", valueStart: start, at: line.lowerBound)
                }
                return .double(value)
            case UInt8(ascii: "#"):
                guard let line = try self.readLine(valueStart: start) else { return nil }
                guard line.count == 1, self.bytes[line.lowerBound] == UInt8(ascii: "t") || self.bytes[line.lowerBound] == UInt8(ascii: "f")
                else {
                    throw self.error(.invalidBoolean, "expected t or f", valueStart: start, at: line.lowerBound)
                }
                return .boolean(self.bytes[line.lowerBound] == UInt8(ascii: "t"))
            case UInt8(ascii: "("):
                guard let line = try self.readLine(valueStart: start) else { return nil }
                guard self.isDecimal(line) else {
                    throw self.error(.invalidBigNumber, "not a decimal number", valueStart: start, at: line.lowerBound)
                }
                return .bigNumber(self.slice(line))
            case UInt8(ascii: "!"):
                guard let payload = try self.readNonNullBulk(valueStart: start, kind: "bulk error") else { return nil }
                return .bulkError(self.slice(payload))
            case UInt8(ascii: "="):
                guard let payload = try self.readNonNullBulk(valueStart: start, kind: "verbatim string") else { return nil }
                guard payload.count >= 4, self.bytes[payload.lowerBound + 3] == UInt8(ascii: ":") else {
                    throw self.error(.invalidVerbatimString, "expected a three-byte format and a colon", valueStart: start, at: payload.lowerBound)
                }
                return .verbatimString(self.slice(payload))
            case UInt8(ascii: "~"):
                return try self.parseList(valueStart: start, depth: depth, allowsNull: false).map { .set($0!) }
            case UInt8(ascii: ">"):
                return try self.parseList(valueStart: start, depth: depth, allowsNull: false).map { .push($0!) }
            case UInt8(ascii: "%"):
                guard let pairs = try self.parsePairs(valueStart: start, depth: depth) else { return nil }
                return .map(pairs)
            case UInt8(ascii: "|"):
                // An attribute annotates the value after it; drop it and go on with that value.
                guard try self.parsePairs(valueStart: start, depth: depth) != nil else { return nil }
                continue
            default:
                throw self.error(.invalidTypeMarker, "unknown type marker \(marker)", valueStart: start, at: start)
            }
        }
    }

    // MARK: Aggregates

    /// Parses an array, set or push after its marker: the outer optional is `nil` if incomplete, the inner for `*-1`.
    private mutating func parseList(valueStart: Int, depth: Int, allowsNull: Bool) throws -> [RESPValue]?? {
        guard let count = try self.readCount(valueStart: valueStart, depth: depth, elementsPerEntry: 1, allowsNull: allowsNull) else {
            return nil
        }
        guard let count else {
            return .some(nil)
        }
        var elements = [RESPValue]()
        elements.reserveCapacity(count)
        for _ in 0..<count {
            guard let element = try self.parseValue(depth: depth + 1) else { return nil }
            elements.append(element)
        }
        return .some(elements)
    }

    /// Parses a map or attribute after its marker; `nil` if incomplete.
    private mutating func parsePairs(valueStart: Int, depth: Int) throws -> [(key: RESPValue, value: RESPValue)]? {
        guard let count = try self.readCount(valueStart: valueStart, depth: depth, elementsPerEntry: 2, allowsNull: false) else {
            return nil
        }
        var pairs = [(key: RESPValue, value: RESPValue)]()
        pairs.reserveCapacity(count!)
        for _ in 0..<count! {
            guard let key = try self.parseValue(depth: depth + 1), let value = try self.parseValue(depth: depth + 1) else {
                return nil
            }
            pairs.append((key, value))
        }
        return pairs
    }

    /// Reads and checks an aggregate's count line: the outer optional is `nil` if incomplete, the inner for `-1`.
    ///
    /// Also returns `nil` when the bytes left cannot hold that many elements yet, so nothing is reserved for
    /// elements that have not arrived.
    private mutating func readCount(valueStart: Int, depth: Int, elementsPerEntry: Int, allowsNull: Bool) throws -> Int?? {
        guard let line = try self.readLine(valueStart: valueStart) else {
            return nil
        }
        let count = try self.parseLength(line, valueStart: valueStart)
        if count == -1 {
            guard allowsNull else {
                throw self.error(.invalidLength, "only arrays can be null", valueStart: valueStart, at: line.lowerBound)
            }
            return .some(nil)
        }
        guard count <= self.limits.maximumAggregateCount else {
            throw self.error(
                .aggregateTooLarge,
                "\(count) elements, limit \(self.limits.maximumAggregateCount)",
                valueStart: valueStart,
                at: line.lowerBound
            )
        }
        guard depth < self.limits.maximumDepth else {
            throw self.error(.nestingTooDeep, "limit \(self.limits.maximumDepth)", valueStart: valueStart, at: valueStart)
        }
        guard count <= (self.bytes.count - self.position) / minimumValueLength / elementsPerEntry else {
            return nil
        }
        return .some(count)
    }

    // MARK: Lines and bulk payloads

    /// Reads the line after a marker and moves past its CR LF; `nil` if the CR LF has not arrived.
    private mutating func readLine(valueStart: Int) throws -> Range<Int>? {
        let lineStart = self.position
        let searchEnd = min(self.bytes.count, lineStart + self.limits.maximumLineLength + 1)
        var index = lineStart
        while index < searchEnd && self.bytes[index] != cr {
            index += 1
        }
        guard index < searchEnd else {
            if searchEnd - lineStart > self.limits.maximumLineLength {
                throw self.error(.lineTooLong, "limit \(self.limits.maximumLineLength) bytes", valueStart: valueStart, at: lineStart)
            }
            return nil
        }
        guard index + 1 < self.bytes.count else {
            return nil
        }
        guard self.bytes[index + 1] == lf else {
            throw self.error(.invalidTerminator, "CR not followed by LF", valueStart: valueStart, at: index + 1)
        }
        self.position = index + 2
        return lineStart..<index
    }

    /// Reads a length line and the payload after it: the outer optional is `nil` if incomplete, the inner for `-1`.
    private mutating func readBulk(valueStart: Int) throws -> Range<Int>?? {
        guard let line = try self.readLine(valueStart: valueStart) else {
            return nil
        }
        let length = try self.parseLength(line, valueStart: valueStart)
        if length == -1 {
            return .some(nil)
        }
        guard length <= self.limits.maximumBulkLength else {
            throw self.error(
                .bulkStringTooLong,
                "\(length) bytes, limit \(self.limits.maximumBulkLength)",
                valueStart: valueStart,
                at: line.lowerBound
            )
        }
        let payloadStart = self.position
        guard self.bytes.count - payloadStart >= length + 2 else {
            return nil
        }
        let payloadEnd = payloadStart + length
        guard self.bytes[payloadEnd] == cr, self.bytes[payloadEnd + 1] == lf else {
            throw self.error(.invalidTerminator, "bulk payload not followed by CR LF", valueStart: valueStart, at: payloadEnd)
        }
        self.position = payloadEnd + 2
        return .some(payloadStart..<payloadEnd)
    }

    /// Reads a bulk payload that must not be null, such as a bulk error's; `nil` if incomplete.
    private mutating func readNonNullBulk(valueStart: Int, kind: String) throws -> Range<Int>? {
        guard let payload = try self.readBulk(valueStart: valueStart) else {
            return nil
        }
        guard let payload else {
            throw self.error(.invalidLength, "a \(kind) cannot be null", valueStart: valueStart, at: valueStart + 1)
        }
        return payload
    }

    // MARK: Numbers

    /// Parses a length or count: a non-negative decimal or `-1`.
    private func parseLength(_ line: Range<Int>, valueStart: Int) throws -> Int {
        if line.count == 1 && self.bytes[line.lowerBound] == UInt8(ascii: "?") {
            throw self.error(.unsupportedStreamedType, nil, valueStart: valueStart, at: line.lowerBound)
        }
        guard let value = self.parseInt64(line), value >= -1, value <= Int64(Int.max / 2) else {
            throw self.error(.invalidLength, "expected a non-negative decimal or -1", valueStart: valueStart, at: line.lowerBound)
        }
        return Int(value)
    }

    private func parseInt64(_ line: Range<Int>) -> Int64? {
        parseRESPInteger(UnsafeRawBufferPointer(rebasing: self.bytes[line]))
    }

    /// Whether the line is an optionally signed, non-empty run of decimal digits.
    private func isDecimal(_ line: Range<Int>) -> Bool {
        var index = line.lowerBound
        if index < line.upperBound && (self.bytes[index] == minus || self.bytes[index] == plus) {
            index += 1
        }
        guard index < line.upperBound else {
            return false
        }
        return self.bytes[index..<line.upperBound].allSatisfy { $0 &- zero < 10 }
    }

    private func parseDouble(_ line: Range<Int>) -> Double? {
        parseRESPDouble(UnsafeRawBufferPointer(rebasing: self.bytes[line]))
    }

    // MARK: Helpers

    private func slice(_ range: Range<Int>) -> ByteBuffer {
        self.source.getSlice(at: self.source.readerIndex + range.lowerBound, length: range.count)!
    }

    private func error(_ code: RESPParsingError.Code, _ message: String?, valueStart: Int, at offset: Int) -> RESPParsingError {
        let context = self.source.getSlice(
            at: self.source.readerIndex + valueStart,
            length: self.source.readableBytes - valueStart
        )!
        return RESPParsingError(code, message: message, buffer: context, offset: offset - valueStart)
    }
}

// MARK: - Number text

/// Parses an optionally signed decimal that fits in `Int64`, or returns `nil`.
func parseRESPInteger(_ text: UnsafeRawBufferPointer) -> Int64? {
    var index = 0
    var negative = false
    if index < text.count && (text[index] == minus || text[index] == plus) {
        negative = text[index] == minus
        index += 1
    }
    guard index < text.count else {
        return nil
    }
    // Accumulate negatively so that Int64.min parses.
    var value: Int64 = 0
    while index < text.count {
        let digit = text[index] &- zero
        guard digit < 10 else {
            return nil
        }
        let (shifted, overflowed) = value.multipliedReportingOverflow(by: 10)
        let (next, underflowed) = shifted.subtractingReportingOverflow(Int64(digit))
        guard !overflowed && !underflowed else {
            return nil
        }
        value = next
        index += 1
    }
    if negative {
        return value
    }
    return value == .min ? nil : -value
}

/// Parses a RESP3 double: `inf`, `-inf`, `nan` or a decimal with an optional fraction and exponent.
func parseRESPDouble(_ text: UnsafeRawBufferPointer) -> Double? {
    if text.elementsEqual("inf".utf8) || text.elementsEqual("+inf".utf8) {
        return .infinity
    }
    if text.elementsEqual("-inf".utf8) {
        return -.infinity
    }
    if text.elementsEqual("nan".utf8) || text.elementsEqual("-nan".utf8) {
        return .nan
    }
    // Only what the RESP3 grammar allows; Swift's own parser would also take hex floats and "infinity".
    let allowed = text.allSatisfy { byte in
        byte &- zero < 10 || byte == minus || byte == plus || byte == UInt8(ascii: ".") || byte | 0x20 == UInt8(ascii: "e")
    }
    guard !text.isEmpty, allowed else {
        return nil
    }
    return Double(String(decoding: text, as: UTF8.self))
}

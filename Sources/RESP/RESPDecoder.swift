import NIOCore

/// A bounded decoder of RESP2 and RESP3 values, one complete top-level value per call.
///
/// Use it through `NIOSingleStepByteToMessageProcessor` in a channel handler, or wrap it in a
/// `ByteToMessageHandler`. A call either consumes one whole value or consumes nothing. Decoding runs in two
/// passes: a validating scan that allocates nothing finds out whether a whole value is buffered and how long it
/// is, and only then is the value built from the validated bytes. When the buffer holds only part of a value,
/// ``decode(buffer:)`` returns `nil` and remembers how far the scan got, so a large reply that arrives over many
/// reads is scanned once, not once per read. The decoder must therefore be fed one stream: bytes it has already
/// seen must stay in the buffer, unchanged, until it returns the value they belong to (as NIO's byte-to-message
/// processors guarantee). String payloads are slices of the input buffer, not copies.
///
/// The decoder never allocates in proportion to a length or count it has not yet received the bytes for, and
/// ``Limits`` bound line lengths, bulk lengths, element counts and nesting; nesting is tracked without
/// recursion. RESP3 attributes (`|`) are read and dropped; the value they annotate is returned.
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
        /// The longest simple string, simple error, integer, double or big number line, in bytes.
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

    /// How far the scan of the value at the front of the buffer got in earlier calls.
    private var scan = Scan()
    /// The aggregates being built, kept to reuse its memory from value to value.
    private var frames: [Frame] = []

    /// Creates a decoder.
    ///
    /// - Parameters:
    ///   - limits: The bounds to enforce. Default ``Limits/init(maximumDepth:maximumBulkLength:maximumAggregateCount:maximumLineLength:)``.
    public init(limits: Limits = Limits()) {
        self.limits = limits
    }

    /// How many bytes at the front of the buffer the scan has already validated, from the reader index.
    ///
    /// `0` when no value is partly scanned. Tests use it to check that a value arriving in pieces is scanned
    /// once.
    package var scannedBytes: Int {
        self.scan.position
    }

    /// Decodes one complete value from the start of `buffer`.
    ///
    /// - Parameters:
    ///   - buffer: The received bytes. On success its reader index moves past the value; otherwise it is unchanged.
    /// - Returns: The value, or `nil` if `buffer` holds only part of one.
    /// - Throws: ``RESPParsingError`` if the bytes are not valid RESP or exceed ``limits``.
    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPValue? {
        try self.scanValue(in: &buffer) { decoder, bytes, scanned in
            if let scalar = scanned.scalar, let value = bytes.value(of: scalar) {
                // A one-element value, such as the reply to GET or SET: the scan already parsed it.
                return value
            }
            return try decoder.build(from: bytes.prefix(scanned.length))
        }
    }

    /// Takes one complete value from the start of `buffer` without building it: the validating scan runs as in
    /// ``decode(buffer:)`` (the same limits, the same errors), and the value's bytes are returned as a slice that
    /// shares the input's memory. Read it with ``RESPReply``.
    ///
    /// - Parameters:
    ///   - buffer: The received bytes. On success its reader index moves past the value; otherwise it is unchanged.
    /// - Returns: The bytes of one whole value, or `nil` if `buffer` holds only part of one.
    /// - Throws: ``RESPParsingError`` if the bytes are not valid RESP or exceed ``limits``.
    public mutating func decodeFrame(buffer: inout ByteBuffer) throws -> ByteBuffer? {
        try self.scanValue(in: &buffer) { _, bytes, scanned in bytes.slice(0..<scanned.length) }
    }

    /// Takes every complete value at the start of `buffer` without building or slicing any: the validating scan runs
    /// as in ``decode(buffer:)`` (the same limits, the same errors), and the end of each value is appended to `ends`
    /// as an offset from the reader index the call started at. The reader index moves past them all; a value that
    /// has only partly arrived is left, and its scan's progress kept for the next call.
    ///
    /// A client reads a whole batch of replies this way and slices only what its callers take, so a reply costs no
    /// reference to the buffer's memory until one is made of it.
    ///
    /// - Parameters:
    ///   - buffer: The received bytes.
    ///   - ends: Where the end offsets go.
    /// - Throws: ``RESPParsingError`` for bytes that are not valid RESP or exceed ``limits``; the values before them
    ///   are taken (their ends appended, the reader index past them) all the same.
    public mutating func scanFrames(in buffer: inout ByteBuffer, ends: inout [Int]) throws {
        if buffer.readableBytes < self.scan.position {
            self.scan.reset()
        }
        let source = buffer
        let limits = self.limits
        var consumed = 0
        do {
            try source.withUnsafeReadableBytes { memory in
                let bytes = Bytes(memory, source: source, limits: limits)
                while consumed < memory.count, let scanned = try self.scan.advance(over: bytes) {
                    consumed = scanned.length
                    ends.append(consumed)
                    // The next value's scan starts where this one ended.
                    self.scan.reset(at: consumed)
                }
            }
        } catch {
            self.scan.reset()
            buffer.moveReaderIndex(forwardBy: consumed)
            throw error
        }
        // The progress on a partial value is kept relative to the reader index it will have next time.
        self.scan.rebase(by: consumed)
        buffer.moveReaderIndex(forwardBy: consumed)
    }

    /// Scans the value at the start of `buffer`; once all of it is there, makes the result from its validated
    /// bytes and moves the reader index past it. Returns `nil` (keeping the scan's progress) while it is not.
    private mutating func scanValue<Result>(
        in buffer: inout ByteBuffer,
        _ make: (inout RESPDecoder, Bytes, Scan.Scanned) throws -> Result
    ) throws -> Result? {
        if buffer.readableBytes < self.scan.position {
            // Not the bytes scanned before; start over rather than trust the old progress.
            self.scan.reset()
        }
        // After a value or an error the next call starts a new value; only `nil` keeps the progress.
        var keepsProgress = false
        defer {
            if !keepsProgress {
                self.scan.reset()
            }
        }
        let source = buffer
        let limits = self.limits
        var length = 0
        let result: Result? = try source.withUnsafeReadableBytes { memory in
            let bytes = Bytes(memory, source: source, limits: limits)
            guard let scanned = try self.scan.advance(over: bytes) else {
                return nil
            }
            length = scanned.length
            return try make(&self, bytes, scanned)
        }
        guard let result else {
            keepsProgress = true
            return nil
        }
        buffer.moveReaderIndex(forwardBy: length)
        return result
    }

    /// The error for bytes of an incomplete value left when the input ended.
    static func truncated(_ buffer: ByteBuffer) -> RESPParsingError {
        RESPParsingError(
            .truncated,
            message: "\(buffer.readableBytes) bytes of an incomplete value left at the end of the input",
            buffer: buffer,
            offset: buffer.readableBytes
        )
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
            self.scan.reset()
            throw Self.truncated(buffer)
        }
        return nil
    }

    // MARK: Building

    /// Builds the value in `bytes`, which ``Scan/advance(over:)`` found complete and valid.
    ///
    /// Aggregates are built with an explicit stack, so nesting costs no recursion; the scan has checked its depth.
    private mutating func build(from bytes: Bytes) throws -> RESPValue {
        self.frames.removeAll(keepingCapacity: true)
        var position = 0
        var lineSearch = 0
        while true {
            guard let parsed = try bytes.element(at: position, lineSearch: &lineSearch) else {
                throw bytes.failure(.truncated, "the buffered bytes changed between two calls", valueStart: position, offset: bytes.count)
            }
            let next = parsed.next
            var value: RESPValue
            if let scalar = bytes.value(of: parsed.element) {
                value = scalar
            } else if case .aggregate(let kind, let count) = parsed.element {
                position = next
                let entries = kind.entries(count: count)
                if entries > 0 {
                    // Every element takes at least 3 bytes: never reserve more than the bytes present can hold.
                    self.frames.append(Frame(kind: kind, remaining: entries, capacity: min(count, (bytes.count - position) / 3)))
                    continue
                }
                guard let empty = Frame(kind: kind, remaining: 0, capacity: 0).value else {
                    continue  // an empty attribute annotates the next value
                }
                value = empty
            } else {
                preconditionFailure("an element is a scalar or an aggregate")
            }
            position = next
            // Hand the value to the innermost open aggregate; each aggregate it completes goes to its parent. A
            // finished attribute delivers nothing: the value it annotates is still to come.
            var delivered: RESPValue? = value
            while let current = delivered, let top = self.frames.indices.last {
                self.frames[top].append(current)
                guard self.frames[top].remaining == 0 else {
                    delivered = nil
                    break
                }
                delivered = self.frames.removeLast().value
            }
            if let delivered {
                return delivered
            }
        }
    }
}

// MARK: - Scan

/// How far the validating scan got: the position of the next element, the elements still missing from each
/// open aggregate, and how far the search for the CR LF of a partly received line got.
private struct Scan: Sendable {
    /// The offset, from the reader index, of the next element to scan.
    var position = 0
    /// Where the search for the end of the line at ``position`` resumes.
    var lineSearch = 0
    /// For each open aggregate, outermost first: the elements still missing, and whether it is an attribute.
    var open: [OpenAggregate] = []

    mutating func reset() {
        self.reset(at: 0)
    }

    /// Starts a new value at `position`.
    mutating func reset(at position: Int) {
        self.position = position
        self.lineSearch = 0
        self.open.removeAll(keepingCapacity: true)
    }

    /// Moves the progress `offset` bytes back, as the reader index moves that far forward.
    mutating func rebase(by offset: Int) {
        self.position -= offset
        if self.lineSearch > 0 { self.lineSearch -= offset }
    }

    /// The length of a complete value, and its element if it is a single scalar (perhaps after attributes).
    struct Scanned {
        let length: Int
        let scalar: Element?
    }

    /// Scans elements from ``position`` on; returns the first value's length once all of it is buffered, or `nil`
    /// (keeping the progress) if it is not yet. Allocates nothing beyond the stack of open aggregates.
    mutating func advance(over bytes: Bytes) throws -> Scanned? {
        while true {
            guard let parsed = try bytes.element(at: self.position, lineSearch: &self.lineSearch) else {
                return nil
            }
            self.lineSearch = 0
            let next = parsed.next
            if case .aggregate(let kind, let count) = parsed.element {
                guard self.open.count < bytes.limits.maximumDepth else {
                    throw bytes.failure(.nestingTooDeep, "limit \(bytes.limits.maximumDepth)", valueStart: self.position, offset: self.position)
                }
                self.position = next
                let entries = kind.entries(count: count)
                if entries > 0 {
                    self.open.append(OpenAggregate(remaining: entries, isAttribute: kind == .attribute))
                    continue
                }
                if kind == .attribute {
                    continue  // an empty attribute annotates the next value
                }
            } else if self.open.isEmpty {
                // A scalar outside any aggregate is a whole value (attributes before it are dropped).
                return Scanned(length: next, scalar: parsed.element)
            } else {
                self.position = next
            }
            // One value is complete: count it in its aggregate, and each aggregate that completes in its parent. A
            // finished attribute completes nothing: the value it annotates is still to come.
            var complete = true
            while let top = self.open.indices.last {
                self.open[top].remaining -= 1
                guard self.open[top].remaining == 0 else {
                    complete = false
                    break
                }
                if self.open.removeLast().isAttribute {
                    complete = false
                    break
                }
            }
            if complete {
                return Scanned(length: self.position, scalar: nil)
            }
        }
    }
}

// MARK: - Elements

/// An aggregate the scan is inside of.
private struct OpenAggregate {
    /// The elements still missing (keys and values counted apart).
    var remaining: Int
    /// Whether it is an attribute, which annotates the value after it instead of being one.
    let isAttribute: Bool
}

/// An element and the offset after it.
private struct Parsed {
    let element: Element
    let next: Int
}

/// A length or count and the offset after its line.
private struct ParsedLength {
    let value: Int
    let next: Int
}

/// One element of a RESP value: a whole scalar, or the header of an aggregate.
private enum Element {
    case simpleString(Range<Int>)
    case simpleError(Range<Int>)
    case integer(Int64)
    case bulkString(Range<Int>)
    case null
    case double(Double)
    case boolean(Bool)
    case bigNumber(Range<Int>)
    case bulkError(Range<Int>)
    case verbatimString(Range<Int>)
    case aggregate(AggregateKind, count: Int)
}

private enum AggregateKind {
    case array, set, push, map, attribute

    /// The elements that follow a header of `count`: maps and attributes count pairs.
    func entries(count: Int) -> Int {
        self == .map || self == .attribute ? 2 * count : count
    }
}

/// An aggregate being built, with the elements received so far.
private struct Frame: Sendable {
    let kind: AggregateKind
    var remaining: Int
    var elements: [RESPValue] = []
    var pairs: [(key: RESPValue, value: RESPValue)] = []
    var key: RESPValue?

    init(kind: AggregateKind, remaining: Int, capacity: Int) {
        self.kind = kind
        self.remaining = remaining
        switch kind {
        case .array, .set, .push: self.elements.reserveCapacity(capacity)
        case .map: self.pairs.reserveCapacity(capacity)
        case .attribute: break
        }
    }

    mutating func append(_ value: RESPValue) {
        self.remaining -= 1
        switch self.kind {
        case .array, .set, .push:
            self.elements.append(value)
        case .map:
            if let key = self.key {
                self.pairs.append((key, value))
                self.key = nil
            } else {
                self.key = value
            }
        case .attribute:
            break
        }
    }

    /// The finished aggregate, or `nil` for an attribute, which is dropped.
    var value: RESPValue? {
        switch self.kind {
        case .array: .array(self.elements)
        case .set: .set(self.elements)
        case .push: .push(self.elements)
        case .map: .map(self.pairs)
        case .attribute: nil
        }
    }
}

private let cr = UInt8(ascii: "\r")
private let lf = UInt8(ascii: "\n")
private let minus = UInt8(ascii: "-")
private let plus = UInt8(ascii: "+")
private let zero = UInt8(ascii: "0")

/// The readable bytes of the input with the limits to check them against; offsets are from the reader index.
private struct Bytes {
    let memory: UnsafeRawBufferPointer
    /// The buffer `memory` belongs to, for slices and error context.
    let source: ByteBuffer
    let limits: RESPDecoder.Limits

    init(_ memory: UnsafeRawBufferPointer, source: ByteBuffer, limits: RESPDecoder.Limits) {
        self.memory = memory
        self.source = source
        self.limits = limits
    }

    var count: Int { self.memory.count }

    func prefix(_ length: Int) -> Bytes {
        Bytes(UnsafeRawBufferPointer(rebasing: self.memory.prefix(length)), source: self.source, limits: self.limits)
    }

    /// The bytes at `range` as a slice sharing the input's memory.
    func slice(_ range: Range<Int>) -> ByteBuffer {
        // The range lies within the readable bytes the scan validated.
        self.source.getSlice(at: self.source.readerIndex + range.lowerBound, length: range.count)!
    }

    /// The value of a scalar element, with its strings sliced from the input; `nil` for an aggregate header.
    func value(of element: Element) -> RESPValue? {
        switch element {
        case .simpleString(let range): .simpleString(self.slice(range))
        case .simpleError(let range): .simpleError(self.slice(range))
        case .integer(let integer): .integer(integer)
        case .bulkString(let range): .bulkString(self.slice(range))
        case .null: .null
        case .double(let double): .double(double)
        case .boolean(let boolean): .boolean(boolean)
        case .bigNumber(let range): .bigNumber(self.slice(range))
        case .bulkError(let range): .bulkError(self.slice(range))
        case .verbatimString(let range): .verbatimString(self.slice(range))
        case .aggregate: nil
        }
    }

    /// The error for a violation at `offset` in the element that starts at `valueStart`.
    ///
    /// Thrown where it is found, once: each `throw` is costly when a debugger or test runner records backtraces.
    func failure(_ code: RESPParsingError.Code, _ message: String?, valueStart: Int, offset: Int) -> RESPParsingError {
        RESPParsingError(
            code,
            message: message,
            buffer: self.source.getSlice(at: self.source.readerIndex + valueStart, length: self.source.readableBytes - valueStart)
                ?? self.source,
            offset: offset - valueStart
        )
    }

    /// Reads and checks the element at `start`: returns it and the offset after it, or `nil` if not all of it
    /// is buffered yet.
    ///
    /// - Parameters:
    ///   - start: The offset of the element's type marker.
    ///   - lineSearch: Where to resume looking for the end of a line found incomplete before; updated when the
    ///     line is still incomplete.
    func element(at start: Int, lineSearch: inout Int) throws -> Parsed? {
        guard start < self.count else {
            return nil
        }
        let marker = self.memory[start]
        switch marker {
        case UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: ":"), UInt8(ascii: "_"), UInt8(ascii: ","), UInt8(ascii: "#"),
            UInt8(ascii: "("):
            guard let line = try self.line(after: start, lineSearch: &lineSearch) else {
                return nil
            }
            return Parsed(element: try self.scalar(marker: marker, line: line, start: start), next: line.upperBound + 2)
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            guard let header = try self.length(after: start, limit: self.limits.maximumBulkLength, code: .bulkStringTooLong) else {
                return nil
            }
            let length = header.value
            let payloadStart = header.next
            if length == -1 {
                guard marker == UInt8(ascii: "$") else {
                    throw self.failure(.invalidLength, "only bulk strings can be null", valueStart: start, offset: start + 1)
                }
                return Parsed(element: .null, next: payloadStart)
            }
            guard self.count - payloadStart - 2 >= length else {
                return nil
            }
            let payload = payloadStart..<(payloadStart + length)
            guard self.memory[payload.upperBound] == cr, self.memory[payload.upperBound + 1] == lf else {
                throw self.failure(.invalidTerminator, "bulk payload not followed by CR LF", valueStart: start, offset: payload.upperBound)
            }
            let next = payload.upperBound + 2
            switch marker {
            case UInt8(ascii: "$"):
                return Parsed(element: .bulkString(payload), next: next)
            case UInt8(ascii: "!"):
                return Parsed(element: .bulkError(payload), next: next)
            default:
                guard payload.count >= 4, self.memory[payload.lowerBound + 3] == UInt8(ascii: ":") else {
                    throw self.failure(
                        .invalidVerbatimString,
                        "expected a three-byte format and a colon",
                        valueStart: start,
                        offset: payload.lowerBound
                    )
                }
                return Parsed(element: .verbatimString(payload), next: next)
            }
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "%"), UInt8(ascii: "|"):
            // Capped so that twice the count (a map's keys and values) cannot overflow.
            let limit = min(self.limits.maximumAggregateCount, Int.max / 4)
            guard let header = try self.length(after: start, limit: limit, code: .aggregateTooLarge) else {
                return nil
            }
            let count = header.value
            let next = header.next
            if count == -1 {
                guard marker == UInt8(ascii: "*") else {
                    throw self.failure(.invalidLength, "only arrays can be null", valueStart: start, offset: start + 1)
                }
                return Parsed(element: .null, next: next)
            }
            let kind: AggregateKind =
                switch marker {
                case UInt8(ascii: "*"): .array
                case UInt8(ascii: "~"): .set
                case UInt8(ascii: ">"): .push
                case UInt8(ascii: "%"): .map
                default: .attribute
                }
            return Parsed(element: .aggregate(kind, count: count), next: next)
        default:
            throw self.failure(.invalidTypeMarker, "unknown type marker \(marker)", valueStart: start, offset: start)
        }
    }

    /// Checks the line of a one-line element and reads its value.
    private func scalar(marker: UInt8, line: Range<Int>, start: Int) throws -> Element {
        switch marker {
        case UInt8(ascii: "+"):
            return .simpleString(line)
        case UInt8(ascii: "-"):
            return .simpleError(line)
        case UInt8(ascii: ":"):
            guard let value = parseRESPInteger(UnsafeRawBufferPointer(rebasing: self.memory[line])) else {
                throw self.failure(.invalidInteger, "not a 64-bit decimal integer", valueStart: start, offset: line.lowerBound)
            }
            return .integer(value)
        case UInt8(ascii: "_"):
            guard line.isEmpty else {
                throw self.failure(.invalidNull, "bytes after the null marker", valueStart: start, offset: line.lowerBound)
            }
            return .null
        case UInt8(ascii: ","):
            guard let value = parseRESPDouble(UnsafeRawBufferPointer(rebasing: self.memory[line])) else {
                throw self.failure(.invalidDouble, "not a RESP3 double", valueStart: start, offset: line.lowerBound)
            }
            return .double(value)
        case UInt8(ascii: "#"):
            let byte = line.count == 1 ? self.memory[line.lowerBound] : 0
            guard byte == UInt8(ascii: "t") || byte == UInt8(ascii: "f") else {
                throw self.failure(.invalidBoolean, "expected t or f", valueStart: start, offset: line.lowerBound)
            }
            return .boolean(byte == UInt8(ascii: "t"))
        default:
            guard isRESPDecimal(UnsafeRawBufferPointer(rebasing: self.memory[line])) else {
                throw self.failure(.invalidBigNumber, "not a decimal number", valueStart: start, offset: line.lowerBound)
            }
            return .bigNumber(line)
        }
    }

    /// Finds the line after the marker at `start`, CR LF excluded; `nil` if its CR LF has not arrived.
    ///
    /// A line longer than ``RESPDecoder/Limits/maximumLineLength`` throws as soon as that many bytes are buffered.
    private func line(after start: Int, lineSearch: inout Int) throws -> Range<Int>? {
        let lineStart = start + 1
        // The CR may sit at most `maximumLineLength` bytes after the line start.
        let searchEnd = min(self.count, lineStart + self.limits.maximumLineLength + 1)
        var index = max(lineStart, lineSearch)
        while index < searchEnd && self.memory[index] != cr {
            index += 1
        }
        guard index < searchEnd else {
            if searchEnd - lineStart > self.limits.maximumLineLength {
                throw self.failure(.lineTooLong, "limit \(self.limits.maximumLineLength) bytes", valueStart: start, offset: lineStart)
            }
            lineSearch = index
            return nil
        }
        guard index + 1 < self.count else {
            lineSearch = index
            return nil
        }
        guard self.memory[index + 1] == lf else {
            throw self.failure(.invalidTerminator, "CR not followed by LF", valueStart: start, offset: index + 1)
        }
        return lineStart..<index
    }

    /// Reads the length or count line after the marker at `start`: a decimal up to `limit`, or `-1`. Returns it
    /// and the offset after its CR LF, or `nil` if the line is incomplete.
    ///
    /// Bytes are checked as they arrive: a partial line that is already no valid length, or already exceeds
    /// `limit`, throws at once instead of waiting for its end.
    private func length(after start: Int, limit: Int, code: RESPParsingError.Code) throws -> ParsedLength? {
        var index = start + 1
        guard index < self.count else {
            return nil
        }
        switch self.memory[index] {
        case UInt8(ascii: "?"):
            throw self.failure(.unsupportedStreamedType, "streamed values are not supported", valueStart: start, offset: index)
        case minus:
            // The only negative length is -1.
            guard index + 1 < self.count else { return nil }
            guard self.memory[index + 1] == UInt8(ascii: "1") else {
                throw self.failure(.invalidLength, "expected a non-negative decimal or -1", valueStart: start, offset: index + 1)
            }
            guard index + 2 < self.count else { return nil }
            guard self.memory[index + 2] == cr else {
                throw self.failure(.invalidLength, "expected a non-negative decimal or -1", valueStart: start, offset: index + 2)
            }
            guard index + 3 < self.count else { return nil }
            guard self.memory[index + 3] == lf else {
                throw self.failure(.invalidTerminator, "CR not followed by LF", valueStart: start, offset: index + 3)
            }
            return ParsedLength(value: -1, next: index + 4)
        default:
            break
        }
        var value = 0
        while index < self.count {
            let byte = self.memory[index]
            let digit = byte &- zero
            if digit < 10 {
                // 19 digits hold any Int64; more (even leading zeros) cannot be a length Redis sends.
                guard index - start <= 19 else {
                    throw self.failure(.invalidLength, "too many digits", valueStart: start, offset: index)
                }
                let (shifted, overflowed) = value.multipliedReportingOverflow(by: 10)
                let (sum, carried) = shifted.addingReportingOverflow(Int(digit))
                guard !overflowed && !carried else {
                    throw self.failure(.invalidLength, "not a 64-bit decimal", valueStart: start, offset: start + 1)
                }
                value = sum
                index += 1
                continue
            }
            guard byte == cr, index > start + 1 else {
                throw self.failure(.invalidLength, "expected a non-negative decimal or -1", valueStart: start, offset: index)
            }
            guard value <= limit else {
                throw self.failure(code, "\(value), limit \(limit)", valueStart: start, offset: start + 1)
            }
            guard index + 1 < self.count else {
                return nil
            }
            guard self.memory[index + 1] == lf else {
                throw self.failure(.invalidTerminator, "CR not followed by LF", valueStart: start, offset: index + 1)
            }
            return ParsedLength(value: value, next: index + 2)
        }
        // More digits can only make the value larger.
        guard value <= limit else {
            throw self.failure(code, "more than \(limit)", valueStart: start, offset: start + 1)
        }
        return nil
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

/// Whether the text is an optionally signed, non-empty run of decimal digits.
func isRESPDecimal(_ text: UnsafeRawBufferPointer) -> Bool {
    var digits = text[...]
    if let first = digits.first, first == minus || first == plus {
        digits = digits.dropFirst()
    }
    return !digits.isEmpty && digits.allSatisfy { $0 &- zero < 10 }
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

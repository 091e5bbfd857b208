import NIOCore

/// Writes RESP commands and values into one `ByteBuffer` that is reused from command to command.
///
/// A channel handler keeps one encoder, calls ``reset()``, writes one or more commands and sends ``buffer``.
/// A command is an array of bulk strings: write its header with ``writeArrayHeader(count:)`` and then each
/// argument with a `writeBulkString` overload, which builds no intermediate array:
///
/// ```swift
/// encoder.reset()
/// encoder.writeArrayHeader(count: 3)
/// encoder.writeBulkString("SETEX")
/// encoder.writeBulkString(key)
/// encoder.writeBulkString(ttlSeconds)
/// ```
public struct RESPEncoder: Sendable {
    /// The bytes written since the last ``reset()``.
    public private(set) var buffer: ByteBuffer

    /// Creates an encoder that writes into `buffer`, after its existing bytes.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to reuse, usually `channel.allocator.buffer(capacity:)`. Default an empty buffer.
    public init(buffer: ByteBuffer = ByteBuffer()) {
        self.buffer = buffer
    }

    /// Drops the bytes written so far and keeps the buffer's memory for the next command.
    ///
    /// If a copy of ``buffer`` is still alive (a write that has not finished), the next write allocates new
    /// memory instead of changing the bytes that copy sees.
    public mutating func reset() {
        self.buffer.clear()
    }

    // MARK: Commands

    /// Writes the header of an array of `count` elements, such as a command of `count` arguments.
    ///
    /// - Parameters:
    ///   - count: The number of elements that follow, at least zero.
    public mutating func writeArrayHeader(count: Int) {
        precondition(count >= 0, "an array cannot have a negative count")
        self.writeLine(marker: UInt8(ascii: "*"), Int64(count))
    }

    /// Writes a string's UTF-8 bytes as a bulk string.
    ///
    /// - Parameters:
    ///   - string: The command name or argument.
    public mutating func writeBulkString(_ string: String) {
        self.writeLine(marker: UInt8(ascii: "$"), Int64(string.utf8.count))
        self.buffer.writeString(string)
        self.writeCRLF()
    }

    /// Writes the readable bytes of a buffer as a bulk string.
    ///
    /// - Parameters:
    ///   - bytes: The argument; its reader index does not move.
    public mutating func writeBulkString(_ bytes: ByteBuffer) {
        self.writeBulk(marker: UInt8(ascii: "$"), bytes)
    }

    /// Writes a collection of bytes as a bulk string.
    ///
    /// - Parameters:
    ///   - bytes: The argument, such as an `[UInt8]` or a `String.UTF8View`.
    public mutating func writeBulkString(_ bytes: some Collection<UInt8>) {
        self.writeLine(marker: UInt8(ascii: "$"), Int64(bytes.count))
        self.buffer.writeBytes(bytes)
        self.writeCRLF()
    }

    /// Writes an integer in decimal as a bulk string, as Redis expects for TTLs and increments.
    ///
    /// - Parameters:
    ///   - value: The argument.
    public mutating func writeBulkString(_ value: Int64) {
        let digits = Self.decimalLength(value)
        self.writeLine(marker: UInt8(ascii: "$"), Int64(digits))
        self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: digits + 2) { memory in
            Self.writeDecimal(value, length: digits, into: memory)
            memory[digits] = UInt8(ascii: "\r")
            memory[digits + 1] = UInt8(ascii: "\n")
            return digits + 2
        }
    }

    /// Writes an integer in decimal as a bulk string, as Redis expects for TTLs and counts.
    ///
    /// - Parameters:
    ///   - value: The argument.
    public mutating func writeBulkString(_ value: Int) {
        self.writeBulkString(Int64(value))
    }

    /// Writes a command: an array of bulk strings, one per argument.
    ///
    /// This builds an array of its arguments; hot paths use ``writeArrayHeader(count:)`` and
    /// ``writeBulkString(_:)-(String)`` instead.
    ///
    /// - Parameters:
    ///   - arguments: The command name and its arguments, such as `"GET", "key"`.
    public mutating func encodeCommand(_ arguments: String...) {
        self.writeArrayHeader(count: arguments.count)
        for argument in arguments {
            self.writeBulkString(argument)
        }
    }

    // MARK: Values

    /// Writes any RESP value, as a server would send it.
    ///
    /// ``RESPValue/null`` is written as RESP2's null bulk string `$-1`, which RESP2 and RESP3 clients both read.
    /// Simple strings and simple errors are written as given; they must not contain CR or LF.
    ///
    /// - Parameters:
    ///   - value: The value to write.
    public mutating func encode(_ value: RESPValue) {
        switch value {
        case .simpleString(let bytes):
            self.writeSimple(marker: UInt8(ascii: "+"), bytes)
        case .simpleError(let bytes):
            self.writeSimple(marker: UInt8(ascii: "-"), bytes)
        case .integer(let integer):
            self.writeLine(marker: UInt8(ascii: ":"), integer)
        case .bulkString(let bytes):
            self.writeBulkString(bytes)
        case .array(let elements):
            self.writeArrayHeader(count: elements.count)
            self.encodeElements(elements)
        case .null:
            self.buffer.writeStaticString("$-1\r\n")
        case .double(let double):
            self.buffer.writeInteger(UInt8(ascii: ","))
            // Swift's shortest round-trip form; infinities and NaN print as RESP3's `inf`, `-inf` and `nan`.
            self.buffer.writeString(double.description)
            self.writeCRLF()
        case .boolean(let boolean):
            self.buffer.writeStaticString(boolean ? "#t\r\n" : "#f\r\n")
        case .bigNumber(let bytes):
            self.writeSimple(marker: UInt8(ascii: "("), bytes)
        case .bulkError(let bytes):
            self.writeBulk(marker: UInt8(ascii: "!"), bytes)
        case .verbatimString(let bytes):
            self.writeBulk(marker: UInt8(ascii: "="), bytes)
        case .map(let pairs):
            self.writeLine(marker: UInt8(ascii: "%"), Int64(pairs.count))
            for pair in pairs {
                self.encode(pair.key)
                self.encode(pair.value)
            }
        case .set(let elements):
            self.writeLine(marker: UInt8(ascii: "~"), Int64(elements.count))
            self.encodeElements(elements)
        case .push(let elements):
            self.writeLine(marker: UInt8(ascii: ">"), Int64(elements.count))
            self.encodeElements(elements)
        }
    }

    // MARK: Helpers

    private mutating func encodeElements(_ elements: [RESPValue]) {
        for element in elements {
            self.encode(element)
        }
    }

    private mutating func writeSimple(marker: UInt8, _ bytes: ByteBuffer) {
        self.buffer.writeInteger(marker)
        self.buffer.writeImmutableBuffer(bytes)
        self.writeCRLF()
    }

    private mutating func writeBulk(marker: UInt8, _ bytes: ByteBuffer) {
        self.writeLine(marker: marker, Int64(bytes.readableBytes))
        self.buffer.writeImmutableBuffer(bytes)
        self.writeCRLF()
    }

    private mutating func writeCRLF() {
        self.buffer.writeInteger(UInt16(0x0D0A))
    }

    /// Writes `marker`, `value` in decimal and CR LF with one bounds check.
    private mutating func writeLine(marker: UInt8, _ value: Int64) {
        let digits = Self.decimalLength(value)
        self.buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: digits + 3) { memory in
            memory[0] = marker
            Self.writeDecimal(value, length: digits, into: UnsafeMutableRawBufferPointer(rebasing: memory[1...]))
            memory[digits + 1] = UInt8(ascii: "\r")
            memory[digits + 2] = UInt8(ascii: "\n")
            return digits + 3
        }
    }

    /// The number of bytes of `value` in decimal, minus sign included.
    private static func decimalLength(_ value: Int64) -> Int {
        var magnitude = value.magnitude
        var length = value < 0 ? 2 : 1
        while magnitude >= 10 {
            magnitude /= 10
            length += 1
        }
        return length
    }

    /// Writes `value` in decimal into the first `length` bytes of `memory`.
    private static func writeDecimal(_ value: Int64, length: Int, into memory: UnsafeMutableRawBufferPointer) {
        if value < 0 {
            memory[0] = UInt8(ascii: "-")
        }
        var magnitude = value.magnitude
        var index = length - 1
        repeat {
            memory[index] = UInt8(truncatingIfNeeded: magnitude % 10) &+ UInt8(ascii: "0")
            magnitude /= 10
            index -= 1
        } while magnitude > 0
    }
}

import NIOCore

// MARK: Commands

extension ByteBuffer {
    /// Writes the header of a RESP array of `count` elements, such as a command of `count` arguments.
    ///
    /// - Parameters:
    ///   - count: The number of elements that follow, at least zero.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPArrayHeader(count: Int) -> Int {
        precondition(count >= 0, "an array cannot have a negative count")
        return self.writeRESPLine(marker: UInt8(ascii: "*"), Int64(count))
    }

    /// Writes a string's UTF-8 bytes as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - string: The command name or argument.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPBulkString(_ string: String) -> Int {
        let header = self.writeRESPLine(marker: UInt8(ascii: "$"), Int64(string.utf8.count))
        return header + self.writeString(string) + self.writeRESPCRLF()
    }

    /// Writes two strings, one after the other, as one RESP bulk string (a key made of a prefix and a name, say),
    /// without joining them first.
    ///
    /// - Parameters:
    ///   - head: The first part.
    ///   - tail: The second part.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPBulkString(_ head: String, _ tail: String) -> Int {
        self.writeRESPBulkString(head, tail, after: "")
    }

    /// Writes `prefix` as it is (the header of a command, say), then two strings as one RESP bulk string, in one
    /// write: a key made of a prefix and a name, as the only argument of a command, costs one capacity check.
    ///
    /// - Parameters:
    ///   - head: The first part.
    ///   - tail: The second part.
    ///   - prefix: Raw bytes written first (already RESP).
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPBulkString(_ head: String, _ tail: String, after prefix: StaticString) -> Int {
        let length = head.utf8.count + tail.utf8.count
        let digits = decimalLength(Int64(length))
        let prefixLength = prefix.utf8CodeUnitCount
        let total = prefixLength + digits + 3 + length + 2
        return self.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { memory in
            var offset = 0
            if prefixLength > 0 {
                UnsafeMutableRawBufferPointer(rebasing: memory[..<prefixLength])
                    .copyMemory(from: UnsafeRawBufferPointer(start: prefix.utf8Start, count: prefixLength))
                offset = prefixLength
            }
            memory[offset] = UInt8(ascii: "$")
            writeDecimal(Int64(length), length: digits, into: UnsafeMutableRawBufferPointer(rebasing: memory[(offset + 1)...]))
            offset += digits + 1
            memory[offset] = UInt8(ascii: "\r")
            memory[offset + 1] = UInt8(ascii: "\n")
            offset += 2
            offset = copyUTF8(head, into: memory, at: offset)
            offset = copyUTF8(tail, into: memory, at: offset)
            memory[offset] = UInt8(ascii: "\r")
            memory[offset + 1] = UInt8(ascii: "\n")
            return offset + 2
        }
    }

    /// Writes a static string, such as a command name, as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - string: The command name or argument.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPBulkString(_ string: StaticString) -> Int {
        let header = self.writeRESPLine(marker: UInt8(ascii: "$"), Int64(string.utf8CodeUnitCount))
        return header + self.writeStaticString(string) + self.writeRESPCRLF()
    }

    /// Writes the readable bytes of a buffer as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - bytes: The argument; its reader index does not move.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPBulkString(_ bytes: ByteBuffer) -> Int {
        self.writeRESPBulk(marker: UInt8(ascii: "$"), bytes)
    }

    /// Writes a collection of bytes as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - bytes: The argument, such as an `[UInt8]` or a `String.UTF8View`.
    /// - Returns: The number of bytes written.
    @inlinable
    @discardableResult
    public mutating func writeRESPBulkString(_ bytes: some Collection<UInt8>) -> Int {
        let header = self.writeRESPLine(marker: UInt8(ascii: "$"), Int64(bytes.count))
        return header + self.writeBytes(bytes) + self.writeRESPCRLF()
    }

    /// Writes an integer in decimal as a RESP bulk string, as Redis expects for TTLs and increments.
    ///
    /// The digits are written straight into the buffer; no string is made.
    ///
    /// - Parameters:
    ///   - value: The argument.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPBulkString(_ value: Int64) -> Int {
        let digits = decimalLength(value)
        let header = self.writeRESPLine(marker: UInt8(ascii: "$"), Int64(digits))
        return header
            + self.writeWithUnsafeMutableBytes(minimumWritableBytes: digits + 2) { memory in
                writeDecimal(value, length: digits, into: memory)
                memory[digits] = UInt8(ascii: "\r")
                memory[digits + 1] = UInt8(ascii: "\n")
                return digits + 2
            }
    }

    /// Writes an integer in decimal as a RESP bulk string, as Redis expects for TTLs and counts.
    ///
    /// - Parameters:
    ///   - value: The argument.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPBulkString(_ value: Int) -> Int {
        self.writeRESPBulkString(Int64(value))
    }

    /// Writes a double as a RESP bulk string in its shortest form that reads back as the same double.
    ///
    /// `1.0` is written as `1.0`, `1e16` as `1e+16`, `0.1` as `0.1`: forms Redis's `INCRBYFLOAT` and
    /// `ZADD` accept. Infinities and NaN are written as `inf`, `-inf` and `nan`, which `INCRBYFLOAT` rejects.
    ///
    /// - Parameters:
    ///   - value: The argument.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPBulkString(_ value: Double) -> Int {
        // At most 24 bytes ("-2.2250738585072014e-308"); up to 15 need no heap allocation.
        self.writeRESPBulkString(value.description)
    }
}

// MARK: Values

extension ByteBuffer {
    /// Writes any RESP value, as a server would send it.
    ///
    /// ``RESPValue/null`` is written as RESP2's null bulk string `$-1`, which RESP2 and RESP3 clients both read.
    /// Simple strings, simple errors and big numbers are written as given; they must not contain CR or LF.
    ///
    /// - Parameters:
    ///   - value: The value to write.
    /// - Returns: The number of bytes written.
    @discardableResult
    public mutating func writeRESPValue(_ value: RESPValue) -> Int {
        switch value {
        case .simpleString(let bytes):
            return self.writeRESPSimple(marker: UInt8(ascii: "+"), bytes)
        case .simpleError(let bytes):
            return self.writeRESPSimple(marker: UInt8(ascii: "-"), bytes)
        case .integer(let integer):
            return self.writeRESPLine(marker: UInt8(ascii: ":"), integer)
        case .bulkString(let bytes):
            return self.writeRESPBulk(marker: UInt8(ascii: "$"), bytes)
        case .array(let elements):
            return self.writeRESPAggregate(marker: UInt8(ascii: "*"), elements)
        case .null:
            return self.writeStaticString("$-1\r\n")
        case .double(let double):
            // Swift's shortest round-trip form; infinities and NaN print as RESP3's `inf`, `-inf` and `nan`.
            return self.writeInteger(UInt8(ascii: ",")) + self.writeString(double.description) + self.writeRESPCRLF()
        case .boolean(let boolean):
            return self.writeStaticString(boolean ? "#t\r\n" : "#f\r\n")
        case .bigNumber(let bytes):
            return self.writeRESPSimple(marker: UInt8(ascii: "("), bytes)
        case .bulkError(let bytes):
            return self.writeRESPBulk(marker: UInt8(ascii: "!"), bytes)
        case .verbatimString(let bytes):
            return self.writeRESPBulk(marker: UInt8(ascii: "="), bytes)
        case .map(let pairs):
            var written = self.writeRESPLine(marker: UInt8(ascii: "%"), Int64(pairs.count))
            for pair in pairs {
                written += self.writeRESPValue(pair.key) + self.writeRESPValue(pair.value)
            }
            return written
        case .set(let elements):
            return self.writeRESPAggregate(marker: UInt8(ascii: "~"), elements)
        case .push(let elements):
            return self.writeRESPAggregate(marker: UInt8(ascii: ">"), elements)
        }
    }
}

// MARK: Helpers

extension ByteBuffer {
    /// Writes `marker`, `value` in decimal and CR LF with one bounds check.
    @usableFromInline
    mutating func writeRESPLine(marker: UInt8, _ value: Int64) -> Int {
        let digits = decimalLength(value)
        return self.writeWithUnsafeMutableBytes(minimumWritableBytes: digits + 3) { memory in
            memory[0] = marker
            writeDecimal(value, length: digits, into: UnsafeMutableRawBufferPointer(rebasing: memory[1...]))
            memory[digits + 1] = UInt8(ascii: "\r")
            memory[digits + 2] = UInt8(ascii: "\n")
            return digits + 3
        }
    }

    @usableFromInline
    mutating func writeRESPCRLF() -> Int {
        self.writeInteger(UInt16(0x0D0A))
    }

    private mutating func writeRESPBulk(marker: UInt8, _ bytes: ByteBuffer) -> Int {
        self.writeRESPLine(marker: marker, Int64(bytes.readableBytes)) + self.writeImmutableBuffer(bytes) + self.writeRESPCRLF()
    }

    private mutating func writeRESPSimple(marker: UInt8, _ bytes: ByteBuffer) -> Int {
        self.writeInteger(marker) + self.writeImmutableBuffer(bytes) + self.writeRESPCRLF()
    }

    private mutating func writeRESPAggregate(marker: UInt8, _ elements: [RESPValue]) -> Int {
        var written = self.writeRESPLine(marker: marker, Int64(elements.count))
        for element in elements {
            written += self.writeRESPValue(element)
        }
        return written
    }
}

/// The number of bytes of `value` in decimal, minus sign included.
private func decimalLength(_ value: Int64) -> Int {
    var magnitude = value.magnitude
    var length = value < 0 ? 2 : 1
    while magnitude >= 10 {
        magnitude /= 10
        length += 1
    }
    return length
}

/// Copies the UTF-8 of `string` into `memory` at `offset`, which has room for it; returns the offset after it.
private func copyUTF8(_ string: String, into memory: UnsafeMutableRawBufferPointer, at offset: Int) -> Int {
    let copied = string.utf8.withContiguousStorageIfAvailable { utf8 in
        UnsafeMutableRawBufferPointer(rebasing: memory[offset...]).copyMemory(from: UnsafeRawBufferPointer(utf8))
        return offset + utf8.count
    }
    if let copied { return copied }
    var next = offset
    for byte in string.utf8 {
        memory[next] = byte
        next += 1
    }
    return next
}

/// Writes `value` in decimal into the first `length` bytes of `memory`.
private func writeDecimal(_ value: Int64, length: Int, into memory: UnsafeMutableRawBufferPointer) {
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

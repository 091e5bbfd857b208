import NIOCore

/// Writes JSON text exactly as Python's `json.dumps` does with its default options.
///
/// That means: ASCII-only output (everything above U+007E and U+007F itself as lowercase `\uXXXX`, characters
/// above U+FFFF as a surrogate pair), the short escapes `\"` `\\` `\n` `\r` `\t` `\b` `\f`, other control characters
/// as `\u00XX`, `/` left alone, `", "` between elements and `": "` after keys, members in insertion order,
/// integers in plain decimal and floats like Python's `repr(float)`.
///
/// Python writes NaN and the infinities as `NaN`, `Infinity` and `-Infinity`, which is not JSON; this writer refuses
/// them unless `allowNonFinite` is set (used only for descriptions).
package struct JSONWriter: Sendable {
    /// The deepest nesting of arrays and objects the writer accepts, the same as ``JSONParser/maximumDepth``.
    package static var maximumDepth: Int { JSONParser.maximumDepth }

    /// Allocates buffers for callers that have none.
    package static let allocator = ByteBufferAllocator()

    /// Whether NaN and the infinities are written (as Python does) instead of refused.
    package var allowNonFinite: Bool

    /// Creates a writer.
    ///
    /// - Parameters:
    ///   - allowNonFinite: Write NaN and the infinities as `NaN`, `Infinity`, `-Infinity` instead of throwing.
    package init(allowNonFinite: Bool = false) {
        self.allowNonFinite = allowNonFinite
    }

    /// Why a value could not be written, and where in it.
    package struct Failure: Error {
        package enum Reason: Sendable {
            /// A NaN or infinite double.
            case nonFiniteNumber(Double)
            /// Arrays and objects nested deeper than ``JSONWriter/maximumDepth``.
            case tooDeep
        }

        package var reason: Reason
        /// The keys from the root to the offending value.
        package var codingPath: [any CodingKey]

        /// The error a Swift `Encoder` would report for this failure.
        package var encodingError: EncodingError {
            switch self.reason {
            case .nonFiniteNumber(let number):
                return EncodingError.invalidValue(
                    number,
                    EncodingError.Context(
                        codingPath: self.codingPath,
                        debugDescription: "Unable to encode \(number) as JSON: NaN and infinity are not valid JSON numbers."
                    )
                )
            case .tooDeep:
                return EncodingError.invalidValue(
                    "",
                    EncodingError.Context(
                        codingPath: self.codingPath,
                        debugDescription: "Unable to encode a value nested deeper than \(JSONWriter.maximumDepth) levels."
                    )
                )
            }
        }
    }

    /// Appends the JSON text of `value` to `buffer`.
    ///
    /// On failure the buffer may hold part of the text; callers that need all-or-nothing restore the writer index.
    ///
    /// - Parameters:
    ///   - value: The value to write.
    ///   - buffer: The buffer to append to.
    /// - Throws: ``Failure`` for a non-finite double (unless allowed) or nesting deeper than ``maximumDepth``.
    package func write(_ value: JSONValue, into buffer: inout ByteBuffer) throws(Failure) {
        try self.write(value, depth: 0, into: &buffer)
    }

    private func write(_ value: JSONValue, depth: Int, into buffer: inout ByteBuffer) throws(Failure) {
        switch value {
        case .null:
            Self.writeNull(into: &buffer)
        case .bool(let bool):
            Self.writeBool(bool, into: &buffer)
        case .int(let int):
            Self.writeInt(int, into: &buffer)
        case .bigInt(let digits):
            buffer.writeString(digits)
        case .double(let double):
            try self.writeDouble(double, into: &buffer)
        case .string(let string):
            Self.writeString(string, into: &buffer)
        case .array(let array):
            guard depth < Self.maximumDepth else { throw Failure(reason: .tooDeep, codingPath: []) }
            buffer.writeInteger(UInt8(ascii: "["))
            for (position, element) in array.enumerated() {
                if position > 0 {
                    Self.writeElementSeparator(into: &buffer)
                }
                do {
                    try self.write(element, depth: depth + 1, into: &buffer)
                } catch {
                    throw error.prepending(JSONCodingKey(index: position))
                }
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let object):
            guard depth < Self.maximumDepth else { throw Failure(reason: .tooDeep, codingPath: []) }
            buffer.writeInteger(UInt8(ascii: "{"))
            var first = true
            for (key, member) in object {
                if !first {
                    Self.writeElementSeparator(into: &buffer)
                }
                first = false
                Self.writeString(key, into: &buffer)
                Self.writeKeySeparator(into: &buffer)
                do {
                    try self.write(member, depth: depth + 1, into: &buffer)
                } catch {
                    throw error.prepending(JSONCodingKey(stringValue: key))
                }
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        }
    }

    /// Writes a double like Python's `repr`, or refuses a non-finite one unless allowed.
    ///
    /// - Parameters:
    ///   - double: The number.
    ///   - buffer: The buffer to append to.
    /// - Throws: ``Failure`` for NaN or an infinity when `allowNonFinite` is false.
    package func writeDouble(_ double: Double, into buffer: inout ByteBuffer) throws(Failure) {
        guard double.isFinite else {
            guard self.allowNonFinite else { throw Failure(reason: .nonFiniteNumber(double), codingPath: []) }
            if double.isNaN {
                buffer.writeStaticString("NaN")
            } else {
                buffer.writeStaticString(double < 0 ? "-Infinity" : "Infinity")
            }
            return
        }
        Self.writeFiniteDouble(double, into: &buffer)
    }

    // MARK: Primitives

    /// Writes `null`.
    package static func writeNull(into buffer: inout ByteBuffer) {
        buffer.writeStaticString("null")
    }

    /// Writes `true` or `false`.
    package static func writeBool(_ bool: Bool, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(bool ? "true" : "false")
    }

    /// Writes `, ` between array elements or object members.
    package static func writeElementSeparator(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0x2C20))  // ", " in network byte order
    }

    /// Writes `: ` between a key and its value.
    package static func writeKeySeparator(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0x3A20))  // ": " in network byte order
    }

    /// Writes an integer in plain decimal.
    ///
    /// - Parameters:
    ///   - int: The integer.
    ///   - buffer: The buffer to append to.
    package static func writeInt(_ int: Int, into buffer: inout ByteBuffer) {
        var magnitude = int.magnitude
        if magnitude < 10 {
            if int < 0 {
                buffer.writeInteger(UInt8(ascii: "-"))
            }
            buffer.writeInteger(UInt8(truncatingIfNeeded: magnitude) &+ UInt8(ascii: "0"))
            return
        }
        // 20 digits and a sign cover UInt64.max and Int64.min.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 24) { digits in
            var start = digits.count
            while magnitude > 0 {
                let (quotient, remainder) = magnitude.quotientAndRemainder(dividingBy: 10)
                start -= 1
                digits[start] = UInt8(truncatingIfNeeded: remainder) &+ UInt8(ascii: "0")
                magnitude = quotient
            }
            if int < 0 {
                start -= 1
                digits[start] = UInt8(ascii: "-")
            }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    /// Writes a finite double like Python's `repr(float)`.
    ///
    /// Swift's `description` yields the shortest digits that round-trip, as Python's `repr` does; only the layout
    /// differs. Python uses scientific notation iff the decimal point position `p` (value = 0.d₁d₂… × 10^p) is
    /// `p <= -4` or `p > 16`, with at least two exponent digits and a sign; otherwise fixed notation with at least one
    /// fractional digit.
    ///
    /// - Parameters:
    ///   - double: A finite number.
    ///   - buffer: The buffer to append to.
    package static func writeFiniteDouble(_ double: Double, into buffer: inout ByteBuffer) {
        self.writeFloatingPoint(shortestDescription: double.description, into: &buffer)
    }

    /// Re-lays out the shortest round-trip text of a finite float (Swift's `description`) the way Python prints it.
    ///
    /// - Parameters:
    ///   - text: Swift's `description` of a finite `Double` or `Float`, like `1e-05`, `0.1` or `-1.5e+16`.
    ///   - buffer: The buffer to append to.
    package static func writeFloatingPoint(shortestDescription text: String, into buffer: inout ByteBuffer) {
        var text = text
        text.withUTF8 { source in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32) { digits in
                // Collect the significant digits and where the decimal point falls.
                var digitCount = 0
                var integerDigits = 0
                var seenPoint = false
                var negative = false
                var exponent = 0
                var position = 0
                if position < source.count, source[position] == UInt8(ascii: "-") {
                    negative = true
                    position += 1
                }
                while position < source.count {
                    let byte = source[position]
                    if byte == UInt8(ascii: ".") {
                        seenPoint = true
                    } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                        var exponentNegative = false
                        position += 1
                        if position < source.count, source[position] == UInt8(ascii: "-") || source[position] == UInt8(ascii: "+") {
                            exponentNegative = source[position] == UInt8(ascii: "-")
                            position += 1
                        }
                        while position < source.count {
                            exponent = exponent * 10 + Int(source[position] &- UInt8(ascii: "0"))
                            position += 1
                        }
                        if exponentNegative {
                            exponent = -exponent
                        }
                        break
                    } else if digitCount < digits.count {
                        digits[digitCount] = byte
                        digitCount += 1
                        if !seenPoint {
                            integerDigits += 1
                        }
                    }
                    position += 1
                }
                // Strip leading and trailing zeros.
                var first = 0
                while first < digitCount, digits[first] == UInt8(ascii: "0") {
                    first += 1
                }
                if first == digitCount {
                    buffer.writeStaticString(negative ? "-0.0" : "0.0")
                    return
                }
                var end = digitCount
                while digits[end - 1] == UInt8(ascii: "0") {
                    end -= 1
                }
                let significant = UnsafeBufferPointer(rebasing: digits[first..<end])
                let pointPosition = integerDigits - first + exponent
                if negative {
                    buffer.writeInteger(UInt8(ascii: "-"))
                }
                if pointPosition <= -4 || pointPosition > 16 {
                    buffer.writeInteger(significant[0])
                    if significant.count > 1 {
                        buffer.writeInteger(UInt8(ascii: "."))
                        buffer.writeBytes(UnsafeBufferPointer(rebasing: significant[1...]))
                    }
                    let printedExponent = pointPosition - 1
                    buffer.writeInteger(UInt8(ascii: "e"))
                    buffer.writeInteger(printedExponent < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
                    if printedExponent.magnitude < 10 {
                        buffer.writeInteger(UInt8(ascii: "0"))
                    }
                    self.writeInt(Int(printedExponent.magnitude), into: &buffer)
                } else if pointPosition <= 0 {
                    buffer.writeStaticString("0.")
                    for _ in 0..<(-pointPosition) {
                        buffer.writeInteger(UInt8(ascii: "0"))
                    }
                    buffer.writeBytes(significant)
                } else if pointPosition < significant.count {
                    buffer.writeBytes(UnsafeBufferPointer(rebasing: significant[..<pointPosition]))
                    buffer.writeInteger(UInt8(ascii: "."))
                    buffer.writeBytes(UnsafeBufferPointer(rebasing: significant[pointPosition...]))
                } else {
                    buffer.writeBytes(significant)
                    for _ in 0..<(pointPosition - significant.count) {
                        buffer.writeInteger(UInt8(ascii: "0"))
                    }
                    buffer.writeStaticString(".0")
                }
            }
        }
    }

    /// Writes a quoted string with Python's `ensure_ascii` escaping.
    ///
    /// - Parameters:
    ///   - string: The string.
    ///   - buffer: The buffer to append to.
    package static func writeString(_ string: String, into buffer: inout ByteBuffer) {
        if let done: Void = string.utf8.withContiguousStorageIfAvailable({ self.writeString(utf8: $0, into: &buffer) }) {
            return done
        }
        var copy = string
        copy.withUTF8 { self.writeString(utf8: $0, into: &buffer) }
    }

    private static func writeString(utf8: UnsafeBufferPointer<UInt8>, into buffer: inout ByteBuffer) {
        buffer.reserveCapacity(minimumWritableBytes: utf8.count + 2)
        buffer.writeInteger(UInt8(ascii: "\""))
        var runStart = 0
        var position = 0
        let count = utf8.count
        while position < count {
            let byte = utf8[position]
            if byte >= 0x20, byte < 0x7F, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
                position += 1
                continue
            }
            if runStart < position {
                buffer.writeBytes(UnsafeBufferPointer(rebasing: utf8[runStart..<position]))
            }
            if byte < 0x80 {
                switch byte {
                case UInt8(ascii: "\""): buffer.writeInteger(UInt16(0x5C22))  // \"
                case UInt8(ascii: "\\"): buffer.writeInteger(UInt16(0x5C5C))  // \\
                case UInt8(ascii: "\n"): buffer.writeInteger(UInt16(0x5C6E))  // \n
                case UInt8(ascii: "\r"): buffer.writeInteger(UInt16(0x5C72))  // \r
                case UInt8(ascii: "\t"): buffer.writeInteger(UInt16(0x5C74))  // \t
                case 0x08: buffer.writeInteger(UInt16(0x5C62))  // \b
                case 0x0C: buffer.writeInteger(UInt16(0x5C66))  // \f
                default: self.writeUnicodeEscape(UInt16(byte), into: &buffer)
                }
                position += 1
            } else {
                // A String's UTF-8 is always valid, so the continuation bytes are there.
                let scalar: UInt32
                if byte < 0xE0 {
                    scalar = UInt32(byte & 0x1F) << 6 | UInt32(utf8[position + 1] & 0x3F)
                    position += 2
                } else if byte < 0xF0 {
                    scalar = UInt32(byte & 0x0F) << 12 | UInt32(utf8[position + 1] & 0x3F) << 6 | UInt32(utf8[position + 2] & 0x3F)
                    position += 3
                } else {
                    scalar =
                        UInt32(byte & 0x07) << 18 | UInt32(utf8[position + 1] & 0x3F) << 12 | UInt32(utf8[position + 2] & 0x3F) << 6
                        | UInt32(utf8[position + 3] & 0x3F)
                    position += 4
                }
                if scalar >= 0x10000 {
                    let offset = scalar - 0x10000
                    self.writeUnicodeEscape(UInt16(truncatingIfNeeded: 0xD800 + (offset >> 10)), into: &buffer)
                    self.writeUnicodeEscape(UInt16(truncatingIfNeeded: 0xDC00 + (offset & 0x3FF)), into: &buffer)
                } else {
                    self.writeUnicodeEscape(UInt16(truncatingIfNeeded: scalar), into: &buffer)
                }
            }
            runStart = position
        }
        if runStart < count {
            buffer.writeBytes(UnsafeBufferPointer(rebasing: utf8[runStart..<count]))
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// Writes `\u` and four lowercase hex digits.
    private static func writeUnicodeEscape(_ unit: UInt16, into buffer: inout ByteBuffer) {
        @inline(__always)
        func hex(_ nibble: UInt16) -> UInt32 {
            let value = UInt32(nibble & 0xF)
            return value < 10 ? value + 0x30 : value + 0x57
        }
        buffer.writeInteger(UInt16(0x5C75))  // \u
        buffer.writeInteger(hex(unit >> 12) << 24 | hex(unit >> 8) << 16 | hex(unit >> 4) << 8 | hex(unit))
    }
}

// MARK: - Failure paths

extension JSONWriter.Failure {
    /// The same failure one level further from the root.
    fileprivate func prepending(_ key: JSONCodingKey) -> Self {
        var copy = self
        copy.codingPath.insert(key, at: 0)
        return copy
    }
}

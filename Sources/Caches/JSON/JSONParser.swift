import NIOCore

/// Parses JSON bytes into a ``JSONValue`` the way Python's `json.loads` reads them.
///
/// It accepts any JSON text (RFC 8259) plus Python's `NaN`, `Infinity` and `-Infinity`; raw UTF-8 and escapes
/// including `\/` and `\uXXXX` surrogate pairs in strings (a lone surrogate becomes U+FFFD, where Python would keep
/// it in a `str`); the whitespace `json.loads` allows (space, tab, LF, CR); and a leading UTF-8 byte order mark.
/// `1` is an ``JSONValue/int(_:)``, `1.0` and `1e2` are ``JSONValue/double(_:)``, integers beyond 64 bits are
/// ``JSONValue/bigInt(_:)``. A repeated object key keeps its first position and its last value, as in Python.
///
/// Not supported: UTF-16 and UTF-32 input (Python detects them; async-caches only ever stores UTF-8/ASCII).
/// Nesting is bounded by ``maximumDepth``; the parser uses its own stack, so deep input cannot overflow the thread's.
package struct JSONParser {
    /// The deepest nesting of arrays and objects accepted: 1,000.
    ///
    /// Python's `json` has no limit of its own but recurses, so the default recursion limit (1,000 frames) stops
    /// `json.loads` and `json.dumps` at about 997 levels from the top of a script, fewer inside a call stack. 1,000
    /// reads every value Python can write. The parser uses its own stack; the writer and `JSONValue` recurse, which
    /// at this depth takes well under 1 MiB of stack (tested on a task of the global executor).
    package static var maximumDepth: Int { 1_000 }

    /// Parses the readable bytes of `buffer` as one JSON value.
    ///
    /// - Parameters:
    ///   - buffer: The bytes; the reader index is not moved.
    /// - Returns: The value.
    /// - Throws: ``JSONParsingError`` when the bytes are not one JSON value.
    package static func parse(_ buffer: ByteBuffer) throws(JSONParsingError) -> JSONValue {
        let result: Result<JSONValue, JSONParsingError> = buffer.withUnsafeReadableBytes { bytes in
            var parser = JSONParser(bytes: bytes)
            return Result { () throws(JSONParsingError) in try parser.parseDocument() }
        }
        return try result.get()
    }

    /// Parses `bytes` as one JSON value.
    ///
    /// - Parameters:
    ///   - bytes: The UTF-8 bytes.
    /// - Returns: The value.
    /// - Throws: ``JSONParsingError`` when the bytes are not one JSON value.
    package static func parse(_ bytes: some Sequence<UInt8>) throws(JSONParsingError) -> JSONValue {
        let array = Array(bytes)
        let result: Result<JSONValue, JSONParsingError> = array.withUnsafeBytes { bytes in
            var parser = JSONParser(bytes: bytes)
            return Result { () throws(JSONParsingError) in try parser.parseDocument() }
        }
        return try result.get()
    }

    // MARK: State

    /// An array or object still being read.
    private enum Frame {
        case array([JSONValue])
        case object(JSONObject, key: String)
    }

    private let bytes: UnsafeRawBufferPointer
    private var position: Int

    private init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.position = 0
    }

    // MARK: Document

    private mutating func parseDocument() throws(JSONParsingError) -> JSONValue {
        if self.bytes.count >= 3, self.bytes[0] == 0xEF, self.bytes[1] == 0xBB, self.bytes[2] == 0xBF {
            self.position = 3
        }
        let value = try self.parseValue()
        self.skipWhitespace()
        guard self.position == self.bytes.count else {
            throw JSONParsingError(.trailingData, at: self.position)
        }
        return value
    }

    /// Reads one value, walking nested arrays and objects with an explicit stack.
    private mutating func parseValue() throws(JSONParsingError) -> JSONValue {
        var stack: [Frame] = []
        var value: JSONValue
        nextValue: while true {
            self.skipWhitespace()
            guard let byte = self.peek() else { throw JSONParsingError(.unexpectedEnd, at: self.position) }
            switch byte {
            case UInt8(ascii: "["):
                guard stack.count < Self.maximumDepth else { throw JSONParsingError(.tooDeep, at: self.position) }
                self.position += 1
                self.skipWhitespace()
                if self.peek() == UInt8(ascii: "]") {
                    self.position += 1
                    value = .array([])
                } else {
                    stack.append(.array([]))
                    continue nextValue
                }
            case UInt8(ascii: "{"):
                guard stack.count < Self.maximumDepth else { throw JSONParsingError(.tooDeep, at: self.position) }
                self.position += 1
                self.skipWhitespace()
                if self.peek() == UInt8(ascii: "}") {
                    self.position += 1
                    value = .object(JSONObject())
                } else {
                    let key = try self.parseMemberKey()
                    stack.append(.object(JSONObject(), key: key))
                    continue nextValue
                }
            case UInt8(ascii: "\""):
                value = .string(try self.parseString())
            case UInt8(ascii: "t"):
                try self.expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try self.expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try self.expectLiteral("null")
                value = .null
            case UInt8(ascii: "N"):
                try self.expectLiteral("NaN")
                value = .double(.nan)
            case UInt8(ascii: "I"):
                try self.expectLiteral("Infinity")
                value = .double(.infinity)
            case UInt8(ascii: "-") where self.peek(at: 1) == UInt8(ascii: "I"):
                try self.expectLiteral("-Infinity")
                value = .double(-.infinity)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = try self.parseNumber()
            default:
                throw JSONParsingError(.unexpectedByte, at: self.position)
            }

            // A value is complete: hand it to the enclosing containers, closing those that end here.
            while let frame = stack.popLast() {
                self.skipWhitespace()
                switch consume frame {
                case .array(var elements):
                    elements.append(value)
                    switch self.peek() {
                    case UInt8(ascii: ","):
                        self.position += 1
                        stack.append(.array(elements))
                        continue nextValue
                    case UInt8(ascii: "]"):
                        self.position += 1
                        value = .array(elements)
                    case nil:
                        throw JSONParsingError(.unexpectedEnd, at: self.position)
                    default:
                        throw JSONParsingError(.unexpectedByte, at: self.position)
                    }
                case .object(var members, let key):
                    members.updateValue(value, forKey: key)
                    switch self.peek() {
                    case UInt8(ascii: ","):
                        self.position += 1
                        self.skipWhitespace()
                        let nextKey = try self.parseMemberKey()
                        stack.append(.object(members, key: nextKey))
                        continue nextValue
                    case UInt8(ascii: "}"):
                        self.position += 1
                        value = .object(members)
                    case nil:
                        throw JSONParsingError(.unexpectedEnd, at: self.position)
                    default:
                        throw JSONParsingError(.unexpectedByte, at: self.position)
                    }
                }
            }
            return value
        }
    }

    /// Reads `"key"` and the `:` after it; the position is at the opening quote.
    private mutating func parseMemberKey() throws(JSONParsingError) -> String {
        guard let byte = self.peek() else { throw JSONParsingError(.unexpectedEnd, at: self.position) }
        guard byte == UInt8(ascii: "\"") else { throw JSONParsingError(.unexpectedByte, at: self.position) }
        let key = try self.parseString()
        self.skipWhitespace()
        guard let colon = self.peek() else { throw JSONParsingError(.unexpectedEnd, at: self.position) }
        guard colon == UInt8(ascii: ":") else { throw JSONParsingError(.unexpectedByte, at: self.position) }
        self.position += 1
        return key
    }

    // MARK: Scalars

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParsingError) {
        let count = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        for offset in 0..<count {
            guard let byte = self.peek(at: offset) else { throw JSONParsingError(.unexpectedEnd, at: self.position + offset) }
            guard byte == start[offset] else { throw JSONParsingError(.unexpectedByte, at: self.position + offset) }
        }
        self.position += count
    }

    /// Reads a number: `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?`, an int unless it has a fraction or exponent.
    private mutating func parseNumber() throws(JSONParsingError) -> JSONValue {
        let start = self.position
        var negative = false
        if self.peek() == UInt8(ascii: "-") {
            negative = true
            self.position += 1
        }
        guard let firstDigit = self.peek() else { throw JSONParsingError(.unexpectedEnd, at: self.position) }
        guard Self.isDigit(firstDigit) else { throw JSONParsingError(.invalidNumber, at: self.position) }

        // The integer part, accumulated as a negative number so Int.min fits.
        var accumulator = 0
        var overflow = false
        if firstDigit == UInt8(ascii: "0") {
            self.position += 1
        } else {
            while let byte = self.peek(), Self.isDigit(byte) {
                if !overflow {
                    let (times10, overflow1) = accumulator.multipliedReportingOverflow(by: 10)
                    let (next, overflow2) = times10.subtractingReportingOverflow(Int(byte &- UInt8(ascii: "0")))
                    accumulator = next
                    overflow = overflow1 || overflow2
                }
                self.position += 1
            }
        }

        var isFloat = false
        if self.peek() == UInt8(ascii: ".") {
            isFloat = true
            self.position += 1
            try self.skipDigits()
        }
        if let byte = self.peek(), byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            isFloat = true
            self.position += 1
            if let sign = self.peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") {
                self.position += 1
            }
            try self.skipDigits()
        }

        let text = UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.position])
        if isFloat {
            // The text matches the JSON grammar, which Double's parser (correctly rounded) accepts; overflow gives ±inf
            // as Python's float() does.
            guard let double = Double(String(decoding: text, as: UTF8.self)) else {
                throw JSONParsingError(.invalidNumber, at: start)
            }
            return .double(double)
        }
        if !overflow {
            if negative {
                return .int(accumulator)
            }
            if accumulator != .min {
                return .int(-accumulator)
            }
        }
        return .bigInt(String(decoding: text, as: UTF8.self))
    }

    /// Skips one or more digits.
    private mutating func skipDigits() throws(JSONParsingError) {
        guard let byte = self.peek() else { throw JSONParsingError(.unexpectedEnd, at: self.position) }
        guard Self.isDigit(byte) else { throw JSONParsingError(.invalidNumber, at: self.position) }
        while let byte = self.peek(), Self.isDigit(byte) {
            self.position += 1
        }
    }

    /// Reads a string; the position is at the opening quote.
    private mutating func parseString() throws(JSONParsingError) -> String {
        self.position += 1
        let start = self.position
        // Fast path: no escapes.
        while let byte = self.peek() {
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeRawBufferPointer(rebasing: self.bytes[start..<self.position])
                guard let string = String(validating: raw, as: UTF8.self) else {
                    throw JSONParsingError(.invalidUTF8, at: start)
                }
                self.position += 1
                return string
            }
            if byte == UInt8(ascii: "\\") {
                break
            }
            guard byte >= 0x20 else { throw JSONParsingError(.controlCharacterInString, at: self.position) }
            self.position += 1
        }
        guard self.position < self.bytes.count else { throw JSONParsingError(.unexpectedEnd, at: self.position) }

        // Slow path: copy the raw runs and decode the escapes.
        var utf8: [UInt8] = []
        utf8.reserveCapacity(self.position - start + 16)
        utf8.append(contentsOf: self.bytes[start..<self.position])
        while let byte = self.peek() {
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: utf8, as: UTF8.self) else {
                    throw JSONParsingError(.invalidUTF8, at: start)
                }
                self.position += 1
                return string
            case UInt8(ascii: "\\"):
                try self.parseEscape(into: &utf8)
            case ..<0x20:
                throw JSONParsingError(.controlCharacterInString, at: self.position)
            default:
                utf8.append(byte)
                self.position += 1
            }
        }
        throw JSONParsingError(.unexpectedEnd, at: self.position)
    }

    /// Decodes one escape sequence; the position is at the backslash.
    private mutating func parseEscape(into utf8: inout [UInt8]) throws(JSONParsingError) {
        let escapeStart = self.position
        self.position += 1
        guard let byte = self.peek() else { throw JSONParsingError(.unexpectedEnd, at: self.position) }
        self.position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"):
            utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            let unit = try self.parseHex4()
            var scalar: UInt32
            switch unit {
            case 0xD800...0xDBFF:
                // A high surrogate pairs with an immediately following escaped low surrogate.
                if self.peek() == UInt8(ascii: "\\"), self.peek(at: 1) == UInt8(ascii: "u") {
                    let saved = self.position
                    self.position += 2
                    let low = try self.parseHex4()
                    if (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
                    } else {
                        self.position = saved
                        scalar = 0xFFFD
                    }
                } else {
                    scalar = 0xFFFD
                }
            case 0xDC00...0xDFFF:
                scalar = 0xFFFD
            default:
                scalar = UInt32(unit)
            }
            for codeUnit in UTF8.encode(Unicode.Scalar(scalar)!)! {
                utf8.append(codeUnit)
            }
        default:
            throw JSONParsingError(.invalidEscape, at: escapeStart)
        }
    }

    private mutating func parseHex4() throws(JSONParsingError) -> UInt16 {
        var unit: UInt16 = 0
        for _ in 0..<4 {
            guard let byte = self.peek() else { throw JSONParsingError(.unexpectedEnd, at: self.position) }
            let nibble: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = byte - UInt8(ascii: "A") + 10
            default: throw JSONParsingError(.invalidEscape, at: self.position)
            }
            unit = unit << 4 | UInt16(nibble)
            self.position += 1
        }
        return unit
    }

    // MARK: Bytes

    private func peek() -> UInt8? {
        self.position < self.bytes.count ? self.bytes[self.position] : nil
    }

    private func peek(at offset: Int) -> UInt8? {
        self.position + offset < self.bytes.count ? self.bytes[self.position + offset] : nil
    }

    private mutating func skipWhitespace() {
        while self.position < self.bytes.count {
            switch self.bytes[self.position] {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                self.position += 1
            default:
                return
            }
        }
    }

    private static func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }
}

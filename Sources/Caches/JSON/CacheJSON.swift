import NIOCore

/// The JSON format of cached values: byte-identical to Python's `json.dumps` defaults, reading what `json.loads`
/// reads.
///
/// `String`, `Int`, `Double`, `Bool`, ``JSONValue`` and `[String]` skip the `Encoder`/`Decoder` machinery.
/// Input must be UTF-8 (a leading byte order mark is skipped); Python's UTF-16/UTF-32 detection is not done, since
/// async-caches only ever writes ASCII. Note that synthesized `Encodable` conformances leave out `nil` optionals
/// (`encodeIfPresent`), where a Python dict would hold the key with `null`.
package enum CacheJSON {
    /// Appends the JSON text of `value` to `buffer`; throws EncodingError for NaN/inf or unencodable values.
    ///
    /// Nothing is appended when it throws.
    ///
    /// - Parameters:
    ///   - value: The value to encode.
    ///   - buffer: The buffer to append to.
    /// - Throws: `EncodingError.invalidValue` (with the coding path) for NaN or an infinity, or whatever the value's
    ///   `encode(to:)` throws.
    package static func encode<T: Encodable>(_ value: T, into buffer: inout ByteBuffer) throws {
        let start = buffer.writerIndex
        do {
            try Self.write(value, into: &buffer)
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
    }

    /// Returns the JSON text of `value` in a new buffer.
    ///
    /// - Parameters:
    ///   - value: The value to encode.
    /// - Returns: The JSON bytes.
    /// - Throws: `EncodingError.invalidValue` (with the coding path) for NaN or an infinity, or whatever the value's
    ///   `encode(to:)` throws.
    package static func encode<T: Encodable>(_ value: T) throws -> ByteBuffer {
        // Most cached values fit (a 100-byte string, a small record) without growing the buffer.
        var buffer = JSONWriter.allocator.buffer(capacity: 256)
        try Self.write(value, into: &buffer)
        return buffer
    }

    /// Decodes a value of `T` from the JSON bytes; throws DecodingError on invalid JSON or a type mismatch.
    ///
    /// - Parameters:
    ///   - type: The type to decode.
    ///   - buffer: The JSON bytes (the readable bytes; the reader index is not moved).
    /// - Returns: The decoded value.
    /// - Throws: `DecodingError.dataCorrupted` with a ``JSONParsingError`` as underlying error when the bytes are not
    ///   JSON; `DecodingError.typeMismatch`, `.keyNotFound`, `.valueNotFound` or `.dataCorrupted` (a number out of
    ///   range) with the coding path when the JSON does not fit `T`.
    package static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        if T.self == String.self, let string = Self.plainString(buffer) {
            return string as! T
        }
        let value: JSONValue
        do {
            value = try JSONParser.parse(buffer)
        } catch {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(codingPath: [], debugDescription: "The cached value is not valid JSON: \(error).", underlyingError: error)
            )
        }
        if T.self == JSONValue.self {
            return value as! T
        }
        switch value {
        case .string(let string) where T.self == String.self: return string as! T
        case .int(let int) where T.self == Int.self: return int as! T
        case .double(let double) where T.self == Double.self: return double as! T
        case .int(let int) where T.self == Double.self: return Double(int) as! T
        case .bool(let bool) where T.self == Bool.self: return bool as! T
        default: break
        }
        if T.self == [String].self {
            return try Self.stringArray(from: value) as! T
        }
        return try JSONTreeDecoder.unbox(type, from: value, codingPath: [])
    }

    /// The string a JSON string literal holds when it needs no unescaping: `"` + printable ASCII without `\` or
    /// `"` + `"`, the common case of what Python writes. Nil otherwise (the parser handles it).
    @inline(__always)
    static func plainString(_ buffer: ByteBuffer) -> String? {
        buffer.withUnsafeReadableBytes { bytes -> String? in
            guard bytes.count >= 2, bytes[0] == UInt8(ascii: "\""), bytes[bytes.count - 1] == UInt8(ascii: "\"") else {
                return nil
            }
            let inner = UnsafeRawBufferPointer(rebasing: bytes[1..<(bytes.count - 1)])
            guard Self.isPlainASCII(inner) else { return nil }
            return String(decoding: inner, as: UTF8.self)
        }
    }

    /// Whether every byte is printable ASCII other than `\` and `"`; eight bytes at a time.
    @inline(__always)
    static func isPlainASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        /// A byte of `word` equals zero (the classic "has zero byte" test, exact for the any-byte question).
        @inline(__always) func hasZero(_ word: UInt64) -> Bool { (word &- ones) & ~word & highs != 0 }
        var index = 0
        let count = bytes.count
        while index + 8 <= count {
            let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            // Bytes of 0x80 or more; below 0x20 (adding 0x60 sets the high bit only from 0x20 up, as no byte has
            // it here); 0x7f (DEL); `"`; `\`.
            if word & highs != 0 || (word &+ 0x6060_6060_6060_6060) & highs != highs || hasZero(word ^ (0x7f &* ones))
                || hasZero(word ^ (0x22 &* ones)) || hasZero(word ^ (0x5c &* ones))
            {
                return false
            }
            index += 8
        }
        while index < count {
            let byte = bytes[index]
            if byte < 0x20 || byte >= 0x7f || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "\"") { return false }
            index += 1
        }
        return true
    }

    /// True when the bytes are the JSON literal `null` (optionally surrounded by whitespace).
    ///
    /// - Parameters:
    ///   - buffer: The bytes (the readable bytes; the reader index is not moved).
    /// - Returns: Whether the value is `null`.
    package static func isNull(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            func isWhitespace(_ byte: UInt8) -> Bool {
                byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\r")
            }
            var start = 0
            var end = bytes.count
            while start < end, isWhitespace(bytes[start]) {
                start += 1
            }
            while end > start, isWhitespace(bytes[end - 1]) {
                end -= 1
            }
            return end - start == 4 && bytes[start] == UInt8(ascii: "n") && bytes[start + 1] == UInt8(ascii: "u")
                && bytes[start + 2] == UInt8(ascii: "l") && bytes[start + 3] == UInt8(ascii: "l")
        }
    }

    // MARK: Fast paths

    private static func write<T: Encodable>(_ value: T, into buffer: inout ByteBuffer) throws {
        if T.self == String.self {
            JSONWriter.writeString(value as! String, into: &buffer)
        } else if T.self == Int.self {
            JSONWriter.writeInt(value as! Int, into: &buffer)
        } else if T.self == Double.self {
            let double = value as! Double
            guard double.isFinite else {
                throw JSONWriter.Failure(reason: .nonFiniteNumber(double), codingPath: []).encodingError
            }
            JSONWriter.writeFiniteDouble(double, into: &buffer)
        } else if T.self == Bool.self {
            JSONWriter.writeBool(value as! Bool, into: &buffer)
        } else if T.self == JSONValue.self {
            do {
                try JSONWriter().write(value as! JSONValue, into: &buffer)
            } catch {
                throw error.encodingError
            }
        } else if T.self == [String].self {
            buffer.writeInteger(UInt8(ascii: "["))
            for (position, string) in (value as! [String]).enumerated() {
                if position > 0 {
                    JSONWriter.writeElementSeparator(into: &buffer)
                }
                JSONWriter.writeString(string, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        } else {
            try JSONTreeEncoder.encode(value, into: &buffer)
        }
    }

    private static func stringArray(from value: JSONValue) throws -> [String] {
        guard case .array(let elements) = value else {
            throw JSONTreeDecoder.typeMismatch([String].self, found: value, codingPath: [])
        }
        var strings: [String] = []
        strings.reserveCapacity(elements.count)
        for (position, element) in elements.enumerated() {
            guard case .string(let string) = element else {
                throw JSONTreeDecoder.typeMismatch(String.self, found: element, codingPath: [JSONCodingKey(index: position)])
            }
            strings.append(string)
        }
        return strings
    }
}

import NIOCore
import Testing

@testable import Caches

/// Parses a string's UTF-8 bytes.
func parsed(_ text: String) throws -> JSONValue {
    try JSONParser.parse(text.utf8)
}

/// The error code the parser reports for `text`, or nil when it parses.
func parsingErrorCode(_ text: some Sequence<UInt8>) -> JSONParsingError.Code? {
    do {
        _ = try JSONParser.parse(text)
        return nil
    } catch {
        return error.code
    }
}

@Suite("JSONParser: what Python json.loads reads")
struct JSONParserTests {
    @Test func compactAndSpacedFormsAreEqual() throws {
        let compact = try parsed(#"{"a":1,"b":[true,false,null],"c":{"d":"e"},"f":1.5}"#)
        let spaced = try parsed(" \r\n\t{ \"a\" : 1 ,\n\"b\" :[ true , false,null ] , \"c\":{\"d\" : \"e\"},\"f\":1.5 }\n ")
        let expected: JSONValue = ["a": 1, "b": [true, false, nil], "c": ["d": "e"], "f": 1.5]
        #expect(compact == expected)
        #expect(spaced == expected)
        #expect(compact.description == #"{"a": 1, "b": [true, false, null], "c": {"d": "e"}, "f": 1.5}"#)
    }

    @Test func intAndFloatStayDistinct() throws {
        #expect(try parsed("1") == .int(1))
        #expect(try parsed("1.0") == .double(1.0))
        #expect(try parsed("1e2") == .double(100.0))
        #expect(try parsed("1E+2") == .double(100.0))
        #expect(try parsed("-0") == .int(0))
        #expect(try parsed("-0.0").doubleValue?.sign == .minus)
        #expect(try parsed("0.5e-3") == .double(0.0005))
        #expect(try parsed("-9223372036854775808") == .int(.min))
        #expect(try parsed("9223372036854775807") == .int(.max))
        #expect(try parsed("1e400") == .double(.infinity))
    }

    @Test func integersBeyond64BitsKeepTheirDigits() throws {
        for digits in ["9223372036854775808", "-9223372036854775809", "123456789012345678901234567890"] {
            let value = try parsed(digits)
            #expect(value == .bigInt(digits))
            #expect(value.description == digits)
        }
        #expect(try parsed("[18446744073709551615]").description == "[18446744073709551615]")
    }

    @Test func pythonNonFiniteLiterals() throws {
        let value = try parsed("[NaN, Infinity, -Infinity]")
        let numbers = try #require(value.arrayValue).compactMap(\.doubleValue)
        #expect(numbers.count == 3)
        #expect(numbers[0].isNaN)
        #expect(numbers[1] == .infinity)
        #expect(numbers[2] == -.infinity)
        #expect(parsingErrorCode("-NaN".utf8) != nil)
        #expect(parsingErrorCode("nan".utf8) != nil)
        #expect(parsingErrorCode("Infinit".utf8) == .unexpectedEnd)
    }

    @Test func stringEscapes() throws {
        #expect(try parsed(#""a\/b\\c\"d\b\f\n\r\t""#) == .string("a/b\\c\"d\u{08}\u{0C}\n\r\t"))
        #expect(try parsed(#""\u00e9\u00C9\u20ac""#) == .string("éÉ€"))
        #expect(try parsed(#""\ud83d\ude00!""#) == .string("😀!"))
        #expect(try parsed(#""\u0000""#) == .string("\u{0}"))
    }

    @Test func loneSurrogatesBecomeReplacementCharacters() throws {
        #expect(try parsed(#""\ud800x""#) == .string("\u{FFFD}x"))
        #expect(try parsed(#""\udc00""#) == .string("\u{FFFD}"))
        #expect(try parsed(#""\ud800\ud83d\ude00""#) == .string("\u{FFFD}😀"))
        #expect(try parsed(#""\ud800\u0041""#) == .string("\u{FFFD}A"))
        #expect(try parsed(#""\ud800""#) == .string("\u{FFFD}"))
    }

    @Test func rawUTF8() throws {
        #expect(try parsed(#"{"klucz": "żółw 😀"}"#) == ["klucz": "żółw 😀"])
        #expect(try parsed(#""żółw""#).description == #""\u017c\u00f3\u0142w""#)
        // A UTF-8 byte order mark before the value is skipped, as json.loads(bytes) does.
        #expect(try JSONParser.parse([0xEF, 0xBB, 0xBF] + Array("[1]".utf8)) == [1])
    }

    @Test func objectsKeepOrderAndTheLastDuplicate() throws {
        let value = try parsed(#"{"b": 1, "a": 2, "b": 3}"#)
        #expect(value.objectValue?.keys == ["b", "a"])
        #expect(value["b"] == 3)
        #expect(value.description == #"{"b": 3, "a": 2}"#)
    }

    @Test func largeObjectsUseTheirIndex() throws {
        func members(k5: String) -> String {
            (0..<100).map { $0 == 5 ? #""k5": \#(k5)"# : #""k\#($0)": \#($0)"# }.joined(separator: ", ")
        }
        let value = try parsed("{" + members(k5: "5") + #", "k5": "again"}"#)
        let object = try #require(value.objectValue)
        #expect(object.count == 100)
        #expect(object["k99"] == 99)
        #expect(object["k5"] == "again")
        #expect(object.keys.first == "k0")
        #expect(value.description == "{" + members(k5: #""again""#) + "}")
    }

    @Test(arguments: [
        ("", JSONParsingError.Code.unexpectedEnd),
        ("   ", .unexpectedEnd),
        ("[1, 2", .unexpectedEnd),
        (#"{"a": 1"#, .unexpectedEnd),
        (#""abc"#, .unexpectedEnd),
        ("[1 2]", .unexpectedByte),
        ("[1,]", .unexpectedByte),
        (#"{"a" 1}"#, .unexpectedByte),
        ("{a: 1}", .unexpectedByte),
        (#"{"a": 1,}"#, .unexpectedByte),
        ("'a'", .unexpectedByte),
        ("tru", .unexpectedEnd),
        ("trUe", .unexpectedByte),
        ("01", .trailingData),
        ("1.", .unexpectedEnd),
        ("1.e3", .invalidNumber),
        ("-", .unexpectedEnd),
        ("-a", .invalidNumber),
        (".5", .unexpectedByte),
        ("+1", .unexpectedByte),
        ("1e", .unexpectedEnd),
        ("0x10", .trailingData),
        (#""\x""#, .invalidEscape),
        (#""\u12g4""#, .invalidEscape),
        ("\"a\tb\"", .controlCharacterInString),
        ("\"a\nb\"", .controlCharacterInString),
        ("[1] [2]", .trailingData),
        ("null x", .trailingData),
    ])
    func invalidJSON(_ text: String, _ code: JSONParsingError.Code) {
        #expect(parsingErrorCode(text.utf8) == code, "\(text)")
    }

    @Test func invalidUTF8IsRejected() {
        #expect(parsingErrorCode([UInt8(ascii: "\""), 0xFF, UInt8(ascii: "\"")]) == .invalidUTF8)
        #expect(parsingErrorCode([UInt8(ascii: "\""), 0xC3, UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "\"")]) == .invalidUTF8)
    }

    @Test func errorsReportTheOffset() throws {
        do {
            _ = try JSONParser.parse(#"[1, "a", tru]"#.utf8)
            Issue.record("parsed")
        } catch {
            #expect(error.code == .unexpectedByte)
            #expect(error.offset == 12)
        }
    }

    @Test func depthLimit() throws {
        let depth = JSONParser.maximumDepth
        let deepest = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let value = try parsed(deepest)
        #expect(value.description == deepest)
        let objects = String(repeating: #"{"a": "#, count: depth - 1) + "{}" + String(repeating: "}", count: depth - 1)
        #expect(try parsed(objects).description == objects)

        let tooDeep = "[" + deepest + "]"
        #expect(parsingErrorCode(tooDeep.utf8) == .tooDeep)
        // Far deeper input fails the same way instead of exhausting the stack.
        #expect(parsingErrorCode(Array(repeating: UInt8(ascii: "["), count: 1_000_000)) == .tooDeep)
    }

    @Test func parsesAByteBufferWithoutMovingIt() throws {
        var buffer = ByteBuffer(string: "xx[1, 2.5]")
        buffer.moveReaderIndex(forwardBy: 2)
        #expect(try JSONParser.parse(buffer) == [1, 2.5])
        #expect(buffer.readerIndex == 2)
    }

    @Test func isNull() {
        #expect(CacheJSON.isNull(ByteBuffer(string: "null")))
        #expect(CacheJSON.isNull(ByteBuffer(string: " \r\n\tnull \n")))
        #expect(!CacheJSON.isNull(ByteBuffer(string: "nul")))
        #expect(!CacheJSON.isNull(ByteBuffer(string: "\"null\"")))
        #expect(!CacheJSON.isNull(ByteBuffer(string: "null null")))
        #expect(!CacheJSON.isNull(ByteBuffer(string: "")))
        #expect(!CacheJSON.isNull(ByteBuffer(string: "[null]")))
    }
}

/// The word-at-a-time check behind the plain-string fast path agrees with the byte-by-byte rule everywhere.
@Suite struct PlainStringScanTests {
    static func naive(_ bytes: [UInt8]) -> Bool {
        bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\\") && $0 != UInt8(ascii: "\"") }
    }

    @Test func everyByteValueAtEveryPosition() {
        for length in [1, 7, 8, 9, 16, 17, 24] {
            for position in 0..<length {
                for value in 0...255 {
                    var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: length)
                    bytes[position] = UInt8(value)
                    let fast = bytes.withUnsafeBytes { CacheJSON.isPlainASCII($0) }
                    #expect(fast == Self.naive(bytes), "byte \(value) at \(position) of \(length)")
                }
            }
        }
    }

    @Test func plainStringsDecodeAndOthersFallBack() throws {
        #expect(try CacheJSON.decode(String.self, from: ByteBuffer(string: "\"hello, world 0123456789\"")) == "hello, world 0123456789")
        #expect(CacheJSON.plainString(ByteBuffer(string: "\"tab\\there\"")) == nil)
        #expect(try CacheJSON.decode(String.self, from: ByteBuffer(string: "\"tab\\there\"")) == "tab\there")
        #expect(CacheJSON.plainString(ByteBuffer(string: "\"caf\u{e9} au lait\"")) == nil)
        #expect(try CacheJSON.decode(String.self, from: ByteBuffer(string: "\"caf\\u00e9\"")) == "café")
    }
}

/// Values as deep as Python can write read and write back through a cache, on a task of the global executor.
@Suite("Deep JSON")
struct DeepJSONTests {
    @Test("a value nested 997 deep, Python's limit, round-trips through a cache; one past maximumDepth is refused")
    func pythonDepthRoundTrips() async throws {
        let cache = try Cache(url: "memory://deep-json-\(UInt64.random(in: 0...UInt64.max))")
        try await cache.connect()
        let text = String(repeating: "[", count: 997) + "1" + String(repeating: "]", count: 997)
        let value = try JSONParser.parse(Array(text.utf8))
        try await cache.set("deep", value)
        let read = try await cache.get("deep", as: JSONValue.self)
        #expect(read == value)
        #expect(read?.description == text)
        let deepest = String(repeating: "[", count: JSONParser.maximumDepth) + String(repeating: "]", count: JSONParser.maximumDepth)
        #expect(throws: Never.self) { try JSONParser.parse(Array(deepest.utf8)) }
        #expect(throws: JSONParsingError.self) { try JSONParser.parse(Array(("[" + deepest + "]").utf8)) }
        try await cache.disconnect()
    }
}

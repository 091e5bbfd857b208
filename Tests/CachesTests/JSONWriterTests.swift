import NIOCore
import Testing

@testable import Caches

/// The JSON text the writer produces for a value.
func written(_ value: JSONValue) throws -> String {
    var buffer = ByteBuffer()
    try JSONWriter().write(value, into: &buffer)
    return String(buffer: buffer)
}

@Suite("JSONWriter: Python json.dumps defaults")
struct JSONWriterTests {
    /// Doubles and what Python 3.11 prints for `repr(x)` (checked with `python3 -c 'print(repr(x))'`).
    static let pythonRepr: [(Double, String)] = [
        (0.0, "0.0"),
        (-0.0, "-0.0"),
        (1.0, "1.0"),
        (-1.0, "-1.0"),
        (0.1, "0.1"),
        (2.5, "2.5"),
        (100.0, "100.0"),
        (1e15, "1000000000000000.0"),
        (1e16, "1e+16"),
        (1.5e16, "1.5e+16"),
        (-2.5e16, "-2.5e+16"),
        (9_999_999_999_999_998.0, "9999999999999998.0"),
        (1_234_567_890_123_456.7, "1234567890123456.8"),
        (1e20, "1e+20"),
        (1e21, "1e+21"),
        (1e22, "1e+22"),
        (1e100, "1e+100"),
        (12_345_678_901_234_567_890.0, "1.2345678901234567e+19"),
        (6.02214076e23, "6.02214076e+23"),
        (1e-4, "0.0001"),
        (0.00012, "0.00012"),
        (1e-5, "1e-05"),
        (1e-7, "1e-07"),
        (2.5e-8, "2.5e-08"),
        (-1.5e-10, "-1.5e-10"),
        (123.456e-300, "1.23456e-298"),
        (123_456_789.123, "123456789.123"),
        (1.0 / 3.0, "0.3333333333333333"),
        (0.1 + 0.2, "0.30000000000000004"),
        (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"),
        (Double.leastNonzeroMagnitude, "5e-324"),
        (Double.leastNormalMagnitude, "2.2250738585072014e-308"),
        (9_007_199_254_740_993.0, "9007199254740992.0"),
    ]

    @Test(arguments: Self.pythonRepr)
    func floatsLikePythonRepr(_ double: Double, _ expected: String) throws {
        #expect(try written(.double(double)) == expected)
        #expect(try String(buffer: CacheJSON.encode(double)) == expected)
        // The text reads back as the same double, and as a float, not an int.
        let parsed = try JSONParser.parse(expected.utf8)
        let reparsed = try #require(parsed.doubleValue)
        #expect(reparsed.bitPattern == double.bitPattern)
        if case .double = parsed {} else { Issue.record("\(expected) parsed as \(parsed)") }
    }

    @Test func floatUsesItsOwnShortestDigits() throws {
        // Float(0.1) widened to Double is 0.10000000149011612; Python should see 0.1.
        #expect(try String(buffer: CacheJSON.encode([Float(0.1), Float(1e-5), Float(3.4028235e38)])) == "[0.1, 1e-05, 3.4028235e+38]")
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, -Double.nan])
    func nonFiniteNumbersAreRefused(_ double: Double) throws {
        var buffer = ByteBuffer(string: "prefix")
        #expect(throws: EncodingError.self) { try CacheJSON.encode(double, into: &buffer) }
        #expect(throws: EncodingError.self) { try CacheJSON.encode(["a": [1.0, .double(double)]] as JSONValue, into: &buffer) }
        #expect(String(buffer: buffer) == "prefix")
    }

    @Test func nonFiniteErrorNamesThePathInsideAJSONValue() throws {
        let value: JSONValue = ["ok": 1.0, "list": [1, ["deep": .double(.nan)]]]
        var buffer = ByteBuffer()
        do {
            try CacheJSON.encode(value, into: &buffer)
            Issue.record("NaN was written")
        } catch EncodingError.invalidValue(let invalid, let context) {
            #expect((invalid as? Double)?.isNaN == true)
            #expect(context.codingPath.map(\.stringValue) == ["list", "Index 1", "deep"])
            #expect(context.codingPath.map(\.intValue) == [nil, 1, nil])
        }
        #expect(buffer.readableBytes == 0)
    }

    @Test func descriptionWritesNonFiniteLikePython() {
        let value: JSONValue = [.double(.nan), .double(.infinity), .double(-.infinity)]
        #expect(value.description == "[NaN, Infinity, -Infinity]")
    }

    @Test func integers() throws {
        #expect(try written(0) == "0")
        #expect(try written(-7) == "-7")
        #expect(try written(9) == "9")
        #expect(try written(10) == "10")
        #expect(try written(-10) == "-10")
        #expect(try written(.int(.max)) == "9223372036854775807")
        #expect(try written(.int(.min)) == "-9223372036854775808")
        #expect(try written(.bigInt("-123456789012345678901234567890")) == "-123456789012345678901234567890")
        #expect(try String(buffer: CacheJSON.encode(UInt64.max)) == "18446744073709551615")
        #expect(try String(buffer: CacheJSON.encode(Int128.min)) == "-170141183460469231731687303715884105728")
    }

    @Test func everyControlCharacterAndDelete() throws {
        let string = String(decoding: Array(0..<0x20) + [0x7F], as: UTF8.self)
        let expected =
            #""\u0000\u0001\u0002\u0003\u0004\u0005\u0006\u0007\b\t\n\u000b\f\r\u000e\u000f\u0010\u0011\u0012\u0013\u0014\u0015\u0016\u0017\u0018\u0019\u001a\u001b\u001c\u001d\u001e\u001f\u007f""#
        #expect(try written(.string(string)) == expected)
        #expect(try String(buffer: CacheJSON.encode(string)) == expected)
    }

    @Test func printableASCIIIsKeptExceptQuoteAndBackslash() throws {
        let printable = String(decoding: Array(0x20..<0x7F), as: UTF8.self)
        var expected = "\""
        for byte in UInt8(0x20)..<0x7F {
            if byte == UInt8(ascii: "\"") {
                expected += "\\\""
            } else if byte == UInt8(ascii: "\\") {
                expected += "\\\\"
            } else {
                expected.append(Character(Unicode.Scalar(byte)))
            }
        }
        expected += "\""
        #expect(try written(.string(printable)) == expected)
        #expect(try written(["\"\\"]) == #"["\"\\"]"#)
    }

    @Test func nonASCIIAsLowercaseEscapesWithSurrogatePairs() throws {
        // python3 -c 'import json; print(json.dumps("a/b\u00e9\u20ac\uffff\U0001f600\U0010ffff\u0080"))'
        #expect(
            try written("a/b\u{E9}\u{20AC}\u{FFFF}\u{1F600}\u{10FFFF}\u{80}")
                == #""a/b\u00e9\u20ac\uffff\ud83d\ude00\udbff\udfff\u0080""#
        )
        // Combining sequences are written scalar by scalar.
        #expect(try written("e\u{301}") == #""e\u0301""#)
    }

    @Test func bridgedStringsAreWrittenToo() throws {
        // A substring-built string and a long string both go through the UTF-8 path.
        let long = String(repeating: "żółw/", count: 1000)
        let text = try written(.string(long))
        #expect(text.utf8.count == 2 + 1000 * (6 * 3 + 2))
        #expect(text.hasPrefix(#""\u017c\u00f3\u0142w/"#))
    }

    @Test func separatorsAndOrder() throws {
        #expect(try written([]) == "[]")
        #expect(try written([:]) == "{}")
        #expect(try written([1, "two", 3.0, true, nil, [], [:]]) == #"[1, "two", 3.0, true, null, [], {}]"#)
        #expect(try written(["z": 1, "a": ["y": nil, "b": false]]) == #"{"z": 1, "a": {"y": null, "b": false}}"#)
    }

    @Test func nestingDepthIsBounded() throws {
        var value: JSONValue = 1
        for _ in 0..<JSONWriter.maximumDepth {
            value = [value]
        }
        let text = try written(value)
        #expect(text.hasPrefix(String(repeating: "[", count: JSONWriter.maximumDepth) + "1"))
        #expect(throws: EncodingError.self) { try CacheJSON.encode(JSONValue.array([value])) }
    }
}

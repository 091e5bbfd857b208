import Foundation
import NIOCore
import RedisTestSupport
import Testing

@testable import Caches

/// The recorded bytes async-caches (Python 3.11) stored in Redis, from `Fixtures/wire-vectors.json`, loaded by
/// `RedisTestSupport`.
typealias WireVector = WireVectorCase

extension WireVectorCase: CustomTestStringConvertible {
    public var testDescription: String { self.description }
}

/// The readable bytes of a buffer.
func bytes(_ buffer: ByteBuffer) -> [UInt8] {
    Array(buffer.readableBytesView)
}

/// A dict_nested value as a Codable struct, fields in the Python dict's insertion order.
struct NestedRecord: Codable, Equatable {
    struct Inner: Codable, Equatable {
        let list: [JSONValue]
        let empty: [String: Int]
    }

    let zeta: String
    let name: String
    let tags: [String]
    let count: Int
    let ratio: Double
    let ok: Bool
    let none: String?
    let nested: Inner

    enum CodingKeys: String, CodingKey {
        case zeta, name, tags, count, ratio, ok, none, nested
    }

    // Synthesized encoding skips nil optionals; Python writes the key with null, so encode it explicitly.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.zeta, forKey: .zeta)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.tags, forKey: .tags)
        try container.encode(self.count, forKey: .count)
        try container.encode(self.ratio, forKey: .ratio)
        try container.encode(self.ok, forKey: .ok)
        try container.encode(self.none, forKey: .none)
        try container.encode(self.nested, forKey: .nested)
    }
}

@Suite("Wire vectors recorded from async-caches")
struct WireVectorTests {
    /// Native Swift values for each recorded value, by case name and occurrence.
    static let natives: [String: [@Sendable () throws -> ByteBuffer]] = [
        "str_ascii": [{ try CacheJSON.encode("Ok!") }],
        "str_unicode": [{ try CacheJSON.encode("Zażółć gęślą jaźń") }],
        "str_astral": [{ try CacheJSON.encode("😀 ok") }],
        "str_escapes": [{ try CacheJSON.encode("q\" bs\\ nl\n cr\r tab\t b\u{08} f\u{0C} c1\u{01} c1f\u{1F} slash/ del\u{7F}") }],
        "str_empty": [{ try CacheJSON.encode("") }],
        "int_pos": [{ try CacheJSON.encode(42) }],
        "int_neg": [{ try CacheJSON.encode(-7) }],
        "int_2p53p1": [{ try CacheJSON.encode(9_007_199_254_740_993) }],
        "int64_max": [{ try CacheJSON.encode(Int64.max) }],
        "float_half": [{ try CacheJSON.encode(2.5) }],
        "float_whole": [{ try CacheJSON.encode(1.0) }],
        "float_tenth": [{ try CacheJSON.encode(0.1) }],
        "float_1e15": [{ try CacheJSON.encode(1e15) }],
        "float_1e20": [{ try CacheJSON.encode(1e20) }],
        "float_1em7": [{ try CacheJSON.encode(1e-7) }],
        "bool_true": [{ try CacheJSON.encode(true) }],
        "bool_false": [{ try CacheJSON.encode(false) }],
        "null": [{ try CacheJSON.encode(String?.none) }],
        "list_mixed": [{ try CacheJSON.encode([1, "two", 3.0, true, nil, [], [:]] as JSONValue) }],
        "dict_nested": [
            {
                try CacheJSON.encode(
                    NestedRecord(
                        zeta: "insertion order is kept, keys are not sorted",
                        name: "Zoë",
                        tags: ["a", "b"],
                        count: 3,
                        ratio: 0.5,
                        ok: true,
                        none: nil,
                        nested: .init(list: [1, [2, ["deep": "ü"]]], empty: [:])
                    )
                )
            }
        ],
        "list_empty": [{ try CacheJSON.encode([Int]()) }],
        "dict_empty": [{ try CacheJSON.encode([String: String]()) }],
        "key_prefix": [{ try CacheJSON.encode("prefixed") }],
        "version_int_default": [{ try CacheJSON.encode("v2 value") }],
        "version_per_call": [{ try CacheJSON.encode("v5 value") }],
        "version_str_default": [{ try CacheJSON.encode(["v": "v1"]) }],
        "key_unicode": [{ try CacheJSON.encode("unicode key") }],
        "key_with_colon": [{ try CacheJSON.encode("colon in key") }],
        "ttl_per_call": [{ try CacheJSON.encode("expiring") }],
        "ttl_default_url": [{ try CacheJSON.encode("url defaults") }],
        "ttl_default_kwarg": [{ try CacheJSON.encode("kwarg default ttl") }],
        "add_twice": [{ try CacheJSON.encode("first") }],
        "add_ttl": [{ try CacheJSON.encode("x") }],
        "get_or_set": [{ try CacheJSON.encode(["computed": true]) }],
        "set_many": [{ try CacheJSON.encode(1) }, { try CacheJSON.encode("two") }],
        "set_many_ttl": [{ try CacheJSON.encode([1]) }, { try CacheJSON.encode(["k": "v"]) }],
        "incr_int": [{ try CacheJSON.encode(13) }],
        "incr_float": [{ try CacheJSON.encode(12.25) }],
        "touch_persist": [{ try CacheJSON.encode("t") }],
        "touch_expire": [{ try CacheJSON.encode("t") }],
    ]

    @Test func fixtureLoads() throws {
        // The fixture holds 45 cases, 42 of them with a value; an empty list would make the other tests vacuous.
        #expect(try WireVector.all().count == 45)
        #expect(WireVector.withValues.count == 42)
    }

    @Test(arguments: WireVector.withValues)
    func parseAndRewriteKeepsBytes(_ vector: WireVector) throws {
        _ = try WireVector.all()
        let raw = try #require(vector.rawValue)
        let expected = try raw.bytes()
        #expect(Array(raw.utf8.utf8) == expected)
        let value = try JSONParser.parse(raw.utf8.utf8)
        #expect(try bytes(CacheJSON.encode(value)) == expected)
    }

    @Test(arguments: WireVector.withValues)
    func nativeSwiftValueWritesSameBytes(_ vector: WireVector) throws {
        _ = try WireVector.all()
        let raw = try #require(vector.rawValue)
        let makers = try #require(Self.natives[vector.case], "no native value for \(vector.case)")
        let make = try #require(makers.indices.contains(vector.occurrence) ? makers[vector.occurrence] : nil)
        let encoded = try make()
        #expect(try bytes(encoded) == raw.bytes(), "\(String(buffer: encoded)) vs \(raw.utf8)")
    }

    @Test(arguments: WireVector.withValues)
    func decodesIntoJSONValueAndBack(_ vector: WireVector) throws {
        _ = try WireVector.all()
        let raw = try #require(vector.rawValue)
        let buffer = ByteBuffer(bytes: try raw.bytes())
        let value = try CacheJSON.decode(JSONValue.self, from: buffer)
        #expect(value.description == raw.utf8)
        #expect(CacheJSON.isNull(buffer) == (value == .null))
    }

    @Test func nestedRecordDecodesFromTheRecordedBytes() throws {
        let vector = try #require(try WireVector.all().first { $0.case == "dict_nested" })
        let raw = try #require(vector.rawValue)
        let record = try CacheJSON.decode(NestedRecord.self, from: ByteBuffer(bytes: try raw.bytes()))
        #expect(record.name == "Zoë")
        #expect(record.none == nil)
        #expect(record.nested.list == [1, [2, ["deep": "ü"]]])
        #expect(record.ratio == 0.5)
        #expect(try bytes(CacheJSON.encode(record)) == raw.bytes())
    }

    @Test func valuesWithoutBytesAreOnlyDeletes() throws {
        let withoutValue = try WireVector.all().filter { $0.rawValue == nil }
        #expect(!withoutValue.isEmpty)
        #expect(withoutValue.allSatisfy { $0.case == "delete" || $0.case == "delete_many" })
    }
}

import Foundation
import NIOCore
import Testing

@testable import Caches

@Suite("JSONValue and JSONObject")
struct JSONValueTests {
    static let sample: JSONValue = [
        "name": "Zoë", "count": 3, "ratio": 0.5, "whole": 2.0, "ok": true, "none": nil, "tags": ["a", "b"], "big": .bigInt("99999999999999999999"),
    ]

    @Test func literalsBuildTheMatchingCases() {
        #expect(Self.sample["name"] == .string("Zoë"))
        #expect(Self.sample["count"] == .int(3))
        #expect(Self.sample["ratio"] == .double(0.5))
        #expect(Self.sample["ok"] == .bool(true))
        #expect(Self.sample["none"] == .null)
        #expect(Self.sample["tags"] == .array([.string("a"), .string("b")]))
        #expect(Self.sample.objectValue?.keys == ["name", "count", "ratio", "whole", "ok", "none", "tags", "big"])
    }

    @Test func accessors() {
        #expect(Self.sample["name"]?.stringValue == "Zoë")
        #expect(Self.sample["count"]?.stringValue == nil)
        #expect(Self.sample["count"]?.intValue == 3)
        #expect(Self.sample["whole"]?.intValue == 2)
        #expect(Self.sample["ratio"]?.intValue == nil)
        #expect(Self.sample["big"]?.intValue == nil)
        #expect(Self.sample["count"]?.doubleValue == 3.0)
        #expect(Self.sample["big"]?.doubleValue == 1e20)
        #expect(Self.sample["name"]?.doubleValue == nil)
        #expect(Self.sample["ok"]?.boolValue == true)
        #expect(Self.sample["count"]?.boolValue == nil)
        #expect(Self.sample["none"]?.isNull == true)
        #expect(Self.sample["ok"]?.isNull == false)
        #expect(Self.sample["tags"]?.arrayValue == ["a", "b"])
        #expect(Self.sample["tags"]?[1] == "b")
        #expect(Self.sample["tags"]?[2] == nil)
        #expect(Self.sample["tags"]?[-1] == nil)
        #expect(Self.sample["tags"]?["a"] == nil)
        #expect(Self.sample[0] == nil)
        #expect(Self.sample["missing"] == nil)
        #expect(Self.sample.objectValue?.count == 8)
        #expect(JSONValue.string("x").objectValue == nil)
    }

    @Test func objectEditingKeepsOrder() {
        var object: JSONObject = ["b": 1, "a": 2]
        object["c"] = 3
        object["b"] = "replaced"
        #expect(object.keys == ["b", "a", "c"])
        #expect(object.values == ["replaced", 2, 3])
        #expect(object.removeValue(forKey: "a") == 2)
        #expect(object.removeValue(forKey: "a") == nil)
        object["c"] = nil
        #expect(object.keys == ["b"])
        #expect(object.updateValue(5, forKey: "b") == "replaced")
        #expect(Array(object.map(\.key)) == ["b"])
        #expect(!object.isEmpty)
        #expect(object.description == #"{"b": 5}"#)
    }

    @Test func largeObjectEditing() {
        var object = JSONObject((0..<40).map { ("k\($0)", JSONValue.int($0)) })
        object["k3"] = nil
        object["k3"] = "back"
        #expect(object.count == 40)
        #expect(object.keys.last == "k3")
        #expect(object["k39"] == 39)
        #expect(object["k3"] == "back")
        for _ in 0..<39 {
            object.removeValue(forKey: object.keys[0])
        }
        #expect(object.keys == ["k3"])
        #expect(object["k3"] == "back")
    }

    @Test func equalityIsOrderSensitive() {
        let ab: JSONValue = ["a": 1, "b": 2]
        let ba: JSONValue = ["b": 2, "a": 1]
        #expect(ab != ba)
        #expect(ab == ["a": 1, "b": 2])
        #expect(Set([ab, ["a": 1, "b": 2], ba]).count == 2)
        // Ints and doubles are different values even when numerically equal, as in the JSON text.
        #expect(JSONValue.int(1) != JSONValue.double(1.0))
    }

    @Test func codableWithFoundationCoders() throws {
        let text = try String(decoding: JSONEncoder().encode(Self.sample), as: UTF8.self)
        let back = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        // Foundation's coders lose order, the int/float distinction and big-int digits, but keep the rest.
        #expect(back["name"] == "Zoë")
        #expect(back["count"] == 3)
        #expect(back["ratio"] == 0.5)
        #expect(back["none"] == .null)
        #expect(back["tags"] == ["a", "b"])
        #expect(back["big"]?.doubleValue == 1e20)
        #expect(back.objectValue?.count == 8)
    }

    @Test func codableWithThePackageCodersIsExact() throws {
        let buffer = try CacheJSON.encode(Self.sample)
        #expect(
            String(buffer: buffer)
                == #"{"name": "Zo\u00eb", "count": 3, "ratio": 0.5, "whole": 2.0, "ok": true, "none": null, "tags": ["a", "b"], "big": 99999999999999999999}"#
        )
        #expect(try CacheJSON.decode(JSONValue.self, from: buffer) == Self.sample)
    }
}

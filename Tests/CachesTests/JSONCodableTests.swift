import Foundation
import NIOCore
import Testing

@testable import Caches

/// Encodes with the package's encoder and returns the text.
func encodedText<T: Encodable>(_ value: T) throws -> String {
    String(buffer: try CacheJSON.encode(value))
}

/// Decodes `T` from JSON text.
func decoded<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    try CacheJSON.decode(type, from: ByteBuffer(string: text))
}

enum Color: String, Codable, Equatable {
    case red, green
}

enum Level: Int, Codable, Equatable {
    case low = 1
    case high = 10
}

struct Point: Codable, Equatable {
    var x: Double
    var y: Double
}

struct Shape: Codable, Equatable {
    var name: String
    var color: Color
    var level: Level
    var points: [Point]
    var tags: Set<String>
    var note: String?
    var parent: Box?
    var weights: [String: Float]
    var matrix: [[Int]]
    var id: UInt64
    var small: Int8
}

final class Box: Codable, Equatable, Sendable {
    let shape: Shape
    init(shape: Shape) { self.shape = shape }
    static func == (lhs: Box, rhs: Box) -> Bool { lhs.shape == rhs.shape }
}

class Animal: Codable {
    var legs: Int
    init(legs: Int) { self.legs = legs }
}

final class Dog: Animal {
    var name: String
    enum CodingKeys: String, CodingKey { case name }
    init(name: String) {
        self.name = name
        super.init(legs: 4)
    }
    required init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        try super.init(from: container.superDecoder())
    }
    override func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        try super.encode(to: container.superEncoder())
    }
}

@Suite("Codable bridge")
struct JSONCodableTests {
    static let shape = Shape(
        name: "tri/angle",
        color: .green,
        level: .high,
        points: [Point(x: 0, y: 1.5), Point(x: -0.0, y: 1e20)],
        tags: ["a"],
        note: nil,
        parent: Box(
            shape: Shape(
                name: "inner",
                color: .red,
                level: .low,
                points: [],
                tags: [],
                note: "n",
                parent: nil,
                weights: [:],
                matrix: [],
                id: 1,
                small: -1
            )
        ),
        weights: ["w": 0.25],
        matrix: [[1, 2], [], [3]],
        id: .max,
        small: -128
    )

    @Test func structFieldsInDeclarationOrderAndPythonFloats() throws {
        #expect(
            try encodedText(Self.shape)
                == #"{"name": "tri/angle", "color": "green", "level": 10, "points": [{"x": 0.0, "y": 1.5}, {"x": -0.0, "y": 1e+20}], "tags": ["a"], "parent": {"shape": {"name": "inner", "color": "red", "level": 1, "points": [], "tags": [], "note": "n", "weights": {}, "matrix": [], "id": 1, "small": -1}}, "weights": {"w": 0.25}, "matrix": [[1, 2], [], [3]], "id": 18446744073709551615, "small": -128}"#
        )
    }

    @Test func nestedValuesRoundTrip() throws {
        let text = try encodedText(Self.shape)
        let back = try decoded(Shape.self, text)
        #expect(back == Self.shape)
        #expect(back.points[1].x.sign == .minus)
        #expect(try encodedText(back) == text)
    }

    @Test func optionalsAndArraysOfOptionals() throws {
        #expect(try encodedText(Int?.none) == "null")
        #expect(try encodedText(Int?.some(3)) == "3")
        #expect(try encodedText([1, nil, 3] as [Int?]) == "[1, null, 3]")
        #expect(try decoded([Int?].self, "[1, null, 3]") == [1, nil, 3])
        #expect(try decoded(String?.self, "null") == nil)
        #expect(try decoded(String?.self, #""x""#) == "x")
    }

    @Test func enumsWithRawValues() throws {
        #expect(try encodedText([Color.red, .green]) == #"["red", "green"]"#)
        #expect(try decoded([Level].self, "[1, 10.0]") == [.low, .high])
        #expect(throws: DecodingError.self) { try decoded(Color.self, #""blue""#) }
    }

    @Test func intDictionaryKeysBecomeStrings() throws {
        #expect(try encodedText([7: "seven"]) == #"{"7": "seven"}"#)
        #expect(try decoded([Int: String].self, #"{"7": "seven"}"#) == [7: "seven"])
    }

    @Test func superEncoderAndDecoder() throws {
        let text = try encodedText(Dog(name: "Rex"))
        #expect(text == #"{"name": "Rex", "super": {"legs": 4}}"#)
        let dog = try decoded(Dog.self, text)
        #expect(dog.name == "Rex")
        #expect(dog.legs == 4)
    }

    @Test func foundationTypesLikeJSONEncoderDefaults() throws {
        struct Payload: Codable, Equatable {
            var data: Data
            var url: URL
            var date: Date
        }
        let payload = Payload(data: Data([1, 2, 3]), url: URL(string: "http://a/b?c")!, date: Date(timeIntervalSinceReferenceDate: 1.5))
        let text = try encodedText(payload)
        #expect(text == #"{"data": "AQID", "url": "http://a/b?c", "date": 1.5}"#)
        #expect(try decoded(Payload.self, text) == payload)
        // The same bytes Foundation's JSONDecoder accepts.
        #expect(try JSONDecoder().decode(Payload.self, from: Data(text.utf8)) == payload)
    }

    @Test func jsonValueInsideAStructKeepsOrderAndBigInts() throws {
        struct Envelope: Codable, Equatable {
            var kind: String
            var body: JSONValue
        }
        let text = #"{"kind": "k", "body": {"z": 1, "a": 123456789012345678901234567890, "f": 1.0}}"#
        let envelope = try decoded(Envelope.self, text)
        #expect(envelope.body.objectValue?.keys == ["z", "a", "f"])
        #expect(envelope.body["a"] == .bigInt("123456789012345678901234567890"))
        #expect(envelope.body["f"] == .double(1.0))
        #expect(try encodedText(envelope) == text)
    }

    @Test func numberConversionsFollowJSONDecoder() throws {
        #expect(try decoded(Int.self, "3") == 3)
        #expect(try decoded(Int.self, "3.0") == 3)
        #expect(try decoded(Int.self, "1e2") == 100)
        #expect(try decoded(Double.self, "3") == 3.0)
        #expect(try decoded(UInt64.self, "18446744073709551615") == .max)
        #expect(try decoded(Int128.self, "-170141183460469231731687303715884105728") == .min)
        #expect(try decoded(Float.self, "0.1") == Float(0.1))
        #expect(try decoded(Double.self, "123456789012345678901234567890") == 1.2345678901234568e29)
        #expect(try decoded(Double.self, "NaN").isNaN)
    }

    @Test(arguments: [
        ("3.5", "Int"), ("1e30", "Int"), ("300", "Int8"), ("-1", "UInt"), ("92233720368547758070", "Int"), ("1e300", "Float"),
    ])
    func numbersThatDoNotFitAreDataCorrupted(_ text: String, _ type: String) throws {
        let body = "{\"n\": [\(text)]}"
        do {
            switch type {
            case "Int": _ = try decoded([String: [Int]].self, body)
            case "Int8": _ = try decoded([String: [Int8]].self, body)
            case "UInt": _ = try decoded([String: [UInt]].self, body)
            default: _ = try decoded([String: [Float]].self, body)
            }
            Issue.record("\(text) decoded as \(type)")
        } catch DecodingError.dataCorrupted(let context) {
            #expect(context.codingPath.map(\.stringValue) == ["n", "Index 0"])
        }
    }

    @Test func typeMismatchesNameThePath() throws {
        do {
            _ = try decoded(Shape.self, #"{"name": 1}"#)
            Issue.record("decoded")
        } catch DecodingError.typeMismatch(let type, let context) {
            #expect(type is String.Type)
            #expect(context.codingPath.map(\.stringValue) == ["name"])
        }
        do {
            _ = try decoded([Point].self, #"[{"x": 1, "y": 2}, {"x": true, "y": 2}]"#)
            Issue.record("decoded")
        } catch DecodingError.typeMismatch(let type, let context) {
            #expect(type is Double.Type)
            #expect(context.codingPath.map(\.stringValue) == ["Index 1", "x"])
        }
        #expect(throws: DecodingError.self) { try decoded(Bool.self, "1") }
        #expect(throws: DecodingError.self) { try decoded(String.self, "1") }
        #expect(throws: DecodingError.self) { try decoded(Int.self, #""1""#) }
        #expect(throws: DecodingError.self) { try decoded([String].self, #"["a", 1]"#) }
        #expect(throws: DecodingError.self) { try decoded([String].self, #"{"a": 1}"#) }
        #expect(throws: DecodingError.self) { try decoded(Point.self, "[1, 2]") }
    }

    @Test func missingKeysAndShortArrays() throws {
        do {
            _ = try decoded(Point.self, #"{"x": 1}"#)
            Issue.record("decoded")
        } catch DecodingError.keyNotFound(let key, _) {
            #expect(key.stringValue == "y")
        }
        struct Pair: Decodable {
            let a: Int
            let b: Int
            init(from decoder: any Decoder) throws {
                var container = try decoder.unkeyedContainer()
                self.a = try container.decode(Int.self)
                self.b = try container.decode(Int.self)
            }
        }
        #expect(throws: DecodingError.self) { try decoded(Pair.self, "[1]") }
        let pair = try decoded(Pair.self, "[1, 2]")
        #expect(pair.a == 1 && pair.b == 2)
    }

    @Test func invalidJSONIsDataCorruptedWithTheParsingError() throws {
        do {
            _ = try decoded(Int.self, "[1")
            Issue.record("decoded")
        } catch DecodingError.dataCorrupted(let context) {
            let underlying = try #require(context.underlyingError as? JSONParsingError)
            #expect(underlying.code == .unexpectedEnd)
        }
    }

    @Test func nanIsRejectedWithThePath() throws {
        struct Reading: Encodable {
            var label = "x"
            var values: [Double]
        }
        struct Series: Encodable {
            var readings: [Reading]
        }
        let series = Series(readings: [Reading(values: [1]), Reading(values: [2, .nan])])
        var buffer = ByteBuffer(string: "kept")
        do {
            try CacheJSON.encode(series, into: &buffer)
            Issue.record("encoded NaN")
        } catch EncodingError.invalidValue(let value, let context) {
            #expect((value as? Double)?.isNaN == true)
            #expect(context.codingPath.map(\.stringValue) == ["readings", "Index 1", "values", "Index 1"])
        }
        #expect(String(buffer: buffer) == "kept")
        #expect(throws: EncodingError.self) { try CacheJSON.encode(["a": Float.infinity]) }
        #expect(throws: EncodingError.self) { try CacheJSON.encode(Point(x: 1, y: -.infinity)) }
    }

    @Test func fastPathsMatchTheGenericPath() throws {
        // Wrapping in a one-field struct forces the generic encoder for the same value.
        struct Wrapper<T: Codable>: Codable { var v: T }
        func check<T: Codable & Equatable>(_ value: T) throws {
            let fast = try encodedText(value)
            let generic = try encodedText(Wrapper(v: value))
            #expect(generic == #"{"v": "# + fast + "}")
            #expect(try decoded(T.self, fast) == value)
            #expect(try decoded(Wrapper<T>.self, generic).v == value)
        }
        try check("é\"/\u{1F600}")
        try check(Int.min)
        try check(0.1)
        try check(-0.0)
        try check(true)
        try check(["a", "ż"])
        try check(["x": 1.0, "y": [nil, 2]] as JSONValue)
    }

    @Test func keyedContainerReplacesARepeatedKeyInPlace() throws {
        struct Twice: Encodable {
            enum CodingKeys: String, CodingKey { case a, b }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(1, forKey: .a)
                try container.encode(2, forKey: .b)
                try container.encode("again", forKey: .a)
            }
        }
        #expect(try encodedText(Twice()) == #"{"a": "again", "b": 2}"#)
    }

    @Test func largeDictionaryEncodesEveryMember() throws {
        let dictionary = Dictionary(uniqueKeysWithValues: (0..<500).map { ("k\($0)", $0) })
        let text = try encodedText(dictionary)
        let back = try decoded([String: Int].self, text)
        #expect(back == dictionary)
        // Members come out in the dictionary's own iteration order.
        let order = try #require(try parsed(text).objectValue).keys
        #expect(order == Array(dictionary.keys))
    }
}

/// A Swift `Decoder` reading any `Decodable` from a parsed ``JSONValue``, with Foundation `JSONDecoder`'s rules.
///
/// Integers decode from ints and from floats holding a whole number in range (`3.0`, `1e2`); doubles decode from
/// any number; a number that does not fit throws `DecodingError.dataCorrupted`; a value of the wrong kind throws
/// `DecodingError.typeMismatch`; a missing key throws `DecodingError.keyNotFound`. All carry the coding path.
/// `Data` decodes from base64 and `URL` from a string, as with `JSONDecoder`'s defaults.
final class JSONTreeDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(value: JSONValue, codingPath: [any CodingKey]) {
        self.value = value
        self.codingPath = codingPath
    }

    /// Decodes a `T` from `value`.
    ///
    /// - Parameters:
    ///   - type: The type to decode.
    ///   - value: The parsed JSON.
    /// - Returns: The decoded value.
    /// - Throws: `DecodingError` on a type mismatch, a number out of range or a missing key.
    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try Self.unbox(type, from: value, codingPath: [])
    }

    // MARK: Decoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = self.value else {
            throw Self.typeMismatch([String: Any].self, found: self.value, codingPath: self.codingPath)
        }
        return KeyedDecodingContainer(JSONKeyedDecodingContainer<Key>(object: object, codingPath: self.codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = self.value else {
            throw Self.typeMismatch([Any].self, found: self.value, codingPath: self.codingPath)
        }
        return JSONUnkeyedDecodingContainer(array: array, codingPath: self.codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        self
    }

    // MARK: Unboxing

    /// Decodes `T` from `value`, short-cutting the common leaf types.
    static func unbox<T: Decodable>(_ type: T.Type, from value: JSONValue, codingPath: @autoclosure () -> [any CodingKey]) throws -> T {
        if T.self == String.self {
            return try Self.string(from: value, codingPath: codingPath()) as! T
        }
        if T.self == Int.self {
            return try Self.integer(Int.self, from: value, codingPath: codingPath()) as! T
        }
        if T.self == Double.self {
            return try Self.double(from: value, codingPath: codingPath()) as! T
        }
        if T.self == Bool.self {
            return try Self.bool(from: value, codingPath: codingPath()) as! T
        }
        if T.self == JSONValue.self {
            return value as! T
        }
        let path = codingPath()
        if let foundationValue = try Self.foundationValue(type, from: value, codingPath: path) {
            return foundationValue
        }
        return try T(from: JSONTreeDecoder(value: value, codingPath: path))
    }

    static func string(from value: JSONValue, codingPath: @autoclosure () -> [any CodingKey]) throws -> String {
        guard case .string(let string) = value else {
            throw Self.typeMismatch(String.self, found: value, codingPath: codingPath())
        }
        return string
    }

    static func bool(from value: JSONValue, codingPath: @autoclosure () -> [any CodingKey]) throws -> Bool {
        guard case .bool(let bool) = value else {
            throw Self.typeMismatch(Bool.self, found: value, codingPath: codingPath())
        }
        return bool
    }

    static func double(from value: JSONValue, codingPath: @autoclosure () -> [any CodingKey]) throws -> Double {
        switch value {
        case .double(let double):
            return double
        case .int(let int):
            return Double(int)
        case .bigInt(let digits):
            guard let double = Double(digits) else {
                throw Self.notRepresentable(digits, in: Double.self, codingPath: codingPath())
            }
            return double
        default:
            throw Self.typeMismatch(Double.self, found: value, codingPath: codingPath())
        }
    }

    static func float(from value: JSONValue, codingPath: @autoclosure () -> [any CodingKey]) throws -> Float {
        let double = try Self.double(from: value, codingPath: codingPath())
        let float = Float(double)
        guard float.isFinite || !double.isFinite else {
            throw Self.notRepresentable(value.description, in: Float.self, codingPath: codingPath())
        }
        return float
    }

    static func integer<T: FixedWidthInteger>(_ type: T.Type, from value: JSONValue, codingPath: @autoclosure () -> [any CodingKey]) throws -> T {
        switch value {
        case .int(let int):
            if let result = T(exactly: int) { return result }
        case .double(let double):
            if let result = T(exactly: double) { return result }
        case .bigInt(let digits):
            if let result = T(digits) { return result }
        default:
            throw Self.typeMismatch(T.self, found: value, codingPath: codingPath())
        }
        throw Self.notRepresentable(value.description, in: T.self, codingPath: codingPath())
    }

    // MARK: Errors

    static func typeMismatch(_ expected: Any.Type, found value: JSONValue, codingPath: [any CodingKey]) -> DecodingError {
        let found: String
        switch value {
        case .null: found = "null"
        case .bool: found = "bool"
        case .int, .bigInt, .double: found = "number"
        case .string: found = "a string"
        case .array: found = "an array"
        case .object: found = "a dictionary"
        }
        return DecodingError.typeMismatch(
            expected,
            DecodingError.Context(codingPath: codingPath, debugDescription: "Expected to decode \(expected) but found \(found) instead.")
        )
    }

    static func notRepresentable(_ number: String, in type: Any.Type, codingPath: [any CodingKey]) -> DecodingError {
        DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: codingPath, debugDescription: "Number \(number) is not representable in Swift as \(type).")
        )
    }
}

// MARK: - SingleValueDecodingContainer

extension JSONTreeDecoder: SingleValueDecodingContainer {
    func decodeNil() -> Bool { self.value == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try Self.bool(from: self.value, codingPath: self.codingPath) }
    func decode(_ type: String.Type) throws -> String { try Self.string(from: self.value, codingPath: self.codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try Self.double(from: self.value, codingPath: self.codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try Self.float(from: self.value, codingPath: self.codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: Int128.Type) throws -> Int128 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode(_ type: UInt128.Type) throws -> UInt128 { try Self.integer(type, from: self.value, codingPath: self.codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try Self.unbox(type, from: self.value, codingPath: self.codingPath) }
}

// MARK: - Keyed container

/// Reads the members of one object.
struct JSONKeyedDecodingContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: JSONObject
    let codingPath: [any CodingKey]

    var allKeys: [Key] {
        self.object.keys.compactMap { Key(stringValue: $0) }
    }

    func contains(_ key: Key) -> Bool {
        self.object[key.stringValue] != nil
    }

    private func member(_ key: Key) throws -> JSONValue {
        guard let value = self.object[key.stringValue] else {
            throw DecodingError.keyNotFound(
                key,
                DecodingError.Context(
                    codingPath: self.codingPath,
                    debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."
                )
            )
        }
        return value
    }

    private func path(_ key: Key) -> [any CodingKey] {
        self.codingPath + [key]
    }

    func decodeNil(forKey key: Key) throws -> Bool { try self.member(key) == .null }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try JSONTreeDecoder.bool(from: self.member(key), codingPath: self.path(key))
    }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try JSONTreeDecoder.string(from: self.member(key), codingPath: self.path(key))
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try JSONTreeDecoder.double(from: self.member(key), codingPath: self.path(key))
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        try JSONTreeDecoder.float(from: self.member(key), codingPath: self.path(key))
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try self.integer(type, key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try self.integer(type, key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try self.integer(type, key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try self.integer(type, key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try self.integer(type, key) }
    func decode(_ type: Int128.Type, forKey key: Key) throws -> Int128 { try self.integer(type, key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try self.integer(type, key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try self.integer(type, key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try self.integer(type, key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try self.integer(type, key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try self.integer(type, key) }
    func decode(_ type: UInt128.Type, forKey key: Key) throws -> UInt128 { try self.integer(type, key) }

    private func integer<T: FixedWidthInteger>(_ type: T.Type, _ key: Key) throws -> T {
        try JSONTreeDecoder.integer(type, from: self.member(key), codingPath: self.path(key))
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try JSONTreeDecoder.unbox(type, from: self.member(key), codingPath: self.path(key))
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type,
        forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try JSONTreeDecoder(value: self.member(key), codingPath: self.path(key)).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try JSONTreeDecoder(value: self.member(key), codingPath: self.path(key)).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        JSONTreeDecoder(value: self.object["super"] ?? .null, codingPath: self.codingPath + [JSONCodingKey.super])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        JSONTreeDecoder(value: self.object[key.stringValue] ?? .null, codingPath: self.path(key))
    }
}

// MARK: - Unkeyed container

/// Reads the elements of one array in order.
struct JSONUnkeyedDecodingContainer: UnkeyedDecodingContainer {
    let array: [JSONValue]
    let codingPath: [any CodingKey]
    private(set) var currentIndex: Int = 0

    init(array: [JSONValue], codingPath: [any CodingKey]) {
        self.array = array
        self.codingPath = codingPath
    }

    var count: Int? { self.array.count }
    var isAtEnd: Bool { self.currentIndex >= self.array.count }

    private var currentPath: [any CodingKey] {
        self.codingPath + [JSONCodingKey(index: self.currentIndex)]
    }

    /// The current element, without advancing.
    private func current(_ type: Any.Type) throws -> JSONValue {
        guard !self.isAtEnd else {
            throw DecodingError.valueNotFound(
                type,
                DecodingError.Context(codingPath: self.currentPath, debugDescription: "Unkeyed container is at end.")
            )
        }
        return self.array[self.currentIndex]
    }

    /// Decodes the current element with `body` and advances only on success.
    private mutating func next<T>(_ type: T.Type, _ body: (JSONValue, [any CodingKey]) throws -> T) throws -> T {
        let result = try body(try self.current(type), self.currentPath)
        self.currentIndex += 1
        return result
    }

    mutating func decodeNil() throws -> Bool {
        guard try self.current(Never.self) == .null else { return false }
        self.currentIndex += 1
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try self.next(type) { try JSONTreeDecoder.bool(from: $0, codingPath: $1) } }
    mutating func decode(_ type: String.Type) throws -> String { try self.next(type) { try JSONTreeDecoder.string(from: $0, codingPath: $1) } }
    mutating func decode(_ type: Double.Type) throws -> Double { try self.next(type) { try JSONTreeDecoder.double(from: $0, codingPath: $1) } }
    mutating func decode(_ type: Float.Type) throws -> Float { try self.next(type) { try JSONTreeDecoder.float(from: $0, codingPath: $1) } }
    mutating func decode(_ type: Int.Type) throws -> Int { try self.integer(type) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try self.integer(type) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try self.integer(type) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try self.integer(type) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try self.integer(type) }
    mutating func decode(_ type: Int128.Type) throws -> Int128 { try self.integer(type) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try self.integer(type) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try self.integer(type) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try self.integer(type) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try self.integer(type) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try self.integer(type) }
    mutating func decode(_ type: UInt128.Type) throws -> UInt128 { try self.integer(type) }

    private mutating func integer<T: FixedWidthInteger>(_ type: T.Type) throws -> T {
        try self.next(type) { try JSONTreeDecoder.integer(type, from: $0, codingPath: $1) }
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try self.next(type) { try JSONTreeDecoder.unbox(type, from: $0, codingPath: $1) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try self.next(KeyedDecodingContainer<NestedKey>.self) { try JSONTreeDecoder(value: $0, codingPath: $1).container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try self.next((any UnkeyedDecodingContainer).self) { try JSONTreeDecoder(value: $0, codingPath: $1).unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder {
        try self.next((any Decoder).self) { JSONTreeDecoder(value: $0, codingPath: $1) }
    }
}

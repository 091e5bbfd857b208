import NIOCore

/// A Swift `Encoder` that turns any `Encodable` into a tree written like Python's `json.dumps`.
///
/// Keyed containers keep members in the order `encode(to:)` writes them (declaration order for synthesized
/// conformances); encoding a key twice replaces the value in place. `nil` becomes `null`; a value that encodes
/// nothing becomes `{}` (as with Foundation's `JSONEncoder`). Floats follow Python's `repr`; NaN and infinities
/// throw `EncodingError.invalidValue` with the coding path. `Data` becomes a base64 string, `URL` its absolute
/// string and `Date` its seconds since 2001 (Foundation `JSONEncoder`'s default strategies).
final class JSONTreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    /// What this encoder's value has become so far.
    var node: JSONEncodedNode?

    init(codingPath: [any CodingKey]) {
        self.codingPath = codingPath
        self.node = nil
    }

    /// Encodes `value` and writes it into `buffer`.
    ///
    /// - Parameters:
    ///   - value: The value.
    ///   - buffer: The buffer to append to; on failure it may hold part of the text.
    /// - Throws: `EncodingError.invalidValue` for non-finite numbers, or whatever `value.encode(to:)` throws.
    static func encode<T: Encodable>(_ value: T, into buffer: inout ByteBuffer) throws {
        let node = try Self.box(value, codingPath: [])
        do {
            try node.write(into: &buffer)
        } catch {
            throw error.encodingError
        }
    }

    // MARK: Encoder

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let object: JSONEncodedObject
        switch self.node {
        case .object(let existing):
            object = existing
        case nil:
            object = JSONEncodedObject()
            self.node = .object(object)
        default:
            preconditionFailure("Attempt to push a keyed encoding container where a value was already encoded.")
        }
        return KeyedEncodingContainer(JSONKeyedEncodingContainer<Key>(object: object, codingPath: self.codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let array: JSONEncodedArray
        switch self.node {
        case .array(let existing):
            array = existing
        case nil:
            array = JSONEncodedArray()
            self.node = .array(array)
        default:
            preconditionFailure("Attempt to push an unkeyed encoding container where a value was already encoded.")
        }
        return JSONUnkeyedEncodingContainer(array: array, codingPath: self.codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        self
    }

    // MARK: Boxing

    /// Turns `value` into a node, short-cutting the common leaf types.
    static func box<T: Encodable>(_ value: T, codingPath: @autoclosure () -> [any CodingKey]) throws -> JSONEncodedNode {
        if T.self == String.self {
            return .value(.string(value as! String))
        }
        if T.self == Int.self {
            return .value(.int(value as! Int))
        }
        if T.self == Double.self {
            return .value(try Self.number(value as! Double, codingPath: codingPath()))
        }
        if T.self == Bool.self {
            return .value(.bool(value as! Bool))
        }
        if T.self == JSONValue.self {
            return .value(value as! JSONValue)
        }
        if let foundationValue = Self.foundationValue(value) {
            return .value(foundationValue)
        }
        let encoder = JSONTreeEncoder(codingPath: codingPath())
        try value.encode(to: encoder)
        return encoder.node ?? .object(JSONEncodedObject())
    }

    /// A finite double, or `EncodingError.invalidValue` naming the path.
    static func number(_ value: Double, codingPath: @autoclosure () -> [any CodingKey]) throws -> JSONValue {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value,
                EncodingError.Context(
                    codingPath: codingPath(),
                    debugDescription: "Unable to encode Double.\(value) as JSON: NaN and infinity are not valid JSON numbers."
                )
            )
        }
        return .double(value)
    }

    /// A finite float as the double with the same shortest digits (`Float(0.1)` is written `0.1`).
    static func number(_ value: Float, codingPath: @autoclosure () -> [any CodingKey]) throws -> JSONValue {
        guard value.isFinite else {
            throw EncodingError.invalidValue(
                value,
                EncodingError.Context(
                    codingPath: codingPath(),
                    debugDescription: "Unable to encode Float.\(value) as JSON: NaN and infinity are not valid JSON numbers."
                )
            )
        }
        return .double(Double(value.description) ?? Double(value))
    }

    /// An integer of any width: ``JSONValue/int(_:)`` when it fits, else ``JSONValue/bigInt(_:)``.
    static func number<T: BinaryInteger>(_ value: T) -> JSONValue {
        if let int = Int(exactly: value) {
            return .int(int)
        }
        return .bigInt(String(value))
    }
}

// MARK: - SingleValueEncodingContainer

extension JSONTreeEncoder: SingleValueEncodingContainer {
    func encodeNil() throws { self.node = .value(.null) }
    func encode(_ value: Bool) throws { self.node = .value(.bool(value)) }
    func encode(_ value: String) throws { self.node = .value(.string(value)) }
    func encode(_ value: Double) throws { self.node = .value(try Self.number(value, codingPath: self.codingPath)) }
    func encode(_ value: Float) throws { self.node = .value(try Self.number(value, codingPath: self.codingPath)) }
    func encode(_ value: Int) throws { self.node = .value(.int(value)) }
    func encode(_ value: Int8) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: Int16) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: Int32) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: Int64) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: Int128) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: UInt) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: UInt8) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: UInt16) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: UInt32) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: UInt64) throws { self.node = .value(Self.number(value)) }
    func encode(_ value: UInt128) throws { self.node = .value(Self.number(value)) }
    func encode<T: Encodable>(_ value: T) throws { self.node = try Self.box(value, codingPath: self.codingPath) }
}

// MARK: - Keyed container

/// Encodes members of one object in the order they arrive.
struct JSONKeyedEncodingContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let object: JSONEncodedObject
    let codingPath: [any CodingKey]

    private func set(_ value: JSONValue, forKey key: Key) {
        self.object.set(.value(value), forKey: key.stringValue)
    }

    private func path(_ key: Key) -> [any CodingKey] {
        self.codingPath + [key]
    }

    mutating func encodeNil(forKey key: Key) throws { self.set(.null, forKey: key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { self.set(.bool(value), forKey: key) }
    mutating func encode(_ value: String, forKey key: Key) throws { self.set(.string(value), forKey: key) }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        self.set(try JSONTreeEncoder.number(value, codingPath: self.path(key)), forKey: key)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        self.set(try JSONTreeEncoder.number(value, codingPath: self.path(key)), forKey: key)
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { self.set(.int(value), forKey: key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: Int128, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }
    mutating func encode(_ value: UInt128, forKey key: Key) throws { self.set(JSONTreeEncoder.number(value), forKey: key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        self.object.set(try JSONTreeEncoder.box(value, codingPath: self.path(key)), forKey: key.stringValue)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type,
        forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let nested = JSONEncodedObject()
        self.object.set(.object(nested), forKey: key.stringValue)
        return KeyedEncodingContainer(JSONKeyedEncodingContainer<NestedKey>(object: nested, codingPath: self.path(key)))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = JSONEncodedArray()
        self.object.set(.array(nested), forKey: key.stringValue)
        return JSONUnkeyedEncodingContainer(array: nested, codingPath: self.path(key))
    }

    mutating func superEncoder() -> any Encoder {
        self.superEncoder(key: JSONCodingKey.super)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        self.superEncoder(key: key)
    }

    private func superEncoder(key: any CodingKey) -> any Encoder {
        let encoder = JSONTreeEncoder(codingPath: self.codingPath + [key])
        self.object.set(.encoder(encoder), forKey: key.stringValue)
        return encoder
    }
}

// MARK: - Unkeyed container

/// Encodes the elements of one array.
struct JSONUnkeyedEncodingContainer: UnkeyedEncodingContainer {
    let array: JSONEncodedArray
    let codingPath: [any CodingKey]

    var count: Int { self.array.elements.count }

    private func append(_ value: JSONValue) {
        self.array.elements.append(.value(value))
    }

    private var nextPath: [any CodingKey] {
        self.codingPath + [JSONCodingKey(index: self.count)]
    }

    mutating func encodeNil() throws { self.append(.null) }
    mutating func encode(_ value: Bool) throws { self.append(.bool(value)) }
    mutating func encode(_ value: String) throws { self.append(.string(value)) }
    mutating func encode(_ value: Double) throws { self.append(try JSONTreeEncoder.number(value, codingPath: self.nextPath)) }
    mutating func encode(_ value: Float) throws { self.append(try JSONTreeEncoder.number(value, codingPath: self.nextPath)) }
    mutating func encode(_ value: Int) throws { self.append(.int(value)) }
    mutating func encode(_ value: Int8) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: Int16) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: Int32) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: Int64) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: Int128) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: UInt) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: UInt8) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: UInt16) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: UInt32) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: UInt64) throws { self.append(JSONTreeEncoder.number(value)) }
    mutating func encode(_ value: UInt128) throws { self.append(JSONTreeEncoder.number(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        self.array.elements.append(try JSONTreeEncoder.box(value, codingPath: self.nextPath))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = self.nextPath
        let nested = JSONEncodedObject()
        self.array.elements.append(.object(nested))
        return KeyedEncodingContainer(JSONKeyedEncodingContainer<NestedKey>(object: nested, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = self.nextPath
        let nested = JSONEncodedArray()
        self.array.elements.append(.array(nested))
        return JSONUnkeyedEncodingContainer(array: nested, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = JSONTreeEncoder(codingPath: self.nextPath)
        self.array.elements.append(.encoder(encoder))
        return encoder
    }
}

// MARK: - Encodable

extension JSONValue: Encodable {
    /// Encodes the value.
    ///
    /// With this package's own encoder the value is written as is (object order, ``bigInt(_:)`` digits). Other
    /// encoders get the closest standard form: a ``bigInt(_:)`` is encoded as a `Double` (rounded), or as its
    /// digit string when it is beyond the `Double` range.
    ///
    /// - Parameters:
    ///   - encoder: The encoder to write to.
    /// - Throws: Whatever the encoder throws, such as `EncodingError.invalidValue` for a non-finite ``double(_:)``.
    public func encode(to encoder: any Encoder) throws {
        if let treeEncoder = encoder as? JSONTreeEncoder {
            treeEncoder.node = .value(self)
            return
        }
        switch self {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .bool(let bool):
            var container = encoder.singleValueContainer()
            try container.encode(bool)
        case .int(let int):
            var container = encoder.singleValueContainer()
            try container.encode(int)
        case .double(let double):
            var container = encoder.singleValueContainer()
            try container.encode(double)
        case .bigInt(let digits):
            var container = encoder.singleValueContainer()
            if let double = Double(digits), double.isFinite {
                try container.encode(double)
            } else {
                try container.encode(digits)
            }
        case .string(let string):
            var container = encoder.singleValueContainer()
            try container.encode(string)
        case .array(let array):
            var container = encoder.unkeyedContainer()
            for element in array {
                try container.encode(element)
            }
        case .object(let object):
            var container = encoder.container(keyedBy: JSONCodingKey.self)
            for (key, member) in object {
                try container.encode(member, forKey: JSONCodingKey(stringValue: key))
            }
        }
    }
}

// MARK: - Decodable

extension JSONValue: Decodable {
    /// Decodes any JSON value.
    ///
    /// With this package's own decoder the parsed value is taken as is: `1` stays an ``int(_:)`` and `1.0` a
    /// ``double(_:)``, objects keep their order. Other decoders are asked for, in turn, null, a Boolean, an `Int`, a
    /// `Double`, a string, an object and an array, so a whole-number float may come back as an ``int(_:)`` and object
    /// members in the decoder's key order.
    ///
    /// - Parameters:
    ///   - decoder: The decoder to read from.
    /// - Throws: `DecodingError.dataCorrupted` when the decoder offers none of those shapes.
    public init(from decoder: any Decoder) throws {
        if let treeDecoder = decoder as? JSONTreeDecoder {
            self = treeDecoder.value
            return
        }
        if let container = try? decoder.singleValueContainer() {
            if container.decodeNil() {
                self = .null
                return
            }
            if let bool = try? container.decode(Bool.self) {
                self = .bool(bool)
                return
            }
            if let int = try? container.decode(Int.self) {
                self = .int(int)
                return
            }
            if let double = try? container.decode(Double.self) {
                self = .double(double)
                return
            }
            if let string = try? container.decode(String.self) {
                self = .string(string)
                return
            }
        }
        if let container = try? decoder.container(keyedBy: JSONCodingKey.self) {
            var object = JSONObject()
            for key in container.allKeys {
                object[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
            }
            self = .object(object)
            return
        }
        if var container = try? decoder.unkeyedContainer() {
            var array: [JSONValue] = []
            while !container.isAtEnd {
                array.append(try container.decode(JSONValue.self))
            }
            self = .array(array)
            return
        }
        throw DecodingError.dataCorrupted(
            DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "The value is not a JSON value.")
        )
    }
}

import NIOCore

/// A value that ``JSONTreeEncoder`` is building: containers are references so nested containers handed out to
/// `encode(to:)` can keep filling them.
enum JSONEncodedNode {
    /// A finished value.
    case value(JSONValue)
    /// An array still open to nested containers.
    case array(JSONEncodedArray)
    /// An object still open to nested containers.
    case object(JSONEncodedObject)
    /// A `superEncoder()` whose value is read when writing (`{}` if it encoded nothing).
    case encoder(JSONTreeEncoder)

    /// Writes the node as JSON text.
    ///
    /// - Throws: ``JSONWriter/Failure`` for a non-finite number inside an encoded ``JSONValue``, with its path.
    func write(into buffer: inout ByteBuffer) throws(JSONWriter.Failure) {
        switch self {
        case .value(let value):
            try JSONWriter().write(value, into: &buffer)
        case .array(let array):
            buffer.writeInteger(UInt8(ascii: "["))
            for (position, element) in array.elements.enumerated() {
                if position > 0 {
                    JSONWriter.writeElementSeparator(into: &buffer)
                }
                do {
                    try element.write(into: &buffer)
                } catch {
                    var failure = error
                    failure.codingPath.insert(JSONCodingKey(index: position), at: 0)
                    throw failure
                }
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case .object(let object):
            buffer.writeInteger(UInt8(ascii: "{"))
            for position in object.keys.indices {
                if position > 0 {
                    JSONWriter.writeElementSeparator(into: &buffer)
                }
                JSONWriter.writeString(object.keys[position], into: &buffer)
                JSONWriter.writeKeySeparator(into: &buffer)
                do {
                    try object.values[position].write(into: &buffer)
                } catch {
                    var failure = error
                    failure.codingPath.insert(JSONCodingKey(stringValue: object.keys[position]), at: 0)
                    throw failure
                }
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        case .encoder(let encoder):
            try (encoder.node ?? .object(JSONEncodedObject())).write(into: &buffer)
        }
    }
}

/// The elements of an array being encoded.
final class JSONEncodedArray {
    var elements: [JSONEncodedNode] = []
}

/// The members of an object being encoded, in insertion order.
final class JSONEncodedObject {
    private(set) var keys: [String] = []
    private(set) var values: [JSONEncodedNode] = []
    /// Positions of the keys, built once the object is large enough that a linear search would cost.
    private var index: [String: Int]?

    /// Sets the member `key`: appended if new, replaced in place otherwise.
    func set(_ value: JSONEncodedNode, forKey key: String) {
        if let index = self.index {
            if let position = index[key] {
                self.values[position] = value
                return
            }
            self.index![key] = self.keys.count
        } else if let position = self.keys.firstIndex(of: key) {
            self.values[position] = value
            return
        } else if self.keys.count >= 12 {
            var index = [String: Int](minimumCapacity: self.keys.count * 2)
            for (position, existing) in self.keys.enumerated() {
                index[existing] = position
            }
            index[key] = self.keys.count
            self.index = index
        }
        self.keys.append(key)
        self.values.append(value)
    }
}

import NIOCore

/// A JSON value of any shape, for caching heterogeneous data.
///
/// Values are written exactly as Python's `json.dumps` writes them with its default options, so a service using
/// the Python library async-caches reads and writes the same bytes. Integers and floats stay distinct: `1` is
/// ``int(_:)`` and `1.0` is ``double(_:)``. Objects keep their insertion order (see ``JSONObject``).
///
/// ```swift
/// let value: JSONValue = ["name": "Zoë", "tags": ["a", "b"], "count": 3, "ratio": 0.5, "none": nil]
/// ```
public enum JSONValue: Sendable, Hashable {
    /// The JSON literal `null` (Python `None`).
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// An integer that fits in 64 bits, written without a fractional part.
    case int(Int)
    /// A floating-point number, written like Python's `repr(float)` (`1.0`, `0.1`, `1e+20`).
    ///
    /// NaN and infinities can be read (Python writes them as `NaN`, `Infinity` and `-Infinity`) but are refused
    /// when writing.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object whose members keep their insertion order.
    case object(JSONObject)
    /// An integer beyond the 64-bit range, as its decimal digits with an optional leading `-` (Python ints have no
    /// size limit). Reading and writing it back keeps the bytes.
    case bigInt(String)
}

// MARK: - Accessors

extension JSONValue {
    /// True when the value is ``null``.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The string, when the value is a ``string(_:)``.
    public var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    /// The Boolean, when the value is a ``bool(_:)``.
    public var boolValue: Bool? {
        if case .bool(let bool) = self { return bool }
        return nil
    }

    /// The value as an `Int`: an ``int(_:)``, or a ``double(_:)`` holding a whole number that fits (the
    /// conversion Foundation's `JSONDecoder` makes); otherwise `nil`.
    public var intValue: Int? {
        switch self {
        case .int(let int):
            return int
        case .double(let double):
            return Int(exactly: double)
        default:
            return nil
        }
    }

    /// The value as a `Double`: a ``double(_:)``, an ``int(_:)`` or a ``bigInt(_:)`` (rounded to the nearest
    /// double); otherwise `nil`.
    public var doubleValue: Double? {
        switch self {
        case .double(let double):
            return double
        case .int(let int):
            return Double(int)
        case .bigInt(let digits):
            return Double(digits)
        default:
            return nil
        }
    }

    /// The elements, when the value is an ``array(_:)``.
    public var arrayValue: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }

    /// The members, when the value is an ``object(_:)``.
    public var objectValue: JSONObject? {
        if case .object(let object) = self { return object }
        return nil
    }

    /// The member named `key`, when the value is an ``object(_:)`` that has it.
    ///
    /// - Parameters:
    ///   - key: The member's key.
    /// - Returns: The member's value, or `nil` when the value is not an object or has no such member.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    /// The element at `index`, when the value is an ``array(_:)`` that long.
    ///
    /// - Parameters:
    ///   - index: The zero-based position.
    /// - Returns: The element, or `nil` when the value is not an array or `index` is out of range.
    public subscript(index: Int) -> JSONValue? {
        if case .array(let array) = self, array.indices.contains(index) { return array[index] }
        return nil
    }
}

// MARK: - CustomStringConvertible

extension JSONValue: CustomStringConvertible {
    /// The JSON text, as Python's `json.dumps` would write it (non-finite doubles appear as `NaN`, `Infinity`).
    public var description: String {
        let writer = JSONWriter(allowNonFinite: true)
        var buffer = JSONWriter.allocator.buffer(capacity: 64)
        // With non-finite numbers allowed the writer cannot fail.
        try? writer.write(self, into: &buffer)
        return String(buffer: buffer)
    }
}

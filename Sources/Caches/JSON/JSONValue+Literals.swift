// MARK: - Literals

extension JSONValue: ExpressibleByNilLiteral {
    /// Creates ``null``.
    ///
    /// - Parameters:
    ///   - nilLiteral: The `nil` literal.
    public init(nilLiteral: ()) {
        self = .null
    }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    /// Creates a ``bool(_:)``.
    ///
    /// - Parameters:
    ///   - value: The literal.
    public init(booleanLiteral value: Bool) {
        self = .bool(value)
    }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    /// Creates an ``int(_:)``.
    ///
    /// - Parameters:
    ///   - value: The literal.
    public init(integerLiteral value: Int) {
        self = .int(value)
    }
}

extension JSONValue: ExpressibleByFloatLiteral {
    /// Creates a ``double(_:)``.
    ///
    /// - Parameters:
    ///   - value: The literal.
    public init(floatLiteral value: Double) {
        self = .double(value)
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    /// Creates a ``string(_:)``.
    ///
    /// - Parameters:
    ///   - value: The literal.
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}

extension JSONValue: ExpressibleByArrayLiteral {
    /// Creates an ``array(_:)``.
    ///
    /// - Parameters:
    ///   - elements: The literal's elements.
    public init(arrayLiteral elements: JSONValue...) {
        self = .array(elements)
    }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// Creates an ``object(_:)`` whose members keep the literal's order.
    ///
    /// - Parameters:
    ///   - elements: The literal's key-value pairs; a repeated key replaces the earlier value in place.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements))
    }
}

/// A coding key for paths through JSON values: an object member's key or an array position.
package struct JSONCodingKey: CodingKey, Sendable, Hashable {
    package let stringValue: String
    package let intValue: Int?

    /// Creates a key for an object member.
    ///
    /// - Parameters:
    ///   - stringValue: The member's key.
    package init(stringValue: String) {
        self.stringValue = stringValue
        self.intValue = nil
    }

    /// Creates a key from an integer (`Dictionary<Int, …>` keys and array positions use it).
    ///
    /// - Parameters:
    ///   - intValue: The integer.
    package init(intValue: Int) {
        self.stringValue = String(intValue)
        self.intValue = intValue
    }

    /// Creates a key for an array position, described as `Index n` like Foundation's coders do.
    ///
    /// - Parameters:
    ///   - index: The zero-based position.
    package init(index: Int) {
        self.stringValue = "Index \(index)"
        self.intValue = index
    }

    /// The key `super`, used by `superEncoder()` and `superDecoder()`.
    package static var `super`: Self { Self(stringValue: "super") }
}

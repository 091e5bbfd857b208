/// A JSON object that keeps its members in insertion order.
///
/// Python dictionaries keep insertion order and `json.dumps` writes members in that order, so a cached value read
/// and written back by this package keeps the same bytes. Setting a key that already exists replaces its value in
/// place (its position does not change), the way a Python `dict` and `json.loads` behave with duplicate keys.
///
/// Two objects are equal when they hold the same members in the same order.
public struct JSONObject: Sendable {
    /// The members in insertion order.
    var storage: [(key: String, value: JSONValue)]

    /// Positions of the keys in `storage`, built once the object grows past `indexThreshold` members.
    var index: [String: Int]?

    /// Objects with fewer members than this are searched linearly.
    static var indexThreshold: Int { 12 }

    /// Creates an empty object.
    public init() {
        self.storage = []
        self.index = nil
    }

    /// Creates an object from key-value pairs in order; a repeated key replaces the earlier value in place.
    ///
    /// - Parameters:
    ///   - members: The key-value pairs, in the order they should be written.
    public init(_ members: some Sequence<(String, JSONValue)>) {
        self.init()
        for (key, value) in members {
            self.updateValue(value, forKey: key)
        }
    }

    /// The number of members.
    public var count: Int { self.storage.count }

    /// True when the object has no members.
    public var isEmpty: Bool { self.storage.isEmpty }

    /// The keys in insertion order.
    public var keys: [String] { self.storage.map(\.key) }

    /// The values in insertion order.
    public var values: [JSONValue] { self.storage.map(\.value) }

    /// Accesses the value stored under `key`.
    ///
    /// Reading returns `nil` when the key is absent. Assigning a value adds the key at the end or replaces its
    /// value in place; assigning `nil` removes the member.
    ///
    /// - Parameters:
    ///   - key: The member's key.
    /// - Returns: The value for `key`, or `nil` when there is none.
    public subscript(key: String) -> JSONValue? {
        get {
            guard let position = self.position(of: key) else { return nil }
            return self.storage[position].value
        }
        set {
            if let newValue {
                self.updateValue(newValue, forKey: key)
            } else {
                self.removeValue(forKey: key)
            }
        }
    }

    /// Sets the value for `key`, appending the key if it is new.
    ///
    /// - Parameters:
    ///   - value: The new value.
    ///   - key: The member's key.
    /// - Returns: The value that was replaced, or `nil` when the key was new.
    @discardableResult
    public mutating func updateValue(_ value: JSONValue, forKey key: String) -> JSONValue? {
        if let position = self.position(of: key) {
            let old = self.storage[position].value
            self.storage[position].value = value
            return old
        }
        self.append(key: key, value: value)
        return nil
    }

    /// Removes the member with `key`, keeping the order of the others.
    ///
    /// - Parameters:
    ///   - key: The member's key.
    /// - Returns: The removed value, or `nil` when the key was absent.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let position = self.position(of: key) else { return nil }
        let old = self.storage.remove(at: position).value
        if self.index != nil {
            self.rebuildIndex()
        }
        return old
    }

    /// Appends a member whose key is known not to be present yet.
    private mutating func append(key: String, value: JSONValue) {
        self.storage.append((key: key, value: value))
        if self.index != nil {
            self.index![key] = self.storage.count - 1
        } else if self.storage.count >= Self.indexThreshold {
            self.rebuildIndex()
        }
    }

    /// Returns the position of `key` in `storage`.
    func position(of key: String) -> Int? {
        if let index = self.index {
            return index[key]
        }
        return self.storage.firstIndex { $0.key == key }
    }

    private mutating func rebuildIndex() {
        guard self.storage.count >= Self.indexThreshold else {
            self.index = nil
            return
        }
        var index = [String: Int](minimumCapacity: self.storage.count)
        for (position, member) in self.storage.enumerated() {
            index[member.key] = position
        }
        self.index = index
    }
}

// MARK: - Sequence

extension JSONObject: Sequence {
    /// Iterates over the members in insertion order.
    public struct Iterator: IteratorProtocol {
        var base: IndexingIterator<[(key: String, value: JSONValue)]>

        /// Returns the next member, or `nil` after the last one.
        ///
        /// - Returns: The next key-value pair.
        public mutating func next() -> (key: String, value: JSONValue)? {
            self.base.next()
        }
    }

    /// Returns an iterator over the members in insertion order.
    ///
    /// - Returns: The iterator.
    public func makeIterator() -> Iterator {
        Iterator(base: self.storage.makeIterator())
    }

    /// The number of members.
    public var underestimatedCount: Int { self.storage.count }
}

// MARK: - ExpressibleByDictionaryLiteral

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// Creates an object from a dictionary literal, keeping the literal's order.
    ///
    /// - Parameters:
    ///   - elements: The key-value pairs; a repeated key replaces the earlier value in place.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self.init(elements)
    }
}

// MARK: - Hashable

extension JSONObject: Hashable {
    /// True when both objects hold the same members in the same order.
    ///
    /// - Parameters:
    ///   - lhs: An object.
    ///   - rhs: Another object.
    /// - Returns: Whether the members and their order are equal.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.storage.count == rhs.storage.count else { return false }
        for (left, right) in zip(lhs.storage, rhs.storage) where left.key != right.key || left.value != right.value {
            return false
        }
        return true
    }

    /// Hashes the members in order.
    ///
    /// - Parameters:
    ///   - hasher: The hasher to feed.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.storage.count)
        for member in self.storage {
            hasher.combine(member.key)
            hasher.combine(member.value)
        }
    }
}

// MARK: - CustomStringConvertible

extension JSONObject: CustomStringConvertible {
    /// The object as Python's `json.dumps` would write it.
    public var description: String {
        JSONValue.object(self).description
    }
}

/// The version field of a stored key: a string or an integer, as in async-caches.
///
/// A version counts as *given* only when it is "truthy" in the seed's sense: the integer `0` and the empty string
/// fall back to the cache's default version, while the string `"0"` is a real version.
public struct CacheVersion: Sendable, Hashable, CustomStringConvertible, ExpressibleByStringLiteral,
    ExpressibleByIntegerLiteral
{
    /// The text written into the key.
    public let text: String
    /// Whether the version counts as given (the seed's truthiness rule).
    public let isSet: Bool

    /// A version given as a string; the empty string means "not given".
    public init(_ text: String) {
        self.text = text
        self.isSet = !text.isEmpty
    }

    /// A version given as an integer; `0` means "not given".
    public init(_ number: Int) {
        self.text = String(number)
        self.isSet = number != 0
    }

    /// A version written as a string literal: `version: "v1"`.
    public init(stringLiteral value: String) { self.init(value) }

    /// A version written as an integer literal: `version: 2`.
    public init(integerLiteral value: Int) { self.init(value) }

    /// No version: keys get an empty version field (`prefix::key`).
    public static let none = CacheVersion("")

    public var description: String { self.text }
}

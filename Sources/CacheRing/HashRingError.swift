/// An error thrown when a ``HashRing`` cannot be built from its configuration.
///
/// Compare ``code`` with `==` against the static codes; new codes may be added without breaking callers.
public struct HashRingError: Error, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case noNodes, emptyName, duplicateName, zeroWeight, weightOverflow, invalidHashTag
        }

        fileprivate let base: Base

        /// The ring was given no nodes.
        public static var noNodes: Self { .init(base: .noNodes) }
        /// A node has an empty ketama name.
        public static var emptyName: Self { .init(base: .emptyName) }
        /// Two nodes have the same ketama name (twemproxy rejects such a pool).
        public static var duplicateName: Self { .init(base: .duplicateName) }
        /// A node has weight 0.
        public static var zeroWeight: Self { .init(base: .zeroWeight) }
        /// The weights add up to more than `UInt32.max` (twemproxy keeps the total in a `uint32_t`).
        public static var weightOverflow: Self { .init(base: .weightOverflow) }
        /// The hash tag is not exactly two bytes long.
        public static var invalidHashTag: Self { .init(base: .invalidHashTag) }

        public var description: String {
            switch self.base {
            case .noNodes: "noNodes"
            case .emptyName: "emptyName"
            case .duplicateName: "duplicateName"
            case .zeroWeight: "zeroWeight"
            case .weightOverflow: "weightOverflow"
            case .invalidHashTag: "invalidHashTag"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// Details, such as the offending node name or hash tag.
    public let message: String?
    /// The file that threw the error.
    public let file: StaticString
    /// The line that threw the error.
    public let line: UInt

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: What went wrong.
    ///   - message: Details, such as the offending node name.
    ///   - file: The file that throws the error.
    ///   - line: The line that throws the error.
    public init(_ code: Code, message: String? = nil, file: StaticString = #fileID, line: UInt = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    public var description: String {
        if let message = self.message {
            return "HashRingError.\(self.code): \(message)"
        }
        return "HashRingError.\(self.code)"
    }
}

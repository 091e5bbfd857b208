/// Cached bytes that are not valid JSON (what Python's `json.loads` would reject with `JSONDecodeError`).
///
/// ``Cache`` reports it as the `underlyingError` of a `DecodingError.dataCorrupted`.
public struct JSONParsingError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was wrong with the bytes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case unexpectedEnd, unexpectedByte, invalidNumber, invalidEscape, controlCharacterInString, invalidUTF8
            case tooDeep, trailingData
        }

        fileprivate let base: Base

        /// The bytes ended inside a value, or there were none.
        public static var unexpectedEnd: Self { .init(base: .unexpectedEnd) }
        /// A byte that cannot start or continue a value here.
        public static var unexpectedByte: Self { .init(base: .unexpectedByte) }
        /// A number that does not follow the JSON grammar (`01`, `1.`, `-`).
        public static var invalidNumber: Self { .init(base: .invalidNumber) }
        /// A backslash escape other than `\" \\ \/ \b \f \n \r \t \uXXXX`.
        public static var invalidEscape: Self { .init(base: .invalidEscape) }
        /// A raw control character (below U+0020) inside a string.
        public static var controlCharacterInString: Self { .init(base: .controlCharacterInString) }
        /// A string whose bytes are not valid UTF-8.
        public static var invalidUTF8: Self { .init(base: .invalidUTF8) }
        /// Arrays and objects nested deeper than the parser allows.
        public static var tooDeep: Self { .init(base: .tooDeep) }
        /// More than whitespace after the value.
        public static var trailingData: Self { .init(base: .trailingData) }

        /// The code's name.
        public var description: String {
            switch self.base {
            case .unexpectedEnd: "unexpectedEnd"
            case .unexpectedByte: "unexpectedByte"
            case .invalidNumber: "invalidNumber"
            case .invalidEscape: "invalidEscape"
            case .controlCharacterInString: "controlCharacterInString"
            case .invalidUTF8: "invalidUTF8"
            case .tooDeep: "tooDeep"
            case .trailingData: "trailingData"
            }
        }
    }

    /// What was wrong.
    public let code: Code
    /// The offset of the offending byte from the start of the value's bytes.
    public let offset: Int

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: What was wrong.
    ///   - offset: The offset of the offending byte.
    package init(_ code: Code, at offset: Int) {
        self.code = code
        self.offset = offset
    }

    /// A readable summary, like `invalid JSON (invalidEscape) at byte 7`.
    public var description: String {
        "invalid JSON (\(self.code)) at byte \(self.offset)"
    }
}

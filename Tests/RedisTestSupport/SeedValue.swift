/// Any JSON value, decoded without loss of structure, for comparing what two programs read from the same bytes.
///
/// Numbers decode as ``int(_:)`` when they are whole and fit `Int64` (`1.0` included), otherwise as
/// ``double(_:)``; object member order is not kept.
public enum SeedValue: Sendable, Hashable, Decodable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A whole number that fits `Int64`.
    case int(Int64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([SeedValue])
    /// An object; member order is not kept.
    case object([String: SeedValue])

    /// Decodes any JSON value.
    ///
    /// - Parameter decoder: The decoder.
    /// - Throws: `DecodingError` if the input is not JSON.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([SeedValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: SeedValue].self))
        }
    }
}

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

// MARK: - Foundation types with a JSONEncoder-compatible representation

extension JSONTreeEncoder {
    /// The JSON for Foundation values that `JSONEncoder` special-cases by default: `Data` as a base64 string,
    /// `URL` as its absolute string. `nil` for every other type (`Date` needs no special case: its own
    /// `encode(to:)` writes the seconds since 2001, which is `JSONEncoder`'s default).
    static func foundationValue<T: Encodable>(_ value: T) -> JSONValue? {
        if T.self == Data.self {
            return .string((value as! Data).base64EncodedString())
        }
        if T.self == URL.self {
            return .string((value as! URL).absoluteString)
        }
        return nil
    }
}

extension JSONTreeDecoder {
    /// Decodes the Foundation values that `JSONDecoder` special-cases by default (`Data` from base64, `URL` from a
    /// string); `nil` for every other type.
    static func foundationValue<T: Decodable>(_ type: T.Type, from value: JSONValue, codingPath: [any CodingKey]) throws -> T? {
        if T.self == Data.self {
            guard case .string(let string) = value else {
                throw JSONTreeDecoder.typeMismatch(String.self, found: value, codingPath: codingPath)
            }
            guard let data = Data(base64Encoded: string) else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(codingPath: codingPath, debugDescription: "Encountered Data is not valid Base64.")
                )
            }
            return (data as! T)
        }
        if T.self == URL.self {
            guard case .string(let string) = value else {
                throw JSONTreeDecoder.typeMismatch(String.self, found: value, codingPath: codingPath)
            }
            guard let url = URL(string: string) else {
                throw DecodingError.dataCorrupted(
                    DecodingError.Context(codingPath: codingPath, debugDescription: "Invalid URL string.")
                )
            }
            return (url as! T)
        }
        return nil
    }
}

import Foundation

/// The cases of `Tests/CachesTests/Fixtures/wire-vectors.json`: the keys and bytes async-caches (Python 3.11) stored
/// in Redis, read with Foundation (not with the code under test). The one loader of the tests.
public struct WireVectorCase: Decodable, Sendable, CustomStringConvertible {
    /// A recorded byte string, as text and as hex.
    public struct Bytes: Decodable, Sendable {
        public let utf8: String
        public let hex: String

        /// The bytes of ``hex``.
        ///
        /// - Throws: ``RedisServerError`` `.invalidConfiguration` when ``hex`` is not hex.
        public func bytes() throws -> [UInt8] { try hexBytes(self.hex) }
    }

    /// A case's ttl rule, as the vectors spell it.
    public enum TTLRule: Sendable, Equatable {
        case persistent
        case expires(limit: Int)

        init?(_ text: String) {
            let prefix = "expires, 0 < TTL <= "
            if text == "persistent (TTL -1)" {
                self = .persistent
            } else if text.hasPrefix(prefix), let limit = Int(text.dropFirst(prefix.count)) {
                self = .expires(limit: limit)
            } else {
                return nil
            }
        }
    }

    public let `case`: String
    public let config: String
    public let ops: String
    public let key: String
    public let version: Int?
    public let rawKey: Bytes
    public let rawValue: Bytes?
    /// The ttl rule's text; ``ttl`` parses it.
    public let ttlRule: String
    /// Which occurrence of this case name it is (`set_many` records two values).
    public internal(set) var occurrence = 0

    enum CodingKeys: String, CodingKey {
        case `case`, config, ops, key, version
        case rawKey = "raw_key"
        case rawValue = "raw_value"
        case ttlRule = "ttl_rule"
    }

    /// The parsed ttl rule, nil when the vectors spell it in a way no test knows.
    public var ttl: TTLRule? { TTLRule(self.ttlRule) }

    public var description: String { "\(self.case)#\(self.occurrence)" }

    /// A stand-in for a parameterised test's arguments when the file did not load, so that the test runs once and
    /// fails (on ``all()``) instead of running zero cases and passing.
    public static func unloaded() -> WireVectorCase {
        WireVectorCase(
            case: "<fixture failed to load>",
            config: "",
            ops: "",
            key: "",
            version: nil,
            rawKey: Bytes(utf8: "", hex: ""),
            rawValue: nil,
            ttlRule: ""
        )
    }

    /// The cases that carry a value, or ``unloaded()`` when the file did not load.
    public static var withValues: [WireVectorCase] {
        guard let all = try? self.loaded.get() else { return [self.unloaded()] }
        return all.filter { $0.rawValue != nil }
    }

    /// Every case, with its occurrence number; loaded once.
    ///
    /// - Throws: ``RedisServerError`` `.invalidConfiguration` when the file is missing, unreadable or has no case.
    public static func all() throws -> [WireVectorCase] { try self.loaded.get() }

    private static let loaded: Result<[WireVectorCase], any Error> = Result {
        struct File: Decodable { let cases: [WireVectorCase] }
        let path = try RepositoryRoot.path() + "/Tests/CachesTests/Fixtures/wire-vectors.json"
        guard let data = FileManager.default.contents(atPath: path) else {
            throw RedisServerError(.invalidConfiguration, "cannot read \(path)")
        }
        let cases = try JSONDecoder().decode(File.self, from: data).cases
        guard !cases.isEmpty else { throw RedisServerError(.invalidConfiguration, "\(path) has no cases") }
        var seen: [String: Int] = [:]
        return cases.map { vector in
            var vector = vector
            vector.occurrence = seen[vector.case, default: 0]
            seen[vector.case, default: 0] += 1
            return vector
        }
    }
}

/// Decodes lowercase or uppercase hex into bytes: the one hex decoder of the tests.
///
/// - Throws: ``RedisServerError`` `.invalidConfiguration` for an odd length or a character that is not a hex digit
///   (never skipped).
public func hexBytes(_ hex: String) throws -> [UInt8] {
    let digits = Array(hex.utf8)
    guard digits.count.isMultiple(of: 2) else {
        throw RedisServerError(.invalidConfiguration, "odd hex length \(digits.count)")
    }
    func nibble(_ digit: UInt8) throws -> UInt8 {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return digit - UInt8(ascii: "A") + 10
        default: throw RedisServerError(.invalidConfiguration, "not a hex digit: \(UnicodeScalar(digit))")
        }
    }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(digits.count / 2)
    for index in stride(from: 0, to: digits.count, by: 2) {
        bytes.append(try nibble(digits[index]) << 4 | nibble(digits[index + 1]))
    }
    return bytes
}

import Foundation
import RedisTestSupport
import Testing

/// The twemproxy ketama vectors recorded from a real nutcracker 0.5.0 (`Fixtures/ketama-vectors.json`).
struct KetamaVectors: Decodable {
    struct Server: Decodable {
        var entry: String
        var ketamaName: String
        var weight: UInt32
        var points: Int

        enum CodingKeys: String, CodingKey {
            case entry, weight, points
            case ketamaName = "ketama_name"
        }
    }

    struct ContinuumPoint: Decodable {
        var value: UInt32
        var server: String

        init(from decoder: any Decoder) throws {
            var container = try decoder.unkeyedContainer()
            self.value = try container.decode(UInt32.self)
            self.server = try container.decode(String.self)
        }
    }

    struct Vector: Decodable {
        var key: String?
        var keyHex: String
        var hashedPartHex: String
        var hash: UInt32
        var serverIndex: Int
        var server: String

        enum CodingKeys: String, CodingKey {
            case key, hash, server
            case keyHex = "key_hex"
            case hashedPartHex = "hashed_part_hex"
            case serverIndex = "server_index"
        }

        var keyBytes: [UInt8] { get throws { try hexBytes(self.keyHex) } }
        var hashedPart: [UInt8] { get throws { try hexBytes(self.hashedPartHex) } }
    }

    struct Config: Decodable {
        var id: String
        var distribution: String
        var hash: String
        var hashTag: String?
        var servers: [Server]
        var continuumPointsTotal: Int
        var continuumHead: [ContinuumPoint]
        var continuumTail: [ContinuumPoint]
        var vectors: [Vector]

        enum CodingKeys: String, CodingKey {
            case id, distribution, hash, servers, vectors
            case hashTag = "hash_tag"
            case continuumPointsTotal = "continuum_points_total"
            case continuumHead = "continuum_head"
            case continuumTail = "continuum_tail"
        }
    }

    struct HashValue: Decodable {
        var key: String?
        var keyHex: String
        var hash: UInt32

        enum CodingKeys: String, CodingKey {
            case key, hash
            case keyHex = "key_hex"
        }

        var keyBytes: [UInt8] { get throws { try hexBytes(self.keyHex) } }
    }

    var configs: [Config]
    var hashValues: [String: [HashValue]]

    enum CodingKeys: String, CodingKey {
        case configs
        case hashValues = "hash_values"
    }

    /// Why the fixture could not be read.
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    /// Loads the fixture from the test bundle.
    ///
    /// Not `#require`: ``shared`` is first read while the tests are being discovered, where a recorded issue
    /// belongs to no test, and the error `#require` throws counts as already recorded when a test rethrows it, so
    /// every test passed with the fixture missing.
    static func load() throws -> KetamaVectors {
        guard let url = Bundle.module.url(forResource: "ketama-vectors", withExtension: "json", subdirectory: "Fixtures") else {
            throw LoadError(description: "Fixtures/ketama-vectors.json is missing from the test bundle")
        }
        return try JSONDecoder().decode(KetamaVectors.self, from: Data(contentsOf: url))
    }

    /// The vectors, loaded once.
    static let shared: Result<KetamaVectors, any Error> = Result { try KetamaVectors.load() }
}

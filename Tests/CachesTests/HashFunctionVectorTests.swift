import CacheRing
import Foundation
import Testing

@testable import Caches

/// Placements a real nutcracker 0.5.0 made under each of twemproxy's 12 hashes
/// (`Fixtures/ketama-vectors-all-hashes.json`), checked through the public configuration forms: a cache URL, a
/// config file and code each name the hash, and the ring the cache builds from them places every recorded key on the
/// recorded node.
///
/// The vectors' keys are the bytes nutcracker hashed, that is stored keys (`prefix:version:key` as a proxy sees
/// them), so they are placed through the ring of the configuration, the one `Cache` routes with.
struct AllHashVectors: Decodable {
    struct Server: Decodable {
        var entry: String
        var ketamaName: String
        var weight: UInt32

        enum CodingKeys: String, CodingKey {
            case entry, weight
            case ketamaName = "ketama_name"
        }
    }

    struct Vector: Decodable {
        var key: String?
        var keyHex: String
        var server: String

        enum CodingKeys: String, CodingKey {
            case key, server
            case keyHex = "key_hex"
        }

        var keyBytes: [UInt8] {
            let digits = Array(self.keyHex.utf8)
            func nibble(_ digit: UInt8) -> UInt8 {
                digit <= UInt8(ascii: "9") ? digit - UInt8(ascii: "0") : (digit | 0x20) - UInt8(ascii: "a") + 10
            }
            return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
        }
    }

    struct Config: Decodable, CustomTestStringConvertible {
        var id: String
        var hash: String
        var hashTag: String?
        var servers: [Server]
        var vectors: [Vector]

        enum CodingKeys: String, CodingKey {
            case id, hash, servers, vectors
            case hashTag = "hash_tag"
        }

        var testDescription: String { self.id }
    }

    var configs: [Config]

    /// Why the fixture could not be read.
    struct LoadError: Error, CustomStringConvertible {
        let description: String
    }

    /// The fixture, or why it failed to load.
    ///
    /// Not `#require`: this runs while the tests are being discovered, where a recorded issue belongs to no test,
    /// and the error it throws is taken as already recorded when a test rethrows it.
    static let loaded: Result<AllHashVectors, any Error> = Result {
        guard
            let url = Bundle.module.url(forResource: "ketama-vectors-all-hashes", withExtension: "json", subdirectory: "Fixtures")
        else {
            throw LoadError(description: "Fixtures/ketama-vectors-all-hashes.json is missing from the test bundle")
        }
        return try JSONDecoder().decode(AllHashVectors.self, from: Data(contentsOf: url))
    }

    static var configIDs: [String] {
        (try? Self.loaded.get().configs.map(\.id)) ?? ["<fixture failed to load>"]
    }

    static func config(_ id: String) throws -> Config {
        let vectors = try Self.loaded.get()
        guard let config = vectors.configs.first(where: { $0.id == id }) else {
            throw LoadError(description: "no config \(id) in the fixture")
        }
        return config
    }
}

/// One `servers:` entry of twemproxy (`host:port:weight [name]`).
private struct ServerEntry {
    var host: String
    var port: Int
    var weight: UInt32
    var name: String?

    init(_ entry: String) throws {
        var address = Substring(entry)
        if let space = entry.lastIndex(of: " ") {
            self.name = String(entry[entry.index(after: space)...])
            address = entry[..<space]
        }
        let parts = address.split(separator: ":")
        guard parts.count == 3, let port = Int(parts[1]), let weight = UInt32(parts[2]) else {
            throw AllHashVectors.LoadError(description: "bad server entry \(entry)")
        }
        self.host = String(parts[0])
        self.port = port
        self.weight = weight
    }
}

@Suite struct HashFunctionVectorTests {
    @Test func fixtureCoversEveryTwemproxyHash() throws {
        let vectors = try AllHashVectors.loaded.get()
        let hashes = Set(vectors.configs.map(\.hash))
        #expect(hashes == Set(CacheHashFunction.allCases.map(\.rawValue)))
        #expect(CacheHashFunction.allCases.count == 12)
        #expect(vectors.configs.allSatisfy { $0.vectors.count == 200 })
    }

    @Test func everyHashIsAcceptedByItsTwemproxyName() throws {
        let names = [
            "one_at_a_time", "md5", "crc16", "crc32", "crc32a", "fnv1_64", "fnv1a_64", "fnv1_32", "fnv1a_32", "hsieh",
            "murmur", "jenkins",
        ]
        #expect(CacheHashFunction.allCases.map(\.rawValue) == names)
        for name in names {
            let configuration = try CacheConfiguration(url: CacheURL("redis://h1:7001,h2:7002?hash=\(name)"))
            #expect(configuration.ring.hash.rawValue == name)
            #expect(try configuration.makeRing().hashFunction.rawValue == name)
        }
    }

    @Test func anUnknownHashIsAnErrorListingTheValidOnes() throws {
        let error = #expect(throws: CacheError.self) {
            try CacheConfiguration(url: CacheURL("redis://h1:7001,h2:7002?hash=sha1"))
        }
        #expect(error?.code == .invalidURL)
        let message = error?.message ?? ""
        #expect(message.contains("\"sha1\""))
        for hash in CacheHashFunction.allCases {
            #expect(message.contains(hash.rawValue), "\(message) lacks \(hash.rawValue)")
        }
    }

    /// The configuration of a fixture config in each form: URL, config file, code.
    private static func configurations(_ config: AllHashVectors.Config) async throws -> [(String, CacheConfiguration)] {
        let servers = try config.servers.map { try ServerEntry($0.entry) }
        let hash = try #require(CacheHashFunction(rawValue: config.hash), "hash \(config.hash) is not accepted")

        var url = "redis://" + servers.map { "\($0.host):\($0.port)" }.joined(separator: ",")
        url += "?hash=\(config.hash)&weights=" + servers.map { "\($0.weight)" }.joined(separator: ",")
        if servers.allSatisfy({ $0.name != nil }) { url += "&names=" + servers.map { $0.name! }.joined(separator: ",") }
        if let tag = config.hashTag { url += "&hash_tag=\(tag)" }
        let fromURL = try CacheConfiguration(url: CacheURL(url))

        let nodes = servers.map { CacheNodeConfiguration(name: $0.name, host: $0.host, port: $0.port, weight: $0.weight) }
        let fromCode = CacheConfiguration(backend: .redis, nodes: nodes, ring: .init(hash: hash, hashTag: config.hashTag))

        #if ConfigFiles
            let file = FileManager.default.temporaryDirectory.path + "/caches-hash-\(UUID().uuidString).json"
            defer { try? FileManager.default.removeItem(atPath: file) }
            let nodeObjects = servers.map { server -> [String: Any] in
                var object: [String: Any] = ["host": server.host, "port": server.port, "weight": Int(server.weight)]
                if let name = server.name { object["name"] = name }
                return object
            }
            var ring: [String: Any] = ["hash": config.hash]
            if let tag = config.hashTag { ring["hashTag"] = tag }
            let json = try JSONSerialization.data(withJSONObject: ["nodes": nodeObjects, "ring": ring], options: [.sortedKeys])
            try json.write(to: URL(fileURLWithPath: file))
            let fromFile = try await CacheConfiguration.load(fromFile: file)

            return [("url", fromURL), ("code", fromCode), ("file", fromFile)]
        #else
            return [("url", fromURL), ("code", fromCode)]
        #endif
    }

    @Test(arguments: AllHashVectors.configIDs)
    func everyKeyLandsOnTheNodeNutcrackerChose(_ id: String) async throws {
        let config = try AllHashVectors.config(id)
        for (form, configuration) in try await Self.configurations(config) {
            #expect(configuration.ring.hash.rawValue == config.hash, "\(form)")
            let ring = try configuration.makeRing()
            #expect(ring.nodes.map(\.name) == config.servers.map(\.ketamaName), "\(form)")
            var mismatches: [String] = []
            for vector in config.vectors {
                let name = ring.nodes[ring.nodeIndex(forKey: vector.keyBytes)].name
                if name != vector.server { mismatches.append("\(vector.keyHex) → \(name), expected \(vector.server)") }
                if let key = vector.key, ring.node(forKey: key).name != vector.server {
                    mismatches.append("String \(vector.keyHex)")
                }
            }
            #expect(mismatches.isEmpty, "\(form): \(mismatches.count) of \(config.vectors.count) misplaced: \(mismatches.prefix(5))")

            // `Cache` routes a logical key by its stored key through this same ring.
            let cache = try Cache(configuration: configuration)
            for vector in config.vectors.prefix(50) {
                guard let key = vector.key else { continue }
                #expect(cache.nodeName(for: key) == ring.node(forKey: cache.makeKey(key)).name, "\(form) \(key)")
            }
        }
    }
}

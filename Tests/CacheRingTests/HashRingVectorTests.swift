import CacheRing
import Testing

/// Checks the ring against the placements a real nutcracker 0.5.0 made (4 configurations × 200 keys).
@Suite struct HashRingVectorTests {
    /// Parses a twemproxy `servers:` entry (`host:port:weight [name]`) into a node, parsing from the end.
    static func node(fromEntry entry: String) throws -> HashRing.Node {
        var address = Substring(entry)
        var name: Substring?
        if let space = entry.lastIndex(of: " ") {
            name = entry[entry.index(after: space)...]
            address = entry[..<space]
        }
        let weightColon = try #require(address.lastIndex(of: ":"))
        let weight = try #require(UInt32(address[address.index(after: weightColon)...]))
        let hostPort = address[..<weightColon]
        let portColon = try #require(hostPort.lastIndex(of: ":"))
        let port = try #require(Int(hostPort[hostPort.index(after: portColon)...]))
        let host = String(hostPort[..<portColon])
        if let name {
            return HashRing.Node(name: String(name), weight: weight)
        }
        return HashRing.Node(host: host, port: port, weight: weight)
    }

    static func ring(for config: KetamaVectors.Config) throws -> HashRing {
        let nodes = try config.servers.map { try Self.node(fromEntry: $0.entry) }
        let hash = try #require(HashRing.HashFunction(rawValue: config.hash), "unknown hash \(config.hash)")
        return try HashRing(nodes: nodes, hash: hash, hashTag: config.hashTag)
    }

    static var configIDs: [String] {
        (try? KetamaVectors.shared.get().configs.map(\.id)) ?? ["<fixture failed to load>"]
    }

    static func config(_ id: String) throws -> KetamaVectors.Config {
        let vectors = try KetamaVectors.shared.get()
        return try #require(vectors.configs.first { $0.id == id }, "no config \(id)")
    }

    @Test func fixtureHasFourConfigsOf200Keys() throws {
        let vectors = try KetamaVectors.shared.get()
        #expect(vectors.configs.count == 4)
        #expect(vectors.configs.allSatisfy { $0.vectors.count == 200 && $0.distribution == "ketama" })
    }

    @Test(arguments: Self.configIDs)
    func ketamaNamesMatch(_ id: String) throws {
        let config = try Self.config(id)
        let ring = try Self.ring(for: config)
        #expect(ring.nodes.map(\.name) == config.servers.map(\.ketamaName))
        #expect(ring.nodes.map(\.weight) == config.servers.map(\.weight))
    }

    @Test(arguments: Self.configIDs)
    func pointCountsMatch(_ id: String) throws {
        let config = try Self.config(id)
        let ring = try Self.ring(for: config)
        #expect(ring.pointCounts == config.servers.map(\.points))
        #expect(ring.points.count == config.continuumPointsTotal)
        #expect(ring.pointCounts.reduce(0, +) == config.continuumPointsTotal)
    }

    @Test(arguments: Self.configIDs)
    func continuumHeadAndTailMatch(_ id: String) throws {
        let config = try Self.config(id)
        let ring = try Self.ring(for: config)
        try #require(ring.points.count >= config.continuumHead.count + config.continuumTail.count)
        let head = ring.points.prefix(config.continuumHead.count)
        let tail = ring.points.suffix(config.continuumTail.count)
        #expect(head.map(\.value) == config.continuumHead.map(\.value))
        #expect(head.map { ring.nodes[$0.nodeIndex].name } == config.continuumHead.map(\.server))
        #expect(tail.map(\.value) == config.continuumTail.map(\.value))
        #expect(tail.map { ring.nodes[$0.nodeIndex].name } == config.continuumTail.map(\.server))
        #expect(zip(ring.points, ring.points.dropFirst()).allSatisfy { $0.value <= $1.value })
    }

    @Test(arguments: Self.configIDs)
    func everyKeyLandsOnTheRecordedServer(_ id: String) throws {
        let config = try Self.config(id)
        let ring = try Self.ring(for: config)
        var mismatches: [String] = []
        for vector in config.vectors {
            let bytes = try vector.keyBytes
            let index = ring.nodeIndex(forKey: bytes)
            if index != vector.serverIndex || ring.nodes[index].name != vector.server {
                mismatches.append("\(vector.keyHex) → \(ring.nodes[index].name), expected \(vector.server)")
            }
            let rawIndex = bytes.withUnsafeBytes { ring.nodeIndex(forKey: $0) }
            #expect(rawIndex == vector.serverIndex, "raw-bytes lookup of \(vector.keyHex)")
            if let key = vector.key {
                #expect(ring.nodeIndex(forKey: key) == vector.serverIndex, "String lookup of \(vector.keyHex)")
                #expect(ring.node(forKey: key).name == vector.server)
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.count) of \(config.vectors.count) keys misplaced: \(mismatches.prefix(5))")
    }

    @Test(arguments: Self.configIDs)
    func hashedPartsAndHashesMatch(_ id: String) throws {
        let config = try Self.config(id)
        let ring = try Self.ring(for: config)
        for vector in config.vectors {
            #expect(try ring.hashedBytes(forKey: vector.keyBytes) == vector.hashedPart, "hashed part of \(vector.keyHex)")
            #expect(try ring.hash(forKey: vector.keyBytes) == vector.hash, "hash of \(vector.keyHex)")
            if let key = vector.key {
                #expect(ring.hash(forKey: key) == vector.hash, "String hash of \(vector.keyHex)")
            }
        }
    }

    @Test(arguments: Self.configIDs)
    func callerOrderDoesNotChangePlacement(_ id: String) throws {
        let config = try Self.config(id)
        let nodes = try config.servers.map { try Self.node(fromEntry: $0.entry) }
        let hash = try #require(HashRing.HashFunction(rawValue: config.hash))
        let reversed = try HashRing(nodes: nodes.reversed(), hash: hash, hashTag: config.hashTag)
        #expect(reversed.pointCounts == config.servers.map(\.points).reversed())
        for vector in config.vectors {
            let index = try reversed.nodeIndex(forKey: vector.keyBytes)
            #expect(reversed.nodes[index].name == vector.server, "key \(vector.keyHex)")
            #expect(index == config.servers.count - 1 - vector.serverIndex)
        }
    }
}

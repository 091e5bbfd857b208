import CacheRing
import Caches
import RedisTestSupport
import Testing

/// Issue 4's proofs on real nodes: every key lands where the ketama ring says, many-key calls cost one request
/// per node, and their replies merge back in the caller's terms. Each node is read directly with `redis-cli`,
/// never through the cache under test.
@Suite("Ring integration")
struct RingIntegrationTests {
    // MARK: Placement

    /// One ring configuration of the placement test.
    struct Placement: Sendable, CustomStringConvertible {
        var named: Bool
        var hash: CacheHashFunction
        var hashTag: String?

        /// The hashes checked against real nodes: the default, the other common one, and one of the 32-bit family.
        /// Every hash's placement is checked against nutcracker's own in `HashFunctionVectorTests`; `crc32` keeps
        /// only 15 bits and puts nearly every key on one node, so it cannot spread keys over three.
        static let hashes: [CacheHashFunction] = [.fnv1a_64, .md5, .murmur]

        static let all: [Placement] = [true, false].flatMap { named in
            Self.hashes.flatMap { hash in
                [nil, "{}"].map { Placement(named: named, hash: hash, hashTag: $0) }
            }
        }

        var description: String { "\(self.named ? "named" : "host:port") \(self.hash) tag \(self.hashTag ?? "none")" }
    }

    /// 700 sequential keys, 700 scattered ones and 60 groups of 10 keys that share a `{tag}`.
    static let placementKeys: [String] =
        (0..<700).map { "item-\($0)" } + (0..<700).map { Self.scatteredKey($0, "item") }
        + (0..<60).flatMap { group in (0..<10).map { "user:{\(Self.tag(group))}:\(Self.scatteredKey($0, "field"))" } }

    static func tag(_ group: Int) -> String { Self.scatteredKey(group, "group") }

    /// A key whose first bytes vary: twemproxy's `fnv1a_64` multiplies by a 32-bit prime of 435, so keys that
    /// differ only in their last bytes (`k1`, `k2`, …) hash close together and mostly land on one node.
    static func scatteredKey(_ index: Int, _ label: String) -> String {
        String(UInt32(truncatingIfNeeded: index &* 2_654_435_761), radix: 16) + "-" + label
    }

    @Test(arguments: Placement.all)
    func everyKeyLandsOnTheNodeTheRingNames(placement: Placement) async throws {
        let servers = try await TestNodes.shared.plainNodes()
        let database = await TestNodes.shared.database()
        let names = ["node-a", "node-b", "node-c"]
        let weights: [UInt32] = [1, 2, 1]
        var configuration = CacheConfiguration(
            backend: .redis,
            nodes: servers.indices.map { index in
                CacheNodeConfiguration(
                    name: placement.named ? names[index] : nil,
                    host: servers[index].host,
                    port: servers[index].port,
                    weight: weights[index],
                    database: database
                )
            },
            defaultVersion: 3,
            keyPrefix: "place"
        )
        configuration.ring = .init(hash: placement.hash, hashTag: placement.hashTag)
        let cache = try Cache(configuration: configuration)

        // The ring computed here from first principles: twemproxy's names (`host:port` without a name).
        let ring = try HashRing(
            nodes: servers.indices.map { index in
                placement.named
                    ? HashRing.Node(name: names[index], weight: weights[index])
                    : HashRing.Node(host: servers[index].host, port: servers[index].port, weight: weights[index])
            },
            hash: try #require(HashRing.HashFunction(rawValue: placement.hash.rawValue)),
            hashTag: placement.hashTag
        )
        let expectedNames = placement.named ? names : servers.map { "127.0.0.1:\($0.port)" }
        #expect(ring.nodes.map(\.name) == expectedNames)

        let keys = Self.placementKeys
        var expectedOwner: [String: Int] = [:]
        for key in keys {
            let stored = "place:3:" + key
            let owner = ring.nodeIndex(forKey: stored)
            expectedOwner[stored] = owner
            // The public answer, before connect: no I/O needed.
            #expect(cache.nodeName(for: key) == expectedNames[owner], "\(key)")
        }

        try await cache.connect()
        do {
            // Some single writes, the rest in many-key writes.
            for key in keys.prefix(100) {
                try await cache.set(key, key)
            }
            for chunk in stride(from: 100, to: keys.count, by: 500) {
                let pairs = keys[chunk..<min(chunk + 500, keys.count)].map { ($0, $0) }
                try await cache.setMany(pairs)
            }
            for key in keys {
                #expect(cache.nodeName(for: key) == expectedNames[expectedOwner["place:3:" + key]!])
            }

            var seen = Set<String>()
            for (index, server) in servers.enumerated() {
                let stored = try await RingNodeProbe(server: server, database: database).keys()
                let predicted = Set(expectedOwner.filter { $0.value == index }.keys)
                #expect(stored == predicted, "node \(expectedNames[index]) holds other keys than the ring predicts")
                #expect(try await RingNodeProbe(server: server, database: database).dbSize() == predicted.count)
                #expect(seen.isDisjoint(with: stored), "a key is stored on two nodes")
                seen.formUnion(stored)
            }
            #expect(seen.count == keys.count)

            // Keys that share a {tag} share a node when the ring has a tag; without one the whole key is hashed,
            // so the groups spread.
            let groupNodes = (0..<60).map { group in
                Set((0..<10).map { expectedOwner["place:3:user:{\(Self.tag(group))}:\(Self.scatteredKey($0, "field"))"]! })
            }
            if placement.hashTag == "{}" {
                #expect(groupNodes.allSatisfy { $0.count == 1 })
                #expect(Set(groupNodes.map { $0.first! }).count == 3, "the groups should still use every node")
            } else {
                #expect(groupNodes.contains { $0.count > 1 })
            }
            // Every node owns part of the keys.
            #expect(Set(expectedOwner.values) == [0, 1, 2])
        } catch {
            try? await cache.clear()
            try? await cache.disconnect()
            throw error
        }
        try await cache.clear()
        try await cache.disconnect()
    }

    // MARK: One request per node

    @Test func manyKeyCallsSendOneRequestPerNode() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let url = Self.url(servers, database: 0) + "&key_prefix=stats&version=1"
            let cache = try Cache(url: url)
            try await cache.connect()
            do {
                try await Self.countRequests(cache, servers: servers)
            } catch {
                try? await cache.disconnect()
                throw error
            }
            try await cache.disconnect()
        }
    }

    /// The body of ``manyKeyCallsSendOneRequestPerNode()``.
    static func countRequests(_ cache: Cache, servers: [RedisServer]) async throws {
        let probes = servers.map { RingNodeProbe(server: $0, database: 0) }
        let names = ["node-a", "node-b", "node-c"]
        let keys = (0..<1000).map { Self.scatteredKey($0, "key") }
        let written = Array(keys.prefix(900))
        func owner(_ key: String) -> Int { names.firstIndex(of: cache.nodeName(for: key)!)! }
        let perNode = (0..<3).map { node in keys.filter { owner($0) == node } }
        let writtenPerNode = (0..<3).map { node in written.filter { owner($0) == node }.count }
        #expect(perNode.allSatisfy { !$0.isEmpty })
        #expect(writtenPerNode.allSatisfy { $0 > 0 })

        // setMany without a ttl: one MSET per node.
        try await Self.resetStats(probes)
        try await cache.setMany(written.map { ($0, "value of \($0)") })
        for (node, probe) in probes.enumerated() {
            #expect(try await probe.dataCommandCalls() == ["mset": 1], "\(names[node])")
            #expect(try await probe.dbSize() == writtenPerNode[node])
        }

        // getMany: one MGET per node, carrying exactly that node's keys (hits + misses).
        try await Self.resetStats(probes)
        let values = try await cache.getMany(keys, as: String.self)
        #expect(values.count == keys.count)
        #expect(keys.allSatisfy { key in values[key] == .some(written.contains(key) ? "value of \(key)" : nil) })
        var hits = 0
        var misses = 0
        for (node, probe) in probes.enumerated() {
            #expect(try await probe.dataCommandCalls() == ["mget": 1], "\(names[node])")
            let counters = try await probe.keyspaceCounters()
            #expect(counters.hits == writtenPerNode[node], "\(names[node])")
            #expect(counters.hits + counters.misses == perNode[node].count, "\(names[node])")
            hits += counters.hits
            misses += counters.misses
        }
        #expect(hits == 900)
        #expect(misses == 100)

        // setMany with a ttl: one MULTI/MSET/EXEC per node and one EXPIRE per key.
        try await Self.resetStats(probes)
        try await cache.setMany(keys.map { ($0, 1) }, ttl: 300)
        for (node, probe) in probes.enumerated() {
            let expected = ["multi": 1, "mset": 1, "expire": perNode[node].count, "exec": 1]
            #expect(try await probe.dataCommandCalls() == expected, "\(names[node])")
            #expect(try await probe.dbSize() == perNode[node].count)
            let ttl = try await probe.cli("TTL", "stats:1:" + perNode[node][0])
            #expect((1...300).contains(Int(ttl) ?? 0), "TTL replied \(ttl)")
        }

        // deleteMany: one UNLINK per node, and every key is gone.
        try await Self.resetStats(probes)
        try await cache.deleteMany(keys)
        for (node, probe) in probes.enumerated() {
            #expect(try await probe.dataCommandCalls() == ["unlink": 1], "\(names[node])")
            #expect(try await probe.dbSize() == 0)
        }

        // clear: FLUSHDB on every node.
        try await cache.setMany(keys.map { ($0, true) })
        try await Self.resetStats(probes)
        try await cache.clear()
        for (node, probe) in probes.enumerated() {
            #expect(try await probe.dataCommandCalls() == ["flushdb": 1], "\(names[node])")
            #expect(try await probe.dbSize() == 0)
        }
    }

    // MARK: Merging

    @Test func manyKeyResultsMergeInTheCallersTerms() async throws {
        try await withCache(.ring, keyPrefix: "merge") { cache async throws in
            // Keys taken round-robin from the three nodes, so neighbours in the request live on different nodes.
            var byNode: [String: [String]] = [:]
            for index in 0..<600 {
                let key = Self.scatteredKey(index, "merge")
                byNode[cache.nodeName(for: key)!, default: []].append(key)
            }
            #expect(byNode.keys.sorted() == ["node-a", "node-b", "node-c"])
            let perNode = byNode.values.map { Array($0.prefix(60)) }
            let keys = (0..<60).flatMap { index in perNode.map { $0[index] } }

            // Every other key is written; a later pair for the same key wins.
            let written = keys.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
            var pairs = written.map { ($0, "stale") }
            pairs += written.enumerated().map { ($0.element, "value-\($0.offset)-\($0.element)") }
            try await cache.setMany(pairs)

            // Missing keys, duplicates and the reverse order of the writes.
            let request = (keys + ["absent-1"] + written.prefix(20) + ["absent-2", "absent-1"]).reversed()
            let values = try await cache.getMany(Array(request), as: String.self)
            #expect(values.count == keys.count + 2)
            for (offset, key) in written.enumerated() {
                #expect(values[key] == .some("value-\(offset)-\(key)"))
            }
            for key in keys where !written.contains(key) {
                #expect(values[key] == .some(nil), "\(key) was never written")
            }
            #expect(values["absent-1"] == .some(nil))
            #expect(values["absent-2"] == .some(nil))

            let partial = try await cache.getManyPartial(Array(request), as: String.self)
            #expect(partial.failures.isEmpty)
            #expect(partial.error == nil)
            #expect(partial.values.count == values.count)
            #expect(partial.values.keys.allSatisfy { partial.values[$0]! == values[$0]! })

            // Values of several types merge as well: each key gets its own number back.
            try await cache.setMany(keys.enumerated().map { ($0.element, $0.offset) }, version: 9)
            let numbers = try await cache.getMany(keys, as: Int.self, version: 9)
            #expect(keys.enumerated().allSatisfy { numbers[$0.element] == .some($0.offset) })

            // deleteMany with duplicates removes exactly the keys named, on every node.
            try await cache.deleteMany(written + written.prefix(5))
            let afterDelete = try await cache.getMany(keys, as: String.self)
            #expect(keys.allSatisfy { afterDelete[$0] == .some(nil) })
            let untouched = try await cache.getMany(keys, as: Int.self, version: 9)
            #expect(keys.enumerated().allSatisfy { untouched[$0.element] == .some($0.offset) })
        }
    }

    // MARK: nodeName(for:version:)

    @Test func nodeNameFollowsPrefixAndVersion() async throws {
        let names = ["node-a", "node-b", "node-c"]
        let ring = try HashRing(nodes: zip(names, [1, 2, 1] as [UInt32]).map { HashRing.Node(name: $0, weight: $1) })
        // Nothing listens on these ports: nodeName does no I/O.
        let base = "redis://127.0.0.1:1,127.0.0.1:2,127.0.0.1:3/0?weights=1,2,1&names=node-a,node-b,node-c"
        let cases: [(query: String, stored: (String, CacheVersion?) -> String)] = [
            ("", { key, version in ":\(version?.isSet == true ? version!.text : ""):\(key)" }),
            ("&key_prefix=app", { key, version in "app:\(version?.isSet == true ? version!.text : ""):\(key)" }),
            ("&version=2", { key, version in ":\(version?.isSet == true ? version!.text : "2"):\(key)" }),
            ("&key_prefix=app&version=v7", { key, version in "app:\(version?.isSet == true ? version!.text : "v7"):\(key)" }),
        ]
        let versions: [CacheVersion?] = [nil, 0, "", "0", 1, 2, "v7", 42]
        let keys = (0..<60).map { "user:\($0)" }
        var movedByVersion = false
        for (query, stored) in cases {
            let cache = try Cache(url: base + query)
            for key in keys {
                for version in versions {
                    let expected = ring.node(forKey: stored(key, version)).name
                    #expect(cache.nodeName(for: key, version: version) == expected, "\(query) \(key) \(String(describing: version))")
                    #expect(stored(key, version) == cache.makeKey(key, version: version))
                }
                if cache.nodeName(for: key, version: 1) != cache.nodeName(for: key, version: 42) { movedByVersion = true }
            }
        }
        let plain = try Cache(url: base)
        let prefixed = try Cache(url: base + "&key_prefix=app")
        let movedByPrefix = keys.contains { plain.nodeName(for: $0) != prefixed.nodeName(for: $0) }
        // The version and the prefix are part of the hashed key: some keys move with them.
        #expect(movedByVersion)
        #expect(movedByPrefix)

        // Connected, the answer is the same and matches where the key is really stored (shared suite nodes).
        try await withCache(.ring, version: 5, keyPrefix: "names") { cache async throws in
            let servers = try await TestNodes.shared.plainNodes()
            for key in ["a", "b", "c", "user:1", "user:2"] {
                for version in [nil, 6] as [CacheVersion?] {
                    try await cache.set(key, key, version: version)
                    let name = try #require(cache.nodeName(for: key, version: version))
                    let index = try #require(["node-a", "node-b", "node-c"].firstIndex(of: name))
                    let storedKey = cache.makeKey(key, version: version)
                    #expect(storedKey == "names:\(version?.text ?? "5"):\(key)")
                    #expect(name == ring.node(forKey: storedKey).name)
                    let database = try Self.databaseOf(cache)
                    for (other, server) in servers.enumerated() {
                        let exists = try await RingNodeProbe(server: server, database: database).cli("EXISTS", storedKey)
                        #expect(exists == (other == index ? "1" : "0"), "\(storedKey) on node \(other)")
                    }
                }
            }
        }

        // Embedded backends have no nodes.
        #expect(try Cache(url: "memory://names").nodeName(for: "k") == nil)
        #expect(try Cache(url: "dummy://").nodeName(for: "k", version: 3) == nil)
    }

    // MARK: Helpers

    /// A ring URL over three servers, weights 1, 2, 1, names node-a, node-b, node-c.
    static func url(_ servers: [RedisServer], database: Int, query: String = "") -> String {
        RedisServer.cacheURL(servers, database: database, options: ["weights=1,2,1", "names=node-a,node-b,node-c"]) + query
    }

    static func resetStats(_ probes: [RingNodeProbe]) async throws {
        for probe in probes {
            #expect(try await probe.cli("CONFIG", "RESETSTAT") == "OK")
        }
    }

    /// The database of a connected Redis cache (every node uses the same one).
    static func databaseOf(_ cache: Cache) throws -> Int {
        try #require(cache.configuration.nodes.first?.database)
    }
}

/// One node's database, read directly with `redis-cli` (never through the cache under test).
struct RingNodeProbe: Sendable {
    let server: RedisServer
    let database: Int

    /// Commands a probe or an idle pool sends by itself; everything else counts as the cache's data commands.
    static let noise: Set<String> = [
        "info", "config|resetstat", "ping", "select", "hello", "auth", "client|setname", "command", "command|docs",
    ]

    func cli(_ arguments: String...) async throws -> String {
        try await self.server.cli(arguments: ["-n", String(self.database)] + arguments)
    }

    /// Every key in the database (`KEYS *`; the databases of these tests are small).
    func keys() async throws -> Set<String> {
        let output = try await self.cli("KEYS", "*")
        return Set(output.split(whereSeparator: \.isNewline).map(String.init))
    }

    func dbSize() async throws -> Int {
        let output = try await self.cli("DBSIZE")
        return try #require(Int(output), "DBSIZE replied \(output)")
    }

    /// `INFO commandstats` as command → calls, without the probe's own commands and the pool's keepalive.
    func dataCommandCalls() async throws -> [String: Int] {
        try await self.server.commandCalls().filter { !Self.noise.contains($0.key) }
    }

    /// `keyspace_hits` and `keyspace_misses` of `INFO stats` since the last `CONFIG RESETSTAT`.
    func keyspaceCounters() async throws -> (hits: Int, misses: Int) {
        var hits: Int?
        var misses: Int?
        for line in try await self.infoLines("stats") {
            if line.hasPrefix("keyspace_hits:") { hits = Int(line.dropFirst("keyspace_hits:".count)) }
            if line.hasPrefix("keyspace_misses:") { misses = Int(line.dropFirst("keyspace_misses:".count)) }
        }
        return (try #require(hits), try #require(misses))
    }

    private func infoLines(_ section: String) async throws -> [String] {
        let output = try await self.server.cli(arguments: ["INFO", section])
        return output.split(whereSeparator: \.isNewline).map(String.init)
    }
}

import CacheRing
import Logging
import NIOConcurrencyHelpers
import NIOCore
import RESP
import RedisTestSupport
import Testing

@testable import Caches

/// The cluster router's foundations against real cluster-enabled servers: the key → slot function and the slot map
/// read from `CLUSTER SHARDS` and `CLUSTER SLOTS` of a 6-node cluster (3 primaries, 3 replicas) the test creates.
@Suite("Redis Cluster: slots and topology", .serialized)
struct ClusterTests {
    /// `CLUSTER KEYSLOT key`, as the server computes it.
    struct KeySlotCommand: CacheCommand {
        let storedKey: String
        var name: CacheCommandName { .cluster }

        func encode(into encoder: inout RESPCommandEncoder) {
            encoder.writeCommand("CLUSTER", "KEYSLOT", self.storedKey)
        }

        func decode(_ reply: RESPReply) throws(CacheError) -> Int {
            guard let slot = reply.integer else { throw self.unexpected(reply, expected: "a slot") }
            return Int(slot)
        }
    }

    /// Runs `body` with a backend whose nodes are `servers`, in order (for sending commands to one node directly),
    /// and disconnects it afterwards.
    static func withBackend<T>(_ servers: [RedisServer], _ body: (RedisBackend) async throws -> T) async throws -> T {
        let nodes = servers.map { CacheNodeConfiguration(name: $0.address, host: $0.host, port: $0.port) }
        let backend = try RedisBackend(configuration: CacheConfiguration(backend: .redis, nodes: nodes), logger: Logger(label: "test"))
        try await backend.connect()
        do {
            let result = try await body(backend)
            await backend.disconnect()
            return result
        } catch {
            await backend.disconnect()
            throw error
        }
    }

    /// Random keys of the shapes that matter to the slot rule: stored keys with and without tags, empty tags, nested
    /// and unclosed braces, unicode, long keys.
    static func randomKeys(_ count: Int) -> [String] {
        var random = SplitMix64(seed: 0x5107)
        let pieces = ["{", "}", "{}", "user", ":", "€", "ключ", "🦊", "a", "Z", "9", " ", "{tag}", "}{", "\u{0}"]
        return (0..<count).map { index in
            let length = index % 100 == 0 ? 200 + Int(random.next() % 400) : Int(random.next() % 12)
            var key = index % 3 == 0 ? "forum:\(random.next() % 5):" : ""
            for _ in 0..<length { key += pieces[Int(random.next() % UInt64(pieces.count))] }
            return key
        }
    }

    @Test("ClusterSlot equals CLUSTER KEYSLOT for 100,000 random keys", .timeLimit(.minutes(3)))
    func slotsMatchTheServer() async throws {
        // A cluster-enabled server answers CLUSTER KEYSLOT before it joins a cluster.
        let clusterEnabled = ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        try await RedisServer.withServer(extraArguments: clusterEnabled, allowExternal: false) { server in
            try await Self.withBackend([server]) { backend in
                let keys = Self.randomKeys(100_000)
                #expect(Set(keys).count > 50_000)
                // 50 callers share the node's connection, so the requests are pipelined.
                let mismatches = try await withThrowingTaskGroup(of: [String].self) { group in
                    for caller in 0..<50 {
                        group.addTask {
                            var wrong: [String] = []
                            for index in stride(from: caller, to: keys.count, by: 50) {
                                let key = keys[index]
                                let server = try await backend.nodes[0].execute(KeySlotCommand(storedKey: key))
                                if server != ClusterSlot.slot(forKey: key) { wrong.append(key) }
                            }
                            return wrong
                        }
                    }
                    return try await group.reduce(into: []) { $0 += $1 }
                }
                #expect(mismatches.isEmpty, "first mismatches: \(mismatches.prefix(5).map { $0.debugDescription })")
            }
        }
    }

    @Test("CLUSTER SHARDS and CLUSTER SLOTS of a 3 + 3 cluster give one map that routes every key to its owner", .timeLimit(.minutes(3)))
    func topologyOfARealCluster() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 1) { cluster in
            let (shards, slots) = try await Self.withBackend([cluster.nodes[0]]) { probe in
                // Replicas report "loading" until their first sync is done: wait for all of them to be online.
                var shards = try ClusterTopology.parse(
                    shards: try await probe.nodes[0].execute(ClusterMapCommand(.shards)),
                    tls: false,
                    askedHost: "127.0.0.1"
                )
                try await waitUntil(timeout: .seconds(30), "every replica to be online") {
                    shards = try ClusterTopology.parse(
                        shards: try await probe.nodes[0].execute(ClusterMapCommand(.shards)),
                        tls: false,
                        askedHost: "127.0.0.1"
                    )
                    return shards.shards.allSatisfy { $0.replicas.count == 1 }
                }
                return (shards, try ClusterTopology.parse(slots: try await probe.nodes[0].execute(ClusterMapCommand(.slots)), askedHost: "127.0.0.1"))
            }
            #expect(shards.shards.count == 3)
            #expect(shards.uncoveredSlots == 0)
            #expect(slots == shards, "both commands describe the same map")
            let ports = Set(cluster.nodes.map(\.port))
            let primaries = shards.shards.compactMap(\.primary)
            let replicas = shards.shards.flatMap(\.replicas)
            #expect(Set(primaries.map(\.port)).union(replicas.map(\.port)) == ports, "every node appears once")
            #expect(primaries.allSatisfy { $0.host == "127.0.0.1" && $0.id?.count == 40 })

            // Each key written to the primary the map names is accepted; written to another primary, it is MOVED.
            let servers = primaries.map { primary in cluster.nodes.first { $0.port == primary.port }! }
            try await Self.withBackend(servers) { writer in
                for key in Self.randomKeys(1_000) {
                    let owner = try #require(shards.shardIndex(forSlot: ClusterSlot.slot(forKey: key)))
                    try await writer.nodes[owner].execute(SetCommand(storedKey: key, value: ByteBuffer(string: "v"), ttl: nil))
                }
                let key = "forum:1:{user:42}"
                let owner = try #require(shards.shardIndex(forSlot: ClusterSlot.slot(forKey: key)))
                let moved = await #expect(throws: CacheError.self) {
                    try await writer.nodes[(owner + 1) % 3].execute(SetCommand(storedKey: key, value: ByteBuffer(string: "v"), ttl: nil))
                }
                #expect(moved?.message.contains("MOVED \(ClusterSlot.slot(forKey: key))") == true, "\(moved.map { "\($0)" } ?? "")")
                let owning = try #require(shards.shards[owner].primary)
                #expect(
                    moved.flatMap(ClusterRedirection.init)
                        == .moved(slot: ClusterSlot.slot(forKey: key), to: .init(host: owning.host, port: owning.port))
                )
            }
        }
    }

    @Test("a slot being migrated: the source answers ASK for a key it lacks, and ASKING + the command reach the target", .timeLimit(.minutes(3)))
    func askDuringMigration() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 0) { cluster in
            let topology = try await Self.withBackend([cluster.nodes[0]]) { probe in
                try ClusterTopology.parse(shards: try await probe.nodes[0].execute(ClusterMapCommand(.shards)), tls: false, askedHost: "127.0.0.1")
            }
            let key = "forum:1:{migrating}"
            let slot = ClusterSlot.slot(forKey: key)
            let sourceIndex = try #require(topology.shardIndex(forSlot: slot))
            let source = try #require(topology.shards[sourceIndex].primary)
            let target = try #require(topology.shards[(sourceIndex + 1) % 3].primary)
            func server(_ endpoint: ClusterTopology.Endpoint) -> RedisServer { cluster.nodes.first { $0.port == endpoint.port }! }
            _ = try await server(target).cli("CLUSTER", "SETSLOT", String(slot), "IMPORTING", try #require(source.id))
            _ = try await server(source).cli("CLUSTER", "SETSLOT", String(slot), "MIGRATING", try #require(target.id))

            try await Self.withBackend([server(source), server(target)]) { backend in
                let (sourceNode, targetNode) = (backend.nodes[0], backend.nodes[1])
                let value = ByteBuffer(string: "\"v\"")
                let asked = await #expect(throws: CacheError.self) { try await sourceNode.execute(GetCommand(storedKey: key)) }
                #expect(asked.flatMap(ClusterRedirection.init) == .ask(slot: slot, to: .init(host: target.host, port: target.port)))
                // Without ASKING the target still sends the key back to the slot's owner.
                let moved = await #expect(throws: CacheError.self) {
                    try await targetNode.execute(SetCommand(storedKey: key, value: value, ttl: nil))
                }
                #expect(moved.flatMap(ClusterRedirection.init) == .moved(slot: slot, to: .init(host: source.host, port: source.port)))
                try await targetNode.execute(AskingCommand(inner: SetCommand(storedKey: key, value: value, ttl: nil)))
                #expect(try await targetNode.execute(AskingCommand(inner: GetCommand(storedKey: key))) == value)
            }
        }
    }
}

/// The whole cache on a cluster of its own (the shared suite also runs on one: `BackendKind.cluster`): many-key calls
/// over every primary, scoped clear, and a map that goes stale while the cache runs.
@Suite("Redis Cluster through Cache", .serialized)
struct ClusterCacheTests {
    static func url(_ cluster: RedisCluster) -> String {
        "redis-cluster://" + cluster.nodes.map(\.address).joined(separator: ",")
    }

    /// The slot map as the cluster itself tells it now.
    static func topology(_ cluster: RedisCluster) async throws -> ClusterTopology {
        try await ClusterTests.withBackend([cluster.nodes[0]]) { probe in
            try ClusterTopology.parse(shards: try await probe.nodes[0].execute(ClusterMapCommand(.shards)), tls: false, askedHost: "127.0.0.1")
        }
    }

    static func server(_ cluster: RedisCluster, _ endpoint: ClusterTopology.Endpoint) -> RedisServer {
        cluster.nodes.first { $0.port == endpoint.port }!
    }

    @Test("many-key calls span every primary and every slot; nodeName names the owner; clear(scope:) unlinks per slot")
    func manyKeys() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 0) { cluster in
            let cache = try Cache(url: Self.url(cluster), keyPrefix: "app")
            try await cache.withConnection { cache in
                let topology = try await Self.topology(cluster)
                let keys = (0..<2_000).map { "k\($0)" } + (0..<50).map { "{same}\($0)" }
                let owners = Set(keys.map { cache.nodeName(for: $0) })
                #expect(owners.count == 3, "the keys reach every primary")
                for key in keys.prefix(20) {
                    let owner = try #require(topology.shard(forSlot: ClusterSlot.slot(forKey: cache.makeKey(key)))?.primary)
                    #expect(cache.nodeName(for: key) == owner.description)
                }
                try await cache.setMany(keys.map { ($0, "value of \($0)") }, ttl: 300)
                let read = try await cache.getMany(keys + ["missing"], as: String.self)
                #expect(read.count == keys.count + 1)
                #expect(keys.allSatisfy { read[$0] == "value of \($0)" })
                #expect(read["missing"] == .some(nil))
                #expect(try await cache.remainingTTL("k7") > 200, "setMany's ttl reached the keys")

                try await cache.deleteMany(Array(keys.prefix(1_000)))
                #expect(try await cache.getMany(Array(keys.prefix(1_000)), as: String.self).values.allSatisfy { $0 == nil })
                // Another prefix's keys stay; every key of this prefix goes, whatever its slot.
                let other = try Cache(url: Self.url(cluster), keyPrefix: "other")
                try await other.connect()
                try await other.set("kept", 1)
                #expect(try await cache.clear(scope: .keyPrefix) == keys.count - 1_000)
                #expect(try await other.get("kept", as: Int.self) == 1)
                try await other.disconnect()
                #expect(try await cache.incr("counter") == 1)
                #expect(try await cache.clear(scope: .database) >= 2, "the counter and the other prefix's key")
            }
        }
    }

    @Test(
        "a slot that moves while the cache runs: ASK during the migration, MOVED after it (getMany's GETs fall back to both), and the map follows",
        .timeLimit(.minutes(3))
    )
    func slotMigration() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 0) { cluster in
            let cache = try Cache(url: Self.url(cluster))
            try await cache.withConnection { cache in
                let topology = try await Self.topology(cluster)
                let stored = cache.makeKey("{moving}a")
                let slot = ClusterSlot.slot(forKey: stored)
                let sourceIndex = try #require(topology.shardIndex(forSlot: slot))
                let source = try #require(topology.shards[sourceIndex].primary)
                let target = try #require(topology.shards[(sourceIndex + 1) % 3].primary)
                #expect(cache.nodeName(for: "{moving}a") == source.description)
                try await cache.set("{moving}a", "old")
                // Keys of other slots of the source: with them, a getMany sends the source one GET per key, in one flush.
                let neighbours = (0..<2_000).lazy.map { "n\($0)" }.filter {
                    topology.shardIndex(forSlot: ClusterSlot.slot(forKey: cache.makeKey($0))) == sourceIndex
                }.prefix(20)
                try await cache.setMany(neighbours.map { ($0, "neighbour \($0)") })
                let neighbourValues = Dictionary(uniqueKeysWithValues: neighbours.map { ($0, Optional("neighbour \($0)")) })

                // The migration starts: the slot is MIGRATING on the source, IMPORTING on the target.
                _ = try await Self.server(cluster, target).cli("CLUSTER", "SETSLOT", String(slot), "IMPORTING", try #require(source.id))
                _ = try await Self.server(cluster, source).cli("CLUSTER", "SETSLOT", String(slot), "MIGRATING", try #require(target.id))
                // A key the source does not hold is answered with ASK: the cache writes it on the target and reads
                // it back from there, while its map still names the source.
                try await cache.set("{moving}b", "new on the target")
                #expect(try await cache.get("{moving}b", as: String.self) == "new on the target")
                #expect(try await cache.get("{moving}a", as: String.self) == "old", "a key still on the source is read there")
                #expect(cache.nodeName(for: "{moving}a") == source.description)
                // The source's GET of the key it no longer holds is answered with ASK; its keys go by MGET per slot,
                // which follows ASK.
                try await Self.resetStats(cluster)
                var many = try await cache.getMany(Array(neighbours) + ["{moving}b"], as: String.self)
                #expect(many == neighbourValues.merging(["{moving}b": "new on the target"]) { $1 })
                #expect(try await Self.manyKeyCalls(cluster).mget > 0, "the source's keys were read per slot")

                // The key moves, and the slot is given to the target everywhere.
                _ = try await Self.server(cluster, source).cli("MIGRATE", target.host, String(target.port), stored, "0", "5000")
                for node in cluster.nodes {
                    _ = try await node.cli("CLUSTER", "SETSLOT", String(slot), "NODE", try #require(target.id))
                }
                // The source now answers MOVED. A getMany with the stale map sends the moved key's GET to the source,
                // which answers MOVED; the per-slot MGET follows it.
                many = try await cache.getMany(Array(neighbours) + ["{moving}a"], as: String.self)
                #expect(many == neighbourValues.merging(["{moving}a": "old"]) { $1 })
                // The cache follows MOVED, refreshes its map and reads the moved key.
                #expect(try await cache.get("{moving}a", as: String.self) == "old")
                #expect(try await cache.get("{moving}b", as: String.self) == "new on the target")
                #expect(cache.nodeName(for: "{moving}a") == target.description)
                many = try await cache.getMany(["{moving}a", "{moving}b", "elsewhere"], as: String.self)
                #expect(many == ["{moving}a": "old", "{moving}b": "new on the target", "elsewhere": nil])
            }
        }
    }

    @Test("a primary killed under load: errors stay on its slots, and its promoted replica serves them after a refresh", .timeLimit(.minutes(3)))
    func failover() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 1) { cluster in
            let cache = try Cache(url: Self.url(cluster) + "?timeout=1&connect_timeout=500ms&wait_timeout=1")
            try await cache.withConnection { cache in
                let topology = try await Self.topology(cluster)
                let keys = (0..<300).map { "failover-\($0)" }
                for key in keys { try await cache.set(key, key) }
                // Replicas copy the keys before the primary dies.
                try await waitUntil(timeout: .seconds(30), "every replica to hold the keys") {
                    for node in cluster.nodes where !topology.shards.contains(where: { $0.primary?.port == node.port }) {
                        guard try await node.cli("DBSIZE") != "0" else { return false }
                    }
                    return true
                }
                let victimIndex = try #require(topology.shardIndex(forSlot: ClusterSlot.slot(forKey: cache.makeKey(keys[0]))))
                let victim = try #require(topology.shards[victimIndex].primary)
                let victimKeys = Set(keys.filter { topology.shardIndex(forSlot: ClusterSlot.slot(forKey: cache.makeKey($0))) == victimIndex })

                let failures = NIOLockedValueBox<[(key: String, code: String, afterRecovery: Bool, message: String)]>([])
                let readsAfterRecovery = NIOLockedValueBox(0)
                let killed = TestEvent()
                let recovered = TestEvent()
                let clock = ContinuousClock()
                let giveUp = clock.now + .seconds(60)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<20 {
                        group.addTask {
                            var index = caller
                            // Until the victim's keys are read from the promoted replica, then 2,000 reads more.
                            while readsAfterRecovery.withLockedValue({ $0 }) < 2_000, clock.now < giveUp {
                                let key = keys[index % keys.count]
                                index += 7
                                let afterRecovery = recovered.isSignalled
                                // A read that started before the kill says nothing about the recovery.
                                let afterKill = killed.isSignalled
                                do {
                                    let value = try await cache.get(key, as: String.self)
                                    #expect(value == key, "a read returned another key's value or nothing")
                                    if afterRecovery { readsAfterRecovery.withLockedValue { $0 += 1 } }
                                    if afterKill, victimKeys.contains(key) { recovered.signal() }
                                } catch let error as CacheError {
                                    failures.withLockedValue { $0.append((key, "\(error.code)", afterRecovery, error.message)) }
                                }
                            }
                        }
                    }
                    group.addTask {
                        await Self.server(cluster, victim).kill()
                        killed.signal()
                    }
                    try await group.waitForAll()
                }
                #expect(recovered.isSignalled, "the victim's keys were read again within a minute")
                let failed = failures.withLockedValue { $0 }
                #expect(!failed.isEmpty, "the primary's death was seen")
                #expect(
                    failed.allSatisfy { victimKeys.contains($0.key) },
                    "errors only for the dead primary's slots: \(failed.filter { !victimKeys.contains($0.key) }.prefix(5))"
                )
                #expect(
                    failed.allSatisfy { !$0.afterRecovery },
                    "no error once the promoted replica served: \(failed.filter(\.afterRecovery).prefix(5))"
                )
                let expected: Set = ["connectFailed", "connectionClosed", "timeout", "poolTimeout", "server", "nodeUnavailable"]
                #expect(Set(failed.map(\.code)).isSubset(of: expected))
                #expect(cache.nodeName(for: keys[0]) != victim.description, "the map names the promoted replica")
            }
        }
    }

    @Test("redis-cli --cluster reshard moves 4,000 slots under 50 callers: no error and no wrong value", .timeLimit(.minutes(5)))
    func reshardUnderLoad() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 0) { cluster in
            let cache = try Cache(url: Self.url(cluster) + "?timeout=5")
            try await cache.withConnection { cache in
                let topology = try await Self.topology(cluster)
                let from = try #require(topology.shards[0].primary)
                let to = try #require(topology.shards[1].primary)
                let everyKey = (0..<50).flatMap { caller in (0..<20).map { "reshard-\(caller)-\($0)" } }
                let onSource = everyKey.filter { cache.nodeName(for: $0) == from.description }
                let done = TestEvent()
                let errors = NIOLockedValueBox<[String]>([])
                let wrong = NIOLockedValueBox<[String]>([])
                let calls = NIOLockedValueBox(0)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<50 {
                        group.addTask {
                            // Each caller owns its keys, so it knows the last value of each: unique, increasing.
                            let keys = (0..<20).map { "reshard-\(caller)-\($0)" }
                            var last: [String: Int] = [:]
                            var step = 0
                            while !done.isSignalled || step < 50 {
                                step += 1
                                let key = keys[step % keys.count]
                                do {
                                    switch step % 3 {
                                    case 0:
                                        try await cache.set(key, step)
                                        last[key] = step
                                    case 1:
                                        let value = try await cache.get(key, as: Int.self)
                                        if value != last[key] {
                                            wrong.withLockedValue {
                                                $0.append("\(key): \(value.map(String.init) ?? "nil") ≠ \(last[key].map(String.init) ?? "nil")")
                                            }
                                        }
                                    default:
                                        let values = try await cache.getMany(keys, as: Int.self)
                                        for key in keys where values[key] ?? nil != last[key] {
                                            wrong.withLockedValue { $0.append("getMany \(key)") }
                                        }
                                    }
                                    calls.withLockedValue { $0 += 1 }
                                } catch {
                                    errors.withLockedValue { $0.append("\(key): \(error)") }
                                }
                            }
                        }
                    }
                    group.addTask {
                        defer { done.signal() }
                        _ = try await cluster.nodes[0].cli(
                            arguments: [
                                "--cluster", "reshard", from.description, "--cluster-from", try #require(from.id), "--cluster-to",
                                try #require(to.id), "--cluster-slots", "4000", "--cluster-yes",
                            ],
                            timeout: .seconds(240)
                        )
                    }
                    try await group.waitForAll()
                }
                let moved = try await Self.topology(cluster)
                #expect(moved.shards.first { $0.primary?.port == to.port }.map { $0.slots.reduce(0) { $0 + $1.count } } ?? 0 > 9_000)
                #expect(errors.withLockedValue { $0 }.isEmpty, "\(errors.withLockedValue { $0.prefix(5) })")
                #expect(wrong.withLockedValue { $0 }.isEmpty, "\(wrong.withLockedValue { $0.prefix(5) })")
                #expect(calls.withLockedValue { $0 } > 1_000)
                // The callers' keys moved with their slots, and the cache's map followed them.
                let movedKeys = onSource.filter { cache.nodeName(for: $0) == to.description }
                #expect(movedKeys.count > 100, "\(movedKeys.count) of \(onSource.count) keys moved")
            }
        }
    }

    /// `GET`, `EVAL` and `MGET` calls the cluster's nodes answered since their last `CONFIG RESETSTAT` (refused calls
    /// are not counted; a script's `GET`s are).
    static func manyKeyCalls(_ cluster: RedisCluster) async throws -> (get: Int, eval: Int, mget: Int) {
        var total = (get: 0, eval: 0, mget: 0)
        for node in cluster.nodes {
            let calls = try await node.commandCalls()
            total.get += calls["get"] ?? 0
            total.eval += calls["eval"] ?? 0
            total.mget += calls["mget"] ?? 0
        }
        return total
    }

    static func resetStats(_ cluster: RedisCluster) async throws {
        for node in cluster.nodes { _ = try await node.cli("CONFIG", "RESETSTAT") }
    }

    @Test(
        "getMany reads each primary's keys of many slots with one GET per key (or one script) and one slot's with one MGET; a key of another type, forbidden scripts and many_key_reads=mget read by MGET per slot",
        .timeLimit(.minutes(3))
    )
    func manyKeyReads() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 0) { cluster in
            let keys = (0..<300).map { "m\($0)" }
            var expected = Dictionary(uniqueKeysWithValues: keys.map { ($0, Optional("value of \($0)")) })
            let cache = try Cache(url: Self.url(cluster))
            try await cache.withConnection { cache in
                try await cache.setMany(keys.map { ($0, "value of \($0)") })
                try await Self.resetStats(cluster)
                #expect(try await cache.getMany(keys, as: String.self) == expected)
                var calls = try await Self.manyKeyCalls(cluster)
                #expect(calls == (get: 300, eval: 0, mget: 0), "one GET per key, for keys of about 100 slots per primary")

                // Keys of one slot (one hash tag) are read with one MGET.
                let tagged = (0..<20).map { "{solo}:\($0)" }
                try await cache.setMany(tagged.map { ($0, "value of \($0)") })
                try await Self.resetStats(cluster)
                #expect(
                    try await cache.getMany(tagged, as: String.self)
                        == Dictionary(uniqueKeysWithValues: tagged.map { ($0, Optional("value of \($0)")) })
                )
                #expect(try await Self.manyKeyCalls(cluster) == (get: 0, eval: 0, mget: 1))

                // A key of another type fails its GET: that node's keys are read per slot, and the key reads as
                // missing, as MGET answers.
                let listKey = cache.makeKey("m0")
                let topology = try await Self.topology(cluster)
                let owner = Self.server(cluster, try #require(topology.shard(forSlot: ClusterSlot.slot(forKey: listKey))?.primary))
                _ = try await owner.cli("DEL", listKey)
                _ = try await owner.cli("RPUSH", listKey, "x")
                expected["m0"] = .some(nil)
                try await Self.resetStats(cluster)
                #expect(try await cache.getMany(keys, as: String.self) == expected)
                calls = try await Self.manyKeyCalls(cluster)
                #expect(calls.mget > 10, "the list's node was read per slot")
                #expect(calls.get >= 299, "every node was sent its GETs first (the list's may not count)")
                try await Self.resetStats(cluster)
                #expect(try await cache.getMany(Array(keys.dropFirst()), as: String.self).count == keys.count - 1)
                #expect(try await Self.manyKeyCalls(cluster) == (get: 299, eval: 0, mget: 0), "a key of another type does not turn GETs off")
            }

            // many_key_reads=script: one script per primary, which falls back the same way.
            let scripted = try Cache(url: Self.url(cluster) + "?many_key_reads=script")
            try await scripted.withConnection { cache in
                try await Self.resetStats(cluster)
                #expect(try await cache.getMany(keys, as: String.self) == expected)
                var calls = try await Self.manyKeyCalls(cluster)
                #expect(calls.eval == 3, "one script per primary, for keys of about 100 slots each")
                #expect(calls.mget > 10, "the list's node was read per slot")
                try await Self.resetStats(cluster)
                #expect(try await cache.getMany(Array(keys.dropFirst()), as: String.self).count == keys.count - 1)
                calls = try await Self.manyKeyCalls(cluster)
                #expect((calls.eval, calls.mget) == (3, 0), "a key of another type does not turn the script off")
            }

            // A server that refuses the script (here: no EVAL rights) is read per slot, and the cache stops sending it
            // (with the periodic refresh off, which would try it again).
            for node in cluster.nodes { _ = try await node.cli("ACL", "SETUSER", "default", "-eval") }
            let refused = try Cache(url: Self.url(cluster) + "?many_key_reads=script&cluster_refresh=0")
            try await refused.withConnection { cache in
                try await Self.resetStats(cluster)
                #expect(try await cache.getMany(keys, as: String.self) == expected)
                var calls = try await Self.manyKeyCalls(cluster)
                #expect(calls.eval == 0)
                #expect(calls.mget > 100)
                for node in cluster.nodes { _ = try await node.cli("ACL", "SETUSER", "default", "+eval") }
                try await Self.resetStats(cluster)
                #expect(try await cache.getMany(keys, as: String.self) == expected)
                calls = try await Self.manyKeyCalls(cluster)
                #expect(calls.eval == 0, "the refusal turned the script off for this cache")
                #expect(calls.mget > 100)
            }

            // The periodic refresh tries the script again: once the servers allow it, it is used again.
            for node in cluster.nodes { _ = try await node.cli("ACL", "SETUSER", "default", "-eval") }
            let retried = try Cache(url: Self.url(cluster) + "?many_key_reads=script&cluster_refresh=100ms")
            try await retried.withConnection { cache in
                #expect(try await cache.getMany(keys, as: String.self) == expected)
                for node in cluster.nodes { _ = try await node.cli("ACL", "SETUSER", "default", "+eval") }
                try await Self.resetStats(cluster)
                try await waitUntil(timeout: .seconds(30), "getMany to send its script again") {
                    #expect(try await cache.getMany(keys, as: String.self) == expected)
                    return try await Self.manyKeyCalls(cluster).eval > 0
                }
            }

            // many_key_reads=mget never sends the script, nor a GET per key.
            let perSlot = try Cache(url: Self.url(cluster) + "?many_key_reads=mget")
            try await perSlot.withConnection { cache in
                try await Self.resetStats(cluster)
                #expect(try await cache.getMany(keys, as: String.self) == expected)
                let calls = try await Self.manyKeyCalls(cluster)
                #expect(calls.eval == 0)
                #expect(calls.get == 0)
                #expect(calls.mget > 100)

                // Per slot means one MGET for all the keys of a slot: 10 keys under each of 5 hash tags.
                let tagged = (0..<5).flatMap { tag in (0..<10).map { "{tag\(tag)}:\($0)" } }
                try await cache.setMany(tagged.map { ($0, "value of \($0)") })
                try await Self.resetStats(cluster)
                #expect(
                    try await cache.getMany(tagged, as: String.self)
                        == Dictionary(uniqueKeysWithValues: tagged.map { ($0, Optional("value of \($0)")) })
                )
                let slots = Set(tagged.map { ClusterSlot.slot(forKey: cache.makeKey($0)) })
                #expect(try await Self.manyKeyCalls(cluster) == (get: 0, eval: 0, mget: slots.count))
            }
        }
    }

    /// `GET` and `MGET` calls a node answered since its last `CONFIG RESETSTAT`.
    static func readCalls(_ server: RedisServer) async throws -> Int {
        let calls = try await server.commandCalls()
        return (calls["get"] ?? 0) + (calls["mget"] ?? 0)
    }

    @Test(
        "reloaded to read_from=replica: reads go to replicas (READONLY), writes to primaries; a killed replica's shard is read from its primary",
        .timeLimit(.minutes(3))
    )
    func replicaReads() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 1) { cluster in
            // A replica is listed once its first sync is done; the cache reads the map when it connects.
            try await waitUntil(timeout: .seconds(30), "every shard to list its replica as online") {
                try await Self.topology(cluster).shards.allSatisfy { $0.replicas.count == 1 }
            }
            let options = "?timeout=1&connect_timeout=500ms&wait_timeout=1"
            let cache = try Cache(url: Self.url(cluster) + options)
            try await cache.withConnection { cache in
                let topology = try await Self.topology(cluster)
                let keys = (0..<300).map { "r\($0)" }
                let expected = Dictionary(uniqueKeysWithValues: keys.map { ($0, Optional("value of \($0)")) })
                try await cache.setMany(keys.map { ($0, "value of \($0)") })
                // Replication is asynchronous: wait until every replica has all the keys of its primary.
                try await waitUntil(timeout: .seconds(30), "every replica to hold its primary's keys") {
                    for shard in topology.shards {
                        let primary = try await Self.server(cluster, try #require(shard.primary)).cli("DBSIZE")
                        for replica in shard.replicas {
                            guard try await Self.server(cluster, replica).cli("DBSIZE") == primary else { return false }
                        }
                    }
                    return true
                }
                #expect(try await cache.getMany(keys, as: String.self) == expected, "read from the primaries")
                // A health check asks the replicas too, and leaves no connection open to nodes calls do not use.
                let statuses = try await cache.nodeStatus()
                #expect(statuses.filter { $0.clusterRole == "primary" }.count == 3)
                let replicaStatuses = statuses.filter { $0.clusterRole == "replica" }
                #expect(replicaStatuses.count == 3)
                #expect(replicaStatuses.allSatisfy { $0.error == nil && $0.latency != nil }, "\(replicaStatuses)")
                #expect(replicaStatuses.reduce(0) { $0 + ($1.keyCount ?? 0) } == keys.count, "the replicas counted their keys")
                let backend = try #require(try cache.backend() as? RedisClusterBackend)
                #expect(Set(backend.clientNames) == Set(topology.shards.compactMap { $0.primary?.description }), "no client kept for a replica")
                for replica in topology.shards.flatMap(\.replicas) {
                    let server = Self.server(cluster, replica)
                    try await waitUntil(timeout: .seconds(10), "the health check's connection to \(server.address) to close") {
                        // Normal clients other than redis-cli's own (the replica's link to its primary is flagged M).
                        try await server.cli("CLIENT", "LIST").split(separator: "\n").allSatisfy {
                            !$0.contains("flags=N") || $0.contains("cmd=client|list")
                        }
                    }
                }
                // The configuration changes while the cache runs (as a config file's watcher would apply it).
                try await cache.reload(configuration: CacheConfiguration(url: CacheURL(Self.url(cluster) + options + "&read_from=replica")))
                #expect(cache.activeConfiguration.cluster.readFrom == .replica)
                for node in cluster.nodes { _ = try await node.cli("CONFIG", "RESETSTAT") }

                #expect(try await cache.getMany(keys, as: String.self) == expected)
                for key in keys.prefix(30) { #expect(try await cache.get(key, as: String.self) == "value of \(key)") }
                #expect(try await cache.remainingTTL(keys[0]) == -1)
                try await cache.set("written", 1)
                for shard in topology.shards {
                    let primary = Self.server(cluster, try #require(shard.primary))
                    let replica = Self.server(cluster, try #require(shard.replicas.first))
                    #expect(try await Self.readCalls(primary) == 0, "no read reached the primary \(primary.address)")
                    #expect(try await Self.readCalls(replica) > 0, "the replica \(replica.address) answered reads")
                    #expect(try await replica.cli("CLIENT", "LIST").contains("flags=r "), "the replica's connections sent READONLY")
                }
                let writtenTo = try #require(topology.shard(forSlot: ClusterSlot.slot(forKey: cache.makeKey("written")))?.primary)
                #expect(try await Self.server(cluster, writtenTo).cli("GET", cache.makeKey("written")) == "1", "the write went to the primary")

                // A replica dies: its shard is read from the primary, with no error and the same values.
                let victim = try #require(topology.shards[0].replicas.first)
                await Self.server(cluster, victim).kill()
                #expect(try await cache.getMany(keys, as: String.self) == expected)
                for key in keys.prefix(30) { #expect(try await cache.get(key, as: String.self) == "value of \(key)") }
                let primary = Self.server(cluster, try #require(topology.shards[0].primary))
                #expect(try await Self.readCalls(primary) > 0, "the dead replica's primary answered its reads")
            }
        }
    }

    @Test("reloads under 20 callers: no call fails because of the swap, and every value read is the last written", .timeLimit(.minutes(3)))
    func reloadUnderLoad() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 0) { cluster in
            let cache = try Cache(url: Self.url(cluster))
            try await cache.withConnection { cache in
                let failures = NIOLockedValueBox<[String]>([])
                let calls = NIOLockedValueBox(0)
                let stop = TestEvent()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for caller in 0..<20 {
                        group.addTask {
                            var round = 0
                            while !stop.isSignalled {
                                let key = "c\(caller):\(round % 10)"
                                do {
                                    try await cache.set(key, round)
                                    let read = try await cache.get(key, as: Int.self)
                                    let many = try await cache.getMany([key, "c\(caller):\((round + 1) % 10)", "absent"], as: Int.self)
                                    if read != round || many[key] != round {
                                        failures.withLockedValue { $0.append("\(key): read \(String(describing: read)) after writing \(round)") }
                                    }
                                } catch {
                                    failures.withLockedValue { $0.append("\(key): \(error)") }
                                }
                                calls.withLockedValue { $0 += 3 }
                                round += 1
                            }
                        }
                    }
                    // Each reload builds a new backend (another seed, another timeout) while the callers run.
                    for index in 0..<8 {
                        let before = calls.withLockedValue { $0 }
                        try await waitUntil(timeout: .seconds(30), "the callers to make calls on this backend") {
                            calls.withLockedValue { $0 } >= before + 300
                        }
                        let seed = cluster.nodes[index % 3].address
                        let url = "redis-cluster://\(seed)?timeout=\(index % 2 == 0 ? "2" : "1")"
                        try await cache.reload(configuration: CacheConfiguration(url: CacheURL(url)))
                        #expect(cache.activeConfiguration.nodes.map { "\($0.host):\($0.port)" } == [seed])
                    }
                    stop.signal()
                    try await group.waitForAll()
                }
                #expect(failures.withLockedValue { $0 }.isEmpty, "\(failures.withLockedValue { Array($0.prefix(5)) })")

                // A call that took the backend just before a swap reaches its closed pools: it goes to the new one.
                let old = try cache.backend()
                try await cache.reload(configuration: CacheConfiguration(url: CacheURL(Self.url(cluster))))
                let stored = cache.makeKey("late")
                try await old.set(stored, value: ByteBuffer(string: "\"late\""), ttl: nil)
                #expect(try await old.get(stored).map { String(buffer: $0) } == "\"late\"")
                var values: [Int: String?] = [:]
                let keys = CacheKeys(head: cache.makeKey(""), names: ["late", "absent"])
                let failed = try await old.getMany(keys) { index, bytes in values[index] = .some(bytes.map { String(buffer: $0) }) }
                #expect(failed.isEmpty, "\(failed)")
                #expect(values.count == 2)
                #expect(values[0] == .some("\"late\""))
                #expect(values[1] == .some(nil), "the absent key is a miss")
                #expect(try await cache.get("late", as: String.self) == "late")
            }
        }
    }

    @Test("the map is read again every cluster_refresh: a slot reassigned without any MOVED is followed", .timeLimit(.minutes(3)))
    func periodicRefresh() async throws {
        try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 0) { cluster in
            let cache = try Cache(url: Self.url(cluster) + "?cluster_refresh=100ms")
            try await cache.withConnection { cache in
                let topology = try await Self.topology(cluster)
                let slot = ClusterSlot.slot(forKey: cache.makeKey("{idle}"))
                let sourceIndex = try #require(topology.shardIndex(forSlot: slot))
                let source = try #require(topology.shards[sourceIndex].primary)
                let target = try #require(topology.shards[(sourceIndex + 1) % 3].primary)
                #expect(cache.nodeName(for: "{idle}") == source.description)
                // The slot holds no key, so it can be given to the target at once; the cache sends nothing meanwhile.
                for node in cluster.nodes {
                    _ = try await node.cli("CLUSTER", "SETSLOT", String(slot), "NODE", try #require(target.id))
                }
                try await waitUntil(timeout: .seconds(30), "the periodic refresh to name the new owner") {
                    cache.nodeName(for: "{idle}") == target.description
                }
            }
        }
    }

    @Test("a cluster of one node that does not know its own address: the map names the seed's host, and the API works")
    func nodeWithoutOwnAddress() async throws {
        try await RedisCluster.withCluster(primaries: 1, replicasPerPrimary: 0) { cluster in
            // The premise: the node's map gives no address for it.
            let shards = try await cluster.nodes[0].cli("CLUSTER", "SHARDS")
            #expect(!shards.contains("127.0.0.1"), "\(shards)")
            let cache = try Cache(url: Self.url(cluster), keyPrefix: "alone")
            try await cache.withConnection { cache in
                #expect(cache.nodeName(for: "k") == cluster.nodes[0].address)
                let keys = (0..<200).map { "k\($0)" }
                try await cache.setMany(keys.map { ($0, $0.uppercased()) }, ttl: 300)
                let read = try await cache.getMany(keys, as: String.self)
                #expect(keys.allSatisfy { read[$0] == $0.uppercased() })
                try await cache.set("one", 1)
                #expect(try await cache.incr("one") == 2)
                try await cache.deleteMany(keys)
                #expect(try await cache.getMany(keys, as: String.self).values.allSatisfy { $0 == nil })
            }
        }
    }

    @Test("seeds that cannot be reached fail connect with every seed named; a node outside a cluster is refused")
    func badSeeds() async throws {
        // A port nothing listens on: a server's, after it stopped.
        let stopped = try await RedisServer.start(allowExternal: false)
        await stopped.stop()
        let closed = stopped.port
        let unreachable = try Cache(url: "redis-cluster://127.0.0.1:\(closed)?connect_timeout=1&wait_timeout=1")
        let error = await #expect(throws: CacheError.self) { try await unreachable.connect() }
        #expect(error?.code == .connectFailed)
        #expect(error?.message.contains("127.0.0.1:\(closed)") == true, "\(error?.message ?? "")")
        #expect(!unreachable.isConnected)

        try await RedisServer.withServer(allowExternal: false) { server in
            let plain = try Cache(url: "redis-cluster://\(server.address)")
            let refused = await #expect(throws: CacheError.self) { try await plain.connect() }
            #expect(refused?.message.contains("cluster") == true, "\(refused?.message ?? "")")
        }
    }
}

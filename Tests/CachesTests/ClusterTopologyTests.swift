import NIOCore
import RESP
import Testing

@testable import Caches

/// Parsing a cluster's slot map from `CLUSTER SHARDS` (RESP2 and RESP3 shapes) and `CLUSTER SLOTS`.
@Suite("Cluster topology")
struct ClusterTopologyTests {
    static func bulk(_ text: String) -> RESPValue { RESPValue(bulkString: text) }
    static func int(_ value: Int) -> RESPValue { .integer(Int64(value)) }

    /// One node of a `CLUSTER SHARDS` reply, as Redis 7 sends it.
    static func shardNode(id: String, port: Int, role: String, health: String = "online", tlsPort: Int? = nil, resp3: Bool) -> RESPValue {
        var pairs: [(String, RESPValue)] = [("id", bulk(id)), ("port", int(port))]
        if let tlsPort { pairs.append(("tls-port", int(tlsPort))) }
        pairs += [
            ("ip", bulk("127.0.0.1")), ("endpoint", bulk("127.0.0.1")), ("hostname", bulk("")), ("role", bulk(role)),
            ("replication-offset", int(42)), ("health", bulk(health)),
        ]
        return Self.fields(pairs, resp3: resp3)
    }

    static func fields(_ pairs: [(String, RESPValue)], resp3: Bool) -> RESPValue {
        resp3 ? .map(pairs.map { (key: bulk($0.0), value: $0.1) }) : .array(pairs.flatMap { [bulk($0.0), $0.1] })
    }

    static func shardsReply(resp3: Bool, tlsPorts: Bool = false) -> RESPValue {
        func shard(_ ranges: [ClosedRange<Int>], _ nodes: [RESPValue]) -> RESPValue {
            fields([("slots", .array(ranges.flatMap { [int($0.lowerBound), int($0.upperBound)] })), ("nodes", .array(nodes))], resp3: resp3)
        }
        func node(_ id: String, _ port: Int, _ role: String, health: String = "online") -> RESPValue {
            shardNode(id: id, port: port, role: role, health: health, tlsPort: tlsPorts ? port + 1000 : nil, resp3: resp3)
        }
        return .array([
            shard([10923...16383], [node("c", 7002, "master"), node("f", 7005, "replica")]),
            shard([0...5460], [node("d", 7003, "replica"), node("a", 7000, "master")]),
            // Two ranges, one replica failed.
            shard([5461...6000, 6001...10922], [node("b", 7001, "master"), node("e", 7004, "replica", health: "fail")]),
        ])
    }

    @Test("CLUSTER SHARDS in RESP2 and RESP3: primaries, online replicas, every slot")
    func shards() throws {
        for resp3 in [false, true] {
            let topology = try ClusterTopology.parse(shards: Self.shardsReply(resp3: resp3), tls: false, askedHost: "seed")
            #expect(topology.shards.map { $0.primary?.port } == [7000, 7001, 7002], "ordered by first slot")
            #expect(topology.shards.map { $0.replicas.map(\.port) } == [[7003], [], [7005]], "the failed replica is left out")
            #expect(topology.shards[0].primary == .init(host: "127.0.0.1", port: 7000, id: "a"))
            #expect(topology.uncoveredSlots == 0)
            #expect(topology.shard(forSlot: 0)?.primary?.port == 7000)
            #expect(topology.shard(forSlot: 5460)?.primary?.port == 7000)
            #expect(topology.shard(forSlot: 5461)?.primary?.port == 7001)
            #expect(topology.shard(forSlot: 10922)?.primary?.port == 7001)
            #expect(topology.shard(forSlot: 16383)?.primary?.port == 7002)
        }
    }

    @Test("with TLS, a node's tls-port is used")
    func tlsPorts() throws {
        let topology = try ClusterTopology.parse(shards: Self.shardsReply(resp3: true, tlsPorts: true), tls: true, askedHost: "seed")
        #expect(topology.shards.map { $0.primary?.port } == [8000, 8001, 8002])
        let plain = try ClusterTopology.parse(shards: Self.shardsReply(resp3: true, tlsPorts: true), tls: false, askedHost: "seed")
        #expect(plain.shards.map { $0.primary?.port } == [7000, 7001, 7002])
    }

    @Test("CLUSTER SLOTS: ranges of one primary form one shard, and the map equals the one CLUSTER SHARDS gives")
    func slots() throws {
        func node(_ port: Int, _ id: String) -> RESPValue { .array([Self.bulk("127.0.0.1"), Self.int(port), Self.bulk(id), .array([])]) }
        let reply = RESPValue.array([
            .array([Self.int(0), Self.int(5460), node(7000, "a"), node(7003, "d")]),
            .array([Self.int(5461), Self.int(6000), node(7001, "b")]),
            .array([Self.int(6001), Self.int(10922), node(7001, "b")]),
            .array([Self.int(10923), Self.int(16383), node(7002, "c"), node(7005, "f")]),
        ])
        let topology = try ClusterTopology.parse(slots: reply, askedHost: "seed")
        #expect(topology.shards.count == 3)
        #expect(topology.shards[1].slots == [5461...6000, 6001...10922])
        let fromShards = try ClusterTopology.parse(shards: Self.shardsReply(resp3: false), tls: false, askedHost: "seed")
        #expect(topology == fromShards)
    }

    @Test("a node that does not know its own address (empty ip and endpoint, or a null host) is reached at the asked host")
    func unknownOwnAddress() throws {
        for resp3 in [false, true] {
            let node = Self.fields(
                [
                    ("id", Self.bulk("a")), ("port", Self.int(7000)), ("ip", Self.bulk("")), ("endpoint", Self.bulk("")),
                    ("role", Self.bulk("master")), ("health", Self.bulk("online")),
                ],
                resp3: resp3
            )
            let reply = RESPValue.array([Self.fields([("slots", .array([Self.int(0), Self.int(16383)])), ("nodes", .array([node]))], resp3: resp3)])
            let topology = try ClusterTopology.parse(shards: reply, tls: false, askedHost: "10.1.2.3")
            #expect(topology.shards.map(\.primary) == [.init(host: "10.1.2.3", port: 7000, id: "a")])
        }
        // An endpoint of "?" (a hostname asked for, none announced) gives way to the IP address.
        let hostless = Self.fields(
            [
                ("id", Self.bulk("b")), ("port", Self.int(7001)), ("ip", Self.bulk("10.0.0.7")), ("endpoint", Self.bulk("?")),
                ("role", Self.bulk("master")),
            ],
            resp3: true
        )
        let fromIP = try ClusterTopology.parse(
            shards: .array([Self.fields([("slots", .array([Self.int(0), Self.int(16383)])), ("nodes", .array([hostless]))], resp3: true)]),
            tls: false,
            askedHost: "10.1.2.3"
        )
        #expect(fromIP.shards[0].primary?.host == "10.0.0.7")
        for host: RESPValue in [Self.bulk(""), .null] {
            let topology = try ClusterTopology.parse(
                slots: .array([.array([Self.int(0), Self.int(16383), .array([host, Self.int(7000), Self.bulk("a")])])]),
                askedHost: "10.1.2.3"
            )
            #expect(topology.shards[0].primary == .init(host: "10.1.2.3", port: 7000, id: "a"))
        }
        // Without either field there is no address to use.
        let nowhere = Self.fields([("id", Self.bulk("c")), ("port", Self.int(7002)), ("role", Self.bulk("master"))], resp3: true)
        #expect(throws: CacheError.self) {
            try ClusterTopology.parse(
                shards: .array([Self.fields([("slots", .array([Self.int(0), Self.int(1)])), ("nodes", .array([nowhere]))], resp3: true)]),
                tls: false,
                askedHost: "10.1.2.3"
            )
        }
    }

    @Test("slots nobody serves are counted; overlapping or out-of-range slots and odd shapes are protocol errors")
    func errors() throws {
        let partial = try ClusterTopology.parse(
            slots: .array([.array([Self.int(0), Self.int(99), .array([Self.bulk("127.0.0.1"), Self.int(7000)])])]),
            askedHost: "seed"
        )
        #expect(partial.uncoveredSlots == 16_384 - 100)
        #expect(partial.shard(forSlot: 100) == nil)
        #expect(partial.shards[0].primary?.id == nil)

        let overlap = #expect(throws: CacheError.self) {
            try ClusterTopology.parse(
                slots: .array([
                    .array([Self.int(0), Self.int(10), .array([Self.bulk("127.0.0.1"), Self.int(7000), Self.bulk("a")])]),
                    .array([Self.int(10), Self.int(20), .array([Self.bulk("127.0.0.1"), Self.int(7001), Self.bulk("b")])]),
                ]),
                askedHost: "seed"
            )
        }
        #expect(overlap?.code == .protocolViolation)
        #expect(overlap?.message.contains("slot 10") == true)

        let outside = #expect(throws: CacheError.self) {
            try ClusterTopology.parse(
                slots: .array([.array([Self.int(16000), Self.int(16384), .array([Self.bulk("h"), Self.int(1)])])]),
                askedHost: "seed"
            )
        }
        #expect(outside?.message.contains("16000...16384") == true)

        for malformed: RESPValue in [.integer(3), .array([.integer(1)]), .array([.array([Self.int(1), Self.int(0), .array([])])])] {
            #expect(throws: CacheError.self) { try ClusterTopology.parse(slots: malformed, askedHost: "seed") }
            #expect(throws: CacheError.self) { try ClusterTopology.parse(shards: malformed, tls: false, askedHost: "seed") }
        }
    }
}

/// Reading redirections out of cluster error replies, and `ASKING` in front of a command.
@Suite("Cluster redirections")
struct ClusterRedirectionTests {
    @Test("MOVED, ASK, TRYAGAIN and CLUSTERDOWN are read from server errors; anything else is not a redirection")
    func parsing() {
        func redirection(_ message: String) -> ClusterRedirection? {
            ClusterRedirection(CacheError(.server, message, node: "n"))
        }
        #expect(redirection("MOVED 3999 127.0.0.1:6381") == .moved(slot: 3999, to: .init(host: "127.0.0.1", port: 6381)))
        #expect(redirection("ASK 3999 127.0.0.1:6381") == .ask(slot: 3999, to: .init(host: "127.0.0.1", port: 6381)))
        #expect(redirection("MOVED 0 [::1]:7000") == .moved(slot: 0, to: .init(host: "::1", port: 7000)))
        #expect(redirection("MOVED 16383 :7000") == .moved(slot: 16383, to: .init(host: "", port: 7000)), "a node without its own address")
        #expect(redirection("TRYAGAIN Multiple keys request during rehashing of slot") == .tryAgain)
        #expect(redirection("CLUSTERDOWN The cluster is down") == .clusterDown)
        for other in ["ERR unknown command", "MOVED", "MOVED 16384 h:1", "MOVED x h:1", "ASK 1 h", "ASK 1 h:0", "MOVEDX 1 h:1", ""] {
            #expect(redirection(other) == nil, "\(other)")
        }
        #expect(ClusterRedirection(CacheError(.timeout, "MOVED 1 h:1")) == nil, "only server errors redirect")
    }

    @Test("ASKING goes first in the same write and the command's own reply is decoded")
    func asking() throws {
        let command = AskingCommand(inner: GetCommand(storedKey: "{a}k"))
        #expect(CacheCommandTests.encoded(command) == CacheCommandTests.command("ASKING") + CacheCommandTests.command("GET", "{a}k"))
        #expect(command.replyCount == 2)
        #expect(command.name == .get)
        #expect(command.key == "{a}k")
        #expect(try command.decode(CacheCommandTests.reply("$3\r\n\"v\"\r\n")) == ByteBuffer(string: "\"v\""))
    }
}

/// `redis-cluster://` and `rediss-cluster://` URLs, and what a cluster configuration refuses.
@Suite("Cluster configuration")
struct ClusterConfigurationTests {
    @Test("the cluster schemes name seeds; rediss-cluster turns TLS on")
    func schemes() throws {
        let plain = try CacheConfiguration(url: CacheURL("redis-cluster://127.0.0.1:7000,127.0.0.1:7001?timeout=2"))
        #expect(plain.backend == .redisCluster)
        #expect(plain.backend.isRedis)
        #expect(plain.nodes.map(\.port) == [7000, 7001])
        #expect(plain.commandTimeout == .seconds(2))
        #expect(plain.tls == nil)
        let tls = try CacheConfiguration(url: CacheURL("rediss-cluster://127.0.0.1:7000"))
        #expect(tls.tls != nil)
        #expect(CacheSettings.entries(of: plain).first?.description == "backend: redis-cluster")
        #expect(try Cache(url: "redis-cluster://127.0.0.1:7000").configuration.backend == .redisCluster)
    }

    @Test("a cluster refuses what it cannot do, naming the key path")
    func refusals() throws {
        let cases = [
            ("redis-cluster://127.0.0.1:7000?near_cache=100", "nearCache.maxEntries"),
            ("redis-cluster://127.0.0.1:7000/3", "nodes[0].database"),
            ("redis-cluster://127.0.0.1:7000,127.0.0.1:7001?weights=1,2", "nodes[1].weight"),
        ]
        for (url, path) in cases {
            let error = #expect(throws: CacheError.self, "\(url)") { try Cache(url: url) }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message.hasPrefix(path) == true, "\(error?.message ?? "")")
        }
        var configuration = CacheConfiguration(backend: .redisCluster, nodes: [CacheNodeConfiguration(host: "127.0.0.1", port: 7000)])
        configuration.failurePolicy = .miss
        let policy = #expect(throws: CacheError.self) { try configuration.validate() }
        #expect(policy?.message.hasPrefix("failurePolicy") == true)
        configuration.failurePolicy = .fail
        configuration.nodes = []
        #expect(throws: CacheError.self, "a cluster needs a seed") { try configuration.validate() }
    }

    @Test("read_from, cluster_refresh and many_key_reads set the cluster settings, and only a cluster takes them")
    func clusterOptions() throws {
        let configured = try CacheConfiguration(
            url: CacheURL("redis-cluster://127.0.0.1:7000?read_from=replica&cluster_refresh=250ms&many_key_reads=mget")
        )
        #expect(configured.cluster == CacheConfiguration.Cluster(readFrom: .replica, refreshInterval: .milliseconds(250), manyKeyReads: .mget))
        let defaults = try CacheConfiguration(url: CacheURL("redis-cluster://127.0.0.1:7000"))
        #expect(defaults.cluster.readFrom == .primary)
        #expect(defaults.cluster.refreshInterval == .seconds(30))
        #expect(defaults.cluster.manyKeyReads == .gets)
        let off = try CacheConfiguration(url: CacheURL("redis-cluster://127.0.0.1:7000?cluster_refresh=0"))
        #expect(off.cluster.refreshInterval == nil)
        for url in [
            "redis://127.0.0.1:7000?read_from=replica", "redis://127.0.0.1:7000?cluster_refresh=5s", "redis://127.0.0.1:7000?many_key_reads=mget",
        ] {
            let error = #expect(throws: CacheError.self, "\(url)") { try Cache(url: url) }
            #expect(error?.message.hasPrefix("cluster:") == true, "\(error?.message ?? "")")
        }
        let unknown = #expect(throws: CacheError.self) { try Cache(url: "redis-cluster://127.0.0.1:7000?read_from=nearest") }
        #expect(unknown?.message.contains("primary, replica") == true, "\(unknown?.message ?? "")")
    }
}

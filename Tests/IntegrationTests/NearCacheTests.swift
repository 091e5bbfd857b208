import Foundation
import NIOConcurrencyHelpers
import RedisTestSupport
import Synchronization
import Testing

@testable import Caches

/// The near cache against three real nodes of its own (the tests restart and flush them): every way Redis' state
/// can change behind the cache's back makes the next reads return the new state.
@Suite("Near cache", .serialized)
struct NearCacheTests {
    /// Three fresh nodes, a near-cached cache over them and a plain one (another client) on the same keys.
    struct Fixture: Sendable {
        let servers: [RedisServer]
        let near: Cache
        let other: Cache

        static func make(maxEntries: Int = 10_000, extra: [String] = []) async throws -> Fixture {
            var servers: [RedisServer] = []
            for _ in 0..<3 { servers.append(try await RedisServer.start(allowExternal: false)) }
            let options = ["weights=1,2,1", "names=node-a,node-b,node-c"]
            let near = try Cache(url: RedisServer.cacheURL(servers, options: options + ["near_cache=\(maxEntries)"] + extra))
            let other = try Cache(url: RedisServer.cacheURL(servers, options: options))
            try await near.connect()
            try await other.connect()
            return Fixture(servers: servers, near: near, other: other)
        }

        /// Runs `body` with a fresh fixture, and closes it whatever happens.
        static func with(maxEntries: Int = 10_000, extra: [String] = [], _ body: (Fixture) async throws -> Void) async throws {
            let fixture = try await Self.make(maxEntries: maxEntries, extra: extra)
            do {
                try await body(fixture)
            } catch {
                await fixture.close()
                throw error
            }
            await fixture.close()
        }

        func close() async {
            try? await self.near.disconnect()
            try? await self.other.disconnect()
            for server in self.servers { await server.stop() }
        }

        /// The server that holds `key`.
        func server(of key: String) throws -> RedisServer {
            let name = try #require(self.near.nodeName(for: key))
            return self.servers[["node-a", "node-b", "node-c"].firstIndex(of: name)!]
        }

        /// Reads `key` through the near cache until it is kept there (a read that is a hit).
        func readUntilKept(_ key: String, expecting value: String) async throws {
            try await waitUntil("\(key) to be kept by the near cache") {
                let before = self.near.nearCacheStatistics!.hits
                let read = try await self.near.get(key, as: String.self)
                #expect(read == value)
                return self.near.nearCacheStatistics!.hits > before
            }
        }

        /// Polls the near cache until `key` reads `value`, and returns how long that took.
        @discardableResult
        func waitUntilNearReads(_ key: String, _ value: String?, what: String) async throws -> Duration {
            let clock = ContinuousClock()
            let start = clock.now
            try await waitUntil(timeout: .seconds(5), "the near cache to read \(value ?? "nil") for \(key) after \(what)") {
                // A node that just restarted may refuse the first call while its pool reconnects.
                do { return try await self.near.get(key, as: String.self) == value } catch { return false }
            }
            return clock.now - start
        }
    }

    @Test("another client's SET, DEL and EXPIRE 0 reach the near cache")
    func anotherClientsWrites() async throws {
        try await Fixture.with { fixture in
            try await fixture.near.set("k", "v1")
            try await fixture.readUntilKept("k", expecting: "v1")

            try await fixture.other.set("k", "v2")
            try await fixture.waitUntilNearReads("k", "v2", what: "another client's SET")
            try await fixture.readUntilKept("k", expecting: "v2")

            try await fixture.other.delete("k")
            try await fixture.waitUntilNearReads("k", nil, what: "another client's DEL")

            try await fixture.other.set("k", "v3")
            try await fixture.readUntilKept("k", expecting: "v3")
            _ = try await fixture.server(of: "k").cli("EXPIRE", "::k", "0")
            try await fixture.waitUntilNearReads("k", nil, what: "EXPIRE k 0")
            #expect(fixture.near.nearCacheStatistics!.invalidations >= 3)
        }
    }

    @Test("hits are served from memory: no command reaches the node")
    func hitsStayLocal() async throws {
        try await Fixture.with { fixture in
            try await fixture.near.set("hot", "value")
            try await fixture.readUntilKept("hot", expecting: "value")
            let server = try fixture.server(of: "hot")
            let before = try await Self.commandCount("get", on: server) + Self.commandCount("exec", on: server)
            for _ in 0..<100 { #expect(try await fixture.near.get("hot", as: String.self) == "value") }
            let after = try await Self.commandCount("get", on: server) + Self.commandCount("exec", on: server)
            #expect(after == before)
            let many = try await fixture.near.getMany(["hot", "cold"], as: String.self)
            #expect(many == ["hot": "value", "cold": nil])
        }
    }

    @Test("a disconnected cache answers no read from its entries, and a reconnected one reads Redis again")
    func noHitsWhileDisconnected() async throws {
        try await Fixture.with { fixture in
            try await fixture.near.set("k", "v1")
            try await fixture.readUntilKept("k", expecting: "v1")
            try await fixture.near.disconnect()
            let refused = await #expect(throws: CacheError.self) { try await fixture.near.get("k", as: String.self) }
            #expect(refused?.code == .notConnected)
            // Written while nobody tracked the key for this cache: the old entry must not come back.
            try await fixture.other.set("k", "v2")
            try await fixture.near.connect()
            #expect(try await fixture.near.get("k", as: String.self) == "v2")
        }
    }

    @Test("FLUSHDB empties the node's entries")
    func flush() async throws {
        try await Fixture.with { fixture in
            try await fixture.near.set("k", "v1")
            try await fixture.readUntilKept("k", expecting: "v1")
            _ = try await fixture.server(of: "k").cli("FLUSHDB")
            try await fixture.waitUntilNearReads("k", nil, what: "FLUSHDB")
        }
    }

    @Test("a node restart and CLIENT KILL of the tracked connections drop what they tracked")
    func lostTracking() async throws {
        try await Fixture.with { fixture in
            try await fixture.near.set("k", "v1")
            try await fixture.readUntilKept("k", expecting: "v1")
            let server = try fixture.server(of: "k")

            // Killed connections: a write after it reaches no tracked connection, so only dropping the entries when
            // the connection closed lets the near cache see it.
            _ = try await server.cli("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "normal")
            _ = try await server.cli("SET", "::k", "\"v2\"")
            try await fixture.waitUntilNearReads("k", "v2", what: "CLIENT KILL")

            try await fixture.readUntilKept("k", expecting: "v2")
            try await server.restart()
            _ = try await server.cli("SET", "::k", "\"v3\"")
            try await fixture.waitUntilNearReads("k", "v3", what: "a node restart")
        }
    }

    @Test("a ring reload drops entries read from the old placement")
    func reload() async throws {
        try await Fixture.with { fixture in
            // A key of node-a, which the reload removes: it moves to another node, which holds another value.
            var key = ""
            for candidate in (0..<1000).map({ _ in "key-\(UUID().uuidString)" }) where fixture.near.nodeName(for: candidate) == "node-a" {
                key = candidate
                break
            }
            try #require(!key.isEmpty, "no key of node-a among 1000")
            try await fixture.near.set(key, "on-a")
            try await fixture.readUntilKept(key, expecting: "on-a")
            var configuration = fixture.near.activeConfiguration
            configuration.nodes.removeFirst()
            try await fixture.near.reload(configuration: configuration)
            let newHome = try fixture.server(of: key)
            #expect(newHome.port != fixture.servers[0].port)
            _ = try await newHome.cli("SET", "::\(key)", "\"on-the-new-node\"")
            try await fixture.waitUntilNearReads(key, "on-the-new-node", what: "a reload")
        }
    }

    @Test("writes through the cache are read back at once: set, add, touch, incr, delete, setMany, deleteMany, clear")
    func readYourWrites() async throws {
        try await Fixture.with { fixture in
            let near = fixture.near
            for round in 0..<20 {
                try await near.set("a", "set-\(round)")
                #expect(try await near.get("a", as: String.self) == "set-\(round)")
                #expect(try await near.get("a", as: String.self) == "set-\(round)")
                try await near.setMany(["a": "many-\(round)", "b": "many-\(round)"])
                #expect(try await near.getMany(["a", "b"], as: String.self) == ["a": "many-\(round)", "b": "many-\(round)"])
                try await near.deleteMany(["a"])
                #expect(try await near.get("a", as: String.self) == nil)
                #expect(try await near.add("a", "added-\(round)"))
                #expect(try await near.get("a", as: String.self) == "added-\(round)")
                try await near.delete("a")
                #expect(try await near.get("a", as: String.self) == nil)
                try await near.set("n", round)
                #expect(try await near.get("n", as: Int.self) == round)
                _ = try await near.incr("n")
                #expect(try await near.get("n", as: Int.self) == round + 1)
                _ = try await near.decr("n", by: 2)
                #expect(try await near.get("n", as: Int.self) == round - 1)
            }
            try await near.clear()
            #expect(try await near.get("b", as: String.self) == nil)
            #expect(try await near.get("n", as: Int.self) == nil)
        }
    }

    @Test("an entry never outlives its key's ttl in Redis")
    func ttl() async throws {
        try await Fixture.with { fixture in
            try await fixture.other.set("short", "v", ttl: 1)
            try await fixture.readUntilKept("short", expecting: "v")
            // The key expires in Redis within a second; the entry stops being served by then, whether or not Redis
            // has sent its invalidation yet.
            try await fixture.waitUntilNearReads("short", nil, what: "the key's ttl")
            let ttlLeft = try await fixture.other.remainingTTL("short")
            #expect(ttlLeft == -2)
        }
    }

    @Test("the near cache stays within its bounds under churn")
    func bounded() async throws {
        try await Fixture.with(maxEntries: 100, extra: ["near_cache_bytes=20000"]) { fixture in
            let keys = (0..<2000).map { "churn-\($0)" }
            try await fixture.other.setMany(keys.map { ($0, String(repeating: "x", count: 100)) })
            for start in stride(from: 0, to: keys.count, by: 100) {
                let read = try await fixture.near.getMany(Array(keys[start..<start + 100]), as: String.self)
                #expect(read.count == 100)
                let statistics = fixture.near.nearCacheStatistics!
                #expect(statistics.entries <= 100)
                #expect(statistics.bytes <= 20000)
            }
            for key in keys.prefix(500) { _ = try await fixture.near.get(key, as: String.self) }
            let statistics = fixture.near.nearCacheStatistics!
            #expect(statistics.entries <= 100)
            #expect(statistics.bytes <= 20000)
            #expect(statistics.evictions > 0)
        }
    }

    @Test("getMany calls that share keys of a down node each end with that node's failure", .timeLimit(.minutes(1)))
    func sharedKeysOfADownNode() async throws {
        try await Fixture.with { fixture in
            var down: [String] = []
            var up: [String] = []
            // Keys that differ only in a counter cluster on the ring (fnv1a_64): random ones spread.
            for candidate in (0..<400).map({ _ in "shared-\(UUID().uuidString)" }) {
                if fixture.near.nodeName(for: candidate) == "node-a" { down.append(candidate) } else { up.append(candidate) }
            }
            try #require(down.count >= 10 && up.count >= 5, "node-a got \(down.count) of 400 keys")
            try await fixture.other.setMany(up.map { ($0, "v") })
            await fixture.servers[0].kill()
            // Until the closed connection has been noticed, its flush could free the claims these calls leave.
            try await waitUntil("the cache to see node-a down") {
                do {
                    _ = try await fixture.near.get(down[0], as: String.self)
                    return false
                } catch {
                    return true
                }
            }
            // Each call claims some of the down node's keys and waits for the others' claims (duplicates included):
            // a claim left pending while its caller waits would make them wait for each other.
            let keys = down.prefix(10) + down.prefix(10) + up.prefix(5)
            try await withThrowingTaskGroup(of: CacheManyResult<String>.self) { group in
                for offset in 0..<8 {
                    let rotated = Array(keys.dropFirst(offset) + keys.prefix(offset))
                    group.addTask { try await fixture.near.getManyPartial(rotated, as: String.self) }
                }
                for try await result in group {
                    #expect(Set(result.failedKeys) == Set(down.prefix(10)), "\(result.failures)")
                    for key in up.prefix(5) { #expect(result.values[key] == .some("v")) }
                }
            }
        }
    }

    @Test("a server without RESP3 gives a clear error")
    func refusedHello() async throws {
        let server = try await RedisServer.start(extraArguments: ["--rename-command", "HELLO", ""], allowExternal: false)
        let cache = try Cache(url: RedisServer.cacheURL([server], options: ["near_cache=100"]))
        let error = await #expect(throws: CacheError.self) { try await cache.connect() }
        await server.stop()
        #expect(error?.message.contains("RESP3") == true, "\(String(describing: error))")
        #expect(error?.node == server.address)
    }

    /// 50 callers read random keys through the near cache while another process (`redis-cli`, one per node)
    /// writes increasing numbers to them. No read may return an older number than one any caller had already seen
    /// when it started (a stale value stored after a newer one was seen), and once the writers stop, every key
    /// reads its last number through the near cache.
    @Test("no stale reads under 100,000 writes from other processes while 50 callers read", .timeLimit(.minutes(5)))
    func noStaleReads() async throws {
        // Four connections per node from the start: reads of one key travel on different connections, whose
        // replies and invalidations are not ordered with each other.
        try await Fixture.with(extra: ["minsize=4", "maxsize=4"]) { fixture in
            let keys = (0..<60).map { "race-\($0)" }
            try await fixture.near.setMany(keys.map { ($0, 0) })

            // One command file per node, each key's numbers increasing.
            var random = SplitMix64(seed: 2026)
            var next = [Int](repeating: 0, count: keys.count)
            var files: [String: String] = [:]
            var last: [String: Int] = [:]
            for _ in 0..<100_000 {
                let index = Int(random.next() % UInt64(keys.count))
                next[index] += 1
                let server = try fixture.server(of: keys[index])
                files[server.address, default: ""] += "SET ::\(keys[index]) \(next[index])\n"
                last[keys[index]] = next[index]
            }
            let directory = FileManager.default.temporaryDirectory.path + "/caches-near-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }

            let progress = RaceProgress(keys: keys.count)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<50 {
                    group.addTask {
                        var random = SplitMix64(seed: UInt64(caller))
                        while !progress.stop.load(ordering: .relaxed) {
                            let index = Int(random.next() % UInt64(keys.count))
                            let floor = progress.highest.withLockedValue { $0[index] }
                            let value = try await fixture.near.get(keys[index], as: Int.self) ?? -1
                            progress.reads.add(1, ordering: .relaxed)
                            if value < floor {
                                let violation = "\(keys[index]): read \(value) after \(floor) was seen"
                                progress.violations.withLockedValue { if $0.count < 100 { $0.append(violation) } }
                            }
                            progress.highest.withLockedValue { $0[index] = max($0[index], value) }
                            // Hits never suspend: pace the callers so the writer processes get the CPU too (two
                            // cores here). The outcome does not depend on it.
                            if progress.reads.load(ordering: .relaxed) % 64 == 0 { try await Task.sleep(for: .milliseconds(1)) }
                        }
                    }
                }
                var writers: [Process] = []
                for (address, commands) in files {
                    let server = fixture.servers.first { $0.address == address }!
                    let path = directory + "/\(server.port).txt"
                    try commands.write(toFile: path, atomically: true, encoding: .utf8)
                    let process = Process()
                    process.executableURL = URL(fileURLWithPath: "/bin/sh")
                    process.arguments = ["-c", "redis-cli -h \(server.host) -p \(server.port) < \(path) > /dev/null"]
                    try process.run()
                    writers.append(process)
                }
                for writer in writers {
                    while writer.isRunning { try await Task.sleep(for: .milliseconds(20)) }
                    #expect(writer.terminationStatus == 0)
                }
                // Every key reads its last number through the near cache once the invalidations arrived.
                for key in keys {
                    try await fixture.waitUntilNearReadsNumber(key, last[key] ?? 0, what: "the writers stopped")
                }
                progress.stop.store(true, ordering: .relaxed)
                try await group.waitForAll()
            }
            let violations = progress.violations.withLockedValue { $0 }
            #expect(violations.count == 0, "stale reads, the first ones: \(violations.prefix(10))")
            let statistics = fixture.near.nearCacheStatistics!
            print("near cache under writes: \(progress.reads.load(ordering: .relaxed)) reads, \(statistics)")
            #expect(statistics.invalidations > 0)
            #expect(statistics.hits > 0)
        }
    }

    static func commandCount(_ command: String, on server: RedisServer) async throws -> Int {
        let info = try await server.cli("INFO", "commandstats")
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):") }),
            let calls = line.split(separator: "calls=").last?.split(separator: ",").first
        else { return 0 }
        return Int(calls) ?? 0
    }
}

extension NearCacheTests.Fixture {
    /// Polls the near cache until the integer `key` reads `expectingInt`.
    func waitUntilNearReadsNumber(_ key: String, _ value: Int, what: String) async throws {
        try await waitUntil(timeout: .seconds(10), "the near cache to read \(value) for \(key) after \(what)") {
            try await self.near.get(key, as: Int.self) == value
        }
    }
}

/// What the callers of the stale-read test share.
private final class RaceProgress: Sendable {
    /// The highest number any caller has read, per key.
    let highest: NIOLockedValueBox<[Int]>
    let stop = Atomic<Bool>(false)
    let violations = NIOLockedValueBox<[String]>([])
    let reads = Atomic<Int>(0)

    init(keys: Int) {
        self.highest = NIOLockedValueBox([Int](repeating: 0, count: keys))
    }
}

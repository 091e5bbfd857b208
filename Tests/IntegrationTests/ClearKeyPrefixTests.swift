import Caches
import RedisTestSupport
import Testing

/// `clear(scope: .keyPrefix)` over real nodes: only the cache's keys go, on every node, with `SCAN` and `UNLINK`
/// batches, while the server keeps answering other clients.
@Suite("clear(scope: .keyPrefix) on real nodes")
struct ClearKeyPrefixTests {
    /// The total key count of the cache's databases (`DBSIZE` on every node).
    static func databaseSize(_ cache: Cache) async throws -> Int {
        try await cache.nodeStatus().reduce(0) { sum, status in
            guard let count = status.keyCount else { throw status.error ?? CacheError(.nodeUnavailable, "no DBSIZE") }
            return sum + count
        }
    }

    @Test func removesExactlyTheKeysOfItsPrefixOnAThreeNodeRingWhileTheServersAnswer() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            // A long command timeout: the test writes 100,000 keys, on machines that may be loaded.
            let url = RedisServer.cacheURL(servers, database: 0, options: ["weights=1,2,1", "timeout=30"])
            let a = try Cache(url: url, keyPrefix: "A")
            let b = try Cache(url: url, keyPrefix: "B")
            // `AB:…` and `A` without the colon are not `A:…`.
            let lookalike = try Cache(url: url, keyPrefix: "AB")
            let pinger = try Cache(url: url, keyPrefix: "P")
            for cache in [a, b, lookalike, pinger] { try await cache.connect() }

            // 100,000 keys under A, in two versions, written with setMany in batches.
            for start in stride(from: 0, to: 100_000, by: 5_000) {
                let pairs = (start..<start + 5_000).map { ("key-\($0)", $0) }
                try await a.setMany(pairs, ttl: 600, version: start % 10_000 == 0 ? 1 : 2)
            }
            try await b.setMany((0..<1_000).map { ("key-\($0)", $0) })
            try await lookalike.setMany((0..<500).map { ("key-\($0)", $0) })
            #expect(try await Self.databaseSize(a) == 101_500)
            var before: [[String: Int]] = []
            for server in servers { before.append(try await server.commandCalls()) }

            // Another client pings every node throughout; successes are counted while the clear runs.
            let clearing = TestEvent()
            let cleared = TestEvent()
            let answeredDuringClear = TestCounter()
            let failedPings = TestCounter()
            let pings = Task {
                while !cleared.isSignalled {
                    let statuses = (try? await pinger.nodeStatus()) ?? []
                    if !statuses.isEmpty && statuses.allSatisfy({ $0.error == nil }) {
                        if clearing.isSignalled && !cleared.isSignalled { answeredDuringClear.increment() }
                    } else {
                        failedPings.increment()
                    }
                }
            }
            clearing.signal()
            let removed = try await a.clear(scope: .keyPrefix)
            cleared.signal()
            await pings.value

            #expect(removed == 100_000)
            #expect(try await Self.databaseSize(b) == 1_500)
            #expect(try await b.getMany((0..<1_000).map { "key-\($0)" }, as: Int.self).values.allSatisfy { $0 != nil })
            #expect(try await lookalike.get("key-499", as: Int.self) == 499)
            #expect(try await a.get("key-5", as: Int.self, version: 1) == nil)
            #expect(answeredDuringClear.count > 0, "other clients were answered while the clear ran")
            #expect(failedPings.count == 0)

            // SCAN batches and UNLINK on every node; never KEYS or FLUSHDB.
            for (server, calls) in zip(servers, before) {
                let after = try await server.commandCalls()
                #expect((after["scan"] ?? 0) - (calls["scan"] ?? 0) > 1, "\(server.address) was scanned in batches")
                #expect((after["unlink"] ?? 0) > (calls["unlink"] ?? 0))
                #expect(after["keys"] == nil)
                #expect(after["flushdb"] == nil)
            }
            // Nothing left to remove.
            #expect(try await a.clear(scope: .keyPrefix) == 0)
            for cache in [a, b, lookalike, pinger] { try await cache.disconnect() }
        }
    }

    @Test(arguments: ["a*b", "x[1]", "q?", "back\\slash"])
    func globCharactersOfThePrefixMatchOnlyThemselves(prefix: String) async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        let cache = try Cache(url: url, keyPrefix: prefix)
        // Keys a glob reading of the prefix would match: `aXXb:`, `x1:`, `qz:`, `backslash:`.
        let neighbours = ["aXXb", "ab", "x1", "xx", "qz", "backslash", "back\\\\slash"]
        let others = try neighbours.map { try Cache(url: url, keyPrefix: $0) }
        for other in [cache] + others { try await other.connect() }
        try await cache.setMany((0..<50).map { ("k\($0)", $0) })
        for other in others { try await other.set("k", 1) }

        #expect(try await cache.clear(scope: .keyPrefix) == 50)
        for other in others {
            #expect(try await other.get("k", as: Int.self) == 1, "prefix \(other.configuration.keyPrefix) kept")
        }
        #expect(try await ClearKeyPrefixTests.databaseSize(cache) == others.count)
        try await cache.clear()
        for other in [cache] + others { try await other.disconnect() }
    }

    @Test(arguments: [BackendKind.redis, .ring, .memory])
    func refusesWithoutAPrefixAndDatabaseScopeCounts(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.setMany((0..<10).map { ("k\($0)", $0) })
            let error = await #expect(throws: CacheError.self) { try await cache.clear(scope: .keyPrefix) }
            #expect(error?.code == .invalidArgument)
            #expect(try await cache.get("k1", as: Int.self) == 1, "nothing was removed")
            #expect(try await cache.clear(scope: .database) == 10)
            #expect(try await cache.get("k1", as: Int.self) == nil)
        }
    }
}

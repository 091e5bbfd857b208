import Caches
import Foundation
import RedisTestSupport
import Testing

/// The cross-process option of `getOrSet` (``CacheStampedeLock``) against real nodes. Separate `Cache` objects stand
/// for separate processes: each has its own single-flight table, so only the lock on the node coordinates them.
@Suite("Cross-process stampede lock on real nodes")
struct StampedeLockTests {
    @Test func fourCachesOfFiftyCallersComputeOnce() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        let caches = try (0..<4).map { _ in try Cache(url: url, keyPrefix: "stampede") }
        for cache in caches { try await cache.connect() }
        let runs = TestCounter()
        let release = TestEvent()
        // The lock and the wait outlast the slowest gathering of the 200 callers (a sanitizer build beside busy tests
        // can take tens of seconds): had either run out, a second caller would compute, and the test would fail.
        let lock = CacheStampedeLock(ttl: .seconds(600), wait: .seconds(600), pollInterval: .milliseconds(10))
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for cache in caches {
                for _ in 0..<50 {
                    group.addTask {
                        try await cache.getOrSet("hot", as: String.self, ttl: 60, lock: lock) {
                            runs.increment()
                            await release.wait()
                            return "computed"
                        }
                    }
                }
            }
            try await waitUntil(timeout: .seconds(300), "200 callers waiting, one computing", releasingOnFailure: release) {
                caches.reduce(0) { $0 + $1.getOrSetWaiterCount } == 200 && runs.count == 1
            }
            release.signal()
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(values.count == 200)
        #expect(Set(values) == ["computed"])
        #expect(runs.count == 1, "one computation across the four caches")
        try await caches[0].clear()
        for cache in caches { try await cache.disconnect() }
    }

    @Test func aDeadHoldersLockIsTakenOverOnceItExpiresAndAForeignLockIsLeftAlone() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let names = ["node-a", "node-b", "node-c"]
            let cache = try Cache(url: RedisServer.cacheURL(servers, options: ["names=" + names.joined(separator: ",")]), keyPrefix: "dead")
            try await cache.connect()
            let node = try #require(cache.nodeName(for: "hot"))
            let server = servers[try #require(names.firstIndex(of: node))]
            let lockKey = "caches-lock:" + cache.makeKey("hot")
            let runs = TestCounter()

            // A holder that died: its lock expires after 800 ms.
            _ = try await server.cli("SET", lockKey, "dead-holder", "PX", "800")
            let clock = ContinuousClock()
            let start = clock.now
            let value = try await cache.getOrSet(
                "hot",
                as: String.self,
                lock: CacheStampedeLock(ttl: .seconds(5), wait: .seconds(60), pollInterval: .milliseconds(20))
            ) {
                runs.increment()
                return "taken over"
            }
            let elapsed = clock.now - start
            #expect(value == "taken over")
            #expect(runs.count == 1)
            #expect(elapsed >= .milliseconds(300), "it waited for the lock")
            #expect(elapsed < .seconds(20), "not blocked past the lock's expiry (the wait was 60 s)")
            #expect(try await server.cli("EXISTS", lockKey).trimmingCharacters(in: .whitespacesAndNewlines) == "0", "released")

            // A live lock that outlasts the wait: the caller computes itself and leaves the other holder's lock.
            _ = try await server.cli("SET", lockKey, "other-holder", "PX", "60000")
            let own = try await cache.getOrSet("other", as: String.self, lock: CacheStampedeLock(wait: .milliseconds(200))) { "own" }
            #expect(own == "own")
            let late = try await cache.getOrSet("hot2", as: String.self, lock: CacheStampedeLock(wait: .milliseconds(200))) { "x" }
            #expect(late == "x")
            #expect(try await server.cli("GET", lockKey).trimmingCharacters(in: .whitespacesAndNewlines) == "other-holder")
            try await cache.disconnect()
        }
    }
}

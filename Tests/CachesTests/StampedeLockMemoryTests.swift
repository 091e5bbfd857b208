import Caches
import RedisTestSupport
import Testing

/// ``CacheStampedeLock`` on the in-memory backend: caches sharing one store stand for processes sharing nodes.
@Suite struct StampedeLockMemoryTests {
    @Test func fourCachesOfFiftyCallersComputeOnce() async throws {
        let url = "memory://stampede-\(UInt64.random(in: 0...UInt64.max))"
        let caches = try (0..<4).map { _ in try Cache(url: url) }
        for cache in caches { try await cache.connect() }
        let runs = TestCounter()
        let release = TestEvent()
        // The lock and the wait outlast the slowest gathering of the 200 callers (a sanitizer build beside busy tests
        // can take tens of seconds): had either run out, a second caller would compute, and the test would fail.
        let lock = CacheStampedeLock(ttl: .seconds(600), wait: .seconds(600), pollInterval: .milliseconds(5))
        let values = try await withThrowingTaskGroup(of: Int.self) { group in
            for cache in caches {
                for _ in 0..<50 {
                    group.addTask {
                        try await cache.getOrSet("hot", as: Int.self, lock: lock) {
                            runs.increment()
                            await release.wait()
                            return 42
                        }
                    }
                }
            }
            try await waitUntil(timeout: .seconds(300), "200 callers waiting, one computing", releasingOnFailure: release) {
                caches.reduce(0) { $0 + $1.getOrSetWaiterCount } == 200 && runs.count == 1
            }
            release.signal()
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(values == Array(repeating: 42, count: 200))
        #expect(runs.count == 1)
        for cache in caches { try await cache.disconnect() }
    }

    @Test func aHolderPastItsLockTtlDoesNotBlockTheOthers() async throws {
        let url = "memory://stampede-\(UInt64.random(in: 0...UInt64.max))"
        let stuck = try Cache(url: url)
        let other = try Cache(url: url)
        for cache in [stuck, other] { try await cache.connect() }
        let holding = TestEvent()
        let release = TestEvent()
        let holder = Task {
            try await stuck.getOrSet("hot", as: String.self, lock: CacheStampedeLock(ttl: .milliseconds(100))) {
                holding.signal()
                await release.wait()
                return "late"
            }
        }
        await holding.wait()
        let value = try await other.getOrSet(
            "hot",
            as: String.self,
            lock: CacheStampedeLock(ttl: .seconds(5), wait: .seconds(60), pollInterval: .milliseconds(10))
        ) {
            "taken over"
        }
        #expect(value == "taken over")
        release.signal()
        #expect(try await holder.value == "late")
        for cache in [stuck, other] { try await cache.disconnect() }
    }
}

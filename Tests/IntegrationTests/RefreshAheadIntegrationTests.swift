import Caches
import RedisTestSupport
import Testing

/// Refresh-ahead against real nodes (one node and the 3-node ring): a hot key read by many callers is refreshed in
/// the background again and again, past the ttl it was first written with, and no caller ever misses; a second
/// `Cache` (another process) holding the key's lock makes a refresh stand aside. CachesTests/RefreshAheadTests.swift
/// checks the rules one by one on the in-memory backend.
@Suite("Refresh-ahead getOrSet on real nodes")
struct RefreshAheadIntegrationTests {
    /// Set by the callers of the hot-key test: a computation that sees it ran in a caller's task (a miss), not in
    /// the detached background refresh.
    @TaskLocal static var caller: Int?

    @Test(arguments: [BackendKind.redis, .ring])
    func aHotKeyIsRefreshedBeforeItExpiresAndItsReadersNeverMiss(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            // Written with a 3 s ttl; a hit with less than 2.7 s left refreshes it (stored again with 3 s), which
            // leaves a refresh 2.7 s to land on a loaded machine. Each refresh comes at least 0.3 s after the previous
            // store, so ten of them outlast the first write's ttl: had the refreshes not replaced the key, it would
            // have expired and a caller would have missed.
            try await cache.set("hot", 0, ttl: 3)
            let refreshes = TestCounter()
            let foregroundComputations = TestCounter()
            let calls = TestCounter()
            let refreshAhead = CacheRefreshAhead(whenRemainingBelow: 0.9)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<8 {
                    group.addTask {
                        try await Self.$caller.withValue(caller) {
                            var last = 0
                            while refreshes.count < 10 {
                                let value = try await cache.getOrSet("hot", as: Int.self, ttl: 3, refreshAhead: refreshAhead) {
                                    if Self.caller != nil { foregroundComputations.increment() }
                                    return refreshes.increment()
                                }
                                // A caller never goes back to an older value.
                                #expect(value >= last)
                                last = value
                                calls.increment()
                                // Pacing of the readers' load (not a synchronisation): about 100 reads per second each.
                                try await Task.sleep(for: .milliseconds(10))
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(foregroundComputations.count == 0, "a caller missed and computed the value itself")
            #expect(refreshes.count >= 10)
            #expect(calls.count > 8)
            try await waitUntil("the last refresh to end") { cache.refreshingCount == 0 }
            #expect(try await cache.get("hot", as: Int.self) ?? 0 >= 10)
        }
    }

    @Test func aRefreshStandsAsideWhileAnotherProcessHoldsTheKeysLock() async throws {
        let url = try await TestNodes.shared.url(for: .redis)
        let first = try Cache(url: url)
        let second = try Cache(url: url)
        try await first.connect()
        try await second.connect()
        let lock = CacheStampedeLock(ttl: .seconds(30))
        let refreshAhead = CacheRefreshAhead(whenRemainingBelow: 0.5)
        try await first.set("k", "old", ttl: 1000)
        // The second cache's refresh takes the lock and computes until released.
        let release = TestEvent()
        let secondRuns = TestCounter()
        #expect(
            try await second.getOrSet("k", as: String.self, ttl: 10_000, lock: lock, refreshAhead: refreshAhead) {
                secondRuns.increment()
                await release.wait()
                return "from second"
            } == "old"
        )
        try await waitUntil("the second cache's refresh to hold the lock") { secondRuns.count == 1 }
        // The first cache's refresh finds the lock taken and does not compute.
        let firstRuns = TestCounter()
        #expect(
            try await first.getOrSet("k", as: String.self, ttl: 10_000, lock: lock, refreshAhead: refreshAhead) {
                firstRuns.increment()
                return "from first"
            } == "old"
        )
        try await waitUntil("the first cache's refresh to stand aside") { first.refreshingCount == 0 }
        #expect(firstRuns.count == 0)
        release.signal()
        try await waitUntil("the second cache's refresh to end") { second.refreshingCount == 0 }
        #expect(try await first.get("k", as: String.self) == "from second")
        try await first.clear()
        try await first.disconnect()
        try await second.disconnect()
    }
}

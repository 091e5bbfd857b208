import Caches
import Logging
import RedisTestSupport
import Testing

/// Refresh-ahead `getOrSet` on the in-memory backend: which hits start a refresh, one refresh per key, callers keep
/// the current value while it runs, errors stay in the background, `disconnect()` cancels it.
/// IntegrationTests/RefreshAheadIntegrationTests.swift runs a hot key through several refreshes on real nodes.
/// Thresholds are chosen far from the remaining ttl (1,000 s left against 500 s or 5,000 s) and keys outlive any
/// slow run, so no step depends on timing.
@Suite struct RefreshAheadTests {
    struct Boom: Error {}

    private func withMemoryCache(
        ttl: Int? = nil,
        logger: CapturedLogs? = nil,
        _ body: (Cache) async throws -> Void
    ) async throws {
        let cache = try Cache(
            url: "memory://refresh-ahead-\(UInt64.random(in: 0...UInt64.max))",
            ttl: ttl,
            logger: logger?.logger(level: .debug)
        )
        try await cache.withConnection(body)
    }

    private static let half = CacheRefreshAhead(whenRemainingBelow: 0.5)

    @Test func aHitWithMoreThanTheFractionLeftStartsNoRefresh() async throws {
        try await self.withMemoryCache { cache async throws in
            try await cache.set("k", "old", ttl: 1000)
            let runs = TestCounter()
            // 1,000 s left of a 1,000 s ttl: above half.
            let value = try await cache.getOrSet("k", as: String.self, ttl: 1000, refreshAhead: Self.half) {
                runs.increment()
                return "new"
            }
            #expect(value == "old")
            #expect(cache.refreshingCount == 0)
            #expect(runs.count == 0)
        }
    }

    @Test func aHitBelowTheFractionRefreshesOnceInTheBackgroundWhileCallersGetTheCurrentValue() async throws {
        try await self.withMemoryCache { cache async throws in
            try await cache.set("k", "old", ttl: 1000)
            let runs = TestCounter()
            let release = TestEvent()
            // 1,000 s left of a 10,000 s ttl: below half, so every hit wants a refresh; only one runs.
            let values = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await cache.getOrSet("k", as: String.self, ttl: 10_000, refreshAhead: Self.half) {
                            runs.increment()
                            await release.wait()
                            return "new"
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(values == Array(repeating: "old", count: 50))
            try await waitUntil("the refresh to start") { runs.count == 1 }
            #expect(cache.refreshingCount == 1)
            // More hits while it runs: still the current value, still one refresh.
            #expect(try await cache.getOrSet("k", as: String.self, ttl: 10_000, refreshAhead: Self.half) { "other" } == "old")
            #expect(runs.count == 1)
            release.signal()
            try await waitUntil("the refresh to end") { cache.refreshingCount == 0 }
            #expect(try await cache.get("k", as: String.self) == "new")
            // Stored with the call's ttl.
            #expect(try await cache.ttl("k") ?? 0 > 5000)
            #expect(runs.count == 1)
        }
    }

    @Test func aKeyWithoutExpiryIsNeverRefreshed() async throws {
        try await self.withMemoryCache { cache async throws in
            try await cache.set("k", "forever")
            let value = try await cache.getOrSet("k", as: String.self, ttl: 10_000, refreshAhead: Self.half) { "new" }
            #expect(value == "forever")
            #expect(cache.refreshingCount == 0)
        }
    }

    @Test func aMissComputesInTheForegroundAsWithoutTheOption() async throws {
        try await self.withMemoryCache(ttl: 30) { cache async throws in
            let value = try await cache.getOrSet("k", as: String.self, refreshAhead: Self.half) { "computed" }
            #expect(value == "computed")
            #expect(try await cache.get("k", as: String.self) == "computed")
            #expect(cache.refreshingCount == 0)
        }
    }

    @Test func aFailedRefreshIsLoggedAndTheCurrentValueStays() async throws {
        let logs = CapturedLogs()
        try await self.withMemoryCache(logger: logs) { cache async throws in
            try await cache.set("k", "old", ttl: 1000)
            let value = try await cache.getOrSet("k", as: String.self, ttl: 10_000, refreshAhead: Self.half) {
                throw Boom()
            }
            #expect(value == "old")
            try await logs.waitFor { $0.level == .warning && $0.message.contains("refresh-ahead failed") }
            try await waitUntil("the refresh to end") { cache.refreshingCount == 0 }
            #expect(try await cache.get("k", as: String.self) == "old")
        }
    }

    @Test func disconnectCancelsARunningRefresh() async throws {
        let cache = try Cache(url: "memory://refresh-ahead-\(UInt64.random(in: 0...UInt64.max))")
        try await cache.connect()
        try await cache.set("k", "old", ttl: 1000)
        let started = TestEvent()
        let cancelled = TestEvent()
        _ = try await cache.getOrSet("k", as: String.self, ttl: 10_000, refreshAhead: Self.half) {
            started.signal()
            do {
                // Ends only by cancellation (or after an hour, failing the test by its time limit).
                try await Task.sleep(for: .seconds(3600))
            } catch {
                cancelled.signal()
                throw error
            }
            return "new"
        }
        await started.wait()
        try await cache.disconnect()
        #expect(cache.refreshingCount == 0)
        await cancelled.wait()
    }

    @Test func theOptionNeedsATtlAndAFractionBetweenZeroAndOne() async throws {
        try await self.withMemoryCache { cache async throws in
            try await cache.set("k", "old", ttl: 1000)
            let noTTL = await #expect(throws: CacheError.self) {
                try await cache.getOrSet("k", as: String.self, refreshAhead: Self.half) { "new" }
            }
            #expect(noTTL?.code == .invalidArgument)
            #expect(noTTL?.message.contains("needs a ttl") == true)
            for fraction in [0, 1, -0.5, 2, .nan] {
                let error = await #expect(throws: CacheError.self) {
                    try await cache.getOrSet("k", as: String.self, ttl: 10, refreshAhead: .init(whenRemainingBelow: fraction)) {
                        "new"
                    }
                }
                #expect(error?.code == .invalidArgument, "fraction \(fraction)")
                #expect(error?.key == "k")
            }
        }
    }
}

import Caches
import RedisTestSupport
import Testing

/// Single-flight `getOrSet` against real nodes (one node and the 3-node ring); CachesTests/SingleFlightTests.swift
/// runs the same scenarios on the in-memory backend. Sequenced on events and the cache's waiter count, not sleeps.
@Suite("Single-flight getOrSet on real nodes")
struct SingleFlightIntegrationTests {
    struct Boom: Error {}

    static let kinds: [BackendKind] = [.redis, .ring]

    @Test(arguments: Self.kinds)
    func twoHundredConcurrentMissesRunTheClosureOnce(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            let runs = TestCounter()
            let release = TestEvent()
            let values = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        try await cache.getOrSet("hot", as: String.self, ttl: 60) {
                            runs.increment()
                            await release.wait()
                            return "computed"
                        }
                    }
                }
                try await waitUntil(timeout: .seconds(60), "200 callers waiting") { cache.getOrSetWaiterCount == 200 }
                release.signal()
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(values.count == 200)
            #expect(Set(values) == ["computed"])
            #expect(runs.count == 1)
            #expect(try await cache.get("hot", as: String.self) == "computed")
            #expect(try await cache.ttl("hot") ?? 0 > 0)
            #expect(cache.inFlightGetOrSetCount == 0)
        }
    }

    @Test(arguments: Self.kinds)
    func theErrorReachesEveryWaiter(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            let runs = TestCounter()
            let release = TestEvent()
            let errors = TestCounter()
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        do {
                            _ = try await cache.getOrSet("hot", as: String.self) {
                                runs.increment()
                                await release.wait()
                                throw Boom()
                            }
                        } catch is Boom {
                            errors.increment()
                        } catch {
                            Issue.record("unexpected error \(error)")
                        }
                    }
                }
                try? await waitUntil(timeout: .seconds(60), "200 callers waiting") { cache.getOrSetWaiterCount == 200 }
                release.signal()
            }
            #expect(errors.count == 200)
            #expect(runs.count == 1)
            #expect(try await cache.get("hot", as: String.self) == nil)
            #expect(cache.inFlightGetOrSetCount == 0)
        }
    }

    @Test(arguments: Self.kinds)
    func aCancelledWaiterLeavesTheOthersTheirValue(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            let runs = TestCounter()
            let release = TestEvent()
            let computationCancelled = TestEvent()
            @Sendable func call() async throws -> String {
                try await cache.getOrSet("hot", as: String.self) {
                    runs.increment()
                    await withTaskCancellationHandler {
                        await release.wait()
                    } onCancel: {
                        computationCancelled.signal()
                        release.signal()
                    }
                    try Task.checkCancellation()
                    return "computed"
                }
            }
            let first = Task { try await call() }
            let cancelled = Task { try await call() }
            try await waitUntil(timeout: .seconds(60), "2 callers waiting") { cache.getOrSetWaiterCount == 2 }
            cancelled.cancel()
            await #expect(throws: CancellationError.self) { try await cancelled.value }
            #expect(!computationCancelled.isSignalled)
            release.signal()
            #expect(try await first.value == "computed")
            #expect(runs.count == 1)
            #expect(!computationCancelled.isSignalled)
            #expect(try await cache.get("hot", as: String.self) == "computed")

            // Every waiter gone: the computation is cancelled and nothing is stored.
            let abandoned = Task {
                try await cache.getOrSet("other", as: String.self) {
                    let wait = TestEvent()
                    await withTaskCancellationHandler {
                        await wait.wait()
                    } onCancel: {
                        wait.signal()
                    }
                    try Task.checkCancellation()
                    return "never"
                }
            }
            try await waitUntil(timeout: .seconds(60), "1 caller waiting") { cache.getOrSetWaiterCount == 1 }
            abandoned.cancel()
            await #expect(throws: CancellationError.self) { try await abandoned.value }
            #expect(cache.inFlightGetOrSetCount == 0)
        }
    }

    /// On a ring of its own (not the shared test nodes, which its 200,000 requests would slow for the other tests),
    /// with a long command timeout for loaded machines.
    @Test func oneHundredThousandKeysLeaveAnEmptyTable() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: RedisServer.cacheURL(servers, options: ["timeout=30"]))
            try await cache.connect()
            for chunk in stride(from: 0, to: 100_000, by: 1_000) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in chunk..<chunk + 1_000 {
                        group.addTask {
                            let value = try await cache.getOrSet("key-\(index)", as: Int.self, ttl: 60) { index }
                            #expect(value == index)
                        }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(cache.inFlightGetOrSetCount == 0)
            #expect(cache.getOrSetWaiterCount == 0)
            try await cache.disconnect()
        }
    }
}

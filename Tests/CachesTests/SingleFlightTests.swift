import Caches
import RedisTestSupport
import Testing

/// Single-flight `getOrSet` on the in-memory backend (IntegrationTests/SingleFlightIntegrationTests.swift runs the
/// same scenarios against real nodes). Every step is sequenced on events and on the cache's waiter count, not sleeps.
@Suite struct SingleFlightTests {
    struct Boom: Error, Equatable {}

    private func withMemoryCache(_ body: (Cache) async throws -> Void) async throws {
        let cache = try Cache(url: "memory://single-flight-\(UInt64.random(in: 0...UInt64.max))")
        try await cache.withConnection(body)
    }

    @Test func concurrentMissesOnOneKeyRunTheClosureOnceAndAllGetItsValue() async throws {
        try await self.withMemoryCache { cache async throws in
            let runs = TestCounter()
            let release = TestEvent()
            let values = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        try await cache.getOrSet("hot", as: String.self) {
                            runs.increment()
                            await release.wait()
                            return "computed"
                        }
                    }
                }
                try await waitUntil(timeout: .seconds(300), "200 callers waiting") { cache.getOrSetWaiterCount == 200 }
                #expect(cache.inFlightGetOrSetCount == 1)
                release.signal()
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(values.count == 200)
            #expect(Set(values) == ["computed"])
            #expect(runs.count == 1)
            #expect(try await cache.get("hot", as: String.self) == "computed")
            #expect(cache.inFlightGetOrSetCount == 0)
        }
    }

    @Test func theClosuresErrorReachesEveryWaiter() async throws {
        try await self.withMemoryCache { cache async throws in
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
                try? await waitUntil(timeout: .seconds(300), "200 callers waiting") { cache.getOrSetWaiterCount == 200 }
                release.signal()
            }
            #expect(errors.count == 200)
            #expect(runs.count == 1)
            #expect(try await cache.get("hot", as: String.self) == nil)
            #expect(cache.inFlightGetOrSetCount == 0)
        }
    }

    @Test func aCancelledWaiterStopsWaitingWithoutCancellingTheComputation() async throws {
        try await self.withMemoryCache { cache async throws in
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
            let third = Task { try await call() }
            try await waitUntil(timeout: .seconds(300), "3 callers waiting") { cache.getOrSetWaiterCount == 3 }

            cancelled.cancel()
            await #expect(throws: CancellationError.self) { try await cancelled.value }
            #expect(cache.getOrSetWaiterCount == 2)
            #expect(cache.inFlightGetOrSetCount == 1)
            #expect(!computationCancelled.isSignalled)

            release.signal()
            #expect(try await first.value == "computed")
            #expect(try await third.value == "computed")
            #expect(runs.count == 1)
            #expect(!computationCancelled.isSignalled)
            #expect(cache.inFlightGetOrSetCount == 0)
        }
    }

    @Test func theComputationIsCancelledWhenItsLastWaiterLeaves() async throws {
        try await self.withMemoryCache { cache async throws in
            let runs = TestCounter()
            let computationCancelled = TestEvent()
            @Sendable func call() async throws -> String {
                try await cache.getOrSet("hot", as: String.self) {
                    runs.increment()
                    let release = TestEvent()
                    await withTaskCancellationHandler {
                        await release.wait()
                    } onCancel: {
                        computationCancelled.signal()
                        release.signal()
                    }
                    try Task.checkCancellation()
                    return "never"
                }
            }
            let callers = [Task { try await call() }, Task { try await call() }]
            try await waitUntil(timeout: .seconds(300), "2 callers waiting") { cache.getOrSetWaiterCount == 2 }
            callers[0].cancel()
            await #expect(throws: CancellationError.self) { try await callers[0].value }
            #expect(!computationCancelled.isSignalled, "one caller still waits")
            callers[1].cancel()
            await #expect(throws: CancellationError.self) { try await callers[1].value }
            await computationCancelled.wait()
            #expect(cache.inFlightGetOrSetCount == 0)
            #expect(runs.count == 1)

            // The abandoned computation is out of the table: the next miss computes afresh.
            let value = try await cache.getOrSet("hot", as: String.self) { "fresh" }
            #expect(value == "fresh")
            #expect(try await cache.get("hot", as: String.self) == "fresh")
        }
    }

    @Test func withoutSingleFlightEveryMissComputes() async throws {
        try await self.withMemoryCache { cache async throws in
            let runs = TestCounter()
            let bothRunning = TestEvent()
            @Sendable func call() async throws -> Int {
                try await cache.getOrSet("k", as: Int.self, singleFlight: false) {
                    if runs.increment() == 2 { bothRunning.signal() }
                    await bothRunning.wait()
                    return runs.count
                }
            }
            async let first = call()
            async let second = call()
            #expect(try await [first, second] == [2, 2])
            #expect(runs.count == 2)
            #expect(cache.inFlightGetOrSetCount == 0)
        }
    }

    @Test func differentTypesOnOneKeyDoNotShare() async throws {
        try await self.withMemoryCache { cache async throws in
            let release = TestEvent()
            async let text = cache.getOrSet("k", as: String.self) {
                await release.wait()
                return "1"
            }
            async let number = cache.getOrSet("k", as: Int.self) {
                await release.wait()
                return 1
            }
            try await waitUntil(timeout: .seconds(300), "2 computations") { cache.inFlightGetOrSetCount == 2 }
            release.signal()
            #expect(try await text == "1")
            #expect(try await number == 1)
        }
    }

    @Test func oneHundredThousandKeysLeaveAnEmptyTable() async throws {
        try await self.withMemoryCache { cache async throws in
            let failures = TestCounter()
            for chunk in stride(from: 0, to: 100_000, by: 2_000) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for index in chunk..<chunk + 2_000 {
                        group.addTask {
                            do {
                                let value = try await cache.getOrSet("key-\(index)", as: Int.self) {
                                    if index % 10 == 0 { throw Boom() }
                                    return index
                                }
                                #expect(value == index)
                            } catch is Boom {
                                failures.increment()
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            #expect(failures.count == 10_000)
            #expect(cache.inFlightGetOrSetCount == 0)
            #expect(cache.getOrSetWaiterCount == 0)
        }
    }
}

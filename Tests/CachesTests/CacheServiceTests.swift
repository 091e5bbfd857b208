#if ServiceLifecycleSupport
    import Foundation
    import Logging
    import NIOConcurrencyHelpers
    import RedisTestSupport
    import ServiceLifecycle
    import ServiceLifecycleTestKit
    import Testing

    @testable import Caches

    /// `Cache` as a ServiceLifecycle service: `run()` connects, serves, runs background jobs, and disconnects on
    /// graceful shutdown or cancellation. Embedded backends only; the Redis side is in the integration tests.
    @Suite struct CacheServiceTests {
        /// A fresh in-memory cache of its own store.
        private func makeCache(logger: Logger? = nil) throws -> Cache {
            try Cache(url: "memory://service-\(UUID().uuidString)", logger: logger)
        }

        @Test func runConnectsServesAndDisconnectsOnGracefulShutdownOfItsServiceGroup() async throws {
            let cache = try self.makeCache()
            let started = Signal()
            cache.addBackgroundJob(named: "started") { _ in started.fire() }
            let group = ServiceGroup(services: [cache], logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
            #expect(!cache.isConnected)

            try await withThrowingTaskGroup { tasks in
                tasks.addTask { try await group.run() }
                await started.wait()
                #expect(cache.isConnected)
                try await cache.set("greeting", "hello")
                #expect(try await cache.get("greeting", as: String.self) == "hello")

                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }

            #expect(!cache.isConnected)
            let error = await #expect(throws: CacheError.self) { _ = try await cache.get("greeting", as: String.self) }
            #expect(error?.code == .notConnected)
        }

        @Test func cancellationEndsRunAndDisconnects() async throws {
            let cache = try self.makeCache()
            let started = Signal()
            cache.addBackgroundJob(named: "started") { _ in started.fire() }
            try await withThrowingTaskGroup { tasks in
                tasks.addTask { try await cache.run() }
                await started.wait()
                #expect(cache.isConnected)
                tasks.cancelAll()
                try await tasks.waitForAll()
            }
            #expect(!cache.isConnected)
        }

        @Test func runKeepsAConnectionMadeBeforeItAndStillDisconnectsAtTheEnd() async throws {
            let cache = try self.makeCache()
            try await cache.connect()
            // The memory store lives while a cache is connected to it: a reconnect would lose this value.
            try await cache.set("before-run", 42)
            let started = Signal()
            cache.addBackgroundJob(named: "started") { _ in started.fire() }
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup { tasks in
                    tasks.addTask { try await cache.run() }
                    await started.wait()
                    #expect(try await cache.get("before-run", as: Int.self) == 42)
                    trigger.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
            }
            #expect(!cache.isConnected)
        }

        @Test func backgroundJobsRunWhileConnectedAndAreCancelledAtShutdown() async throws {
            let cache = try self.makeCache()
            let events = Events()
            let firstStarted = Signal()
            let lateStarted = Signal()
            cache.addBackgroundJob(named: "early") { cache in
                events.append("early started, connected: \(cache.isConnected)")
                firstStarted.fire()
                do {
                    try await Task.sleep(for: .seconds(3600))
                    events.append("early slept through the shutdown")
                } catch {
                    events.append("early cancelled, connected: \(cache.isConnected)")
                }
            }
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup { tasks in
                    tasks.addTask { try await cache.run() }
                    await firstStarted.wait()
                    cache.addBackgroundJob(named: "late") { _ in
                        events.append("late started")
                        lateStarted.fire()
                    }
                    await lateStarted.wait()
                    trigger.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
            }
            // Jobs are cancelled before the cache disconnects, so a job's last work still finds it connected.
            #expect(events.all == ["early started, connected: true", "late started", "early cancelled, connected: true"])
            #expect(!cache.isConnected)
        }

        @Test func aFailingJobIsLoggedAtInfoAndTheServiceGoesOn() async throws {
            let logs = CapturedLogs()
            let cache = try self.makeCache(logger: logs.logger(level: .info))
            let afterFailure = Signal()
            struct JobFailure: Error {}
            cache.addBackgroundJob(named: "failing") { _ in throw JobFailure() }
            try await testGracefulShutdown { trigger in
                try await withThrowingTaskGroup { tasks in
                    tasks.addTask { try await cache.run() }
                    cache.addBackgroundJob(named: "after") { _ in
                        // Jobs start in order of addition, but run concurrently: wait for the failure's log.
                        try await logs.waitFor { $0.message == "background job failed" }
                        afterFailure.fire()
                    }
                    await afterFailure.wait()
                    #expect(cache.isConnected)
                    try await cache.set("still", "serving")
                    trigger.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
            }
            let failure = try #require(logs.entries.first { $0.message == "background job failed" })
            #expect(failure.level == .info)
            #expect(failure.metadata["cache.job"] == "failing")
            #expect(failure.metadata["cache.error"]?.description.contains("JobFailure") == true)
        }

        @Test func runThrowsWhenNoNodeCanBeReached() async throws {
            // Port 1 on loopback refuses at once.
            let cache = try Cache(url: "redis://127.0.0.1:1?connect_timeout=1")
            let error = await #expect(throws: CacheError.self) { try await cache.run() }
            #expect(error?.code == .connectFailed)
            #expect(!cache.isConnected)
        }
    }

    // MARK: Helpers

    /// A one-shot event a test awaits.
    private final class Signal: Sendable {
        private let stream: AsyncStream<Void>
        private let continuation: AsyncStream<Void>.Continuation

        init() {
            (self.stream, self.continuation) = AsyncStream.makeStream(of: Void.self)
        }

        func fire() {
            self.continuation.yield()
            self.continuation.finish()
        }

        func wait() async {
            for await _ in self.stream { return }
        }
    }

    /// Strings appended from many tasks, in order.
    private final class Events: Sendable {
        private let events = NIOLockedValueBox<[String]>([])
        func append(_ event: String) { self.events.withLockedValue { $0.append(event) } }
        var all: [String] { self.events.withLockedValue { $0 } }
    }
#endif

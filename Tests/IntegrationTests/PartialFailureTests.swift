import Caches
import RedisTestSupport
import Testing

/// One node of three down (killed) or slow (paused with `SIGSTOP`): the other nodes' keys keep working, the dead
/// node's keys fail with an error that names it, many-key calls report exactly its keys, and everything works
/// again once it is back. Each test starts its own three nodes, because it kills or pauses one.
@Suite("Partial failure")
struct PartialFailureTests {
    static let names = ["node-a", "node-b", "node-c"]
    /// The node each test stops: node-b, the one with weight 2.
    static let failing = 1
    /// How long a failed call may take at most: the 0.5 s command/connect timeout plus generous slack for a
    /// loaded machine. Performance is not measured here, only that nothing waits for much longer timeouts.
    static let failureBound: Duration = .seconds(3)
    static let commandTimeout: Duration = .milliseconds(500)

    /// The keys of a test and the node each one belongs to.
    struct Keys {
        let all: [String]
        let failing: [String]
        let healthy: [String]

        init(_ cache: Cache, count: Int = 300) {
            self.all = (0..<count).map { RingIntegrationTests.scatteredKey($0, "pf") }
            let failingName = PartialFailureTests.names[PartialFailureTests.failing]
            self.failing = self.all.filter { cache.nodeName(for: $0) == failingName }
            self.healthy = self.all.filter { cache.nodeName(for: $0) != failingName }
        }
    }

    // MARK: A dead node

    @Test func deadNodeFailsOnlyItsOwnKeys() async throws {
        try await Self.withRing { servers, cache in
            let keys = Keys(cache)
            try #require(!keys.failing.isEmpty && !keys.healthy.isEmpty)
            let healthyNodes = Set(keys.healthy.map { cache.nodeName(for: $0)! })
            #expect(healthyNodes == ["node-a", "node-c"])
            try await cache.setMany(keys.all.map { ($0, "v-\($0)") })

            await servers[Self.failing].kill()

            // Single-key calls for the other nodes' keys succeed.
            for key in keys.healthy.prefix(30) {
                #expect(try await cache.get(key, as: String.self) == "v-\(key)")
            }
            try await cache.set(keys.healthy[0], "changed")
            #expect(try await cache.get(keys.healthy[0], as: String.self) == "changed")
            let counters = (0..<50).map { RingIntegrationTests.scatteredKey($0, "counter") }
            let counter = try #require(counters.first { cache.nodeName(for: $0) != "node-b" })
            #expect(try await cache.incr(counter, by: 5) == 5)

            // Single-key calls for its keys fail fast with an error naming the node and the key.
            for key in keys.failing.prefix(5) {
                try await Self.expectNodeFailure(key: key) { try await cache.get(key, as: String.self) }
                try await Self.expectNodeFailure(key: key) { try await cache.set(key, 1) }
                try await Self.expectNodeFailure(key: key) { try await cache.delete(key) }
                try await Self.expectNodeFailure(key: key) { try await cache.incr(key) }
                try await Self.expectNodeFailure(key: key) { try await cache.touch(key, ttl: 10) }
            }

            // getMany throws .partialFailure naming the dead node and exactly its keys.
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: CacheError.self) { try await cache.getMany(keys.all, as: String.self) }
            #expect(clock.now - start < Self.failureBound)
            try Self.expectPartialFailure(error, keys: keys.failing)

            // getManyPartial returns the healthy nodes' values and the failed keys.
            let partial = try await cache.getManyPartial(keys.all, as: String.self)
            #expect(Set(partial.values.keys) == Set(keys.healthy))
            for key in keys.healthy {
                #expect(partial.values[key] == .some(key == keys.healthy[0] ? "changed" : "v-\(key)"))
            }
            #expect(Set(partial.failedKeys) == Set(keys.failing))
            #expect(partial.failedKeys.count == keys.failing.count)
            #expect(partial.failures.map(\.node) == ["node-b"])
            #expect(partial.error?.code == .partialFailure)
            #expect(partial.error?.failures.map(\.node) == ["node-b"])

            // Only the dead node's keys: its own error, not a partial one.
            let only = await #expect(throws: CacheError.self) { try await cache.getMany(keys.failing.prefix(10), as: String.self) }
            #expect(only?.code != .partialFailure)
            #expect(only?.node == "node-b")

            // setMany (with and without a ttl) and deleteMany report the failed node's keys; the rest is done.
            let setError = await #expect(throws: CacheError.self) {
                try await cache.setMany(keys.all.map { ($0, "w-\($0)") })
            }
            try Self.expectPartialFailure(setError, keys: keys.failing)
            let setTTLError = await #expect(throws: CacheError.self) {
                try await cache.setMany(keys.all.map { ($0, "t-\($0)") }, ttl: 600)
            }
            try Self.expectPartialFailure(setTTLError, keys: keys.failing)
            let written = try await cache.getManyPartial(keys.healthy, as: String.self)
            #expect(written.failures.isEmpty)
            #expect(keys.healthy.allSatisfy { written.values[$0] == .some("t-\($0)") })

            let doomed = keys.all.enumerated().filter { $0.offset % 3 == 0 }.map(\.element)
            let deleteError = await #expect(throws: CacheError.self) { try await cache.deleteMany(doomed) }
            try Self.expectPartialFailure(deleteError, keys: doomed.filter { keys.failing.contains($0) })
            let afterDelete = try await cache.getManyPartial(keys.all, as: String.self)
            #expect(Set(afterDelete.failedKeys) == Set(keys.failing))
            for key in keys.healthy {
                #expect(afterDelete.values[key] == .some(doomed.contains(key) ? nil : "t-\(key)"))
            }

            // After a restart (empty data), every call succeeds again.
            try await servers[Self.failing].restart()
            try await Self.eventually { _ = try await cache.get(keys.failing[0], as: String.self) }
            try await cache.setMany(keys.all.map { ($0, "back-\($0)") }, ttl: 600)
            let values = try await cache.getMany(keys.all, as: String.self)
            #expect(keys.all.allSatisfy { values[$0] == .some("back-\($0)") })
            for key in keys.failing.prefix(5) {
                #expect(try await cache.get(key, as: String.self) == "back-\(key)")
            }
            let probe = RingNodeProbe(server: servers[Self.failing], database: 0)
            #expect(try await probe.dbSize() == keys.failing.count)
            try await cache.deleteMany(keys.all)
            #expect(try await probe.dbSize() == 0)
            let cleared = try await cache.getMany(keys.all, as: String.self)
            #expect(keys.all.allSatisfy { cleared[$0] == .some(nil) })
        }
    }

    @Test func nodeDownAtConnectDoesNotFailTheOthers() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            await servers[Self.failing].kill()
            let cache = try Self.cache(servers)
            try await cache.connect()
            do {
                let keys = Keys(cache, count: 60)
                try #require(!keys.failing.isEmpty && !keys.healthy.isEmpty)
                for key in keys.healthy.prefix(10) {
                    try await cache.set(key, key)
                    #expect(try await cache.get(key, as: String.self) == key)
                }
                try await Self.expectNodeFailure(key: keys.failing[0]) { try await cache.get(keys.failing[0], as: String.self) }
                let partial = try await cache.getManyPartial(keys.all, as: String.self)
                #expect(Set(partial.failedKeys) == Set(keys.failing))
                #expect(Set(partial.values.keys) == Set(keys.healthy))

                try await servers[Self.failing].restart()
                try await Self.eventually { try await cache.set(keys.failing[0], "late") }
                #expect(try await cache.get(keys.failing[0], as: String.self) == "late")
                #expect(try await cache.getManyPartial(keys.all, as: String.self).failures.isEmpty)
            } catch {
                try? await cache.disconnect()
                throw error
            }
            try await cache.disconnect()
        }
    }

    // MARK: A slow node

    @Test func slowNodeDoesNotDelayTheOthersPastTheTimeout() async throws {
        try await Self.withRing { servers, cache in
            let keys = Keys(cache)
            try #require(!keys.failing.isEmpty && !keys.healthy.isEmpty)
            try await cache.setMany(keys.all.map { ($0, "v-\($0)") })

            servers[Self.failing].pause()
            let clock = ContinuousClock()

            let start = clock.now
            let partial = try await cache.getManyPartial(keys.all, as: String.self)
            let elapsed = clock.now - start
            #expect(elapsed < Self.failureBound, "getManyPartial took \(elapsed)")
            #expect(Set(partial.values.keys) == Set(keys.healthy))
            #expect(keys.healthy.allSatisfy { partial.values[$0] == .some("v-\($0)") })
            #expect(partial.failures.map(\.node) == ["node-b"])
            #expect(Set(partial.failedKeys) == Set(keys.failing))
            let cause = try #require(partial.failures.first?.error)
            #expect(cause.node == "node-b")
            #expect([.timeout, .connectFailed, .connectionClosed, .poolTimeout].contains(cause.code), "\(cause)")

            // The healthy nodes answer single-key calls meanwhile; the slow node's keys time out.
            for key in keys.healthy.prefix(10) {
                #expect(try await cache.get(key, as: String.self) == "v-\(key)")
            }
            try await Self.expectNodeFailure(key: keys.failing[0]) { try await cache.get(keys.failing[0], as: String.self) }

            let startMany = clock.now
            let error = await #expect(throws: CacheError.self) { try await cache.getMany(keys.all, as: String.self) }
            #expect(clock.now - startMany < Self.failureBound)
            try Self.expectPartialFailure(error, keys: keys.failing)

            // Once it runs again, every call succeeds and its data is still there.
            servers[Self.failing].resume()
            try await Self.eventually { _ = try await cache.get(keys.failing[0], as: String.self) }
            let values = try await cache.getMany(keys.all, as: String.self)
            #expect(keys.all.allSatisfy { values[$0] == .some("v-\($0)") })
        }
    }

    // MARK: Helpers

    /// A connected ring cache over three fresh nodes (weights 1, 2, 1) with 0.5 s timeouts; disconnects after.
    static func withRing(_ body: ([RedisServer], Cache) async throws -> Void) async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Self.cache(servers)
            try await cache.connect()
            do {
                try await body(servers, cache)
            } catch {
                try? await cache.disconnect()
                throw error
            }
            try await cache.disconnect()
        }
    }

    /// A ring cache with 0.5 s command, connect and pool-wait timeouts and a short reconnect backoff.
    static func cache(_ servers: [RedisServer]) throws -> Cache {
        let url = RingIntegrationTests.url(servers, database: 0, query: "&timeout=0.5&connect_timeout=0.5&key_prefix=pf")
        var configuration = try CacheConfiguration(url: CacheURL(url))
        configuration.pool.connectionWaitTimeout = Self.commandTimeout
        configuration.pool.initialBackoff = .milliseconds(50)
        configuration.pool.maximumBackoff = .milliseconds(200)
        configuration.pool.shutdownGracePeriod = .milliseconds(500)
        return try Cache(configuration: configuration)
    }

    /// Expects `call` to fail within ``failureBound`` with an error that names the failing node and `key`.
    static func expectNodeFailure<T>(
        key: String,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ call: () async throws -> T
    ) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: CacheError.self, sourceLocation: sourceLocation) { _ = try await call() }
        let elapsed = clock.now - start
        #expect(elapsed < Self.failureBound, "the call took \(elapsed)", sourceLocation: sourceLocation)
        let failure = try #require(error, sourceLocation: sourceLocation)
        #expect(failure.node == "node-b", "\(failure)", sourceLocation: sourceLocation)
        #expect(failure.key == key, "\(failure)", sourceLocation: sourceLocation)
        let codes: [CacheError.Code] = [.connectFailed, .connectionClosed, .timeout, .poolTimeout, .nodeUnavailable]
        #expect(codes.contains(failure.code), "\(failure)", sourceLocation: sourceLocation)
    }

    /// Expects a ``CacheError/Code/partialFailure`` whose only failure is the failing node with exactly `keys`.
    static func expectPartialFailure(
        _ error: CacheError?,
        keys: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let error = try #require(error, sourceLocation: sourceLocation)
        #expect(error.code == .partialFailure, "\(error)", sourceLocation: sourceLocation)
        #expect(error.failures.count == 1, sourceLocation: sourceLocation)
        let failure = try #require(error.failures.first, sourceLocation: sourceLocation)
        #expect(failure.node == "node-b", sourceLocation: sourceLocation)
        #expect(failure.error.node == "node-b", sourceLocation: sourceLocation)
        #expect(Set(failure.keys) == Set(keys), sourceLocation: sourceLocation)
        #expect(failure.keys.count == keys.count, sourceLocation: sourceLocation)
    }

    /// Retries `body` until it succeeds: the pool reconnects in the background after a node comes back, and there
    /// is no event to await from outside. Bounded; each round checks the real state.
    static func eventually(within limit: Duration = .seconds(15), _ body: () async throws -> Void) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + limit
        while true {
            do {
                try await body()
                return
            } catch {
                if clock.now >= deadline { throw error }
            }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

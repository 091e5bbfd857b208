import CacheRing
import Caches
import Foundation
import RedisTestSupport
import Testing

/// Issue 8: the failure policies `fail` (default), `miss` and `eject` with a node killed under the cache.
@Suite("Failure policies", .serialized)
struct FailurePolicyTests {
    static func url(_ servers: [RedisServer], _ options: String) -> String {
        RedisServer.cacheURL(
            servers,
            options: ["names=node-a,node-b,node-c", "hash=md5", "timeout=0.5", "connect_timeout=0.5", options]
        )
    }

    /// Keys whose node is `node` in `cache` (md5 spreads sequential keys well).
    static func keys(on node: String, in cache: Cache, count: Int = 10) -> [String] {
        (0..<10_000).lazy.map { "policy-\($0)" }.filter { cache.nodeName(for: $0) == node }.prefix(count).map { $0 }
    }

    @Test func defaultPolicyFailsFastNamingTheNode() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.url(servers, ""))
            #expect(cache.configuration.failurePolicy == .fail)
            try await cache.connect()
            let dead = Self.keys(on: "node-b", in: cache)
            await servers[1].kill()
            let error = await #expect(throws: CacheError.self) { try await cache.get(dead[0], as: String.self) }
            #expect(error?.node == "node-b")
            #expect(error?.key == dead[0])
            try await cache.disconnect()
        }
    }

    @Test func missPolicyTurnsADownNodeIntoMisses() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.url(servers, "failure_policy=miss"))
            try await cache.connect()
            let dead = Self.keys(on: "node-b", in: cache)
            let alive = Self.keys(on: "node-a", in: cache)
            for key in dead + alive { try await cache.set(key, "v") }
            await servers[1].kill()

            #expect(try await cache.get(dead[0], as: String.self) == nil, "a read of a down node's key is a miss")
            #expect(cache.absorbedFailures == 1, "each absorbed failure is counted")
            try await cache.set(dead[1], "lost")
            #expect(cache.absorbedFailures == 2, "a dropped write is counted")
            try await cache.delete(dead[2])
            #expect(try await cache.add(dead[3], "x") == false)
            #expect(try await cache.touch(dead[4], ttl: 10) == false)
            #expect(try await cache.ttl(dead[4]) == nil, "ttl is a read: a down node's key reads as missing")
            #expect(cache.absorbedFailures == 6)
            try await cache.set(alive[1], "v")
            #expect(cache.absorbedFailures == 6, "a write to a healthy node is not absorbed")
            let many = try await cache.getMany(dead.prefix(3) + alive.prefix(3), as: String.self)
            #expect(many.count == 6)
            for key in dead.prefix(3) { #expect(many[key] == .some(nil)) }
            for key in alive.prefix(3) { #expect(many[key] == .some("v")) }
            try await cache.setMany(Dictionary(uniqueKeysWithValues: (dead + alive).map { ($0, "w") }))
            #expect(try await cache.get(alive[0], as: String.self) == "w", "the healthy part was written")
            let incr = await #expect(throws: CacheError.self) { try await cache.incr(dead[5]) }
            #expect(incr?.node == "node-b", "incr has no sensible miss value, so it still throws")
            let decr = await #expect(throws: CacheError.self) { try await cache.decr(dead[6]) }
            #expect(decr?.node == "node-b", "nor has decr")
            await #expect(throws: CacheError.self, "clear cannot pretend to have emptied a node it did not reach") {
                try await cache.clear()
            }
            try await cache.disconnect()
        }
    }

    @Test func ejectPolicyRemapsKeysAsTwemproxy() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            // A retry time far beyond the test, so that the node stays out however slow the machine is.
            let cache = try Cache(url: Self.url(servers, "failure_policy=eject&eject_after=2&eject_retry=600"))
            try await cache.connect()
            let dead = Self.keys(on: "node-b", in: cache, count: 30)
            await servers[1].kill()
            // Two failures eject node-b.
            for key in dead.prefix(2) {
                await #expect(throws: CacheError.self) { try await cache.set(key, "v") }
            }
            // Its keys now live on the survivors, exactly where twemproxy puts them after ejection.
            let full = try HashRing(
                nodes: ["node-a", "node-b", "node-c"].map { HashRing.Node(name: $0, weight: 1) },
                hash: .md5
            )
            let survivors = try #require(full.withLiveNodes([0, 2]))
            for key in dead {
                let stored = cache.makeKey(key)
                let expected = survivors.nodes[survivors.nodeIndex(forKey: stored)].name
                #expect(cache.nodeName(for: key) == expected)
                #expect(expected != "node-b")
                try await cache.set(key, "remapped")
                #expect(try await cache.get(key, as: String.self) == "remapped")
            }
            try await cache.disconnect()
        }
    }

    @Test func anEjectedNodeReturnsAfterItsRetryTime() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let retry = Duration.seconds(2)
            let cache = try Cache(url: Self.url(servers, "failure_policy=eject&eject_after=1&eject_retry=2"))
            try await cache.connect()
            let dead = Self.keys(on: "node-b", in: cache)
            await servers[1].kill()
            // The retry time counts from the failure that ejects the node, a little after this instant.
            let clock = ContinuousClock()
            let beforeEjection = clock.now
            await #expect(throws: CacheError.self) { try await cache.set(dead[0], "v") }
            #expect(cache.nodeName(for: dead[0]) != "node-b", "ejected at its failure")
            try await servers[1].restart()
            // The pool reconnects on its own (ejection only takes the node out of the ring), so the first call
            // after the node's return finds a connection and cannot fail and eject it again.
            try await waitUntil("the pool reconnecting to the restarted node") {
                try await !NodeClientTests.clients(of: servers[1]).isEmpty
            }
            // The node comes back once the retry time has passed, not before; the wait is bounded by four retry
            // times.
            try await waitUntil(timeout: retry * 4, "node-b back in the ring") {
                cache.nodeName(for: dead[0]) == "node-b"
            }
            #expect(clock.now - beforeEjection >= retry, "back before its retry time")
            // Being up again, it takes its keys back.
            try await cache.set(dead[0], "home")
            #expect(try await servers[1].cli("EXISTS", cache.makeKey(dead[0])) == "1")
            try await cache.disconnect()
        }
    }

    @Test func ejectWaitsForExactlyTheConfiguredNumberOfFailures() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.url(servers, "failure_policy=eject&eject_after=3&eject_retry=600"))
            try await cache.connect()
            let dead = Self.keys(on: "node-b", in: cache)
            await servers[1].kill()
            for failure in 1...2 {
                await #expect(throws: CacheError.self) { try await cache.set(dead[failure], "v") }
                #expect(cache.nodeName(for: dead[0]) == "node-b", "still in the ring after \(failure) of 3 failures")
            }
            await #expect(throws: CacheError.self) { try await cache.set(dead[3], "v") }
            #expect(cache.nodeName(for: dead[0]) != "node-b", "ejected at the third failure")
            try await cache.disconnect()
        }
    }

    @Test func aSuccessRestartsTheFailureCount() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.url(servers, "failure_policy=eject&eject_after=3&eject_retry=600"))
            try await cache.connect()
            let dead = Self.keys(on: "node-b", in: cache)
            await servers[1].kill()
            for failure in 1...2 {
                await #expect(throws: CacheError.self) { try await cache.set(dead[failure], "v") }
            }
            try await servers[1].restart()
            // The pool keeps one connection open: once the restarted node lists it, a call goes through it.
            try await waitUntil("the pool reconnecting to the restarted node") {
                try await !NodeClientTests.clients(of: servers[1]).isEmpty
            }
            try await cache.set(dead[0], "back")
            #expect(cache.nodeName(for: dead[0]) == "node-b")
            // Two failures after the success: two of three, not four, so the node stays in the ring.
            await servers[1].kill()
            for failure in 1...2 {
                await #expect(throws: CacheError.self) { try await cache.set(dead[failure], "v") }
                #expect(cache.nodeName(for: dead[0]) == "node-b", "\(failure) failure(s) since the last success")
            }
            await #expect(throws: CacheError.self) { try await cache.set(dead[3], "v") }
            #expect(cache.nodeName(for: dead[0]) != "node-b", "ejected at the third consecutive failure")
            try await cache.disconnect()
        }
    }

    @Test func serverErrorsAreNotNodeFailures() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.url(servers, "failure_policy=eject&eject_after=1&eject_retry=600"))
            try await cache.connect()
            let keys = Self.keys(on: "node-b", in: cache)
            #expect(try await servers[1].cli("LPUSH", cache.makeKey(keys[0]), "x") == "1")
            for _ in 0..<3 {
                let error = await #expect(throws: CacheError.self) { try await cache.get(keys[0], as: String.self) }
                #expect(error?.code == .wrongType, "\(String(describing: error))")
            }
            #expect(cache.nodeName(for: keys[0]) == "node-b", "a WRONGTYPE reply says nothing about the node")
            // The same cache ejects the node at its first real node failure.
            await servers[1].kill()
            await #expect(throws: CacheError.self) { try await cache.get(keys[1], as: String.self) }
            #expect(cache.nodeName(for: keys[0]) != "node-b")
            try await cache.disconnect()
        }
    }

    @Test func healthCheckPutsAnEjectedNodeBackEarly() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.url(servers, "failure_policy=eject&eject_after=1&eject_retry=600"))
            try await cache.connect()
            let dead = Self.keys(on: "node-b", in: cache)
            servers[1].pause()
            await #expect(throws: CacheError.self) { try await cache.get(dead[0], as: String.self) }
            #expect(cache.nodeName(for: dead[0]) != "node-b", "ejected after one failure")
            servers[1].resume()
            // The paused connection timed out and closed; the health check reconnects and sees the node answer.
            try await waitUntil("node-b back in the ring long before its 600 s retry time") {
                await cache.checkNodeHealth()
                return cache.nodeName(for: dead[0]) == "node-b"
            }
            try await cache.disconnect()
        }
    }

    @Test func runChecksNodeHealthPeriodically() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.url(servers, "failure_policy=eject&eject_after=1&eject_retry=600&health_check=0.1"))
            #expect(cache.configuration.healthCheckInterval == .milliseconds(100))
            try await cache.connect()
            let dead = Self.keys(on: "node-b", in: cache)
            // run() keeps the connection made above and adds the periodic health check.
            let service = Task { try await cache.run() }
            servers[1].pause()
            await #expect(throws: CacheError.self) { try await cache.get(dead[0], as: String.self) }
            #expect(cache.nodeName(for: dead[0]) != "node-b", "ejected after one failure")
            servers[1].resume()
            // Nobody calls checkNodeHealth() here: only run()'s periodic check can put the node back before its
            // 600 s retry time.
            try await waitUntil("the periodic health check restoring node-b") {
                cache.nodeName(for: dead[0]) == "node-b"
            }
            service.cancel()
            try await service.value
            #expect(!cache.isConnected, "run() disconnects when it ends")
        }
    }

    @Test func policiesParseFromURL() throws {
        #expect(try Cache(url: "redis://h?failure_policy=miss").configuration.failurePolicy == .miss)
        #expect(
            try Cache(url: "redis://h?failure_policy=eject&eject_after=5&eject_retry=10").configuration.failurePolicy
                == .eject(afterFailures: 5, retryAfter: .seconds(10), journalLimit: 10_000)
        )
        #expect(
            try Cache(url: "redis://h?failure_policy=eject&eject_journal=0").configuration.failurePolicy
                == .eject(afterFailures: 3, retryAfter: .seconds(30), journalLimit: 0)
        )
        for bad in ["eject_journal=-1", "eject_journal=10000001", "eject_journal=x"] {
            #expect(throws: CacheError.self, "\(bad)") { try Cache(url: "redis://h?failure_policy=eject&" + bad) }
        }
        let error = #expect(throws: CacheError.self) { try Cache(url: "redis://h?failure_policy=maybe") }
        #expect(error?.code == .invalidURL)
    }
}

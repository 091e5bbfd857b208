import Caches
import Foundation
import NIOConcurrencyHelpers
import RedisTestSupport
import Synchronization
import Testing

/// Issue 8: faults injected into real nodes while callers run. Nothing hangs past its timeout, nothing crashes, and
/// no caller ever receives another caller's value.
@Suite("Faults", .serialized)
struct FaultTests {
    /// Counts what callers saw.
    final class Tally: Sendable {
        let successes = Atomic<Int>(0)
        let failures = Atomic<Int>(0)
        let wrongValues = Atomic<Int>(0)
        let slowest = NIOLockedValueBox<Duration>(.zero)
        let codes = NIOLockedValueBox<Set<String>>([])
        let stopped = Atomic<Bool>(false)

        func stop() { self.stopped.store(true, ordering: .relaxed) }

        func record(_ elapsed: Duration) {
            self.slowest.withLockedValue { $0 = max($0, elapsed) }
        }
    }

    static func ringURL(_ servers: [RedisServer], options: String) -> String {
        RedisServer.cacheURL(servers, options: ["names=node-a,node-b,node-c", options])
    }

    /// `callers` tasks each write and read back unique values on their own keys until `stop` is set.
    static func runCallers(
        _ cache: Cache,
        callers: Int,
        tally: Tally,
        keyFilter: @escaping @Sendable (String) -> Bool = { _ in true }
    ) async {
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    // Each caller owns a few keys (those the filter accepts among 40 candidates).
                    let keys = (0..<40).map { "caller-\(caller)-\($0)" }.filter(keyFilter).prefix(5)
                    guard !keys.isEmpty else { return }
                    var round = 0
                    while !tally.stopped.load(ordering: .relaxed) && !Task.isCancelled {
                        round += 1
                        let key = keys[keys.startIndex + round % keys.count]
                        let value = "\(caller):\(round):\(UUID().uuidString)"
                        let clock = ContinuousClock()
                        let start = clock.now
                        var failed = true
                        do {
                            try await cache.set(key, value)
                            let read = try await cache.get(key, as: String.self)
                            if read != value { tally.wrongValues.add(1, ordering: .relaxed) }
                            tally.successes.add(1, ordering: .relaxed)
                            failed = false
                        } catch let error as CacheError {
                            tally.failures.add(1, ordering: .relaxed)
                            tally.codes.withLockedValue { _ = $0.insert("\(error.code)") }
                        } catch {
                            tally.failures.add(1, ordering: .relaxed)
                            tally.codes.withLockedValue { _ = $0.insert("untyped: \(error)") }
                        }
                        tally.record(clock.now - start)
                        if failed {
                            // A failed call fails fast without suspending; a caller that retried in a tight loop
                            // would keep the cooperative threads from everyone else. Real callers back off too.
                            try? await Task.sleep(for: .milliseconds(5))
                        }
                    }
                }
            }
        }
    }

    @Test func killedNodeFailsOnlyItsKeysAndRecoversAfterRestart() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.ringURL(servers, options: "timeout=0.5&connect_timeout=0.5"))
            // A caller's set + get: two calls, each at most a connect attempt and a command; twice that for margin.
            let bound = (Duration.milliseconds(500) + .milliseconds(500)) * 2 * 2
            try await cache.connect()
            let victim = "node-b"
            let healthyTally = Tally()
            let victimTally = Tally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await Self.runCallers(cache, callers: 20, tally: healthyTally) { cache.nodeName(for: $0) != victim }
                }
                group.addTask {
                    await Self.runCallers(cache, callers: 5, tally: victimTally) { cache.nodeName(for: $0) == victim }
                }
                // Every caller group is under way before the kill.
                try await waitUntil("calls to every node succeeding") {
                    healthyTally.successes.load(ordering: .relaxed) > 0 && victimTally.successes.load(ordering: .relaxed) > 0
                }
                await servers[1].kill()
                try await waitUntil("a call to the killed node failing") {
                    victimTally.failures.load(ordering: .relaxed) > 0
                }
                // While the node is dead, the other nodes' callers complete many more calls, none of them failing.
                let failedBefore = healthyTally.failures.load(ordering: .relaxed)
                let succeededBefore = healthyTally.successes.load(ordering: .relaxed)
                try await waitUntil("200 more calls to the healthy nodes") {
                    healthyTally.successes.load(ordering: .relaxed) >= succeededBefore + 200
                }
                #expect(healthyTally.failures.load(ordering: .relaxed) == failedBefore, "other nodes' calls keep succeeding")
                #expect(victimTally.failures.load(ordering: .relaxed) > 0, "the dead node's calls fail")
                let deadSuccesses = victimTally.successes.load(ordering: .relaxed)
                try await servers[1].restart()
                // Within the reconnect backoff (at most 5 s), the node's calls succeed again.
                try await waitUntil(timeout: .seconds(15), "the restarted node's calls succeeding again") {
                    victimTally.successes.load(ordering: .relaxed) > deadSuccesses
                }
                healthyTally.stop()
                victimTally.stop()
                try await group.waitForAll()
                #expect(victimTally.successes.load(ordering: .relaxed) > deadSuccesses, "the node recovered after its restart")
            }
            #expect(victimTally.successes.load(ordering: .relaxed) > 0)
            #expect(healthyTally.wrongValues.load(ordering: .relaxed) == 0)
            #expect(victimTally.wrongValues.load(ordering: .relaxed) == 0)
            #expect(healthyTally.slowest.withLockedValue { $0 } < bound, "no healthy call waited past the timeouts")
            #expect(victimTally.slowest.withLockedValue { $0 } < bound, "no call to the dead node waited past its timeouts")
            #expect(victimTally.codes.withLockedValue { $0 }.allSatisfy { !$0.hasPrefix("untyped") })
            try await cache.disconnect()
        }
    }

    @Test func pausedNodeNeverHoldsACallerPastItsTimeout() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.ringURL(servers, options: "timeout=0.4&connect_timeout=0.4"))
            // A caller's set + get: two calls, each at most a connect attempt and a command; twice that for margin.
            let bound = (Duration.milliseconds(400) + .milliseconds(400)) * 2 * 2
            try await cache.connect()
            let tally = Tally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await Self.runCallers(cache, callers: 30, tally: tally) }
                try await waitUntil("calls succeeding before the pause") {
                    tally.successes.load(ordering: .relaxed) > 0
                }
                servers[2].pause()
                // Paused long enough for many calls to the node to time out (or fail to connect).
                try await waitUntil("calls to the paused node failing") {
                    tally.failures.load(ordering: .relaxed) >= 20
                }
                servers[2].resume()
                let after = tally.successes.load(ordering: .relaxed)
                try await waitUntil("calls succeeding again after SIGCONT") {
                    tally.successes.load(ordering: .relaxed) >= after + 500
                }
                tally.stop()
                try await group.waitForAll()
            }
            #expect(tally.failures.load(ordering: .relaxed) > 0, "calls to the paused node failed")
            #expect(tally.codes.withLockedValue { $0 }.isSubset(of: ["timeout", "connectFailed", "connectionClosed", "poolTimeout"]))
            #expect(tally.slowest.withLockedValue { $0 } < bound, "set + get each bounded by the 0.4 s timeouts")
            #expect(tally.wrongValues.load(ordering: .relaxed) == 0)
            // After SIGCONT all is well: every node answers again once its pool has reconnected (the node's
            // connections timed out, and a reconnect waits for the backoff, at most 5 s).
            try await waitUntil(timeout: .seconds(10), "every node healthy after SIGCONT") {
                try await cache.nodeStatus().allSatisfy { $0.isHealthy }
            }
            try await cache.disconnect()
        }
    }

    @Test func connectionKilledMidPipelineNeverMixesUpReplies() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            let cache = try Cache(url: "redis://\(server.host):\(server.port)?maxsize=2&timeout=1")
            try await cache.connect()
            let tally = Tally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await Self.runCallers(cache, callers: 100, tally: tally) }
                var killed: [Int] = []
                for _ in 0..<5 {
                    // Kill only while calls flow, so that replies are in flight on the connections killed.
                    let before = tally.successes.load(ordering: .relaxed)
                    try await waitUntil("calls succeeding before a kill") {
                        tally.successes.load(ordering: .relaxed) >= before + 50
                    }
                    let reply = try await server.cli("CLIENT", "KILL", "TYPE", "normal")
                    killed.append(try #require(Int(reply), "CLIENT KILL replied \(reply)"))
                }
                // The pool reconnects: calls succeed again after the last kill.
                let afterKills = tally.successes.load(ordering: .relaxed)
                try await waitUntil("calls succeeding after the last kill") {
                    tally.successes.load(ordering: .relaxed) >= afterKills + 50
                }
                tally.stop()
                try await group.waitForAll()
                #expect(killed.allSatisfy { $0 > 0 }, "every CLIENT KILL closed a connection of the cache: \(killed)")
            }
            #expect(
                tally.codes.withLockedValue { $0 }.contains("connectionClosed"),
                "calls in flight on a killed connection fail with connectionClosed"
            )
            #expect(tally.wrongValues.load(ordering: .relaxed) == 0, "no caller ever received another caller's value")
            #expect(tally.successes.load(ordering: .relaxed) > 0)
            #expect(tally.codes.withLockedValue { $0 }.isSubset(of: ["connectionClosed", "connectFailed", "timeout", "poolTimeout"]))
            try await cache.disconnect()
        }
    }

    @Test func nodeRestartedEmptyServesMissesNotStaleValues() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            let cache = try Cache(url: "redis://\(server.host):\(server.port)?timeout=0.5&connect_timeout=0.5")
            try await cache.connect()
            try await cache.set("k", "before")
            await server.kill()
            try await server.restart()
            var result: Result<String?, any Error> = .failure(CacheError(.timeout, "not tried"))
            let deadline = ContinuousClock.now + .seconds(8)
            repeat {
                result = await Result(catching: { try await cache.get("k", as: String.self) })
                if case .success = result { break }
                try await Task.sleep(for: .milliseconds(50))
            } while ContinuousClock.now < deadline
            #expect(try result.get() == nil, "the restarted node is empty: a miss, never the old value")
            try await cache.disconnect()
        }
    }
}

extension Result where Failure == any Error {
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}

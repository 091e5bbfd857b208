import Caches
import Foundation
import NIOConcurrencyHelpers
import RedisTestSupport
import Synchronization
import Testing

/// Issue 13: under `failure_policy=miss`, a node that hangs (rather than refusing connections) is absorbed like a
/// node that is down. 50 callers keep writing and reading while one of three nodes sleeps, is paused by the server
/// itself, is frozen by SIGSTOP, or cannot accept connections (its listen queue is full): no caller sees an error.
@Suite("Miss policy under hung nodes", .serialized)
struct MissPolicyFaultTests {
    enum Fault: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case debugSleep, clientPause, sigstop, fullListenBacklog

        var testDescription: String { self.rawValue }
    }

    /// What the callers saw.
    final class Tally: Sendable {
        let successes = Atomic<Int>(0)
        let errors = NIOLockedValueBox<[String]>([])
        let foreignValues = Atomic<Int>(0)
        let stopped = Atomic<Bool>(false)
    }

    /// `callers` tasks, each setting and getting its own keys until the tally is stopped. A read may miss (the
    /// node's write was dropped) or return an older value of the same caller (a write that timed out may still be
    /// applied when the node wakes), but never another caller's value.
    static func runCallers(_ cache: Cache, callers: Int, tally: Tally) async {
        await withTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    var round = 0
                    // Cancelled too when the test fails, so a failing test ends instead of hanging.
                    while !tally.stopped.load(ordering: .relaxed) && !Task.isCancelled {
                        round += 1
                        let key = "miss-caller-\(caller)-\(round % 6)"
                        do {
                            try await cache.set(key, "\(caller):\(round)")
                            if let read = try await cache.get(key, as: String.self), !read.hasPrefix("\(caller):") {
                                tally.foreignValues.add(1, ordering: .relaxed)
                            }
                            tally.successes.add(1, ordering: .relaxed)
                        } catch {
                            tally.errors.withLockedValue { $0.append("\(error)") }
                        }
                        // An absorbed call returns at once without suspending: a caller looping on a down node's
                        // keys would keep the cooperative threads from everyone else. Real callers do other work.
                        await Task.yield()
                    }
                }
            }
        }
    }

    @Test(arguments: Fault.allCases)
    func missGivesCallersNoErrorWhileOneNodeHangs(_ fault: Fault) async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let blackHole = fault == .fullListenBacklog ? try BlackHoleListener() : nil
            defer { blackHole?.close() }
            var hosts = servers.map(\.address)
            if let blackHole { hosts[2] = blackHole.address }
            // The default timeouts: 1 s per command, 2 s to connect, 1 s of waiting for a connection.
            let cache = try Cache(url: "redis://" + hosts.joined(separator: ",") + "?names=node-a,node-b,node-c&failure_policy=miss")
            try await cache.connect()
            let tally = Tally()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await Self.runCallers(cache, callers: 50, tally: tally) }
                try await waitUntil("calls succeeding") { tally.successes.load(ordering: .relaxed) > 50 }
                let absorbedBefore = cache.absorbedFailures
                switch fault {
                case .debugSleep:
                    // redis-cli returns when the node wakes up: the whole fault is this call.
                    group.addTask { _ = try await servers[2].cli("DEBUG", "SLEEP", "3") }
                case .clientPause:
                    _ = try await servers[2].cli("CLIENT", "PAUSE", "3000")
                case .sigstop:
                    servers[2].pause()
                case .fullListenBacklog:
                    break
                }
                try await waitUntil("the hung node's failures absorbed") { cache.absorbedFailures > absorbedBefore + 50 }
                let successes = tally.successes.load(ordering: .relaxed)
                try await waitUntil("calls to the other nodes going on meanwhile") {
                    tally.successes.load(ordering: .relaxed) > successes + 100
                }
                if fault == .sigstop { servers[2].resume() }
                if fault != .fullListenBacklog {
                    // The node answers again and its keys are served, not absorbed.
                    try await waitUntil(timeout: .seconds(15), "the node healthy again") {
                        try await cache.nodeStatus().allSatisfy(\.isHealthy)
                    }
                    let key = try #require((0..<1000).map { "probe-\($0)" }.first { cache.nodeName(for: $0) == "node-c" })
                    try await waitUntil(timeout: .seconds(15), "a write to the node stored again") {
                        try await cache.set(key, "back")
                        return try await cache.get(key, as: String.self) == "back"
                    }
                }
                tally.stopped.store(true, ordering: .relaxed)
                try await group.waitForAll()
            }
            let errors = tally.errors.withLockedValue { $0 }
            #expect(errors.isEmpty, "\(errors.count) errors, the first: \(errors.first ?? "")")
            #expect(tally.foreignValues.load(ordering: .relaxed) == 0)
            try await cache.disconnect()
        }
    }

    @Test func connectDoesNotWaitForANodeThatCannotAcceptConnections() async throws {
        try await RedisServer.withServers(count: 2, allowExternal: false) { servers in
            let blackHole = try BlackHoleListener()
            defer { blackHole.close() }
            // A connect timeout of a minute: connect() waiting for the node would hold the test that long.
            let url = "redis://\(servers[0].address),\(servers[1].address),\(blackHole.address)?names=a,b,c&failure_policy=miss&connect_timeout=60"
            let cache = try Cache(url: url)
            try await cache.connect()
            let key = try #require((0..<1000).map { "k\($0)" }.first { cache.nodeName(for: $0) == "a" })
            try await cache.set(key, "v")
            #expect(try await cache.get(key, as: String.self) == "v", "a healthy node's keys work at once")
            // Closing the port makes the pending attempt fail at its next SYN, so disconnect() need not wait for it.
            blackHole.close()
            try await cache.disconnect()
        }
    }
}

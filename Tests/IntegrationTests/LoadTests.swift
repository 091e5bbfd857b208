import Caches
import Foundation
import NIOConcurrencyHelpers
import RedisTestSupport
import Synchronization
import Testing

/// Issue 8, load: 10,000 concurrent tasks against pools of at most 4 connections per node. No deadlock, every call
/// completes or fails with a typed timeout, and memory stays bounded. `make soak` runs it for 20 s
/// (`CACHES_SOAK_SECONDS`); `make test` for 3 s.
@Suite("Load", .serialized)
struct LoadTests {
    static var seconds: Int { Int(ProcessInfo.processInfo.environment["CACHES_SOAK_SECONDS"] ?? "") ?? 3 }

    /// Resident set size in bytes, from /proc/self/statm.
    static func residentBytes() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        return (fields.count > 1 ? Int(fields[1]) ?? 0 : 0) * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    final class Counters: Sendable {
        let completed = Atomic<Int>(0)
        let timedOut = Atomic<Int>(0)
        let wrong = Atomic<Int>(0)
        let otherErrors = NIOLockedValueBox<[String]>([])
    }

    @Test func tenThousandTasksOnSmallPools() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: RedisServer.cacheURL(servers, options: ["maxsize=4", "timeout=2"]))
            try await cache.connect()
            let counters = Counters()
            let value = String(repeating: "v", count: 100)

            // Warm up once so the measurement starts from a steady state.
            for index in 0..<100 { try await cache.set("load-\(index)", value) }
            let before = Self.residentBytes()
            let deadline = ContinuousClock.now + .seconds(Self.seconds)
            await withTaskGroup(of: Void.self) { group in
                for task in 0..<10_000 {
                    group.addTask {
                        var round = 0
                        while ContinuousClock.now < deadline {
                            round += 1
                            let key = "load-\((task &+ round) % 1000)"
                            do {
                                if round % 4 == 0 {
                                    try await cache.set(key, value)
                                } else if let read = try await cache.get(key, as: String.self), read != value {
                                    counters.wrong.add(1, ordering: .relaxed)
                                }
                                counters.completed.add(1, ordering: .relaxed)
                            } catch let error as CacheError where error.code == .timeout || error.code == .poolTimeout {
                                counters.timedOut.add(1, ordering: .relaxed)
                            } catch {
                                counters.otherErrors.withLockedValue { $0.append("\(error)") }
                                return
                            }
                        }
                    }
                }
            }
            let after = Self.residentBytes()
            let otherErrors = counters.otherErrors.withLockedValue { $0 }
            #expect(otherErrors.isEmpty, "every call completes or times out: \(otherErrors.prefix(3))")
            #expect(counters.completed.load(ordering: .relaxed) > 10_000, "calls made progress (no deadlock)")
            #expect(counters.wrong.load(ordering: .relaxed) == 0)
            #expect(after - before < 256 * 1024 * 1024, "resident memory grew by \((after - before) / 1024 / 1024) MiB")
            let statuses = try await cache.nodeStatus()
            #expect(statuses.allSatisfy { $0.openConnections <= 4 })
            #expect(statuses.allSatisfy { $0.isHealthy })
            try await cache.disconnect()
        }
    }
}

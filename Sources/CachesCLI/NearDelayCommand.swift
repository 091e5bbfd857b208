import ArgumentParser
import Caches
import NIOConcurrencyHelpers
import Synchronization

/// `caches near-delay`: how long another client's write takes to reach reads through the near cache.
struct NearDelayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "near-delay",
        abstract: "Measure the near cache's invalidation delay: another client's SET returns → a read sees the new value.",
        discussion: """
            C callers read one key through the cache (its near cache on: near_cache=ENTRIES), each every 100 µs, while a
            second cache without a near cache, on connections of its own, sets the key to 1, 2, 3 … -n times. For
            each write, the delay is the time from its SET returning to the first read that returns the new value
            (0 when a read saw it before the SET's reply arrived). Prints the distribution in microseconds.

            Example:
              caches near-delay --url 'redis://127.0.0.1:6379?near_cache=1000' -c 50 -n 2000
            """
    )

    @Option(name: [.customShort("c"), .long], help: "Concurrent readers.")
    var concurrency = 50

    @Option(name: [.customShort("n"), .long], help: "Writes to measure.")
    var writes = 2000

    @Option(help: "The key written and read.")
    var key = "near-delay"

    @OptionGroup var options: CacheOptions

    func validate() throws {
        if !(1...10_000).contains(self.concurrency) { throw ValidationError("-c must be between 1 and 10000") }
        if !(1...10_000_000).contains(self.writes) { throw ValidationError("-n must be between 1 and 10000000") }
    }

    func run() async throws {
        let configuration = try await self.options.makeConfiguration()
        guard configuration.nearCache.isEnabled else {
            throw ValidationError("the cache has no near cache: add near_cache=ENTRIES to the URL (or nearCache.maxEntries)")
        }
        var plain = configuration
        plain.nearCache = .init()
        let reader = try Cache(configuration: configuration)
        let writer = try Cache(configuration: plain)
        try await reader.connect()
        try await writer.connect()
        let state = DelayState()
        let key = self.key
        try await writer.set(key, 0)
        var delays: [Int] = []
        var missed = 0
        let clock = ContinuousClock()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<self.concurrency {
                group.addTask {
                    while !state.stop.load(ordering: .relaxed) {
                        let value = try await reader.get(key, as: Int.self) ?? -1
                        if value == state.target.load(ordering: .acquiring) {
                            state.seen(at: clock.now)
                        }
                        // Hits never suspend: without a pause the readers would keep the writer and the event
                        // loops from running. Fifty readers pausing 100 µs each still read every few µs.
                        try await Task.sleep(for: .microseconds(100))
                    }
                }
            }
            for version in 1...self.writes {
                state.expect(version)
                try await writer.set(key, version)
                let returned = clock.now
                let deadline = returned + .seconds(1)
                while !state.isSeen, clock.now < deadline { try await Task.sleep(for: .microseconds(20)) }
                if let seenAt = state.seenAt {
                    delays.append(max(0, Int((seenAt - returned) / .microseconds(1))))
                } else {
                    missed += 1
                }
            }
            state.stop.store(true, ordering: .relaxed)
            try await group.waitForAll()
        }
        try await reader.disconnect()
        try await writer.disconnect()
        delays.sort()
        func percentile(_ p: Double) -> Int { delays.isEmpty ? 0 : delays[min(delays.count - 1, Int(Double(delays.count) * p))] }
        let near = reader.nearCacheStatistics
        print(
            "near-delay: \(self.writes) writes, \(self.concurrency) readers; delay µs p50 \(percentile(0.5)) p90 \(percentile(0.9)) "
                + "p99 \(percentile(0.99)) p99.9 \(percentile(0.999)) max \(delays.last ?? 0); not seen within 1 s: \(missed); "
                + "near-cache hit ratio \(Int((near?.hitRatio ?? 0) * 1000) / 10)%"
        )
    }
}

/// What the readers and the writer of `near-delay` share.
private final class DelayState: Sendable {
    let target = Atomic<Int>(-2)
    let stop = Atomic<Bool>(false)
    private let seen = NIOLockedValueBox<ContinuousClock.Instant?>(nil)

    func expect(_ version: Int) {
        self.seen.withLockedValue { $0 = nil }
        self.target.store(version, ordering: .releasing)
    }

    func seen(at instant: ContinuousClock.Instant) {
        self.seen.withLockedValue { if $0 == nil { $0 = instant } }
    }

    var isSeen: Bool { self.seen.withLockedValue { $0 != nil } }
    var seenAt: ContinuousClock.Instant? { self.seen.withLockedValue { $0 } }
}

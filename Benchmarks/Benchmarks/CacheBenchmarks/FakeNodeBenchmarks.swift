import Benchmark
import Caches
import InMemoryTracing
import Synchronization

/// The tracer of a fixture's cache.
enum FixtureTracer {
    /// The configuration's default: `InstrumentationSystem.tracer`, the `NoOpTracer` here (nothing is bootstrapped).
    case `default`
    /// `tracer = nil`: tracing off.
    case none
    /// An `InMemoryTracer`, which keeps every span.
    case inMemory
}

/// A fake node and a `Cache` connected to it: made in a benchmark's setup, closed in its teardown.
final class FakeNodeFixture: Sendable {
    private let state = Mutex<(node: FakeRedisNode, cache: Cache)?>(nil)

    /// Starts a node, connects a cache to it and runs `seed` (to store the values the benchmark reads).
    ///
    /// - Parameters:
    ///   - tracer: The cache's tracer.
    ///   - seed: Stores what the benchmark reads.
    func start(tracer: FixtureTracer = .default, seed: @Sendable (Cache) async throws -> Void = { _ in }) async throws -> Cache {
        let node = try await FakeRedisNode.start()
        do {
            var configuration = try CacheConfiguration(url: CacheURL("redis://127.0.0.1:\(node.port)"))
            switch tracer {
            case .default: break
            case .none: configuration.tracer = nil
            case .inMemory: configuration.tracer = InMemoryTracer()
            }
            let cache = try Cache(configuration: configuration)
            try await cache.connect()
            try await seed(cache)
            self.state.withLock { $0 = (node, cache) }
            return cache
        } catch {
            try? await node.stop()
            throw error
        }
    }

    func stop() async throws {
        let running = self.state.withLock { state in
            let running = state
            state = nil
            return running
        }
        guard let running else { return }
        try await running.cache.disconnect()
        try await running.node.stop()
    }
}

/// The full per-operation path through the public `Cache` API (key, JSON, RESP encoding, pool, socket, RESP and
/// JSON decoding into `T`) against an in-process ``FakeRedisNode`` on loopback.
///
/// Each sample runs 1,000 operations (1,000 keys for `getMany`), so `mallocCountTotal` reads as allocations per
/// 1,000 GETs, SETs or keys: 3,500 is 3.5 per operation. The counts include the fake node's share of each
/// operation (its reads and writes on the server side of the socket).
func registerFakeNodeBenchmarks(user: User) {
    /// - Parameters:
    ///   - mallocTolerance: How far `mallocCountTotal` (per 1,000 operations) may move at p90.
    ///   - cpu: Whether to measure CPU time, which Linux counts in 10 ms ticks: a sample must take much longer.
    func configuration(mallocTolerance: BenchmarkThresholds, cpu: Bool = true) -> Benchmark.Configuration {
        // Loopback round trips between three threads on 2 cores shared with builds: the p90 of one case moved 6x
        // between runs. Time thresholds only catch a request that waits for a timer or a timeout; the allocation
        // counts are the guard.
        let time = BenchmarkThresholds(relative: [.p90: 1_000])
        var thresholds: [BenchmarkMetric: BenchmarkThresholds] = [.mallocCountTotal: mallocTolerance, .wallClock: time]
        if cpu { thresholds[.cpuTotal] = time }
        return Benchmark.Configuration(
            metrics: cpu ? [.wallClock, .cpuTotal, .mallocCountTotal] : [.wallClock, .mallocCountTotal],
            warmupIterations: 3,
            scalingFactor: .kilo,
            maxDuration: .seconds(3),
            thresholds: thresholds
        )
    }
    // One caller: runs differ by up to 0.2 per GET or SET, as part of the count depends on timing (with allocation
    // stacks recorded, which slows every allocation, a GET made 8.2 instead of 10.0). One more per operation fails.
    let sequential = configuration(mallocTolerance: .init(absolute: [.p90: 500]))
    // A Codable struct's decode varies more (0.8 per GET between two runs).
    let codable = configuration(mallocTolerance: .init(absolute: [.p90: 1_000]))
    // 50 callers: the count per GET depends on how many requests share a write and a read (4.2 to 5.9 per GET in
    // three runs): this case shows pipelining at work; the sequential cases guard the per-operation count.
    let concurrent = configuration(mallocTolerance: .init(relative: [.p90: 50]))
    // getMany: per 1,000 keys, 0.1 per key. A sample (10 calls) takes a few ms, below the CPU clock's tick.
    let perKey = configuration(mallocTolerance: .init(absolute: [.p90: 100]), cpu: false)
    let operations = 1_000

    // 98 characters: 100 bytes once encoded as a JSON string.
    let string = String(repeating: "x", count: 98)

    let getString = FakeNodeFixture()
    Benchmark(
        "CacheGet.String100B",
        configuration: sequential,
        closure: { benchmark, cache in
            for _ in 0..<operations {
                blackHole(try await cache.get("bench:string", as: String.self))
            }
        },
        setup: { try await getString.start { try await $0.set("bench:string", string) } },
        teardown: { try await getString.stop() }
    )

    // The same GETs with tracing turned off (`tracer = nil`): CacheGet.String100B keeps the default tracer, the
    // NoOpTracer when nothing is bootstrapped, and must not cost more than this (the cache treats both as off).
    let getStringUntraced = FakeNodeFixture()
    Benchmark(
        "CacheGet.String100B.TracerNil",
        configuration: sequential,
        closure: { benchmark, cache in
            for _ in 0..<operations {
                blackHole(try await cache.get("bench:string", as: String.self))
            }
        },
        setup: {
            try await getStringUntraced.start(tracer: .none) { try await $0.set("bench:string", string) }
        },
        teardown: { try await getStringUntraced.stop() }
    )

    // The same GETs traced into an InMemoryTracer (which keeps every span): what a span per call costs, with a tracer
    // that does little else.
    let getStringTraced = FakeNodeFixture()
    Benchmark(
        "CacheGet.String100B.InMemoryTracer",
        configuration: configuration(mallocTolerance: .init(relative: [.p90: 20])),
        closure: { benchmark, cache in
            for _ in 0..<operations {
                blackHole(try await cache.get("bench:string", as: String.self))
            }
        },
        setup: {
            try await getStringTraced.start(tracer: .inMemory) {
                try await $0.set("bench:string", string)
            }
        },
        teardown: { try await getStringTraced.stop() }
    )

    let getUser = FakeNodeFixture()
    Benchmark(
        "CacheGet.UserRecord",
        configuration: codable,
        closure: { benchmark, cache in
            for _ in 0..<operations {
                blackHole(try await cache.get("bench:user", as: User.self))
            }
        },
        setup: { try await getUser.start { try await $0.set("bench:user", user) } },
        teardown: { try await getUser.stop() }
    )

    let getConcurrent = FakeNodeFixture()
    let callers = 50
    Benchmark(
        "CacheGet.String100B50Callers",
        configuration: concurrent,
        closure: { benchmark, cache in
            // 50 callers of 20 GETs each: 1,000 GETs, pipelined over the pool's connections.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<callers {
                    group.addTask {
                        for _ in 0..<(operations / callers) {
                            blackHole(try await cache.get("bench:string", as: String.self))
                        }
                    }
                }
                try await group.waitForAll()
            }
        },
        setup: { try await getConcurrent.start { try await $0.set("bench:string", string) } },
        teardown: { try await getConcurrent.stop() }
    )

    let setString = FakeNodeFixture()
    Benchmark(
        "CacheSet.String100B",
        configuration: sequential,
        closure: { benchmark, cache in
            for _ in 0..<operations {
                try await cache.set("bench:string", string)
            }
        },
        setup: { try await setString.start() },
        teardown: { try await setString.stop() }
    )

    let manyKeys = (0..<100).map { "bench:many:\($0)" }
    let getMany = FakeNodeFixture()
    Benchmark(
        "CacheGetMany.100Strings",
        configuration: perKey,
        closure: { benchmark, cache in
            // 10 calls of 100 keys: 1,000 keys per sample.
            for _ in 0..<(operations / manyKeys.count) {
                blackHole(try await cache.getMany(manyKeys, as: String.self))
            }
        },
        setup: {
            try await getMany.start { cache in
                try await cache.setMany(manyKeys.map { ($0, string) })
            }
        },
        teardown: { try await getMany.stop() }
    )
}

import Caches
import Histogram
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The keys, the value and the callers of `caches bench`.
final class BenchWorkload: Sendable {
    /// When the callers stop.
    enum Stop: Sendable {
        /// After this many operations in all.
        case count(Int)
        /// After this many seconds.
        case duration(Double)
    }

    let cache: Cache
    let mix: [BenchOperation]
    /// `key:000000000000` … as redis-benchmark's `key:__rand_int__`.
    let logicalKeys: [String]
    /// The same keys for `incr`, as `counter:…`.
    let counterKeys: [String]
    /// The stored keys (for placement only).
    var keys: [String] { self.logicalKeys }
    /// A JSON string value whose encoded form is `valueSize` bytes.
    let value: String

    init(cache: Cache, mix: [BenchOperation], keyspace: Int, valueSize: Int) {
        self.cache = cache
        self.mix = mix
        self.logicalKeys = (0..<keyspace).map { Self.key($0) }
        self.counterKeys = mix.contains(.incr) ? (0..<keyspace).map { Self.key($0, name: "counter:") } : []
        self.value = String(repeating: "x", count: valueSize - 2)
    }

    /// What a prefill could not store: the keys of nodes that were down.
    struct PrefillGaps {
        var keys = 0
        var nodes: Set<String> = []
    }

    /// Stores every key once, 100 keys per call. A node that is down does not stop the prefill: its keys are
    /// skipped (their reads will miss) and reported; only a prefill that stored nothing throws.
    func prefill(concurrency: Int) async throws -> PrefillGaps {
        let batches = stride(from: 0, to: self.logicalKeys.count, by: 100).map { $0..<min($0 + 100, self.logicalKeys.count) }
        let next = BenchCounters()
        let gaps = try await withThrowingTaskGroup(of: (PrefillGaps, CacheError?).self) { group in
            for _ in 0..<min(concurrency, batches.count) {
                group.addTask {
                    var gaps = PrefillGaps()
                    var lastError: CacheError?
                    while true {
                        let index = next.issued.wrappingAdd(1, ordering: .relaxed).oldValue
                        guard index < batches.count else { return (gaps, lastError) }
                        do {
                            try await self.cache.setMany(batches[index].map { (self.logicalKeys[$0], self.value) })
                        } catch let error as CacheError where error.code == .partialFailure {
                            for failure in error.failures {
                                gaps.keys += failure.keys.count
                                gaps.nodes.insert(failure.node)
                            }
                            lastError = error
                        } catch let error as CacheError where error.node != nil && Self.isNodeDown(error) {
                            gaps.keys += batches[index].count
                            gaps.nodes.insert(error.node ?? "?")
                            lastError = error
                        }
                    }
                }
            }
            var total = PrefillGaps()
            var lastError: CacheError?
            for try await (gaps, error) in group {
                total.keys += gaps.keys
                total.nodes.formUnion(gaps.nodes)
                lastError = error ?? lastError
            }
            if total.keys >= self.logicalKeys.count, let lastError { throw lastError }
            return total
        }
        return gaps
    }

    private static func isNodeDown(_ error: CacheError) -> Bool {
        [.connectFailed, .connectionClosed, .timeout, .tlsHandshake, .nodeUnavailable, .poolTimeout].contains(error.code)
    }

    /// Runs `callers` closed-loop callers until `stop`; returns their merged results.
    func run(callers: Int, stop: Stop, progress: Bool) async -> BenchCallerResult {
        let counters = BenchCounters()
        let start = BenchClock.nanoseconds()
        let deadline: UInt64
        let total: Int
        switch stop {
        case .count(let count):
            total = count
            deadline = .max
        case .duration(let seconds):
            total = .max
            deadline = start + UInt64(seconds * 1e9)
        }
        return await withTaskGroup(of: BenchCallerResult?.self) { group in
            if progress {
                group.addTask {
                    await BenchProgress.run(counters, total: total, start: start, deadline: deadline)
                    return nil
                }
            }
            // Callers spread over the event loops when `caches` runs its tasks on them (each then gets a
            // connection on its own loop; see EventLoopTaskExecutor).
            let executors = EventLoopTaskExecutor.everyLoop ?? []
            for caller in 0..<callers {
                if executors.isEmpty {
                    // No preference at all: even a nil one makes the runtime look it up on every switch.
                    group.addTask { await self.caller(caller, total: total, deadline: deadline, counters: counters) }
                } else {
                    group.addTask(executorPreference: executors[caller % executors.count]) {
                        await self.caller(caller, total: total, deadline: deadline, counters: counters)
                    }
                }
            }
            var merged = BenchCallerResult()
            for await result in group {
                if let result { merged.merge(result) }
            }
            return merged
        }
    }

    /// One caller: picks the next operation of the mix and random keys, calls, records the latency.
    private func caller(_ index: Int, total: Int, deadline: UInt64, counters: BenchCounters) async -> BenchCallerResult {
        var result = BenchCallerResult()
        var histograms = self.mix.map { _ in BenchCallerResult.makeHistogram() }
        var calls = [Int](repeating: 0, count: self.mix.count)
        var random = SplitMix64(seed: UInt64(index) &+ 0x9E37_79B9)
        var step = index
        let keyspace = self.logicalKeys.count
        // Locals, so that the loop does not retain and release the shared objects (the cache, the key array) on
        // every call: both cores writing one reference count would be measured as the client's cost.
        let cache = self.cache
        let logicalKeys = self.logicalKeys
        while true {
            if total != .max {
                guard counters.issued.wrappingAdd(1, ordering: .relaxed).oldValue < total else { break }
            }
            let slot = step % self.mix.count
            step &+= 1
            let operation = self.mix[slot]
            let first = Int(random.next() % UInt64(keyspace))
            let before = BenchClock.nanoseconds()
            do {
                switch operation {
                case .get:
                    _ = try await cache.get(logicalKeys[first], as: String.self)
                case .set:
                    try await cache.set(logicalKeys[first], self.value)
                case .getMany(let width):
                    _ = try await cache.getMany(Self.randomKeys(width, keyspace: keyspace, first: first, &random), as: String.self)
                case .setMany(let width):
                    try await cache.setMany(Self.randomKeys(width, keyspace: keyspace, first: first, &random).map { ($0, self.value) })
                case .incr:
                    try await cache.incr(self.counterKeys[first])
                case .deleteMany(let width):
                    try await cache.deleteMany(Self.randomKeys(width, keyspace: keyspace, first: first, &random))
                }
            } catch {
                result.errors += 1
                if result.firstError == nil { result.firstError = "\(operation): \(error)" }
            }
            let after = BenchClock.nanoseconds()
            histograms[slot].record(max(1, (after - before) / 1000))
            calls[slot] += 1
            counters.completed.wrappingAdd(1, ordering: .relaxed)
            if after >= deadline { break }
        }
        for (slot, operation) in self.mix.enumerated() where calls[slot] > 0 {
            result.histograms[operation, default: BenchCallerResult.makeHistogram()].add(histograms[slot])
            result.calls[operation, default: 0] += calls[slot]
        }
        return result
    }
}

extension BenchWorkload {
    /// The keys of a many-key call: `first`, then `count - 1` more, each picked from the whole key space on its own, as
    /// redis-benchmark's `key:__rand_int__` arguments are (a key may repeat).
    ///
    /// A run of neighbouring keys would not do: under the ring's default hash (`fnv1a_64`, twemproxy's), keys that
    /// differ only in their last characters mostly fall on one node, so a call over such a run measured about 1.7
    /// nodes of three where random keys reach every node. Each key is built for the call, as a service builds the
    /// keys it asks for: reading them from ``logicalKeys`` at random would add a cache miss or more per key (the
    /// strings of a large key space lie scattered in memory), a cost of the bench rather than of the library.
    @inline(__always)
    static func randomKeys(_ count: Int, keyspace: Int, first: Int, _ random: inout SplitMix64) -> [String] {
        [String](unsafeUninitializedCapacity: count) { buffer, initialized in
            buffer.initializeElement(at: 0, to: Self.key(first))
            for index in 1..<count {
                buffer.initializeElement(at: index, to: Self.key(Int(random.next() % UInt64(keyspace))))
            }
            initialized = count
        }
    }

    /// `name` and `index` in twelve digits: `key:000000000042` as ``logicalKeys`` holds it, `counter:…` as
    /// ``counterKeys`` does (the key space is below 10^12).
    static func key(_ index: Int, name: StaticString = "key:") -> String {
        let head = name.utf8CodeUnitCount
        return String(unsafeUninitializedCapacity: head + 12) { bytes in
            _ = UnsafeMutableBufferPointer(rebasing: bytes[..<head]).initialize(from: UnsafeBufferPointer(start: name.utf8Start, count: head))
            var rest = index
            for position in stride(from: head + 11, through: head, by: -1) {
                bytes[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
            }
            return head + 12
        }
    }
}

/// Counters the callers share.
final class BenchCounters: Sendable {
    /// Operations started (count mode) or batches taken (prefill).
    let issued = Atomic<Int>(0)
    /// Operations finished.
    let completed = Atomic<Int>(0)
}

/// A small, fast pseudo-random generator (SplitMix64); one per caller, so no locking.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { self.state = seed }

    mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The progress bar `caches bench` draws on a terminal.
enum BenchProgress {
    /// Redraws the bar every 200 ms until the run is complete or the task is cancelled.
    static func run(_ counters: BenchCounters, total: Int, start: UInt64, deadline: UInt64) async {
        while true {
            try? await Task.sleep(for: .milliseconds(200))
            let now = BenchClock.nanoseconds()
            let done = counters.completed.load(ordering: .relaxed)
            let fraction: Double =
                total != .max ? Double(done) / Double(total) : Double(now - start) / Double(max(1, deadline - start))
            let width = 30
            let filled = min(width, Int(fraction * Double(width)))
            let rate = Double(done) / (Double(now - start) / 1e9)
            let line =
                "\r[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "] "
                + "\(min(100, Int(fraction * 100)))%  \(done) ops  \(Int(rate)) ops/s"
            print(line, terminator: "")
            fflush(nil)
            if fraction >= 1 {
                print("\r" + String(repeating: " ", count: line.count) + "\r", terminator: "")
                fflush(nil)
                return
            }
        }
    }
}

import ArgumentParser
import Caches
import Foundation
import Histogram
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `caches bench`: a closed-loop load generator through the public `Cache` API.
struct BenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Closed-loop load through the Cache API: ops/s, latency percentiles per operation, client CPU per op.",
        discussion: """
            C callers each run one operation at a time, picking keys key:000000000000 … uniformly from the key space
            (each key of a many-key call on its own, as redis-benchmark's key:__rand_int__ arguments are), until -n
            operations in all are done or --duration seconds have passed. Values are JSON strings whose
            stored form is --value-size bytes. Operations that read are served from a prefilled key space.
            Client CPU is getrusage(RUSAGE_SELF) user + system time over the measured window, per operation.
            Exits 3 when any operation failed.

            Examples:
              caches bench                                        # 50 callers, 100000 GETs and SETs
              caches bench -c 50 -n 200000 --ops get --keyspace 100000 --value-size 100
              caches bench --duration 10 --ops get,get,get,set    # 3 reads to 1 write
              caches bench --ops getMany:100 -n 5000 --json
            """
    )

    @Option(name: [.customShort("c"), .long], help: "Concurrent callers.")
    var concurrency = 50

    @Option(name: [.customShort("n"), .long], help: "Operations in all (default 100000 when no --duration).")
    var requests: Int?

    @Option(help: "Run for this many seconds instead of a count.")
    var duration: Double?

    @Option(help: "How many distinct keys.")
    var keyspace = 100_000

    @Option(help: "Bytes each stored value takes (a JSON string of size-2 characters).")
    var valueSize = 100

    @Option(help: "The mix: get, set, getMany:K, setMany:K, incr, deleteMany:K, comma-separated.")
    var ops = "get,set"

    @Option(help: "Seconds of unmeasured load before measuring.")
    var warmup = 1.0

    @Flag(help: "Do not store every key before a mix that reads.")
    var noPrefill = false

    @OptionGroup var options: CacheOptions

    /// Upper bounds, so that no option can trap (seconds become 64-bit nanoseconds) or exhaust memory.
    static let maximumCallers = 10_000
    static let maximumSeconds = 1_000_000.0
    static let maximumKeyspace = 100_000_000
    static let maximumValueSize = 64 << 20

    func validate() throws {
        if !(1...Self.maximumCallers).contains(self.concurrency) {
            throw ValidationError("-c must be between 1 and \(Self.maximumCallers)")
        }
        if let requests = self.requests, requests < 1 { throw ValidationError("-n must be at least 1") }
        if let duration = self.duration, !(duration > 0 && duration <= Self.maximumSeconds) {
            throw ValidationError("--duration must be positive and at most \(Int(Self.maximumSeconds)) seconds")
        }
        if self.requests != nil && self.duration != nil { throw ValidationError("give -n or --duration, not both") }
        if !(1...Self.maximumKeyspace).contains(self.keyspace) {
            throw ValidationError("--keyspace must be between 1 and \(Self.maximumKeyspace)")
        }
        if !(2...Self.maximumValueSize).contains(self.valueSize) {
            throw ValidationError("--value-size must be between 2 (the quotes of a JSON string) and \(Self.maximumValueSize)")
        }
        if !(self.warmup >= 0 && self.warmup <= Self.maximumSeconds) {
            throw ValidationError("--warmup must be between 0 and \(Int(Self.maximumSeconds)) seconds")
        }
        let mix = try BenchOperation.parseMix(self.ops)
        if let widest = mix.map(\.keysPerCall).max(), widest > self.keyspace {
            throw ValidationError("--keyspace must be at least the widest operation's key count (\(widest))")
        }
    }

    func run() async throws {
        let mix = try BenchOperation.parseMix(self.ops)
        let cache = try await self.options.makeCache()
        try await cache.connect()
        do {
            let report = try await self.measure(cache, mix: mix)
            try await cache.disconnect()
            report.print(json: self.options.json)
            if report.errors > 0 { throw CLIExitCode.node }
        } catch {
            try? await cache.disconnect()
            throw error
        }
    }

    private func measure(_ cache: Cache, mix: [BenchOperation]) async throws -> BenchReport {
        let workload = BenchWorkload(cache: cache, mix: mix, keyspace: self.keyspace, valueSize: self.valueSize)
        if !self.noPrefill && mix.contains(where: \.reads) {
            let gaps = try await workload.prefill(concurrency: self.concurrency)
            if gaps.keys > 0 {
                printError(
                    "caches bench: prefill skipped \(gaps.keys) key(s) of node(s) that did not answer: "
                        + "\(gaps.nodes.sorted().joined(separator: ", ")); reads of those keys will miss"
                )
            }
        }
        let stop: BenchWorkload.Stop
        if let duration = self.duration {
            stop = .duration(duration)
        } else {
            stop = .count(self.requests ?? 100_000)
        }
        if self.warmup > 0 {
            _ = await workload.run(callers: self.concurrency, stop: .duration(self.warmup), progress: false)
        }
        let showProgress = !self.options.json && isatty(STDOUT_FILENO) == 1
        let nearBefore = cache.nearCacheStatistics
        let residentBefore = ResidentMemory.current()
        let before = CPUTime.now()
        let start = BenchClock.nanoseconds()
        let results = await workload.run(callers: self.concurrency, stop: stop, progress: showProgress)
        let elapsed = BenchClock.nanoseconds() - start
        let cpu = CPUTime.now() - before
        var nearCache = cache.nearCacheStatistics
        if let first = nearBefore {
            nearCache?.hits -= first.hits
            nearCache?.misses -= first.misses
            nearCache?.invalidations -= first.invalidations
            nearCache?.evictions -= first.evictions
            nearCache?.flushes -= first.flushes
        }

        var keysPerNode: [(String, Int)] = []
        if cache.nodeName(for: workload.keys[0]) != nil {
            var counts: [String: Int] = [:]
            for key in workload.logicalKeys { counts[cache.nodeName(for: key) ?? "?", default: 0] += 1 }
            keysPerNode = cache.configuration.nodes.map { ($0.ketamaName, counts[$0.ketamaName, default: 0]) }
        }
        return BenchReport(
            callers: self.concurrency,
            keyspace: self.keyspace,
            valueSize: self.valueSize,
            mix: mix,
            seconds: Double(elapsed) / 1e9,
            cpu: cpu,
            results: results,
            keysPerNode: keysPerNode,
            nearCache: nearCache,
            residentBefore: residentBefore,
            residentAfter: ResidentMemory.current(),
            peakResident: ResidentMemory.peak()
        )
    }
}

// MARK: - Clocks

/// Monotonic nanoseconds.
enum BenchClock {
    @inline(__always)
    static func nanoseconds() -> UInt64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_nsec)
    }
}

/// User and system CPU time of this process (all threads), from `getrusage(RUSAGE_SELF)`.
struct CPUTime {
    var user: Double
    var system: Double

    static func now() -> CPUTime {
        var usage = rusage()
        #if canImport(Glibc)
            getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
            getrusage(RUSAGE_SELF, &usage)
        #endif
        func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
        return CPUTime(user: seconds(usage.ru_utime), system: seconds(usage.ru_stime))
    }

    static func - (lhs: CPUTime, rhs: CPUTime) -> CPUTime {
        CPUTime(user: lhs.user - rhs.user, system: lhs.system - rhs.system)
    }

    var total: Double { self.user + self.system }
}

/// The process's memory: resident now (`/proc/self/statm`; nil elsewhere) and at its peak (`ru_maxrss`).
enum ResidentMemory {
    static func current() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    static func peak() -> Int {
        var usage = rusage()
        #if canImport(Glibc)
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return Int(usage.ru_maxrss) * 1024
        #else
            getrusage(RUSAGE_SELF, &usage)
            return Int(usage.ru_maxrss)
        #endif
    }
}

// MARK: - Results

/// What one caller measured, per operation of the mix.
struct BenchCallerResult: Sendable {
    var histograms: [BenchOperation: Histogram<UInt32>] = [:]
    var calls: [BenchOperation: Int] = [:]
    var errors = 0
    var firstError: String?

    static func makeHistogram() -> Histogram<UInt32> {
        // Microseconds from 1 µs to 100 s, 3 significant digits.
        Histogram<UInt32>(lowestDiscernibleValue: 1, highestTrackableValue: 100_000_000, numberOfSignificantValueDigits: .three)
    }

    mutating func merge(_ other: BenchCallerResult) {
        for (operation, histogram) in other.histograms {
            self.histograms[operation, default: Self.makeHistogram()].add(histogram)
        }
        for (operation, calls) in other.calls { self.calls[operation, default: 0] += calls }
        self.errors += other.errors
        if self.firstError == nil { self.firstError = other.firstError }
    }
}

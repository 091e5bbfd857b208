import Caches
import Histogram

/// The figures of one `caches bench` run, as text or JSON.
struct BenchReport {
    var callers: Int
    var keyspace: Int
    var valueSize: Int
    var mix: [BenchOperation]
    var seconds: Double
    var cpu: CPUTime
    var results: BenchCallerResult
    var keysPerNode: [(String, Int)]
    /// What the near cache did during the run; nil without one.
    var nearCache: CacheNearCacheStatistics?
    /// Resident memory before and after the measured window, and the process's peak (bytes).
    var residentBefore: Int?
    var residentAfter: Int?
    var peakResident: Int

    var errors: Int { self.results.errors }

    /// Distinct operations in mix order.
    private var operations: [BenchOperation] {
        var seen: Set<BenchOperation> = []
        return self.mix.filter { seen.insert($0).inserted }
    }

    private var totalCalls: Int { self.results.calls.values.reduce(0, +) }
    private var totalKeys: Int { self.results.calls.reduce(0) { $0 + $1.value * $1.key.keysPerCall } }

    func print(json: Bool) {
        if json {
            CLIJSON.print(self.json)
        } else {
            self.printText()
        }
    }

    var json: JSONValue {
        let calls = self.totalCalls
        var operations: [JSONValue] = []
        for operation in self.operations {
            let count = self.results.calls[operation, default: 0]
            let histogram = self.results.histograms[operation] ?? BenchCallerResult.makeHistogram()
            operations.append([
                "op": .string(operation.description),
                "calls": .int(count),
                "keysPerCall": .int(operation.keysPerCall),
                "opsPerSecond": CLIJSON.number(Double(count) / self.seconds),
                "keysPerSecond": CLIJSON.number(Double(count * operation.keysPerCall) / self.seconds),
                "latencyMicroseconds": [
                    "p50": .int(Int(histogram.valueAtPercentile(50))),
                    "p99": .int(Int(histogram.valueAtPercentile(99))),
                    "p99.9": .int(Int(histogram.valueAtPercentile(99.9))),
                    "max": .int(Int(histogram.max)),
                ],
            ])
        }
        return [
            "callers": .int(self.callers),
            "keyspace": .int(self.keyspace),
            "valueSize": .int(self.valueSize),
            "ops": .string(self.mix.map(\.description).joined(separator: ",")),
            "seconds": .double(self.seconds),
            "calls": .int(calls),
            "opsPerSecond": CLIJSON.number(Double(calls) / self.seconds),
            "keysPerSecond": CLIJSON.number(Double(self.totalKeys) / self.seconds),
            "cpuSeconds": ["user": .double(self.cpu.user), "system": .double(self.cpu.system)],
            "cpuMicrosecondsPerOp": CLIJSON.number(calls > 0 ? self.cpu.total * 1e6 / Double(calls) : .nan),
            "operations": .array(operations),
            "keysPerNode": .object(JSONObject(self.keysPerNode.map { ($0.0, JSONValue.int($0.1)) })),
            "nearCache": self.nearCache.map { near in
                [
                    "hitRatio": CLIJSON.number(near.hitRatio), "hits": .int(near.hits), "misses": .int(near.misses),
                    "invalidations": .int(near.invalidations), "evictions": .int(near.evictions), "entries": .int(near.entries),
                    "bytes": .int(near.bytes),
                ]
            } ?? .null,
            "residentBytes": [
                "beforeRun": self.residentBefore.map { .int($0) } ?? .null, "afterRun": self.residentAfter.map { .int($0) } ?? .null,
                "peak": .int(self.peakResident),
            ],
            "errors": .int(self.errors),
            "firstError": self.results.firstError.map { .string($0) } ?? .null,
        ]
    }

    private func printText() {
        let calls = self.totalCalls
        Swift.print(
            "caches bench: \(self.callers) callers, \(self.keyspace) keys, \(self.valueSize)-byte values, "
                + "ops \(self.mix.map(\.description).joined(separator: ",")): \(calls) calls in \(format3(self.seconds)) s"
        )
        Swift.print(
            pad("op", 15) + pad("calls", 10) + pad("ops/s", 10) + pad("keys/s", 11) + pad("p50 µs", 9) + pad("p99 µs", 9)
                + pad("p99.9 µs", 10) + "max µs"
        )
        for operation in self.operations {
            let count = self.results.calls[operation, default: 0]
            let histogram = self.results.histograms[operation] ?? BenchCallerResult.makeHistogram()
            Swift.print(
                pad(operation.description, 15) + pad("\(count)", 10) + pad("\(Int(Double(count) / self.seconds))", 10)
                    + pad("\(Int(Double(count * operation.keysPerCall) / self.seconds))", 11)
                    + pad("\(histogram.valueAtPercentile(50))", 9) + pad("\(histogram.valueAtPercentile(99))", 9)
                    + pad("\(histogram.valueAtPercentile(99.9))", 10) + "\(histogram.max)"
            )
        }
        Swift.print(
            pad("all", 15) + pad("\(calls)", 10) + pad("\(Int(Double(calls) / self.seconds))", 10)
                + "\(Int(Double(self.totalKeys) / self.seconds))"
        )
        let perOp = calls > 0 ? self.cpu.total * 1e6 / Double(calls) : 0
        Swift.print(
            "client CPU: \(format1(perOp)) µs/op (user \(format3(self.cpu.user)) s + system \(format3(self.cpu.system)) s)"
        )
        if !self.keysPerNode.isEmpty {
            Swift.print(
                "keys per node: "
                    + self.keysPerNode.map { "\($0.0) \($0.1) (\(format1(Double($0.1) / Double(self.keyspace) * 100))%)" }
                    .joined(separator: ", ")
            )
        }
        let mebibytes = { (bytes: Int?) in bytes.map { format1(Double($0) / 1_048_576) + " MiB" } ?? "?" }
        Swift.print(
            "resident memory: \(mebibytes(self.residentBefore)) before the run, \(mebibytes(self.residentAfter)) after, "
                + "peak \(mebibytes(self.peakResident))"
        )
        if let near = self.nearCache {
            Swift.print(
                "near cache: hit ratio \(format1(near.hitRatio * 100))% (\(near.hits) hits, \(near.misses) misses, "
                    + "\(near.invalidations) invalidations, \(near.evictions) evictions; \(near.entries) entries, \(near.bytes) bytes)"
            )
        }
        Swift.print("errors: \(self.errors)\(self.results.firstError.map { " (first: \($0))" } ?? "")")
    }
}

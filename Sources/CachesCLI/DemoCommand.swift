import ArgumentParser
import Caches

/// `caches demo`: the main job: one cache over several nodes, every operation, keys per node, ops/s per phase.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a workload through one cache over all its nodes and report placement and throughput."
    )

    @OptionGroup var options: CacheOptions

    @Option(help: "How many keys the workload uses.")
    var keys = 10_000

    @Option(help: "Concurrent callers.")
    var concurrency = 50

    @Option(help: "Keys per getMany/setMany/deleteMany call.")
    var batch = 100

    /// Bounds that keep every option from trapping (`0..<-1`, a stride of 0) or exhausting memory.
    func validate() throws {
        if !(1...10_000_000).contains(self.keys) { throw ValidationError("--keys must be between 1 and 10000000") }
        if !(1...BenchCommand.maximumCallers).contains(self.concurrency) {
            throw ValidationError("--concurrency must be between 1 and \(BenchCommand.maximumCallers)")
        }
        if !(1...100_000).contains(self.batch) { throw ValidationError("--batch must be between 1 and 100000") }
    }

    func run() async throws {
        let cache = try await self.options.makeCache(keyPrefix: "demo")
        try await cache.connect()
        let keys = (0..<self.keys).map { "key:\($0)" }
        let value = String(repeating: "v", count: 100)
        let source = try self.options.url.map { "URL \(try CacheURL($0))" } ?? "config \(self.options.config)"
        print("swift-caches demo: \(self.keys) keys, \(self.concurrency) callers, \(source)")
        try await cache.clear()

        var phases: [(String, Int, Duration)] = []
        func phase(_ name: String, operations: Int, _ work: @escaping @Sendable (Int) async throws -> Void) async throws {
            let clock = ContinuousClock()
            let start = clock.now
            try await self.runConcurrently(count: operations, work)
            let elapsed = clock.now - start
            phases.append((name, operations, elapsed))
        }
        let batches = stride(from: 0, to: keys.count, by: self.batch).map { Array(keys[$0..<min($0 + self.batch, keys.count)]) }

        try await phase("set", operations: keys.count) { try await cache.set(keys[$0], value) }
        try await phase("get", operations: keys.count) { index in
            guard try await cache.get(keys[index], as: String.self) == value else {
                throw CacheError(.decodingFailed, "demo read back a wrong value", key: keys[index])
            }
        }
        try await phase("getMany(\(self.batch))", operations: batches.count) { index in
            let values = try await cache.getMany(batches[index], as: String.self)
            guard values.count == batches[index].count, values.values.allSatisfy({ $0 == value }) else {
                throw CacheError(.decodingFailed, "demo getMany returned wrong values")
            }
        }
        try await phase("setMany(\(self.batch))", operations: batches.count) { index in
            try await cache.setMany(Dictionary(uniqueKeysWithValues: batches[index].map { ($0, value) }), ttl: 600)
        }
        try await phase("incr", operations: keys.count) { index in
            try await cache.incr("counter:\(index % 100)")
        }

        let statuses = try await cache.nodeStatus()
        var byRing: [String: Int] = [:]
        for key in keys { byRing[cache.nodeName(for: key) ?? "?", default: 0] += 1 }
        let totalWeight = statuses.reduce(0) { $0 + Int($1.weight) }
        print("\nkeys per node (\(keys.count) keys; DBSIZE includes 100 counters):")
        print(pad("node", 14) + pad("address", 22) + pad("weight", 8) + pad("predicted", 11) + pad("ring", 8) + pad("DBSIZE", 8))
        for status in statuses {
            let predicted = Double(status.weight) / Double(totalWeight) * 100
            let ring = byRing[status.name, default: 0]
            print(
                pad(status.name, 14) + pad(status.address, 22) + pad("\(status.weight)", 8)
                    + pad(String(format1(predicted)) + "%", 11)
                    + pad(format1(Double(ring) / Double(keys.count) * 100) + "%", 8)
                    + pad(status.keyCount.map { "\($0)" } ?? "down", 8)
            )
        }
        if cache.activeConfiguration.backend == .redisCluster {
            print("(a cluster's primaries: \"predicted\" is an even share; \"ring\" is the share the slot map gives them)")
        } else if cache.activeConfiguration.ring.hash == .fnv1a_64 {
            print(
                "(ring hash fnv1a_64, twemproxy's default: keys that differ only in their last characters, like these"
                    + " key:0…key:N, spread unevenly; `ring.hash: md5` spreads them by the weights)"
            )
        }

        try await phase("deleteMany(\(self.batch))", operations: batches.count) { index in
            try await cache.deleteMany(batches[index])
        }
        let leftover = try await cache.getMany(keys.prefix(1000), as: String.self).values.compactMap { $0 }.count
        print("\nphase                ops      seconds   ops/s")
        for (name, operations, elapsed) in phases {
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print(pad(name, 21) + pad("\(operations)", 9) + pad(format3(seconds), 10) + "\(Int(Double(operations) / seconds))")
        }
        print("\nafter deleteMany: \(leftover) of 1000 sampled keys remain (expected 0)")
        try await cache.clear()
        try await cache.disconnect()
        if leftover != 0 { throw ExitCode(1) }
    }

    /// Runs `work(0..<count)` with `concurrency` callers pulling indices.
    private func runConcurrently(count: Int, _ work: @escaping @Sendable (Int) async throws -> Void) async throws {
        let callers = min(self.concurrency, count)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for caller in 0..<callers {
                group.addTask {
                    var index = caller
                    while index < count {
                        try await work(index)
                        index += callers
                    }
                }
            }
            try await group.waitForAll()
        }
    }
}

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
}

func format1(_ value: Double) -> String {
    let scaled = (value * 10).rounded() / 10
    return "\(scaled)"
}

func format3(_ value: Double) -> String {
    let scaled = (value * 1000).rounded() / 1000
    return "\(scaled)"
}

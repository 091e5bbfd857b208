import ArgumentParser
import CacheRing
import Caches

/// `caches ring`: where keys live on the ketama ring. No I/O: the ring is computed from the configuration.
struct RingCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ring",
        abstract: "Inspect the ketama ring: which node holds a key, how keys spread, what a topology change moves.",
        subcommands: [RingLocateCommand.self, RingStatsCommand.self, RingDiffCommand.self]
    )
}

/// The most sample keys `ring stats` and `ring diff` take (each is a string held in memory).
let maximumSampleKeys = 100_000_000

/// The logical sample keys `key:0`, `key:1`, … stored as the configuration stores them.
private func sampleKeys(_ count: Int, _ configuration: CacheConfiguration) throws -> [String] {
    let cache = try Cache(configuration: configuration)
    return (0..<count).map { cache.makeKey("key:\($0)") }
}

/// Keys per node name.
private func spread(_ ring: HashRing, _ keys: [String]) -> [Int] {
    var counts = [Int](repeating: 0, count: ring.nodes.count)
    for key in keys { counts[ring.nodeIndex(forKey: key)] += 1 }
    return counts
}

/// The share of the total weight each node has.
private func weightShares(_ ring: HashRing) -> [Double] {
    let total = ring.nodes.reduce(0.0) { $0 + Double($1.weight) }
    return ring.nodes.map { Double($0.weight) / total }
}

private func percent(_ value: Double) -> String { format1(value * 100) + "%" }

// MARK: - locate

/// `caches ring locate KEY…`: the node of each key.
struct RingLocateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "locate",
        abstract: "Print the node that holds each key.",
        discussion: "Examples:\n  caches ring locate user:1 user:2\n  caches ring locate user:1 --version 2 --json"
    )

    @Argument(help: "Logical keys.")
    var keys: [String]

    @Option(help: "The keys' version; default: the configuration's.")
    var version: String?

    @OptionGroup var options: CacheOptions

    func validate() throws {
        if self.keys.isEmpty { throw ValidationError("name at least one key") }
    }

    func run() async throws {
        let configuration = try await self.options.makeConfiguration()
        let ring = try configuration.makeRing()
        let cache = try Cache(configuration: configuration)
        let version = self.version.map { CacheVersion($0) }
        var rows: [JSONValue] = []
        for key in self.keys {
            let stored = cache.makeKey(key, version: version)
            let index = ring.nodeIndex(forKey: stored)
            let node = configuration.nodes[index]
            rows.append([
                "key": .string(key), "storedKey": .string(stored), "node": .string(node.ketamaName),
                "address": .string("\(node.host):\(node.port)"),
            ])
            if !self.options.json {
                print(pad(key, 24) + pad(node.ketamaName, 16) + "\(node.host):\(node.port)")
            }
        }
        if self.options.json { CLIJSON.print(.array(rows)) }
    }
}

// MARK: - stats

/// `caches ring stats`: keys per node for sample keys against the weights' share.
struct RingStatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Place N sample keys (key:0 … key:N-1) and compare each node's share with its weight's share.",
        discussion: "Examples:\n  caches ring stats\n  caches ring stats --keys 1000000 --json"
    )

    @Option(help: "How many sample keys.")
    var keys = 100_000

    @OptionGroup var options: CacheOptions

    func validate() throws {
        if !(1...maximumSampleKeys).contains(self.keys) {
            throw ValidationError("--keys must be between 1 and \(maximumSampleKeys)")
        }
    }

    func run() async throws {
        let configuration = try await self.options.makeConfiguration()
        let ring = try configuration.makeRing()
        let counts = spread(ring, try sampleKeys(self.keys, configuration))
        let shares = weightShares(ring)
        var rows: [JSONValue] = []
        if !self.options.json {
            print(pad("node", 16) + pad("weight", 8) + pad("points", 8) + pad("expected", 10) + pad("keys", 10) + "share")
        }
        for (index, node) in ring.nodes.enumerated() {
            let share = Double(counts[index]) / Double(self.keys)
            rows.append([
                "node": .string(node.name), "weight": .int(Int(node.weight)), "points": .int(ring.pointCounts[index]),
                "expectedShare": .double(shares[index]), "keys": .int(counts[index]), "share": .double(share),
            ])
            if !self.options.json {
                print(
                    pad(node.name, 16) + pad("\(node.weight)", 8) + pad("\(ring.pointCounts[index])", 8)
                        + pad(percent(shares[index]), 10) + pad("\(counts[index])", 10) + percent(share)
                )
            }
        }
        if self.options.json { CLIJSON.print(["sampleKeys": .int(self.keys), "nodes": .array(rows)]) }
    }
}

// MARK: - diff

/// `caches ring diff OLD NEW`: the share of keys a topology change would move.
struct RingDiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two config files: the share of keys that would move to another node.",
        discussion: """
            Keys are placed as OLD stores them. Adding one node to an n-node ring should move about 1/(n+1) of them.
            Examples:
              caches ring diff config/local.yaml config/four-nodes.yaml
              caches ring diff old.json new.json --keys 1000000 --json
            """
    )

    @Argument(help: "The current config file.")
    var old: String

    @Argument(help: "The proposed config file.")
    var new: String

    @Option(help: "How many sample keys.")
    var keys = 100_000

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    func validate() throws {
        if !(1...maximumSampleKeys).contains(self.keys) {
            throw ValidationError("--keys must be between 1 and \(maximumSampleKeys)")
        }
    }

    func run() async throws {
        let oldConfiguration = try await CacheConfiguration.load(fromFile: self.old)
        let newConfiguration = try await CacheConfiguration.load(fromFile: self.new)
        let oldRing = try oldConfiguration.makeRing()
        let newRing = try newConfiguration.makeRing()
        let keys = try sampleKeys(self.keys, oldConfiguration)
        let moved = HashRing.movedFraction(from: oldRing, to: newRing, sampleKeys: keys)

        // Each node's share before and after, by name.
        let names = oldRing.nodes.map(\.name) + newRing.nodes.map(\.name).filter { name in !oldRing.nodes.contains { $0.name == name } }
        let before = spread(oldRing, keys)
        let after = spread(newRing, keys)
        func share(_ ring: HashRing, _ counts: [Int], _ name: String) -> Double {
            guard let index = ring.nodes.firstIndex(where: { $0.name == name }) else { return 0 }
            return Double(counts[index]) / Double(keys.count)
        }
        if self.json {
            CLIJSON.print([
                "sampleKeys": .int(keys.count), "movedFraction": .double(moved),
                "nodes": .array(
                    names.map { ["node": .string($0), "before": .double(share(oldRing, before, $0)), "after": .double(share(newRing, after, $0))] }
                ),
            ])
        } else {
            print("\(percent(moved)) of \(keys.count) sample keys would move")
            print(pad("node", 16) + pad("before", 10) + "after")
            for name in names {
                print(pad(name, 16) + pad(percent(share(oldRing, before, name)), 10) + percent(share(newRing, after, name)))
            }
        }
    }
}

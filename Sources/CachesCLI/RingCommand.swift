import ArgumentParser
import CacheRing
import Caches

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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

/// `caches ring locate [KEY…]`: the node of each key; keys from the arguments, `--keys-file` or standard input.
struct RingLocateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "locate",
        abstract: "Print the node that holds each key.",
        discussion: """
            Keys come from the arguments; with none, one per line from --keys-file, or from standard input. A line's
            trailing \\r is dropped; an empty line is the empty key. Many keys: use a file or a pipe, not arguments.
            On a Redis Cluster (redis-cluster://, or a config file with a cluster section) it connects to read the
            slot map and prints each key's slot and the primary that serves it.
            Examples:
              caches ring locate user:1 user:2
              caches ring locate user:1 --version 2 --json
              caches ring locate --keys-file keys.txt
              printf 'user:1\\nuser:2\\n' | caches ring locate
            """
    )

    @Argument(help: "Logical keys; with none, the keys are read one per line from --keys-file or standard input.")
    var keys: [String] = []

    @Option(name: .long, help: ArgumentHelp("A file of logical keys, one per line.", valueName: "path"))
    var keysFile: String?

    // Unconditional: the next argument is the version even when it starts with `-` (`--version -1`).
    @Option(parsing: .unconditional, help: "The keys' version, any text (`-1` too); default: the configuration's.")
    var version: String?

    @OptionGroup var options: CacheOptions

    func validate() throws {
        if !self.keys.isEmpty && self.keysFile != nil {
            throw ValidationError("give keys as arguments or with --keys-file, not both")
        }
    }

    func run() async throws {
        let configuration = try await self.options.makeConfiguration()
        if configuration.backend == .redisCluster {
            try await self.locateOnCluster(configuration)
            return
        }
        let ring = try configuration.makeRing()
        let cache = try Cache(configuration: configuration)
        let version = self.version.map { CacheVersion($0) }
        let addresses = configuration.nodes.map { "\($0.host):\($0.port)" }
        func node(of key: String) -> (stored: String, index: Int) {
            let stored = cache.makeKey(key, version: version)
            return (stored, ring.nodeIndex(forKey: stored))
        }
        try self.printLocations { key in
            let (_, index) = node(of: key)
            return pad(key, 24) + pad(ring.nodes[index].name, 16) + addresses[index]
        } json: { key in
            let (stored, index) = node(of: key)
            return [
                "key": .string(key), "storedKey": .string(stored), "node": .string(ring.nodes[index].name),
                "address": .string(addresses[index]),
            ]
        }
    }

    /// A cluster: each key's slot and the primary the slot map names for it.
    private func locateOnCluster(_ configuration: CacheConfiguration) async throws {
        let cache = try Cache(configuration: configuration)
        let version = self.version.map { CacheVersion($0) }
        try await cache.withConnection { cache in
            func slot(of key: String) -> (stored: String, slot: Int, node: String) {
                let stored = cache.makeKey(key, version: version)
                return (stored, ClusterSlot.slot(forKey: stored), cache.nodeName(for: key, version: version) ?? "none")
            }
            try self.printLocations { key in
                let (_, slot, node) = slot(of: key)
                return pad(key, 24) + pad("slot \(slot)", 12) + node
            } json: { key in
                let (stored, slot, node) = slot(of: key)
                return ["key": .string(key), "storedKey": .string(stored), "slot": .int(slot), "node": .string(node)]
            }
        }
    }

    /// Reads the keys (the arguments, else `--keys-file` or standard input) and prints one row per key: `text`'s
    /// line, or with `--json` one array of `json`'s objects. Text goes out in blocks, so any number of keys fits.
    private func printLocations(text: (String) -> String, json: (String) -> JSONValue) throws {
        var rows: [JSONValue] = []
        var output = ""
        func locate(_ key: String) {
            if self.options.json {
                rows.append(json(key))
                return
            }
            output += text(key) + "\n"
            if output.utf8.count >= 1 << 16 {
                print(output, terminator: "")
                output = ""
            }
        }
        if !self.keys.isEmpty {
            for key in self.keys { locate(key) }
        } else {
            try KeyLines.read(path: self.keysFile, locate)
        }
        print(output, terminator: "")
        if self.options.json { CLIJSON.print(.array(rows)) }
    }
}

/// `read(2)`, named apart from ``KeyLines/read(path:_:)``.
private func systemRead(_ descriptor: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(descriptor, buffer, count)
}

/// Keys one per line, read in blocks: linear in the input, whatever its size.
enum KeyLines {
    /// Calls `body` with each line of the file at `path` (standard input when nil), without its `\n` or `\r\n`;
    /// a last line without a newline counts, an empty input has no keys.
    static func read(path: String?, _ body: (String) throws -> Void) throws {
        let descriptor: Int32
        if let path {
            descriptor = open(path, O_RDONLY)
            guard descriptor >= 0 else {
                throw ValidationError("--keys-file \(path): \(String(cString: strerror(errno)))")
            }
        } else {
            descriptor = 0
        }
        defer { if path != nil { close(descriptor) } }
        var pending: [UInt8] = []
        var block = [UInt8](repeating: 0, count: 1 << 16)
        func emit(_ line: ArraySlice<UInt8>) throws {
            var line = line
            if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
            try body(String(decoding: line, as: UTF8.self))
        }
        while true {
            let count = block.withUnsafeMutableBytes { systemRead(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ValidationError("reading \(path ?? "standard input"): \(String(cString: strerror(errno)))")
            }
            if count == 0 { break }
            var start = 0
            for index in 0..<count where block[index] == UInt8(ascii: "\n") {
                if pending.isEmpty {
                    try emit(block[start..<index])
                } else {
                    pending += block[start..<index]
                    try emit(pending[...])
                    pending.removeAll(keepingCapacity: true)
                }
                start = index + 1
            }
            pending += block[start..<count]
        }
        if !pending.isEmpty { try emit(pending[...]) }
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
        let oldConfiguration = try await loadConfigurationFile(self.old)
        let newConfiguration = try await loadConfigurationFile(self.new)
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

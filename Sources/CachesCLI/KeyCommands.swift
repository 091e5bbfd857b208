import ArgumentParser
import Caches

// The single-key commands: get, set, add, delete, incr, decr, touch, ttl. Each prints text, or one JSON object
// with --json, and exits 1 where the key was missing (or, for add, present).

/// Options of the commands that name one key.
struct KeyOptions: ParsableArguments {
    @Argument(help: "The logical key (the cache adds its prefix and version).")
    var key: String

    // Unconditional: the next argument is the version even when it starts with `-` (`--version -1`).
    @Option(parsing: .unconditional, help: "The key's version, any text (`-1` too); default: the configuration's.")
    var version: String?

    var cacheVersion: CacheVersion? { self.version.map { CacheVersion($0) } }
}

// MARK: - get

/// `caches get KEY`: prints the stored JSON value.
struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print a key's value as JSON text. Exits 1 on a miss.",
        discussion:
            "Examples:\n  caches get greeting\n  caches get user:1 --version 2 --json   # {\"key\": \"user:1\", \"found\": true, \"value\": ...}"
    )

    @OptionGroup var key: KeyOptions
    @OptionGroup var options: CacheOptions

    func run() async throws {
        let value = try await self.options.withCache { cache in
            try await cache.get(self.key.key, as: JSONValue.self, version: self.key.cacheVersion)
        }
        if self.options.json {
            var object: JSONObject = ["key": .string(self.key.key), "found": .bool(value != nil)]
            if let value { object["value"] = value }
            CLIJSON.print(.object(object))
        } else if let value {
            print(CLIJSON.text(value))
        } else {
            printError("caches: \(self.key.key): not found")
        }
        if value == nil { throw CLIExitCode.notFound }
    }
}

// MARK: - set, add

/// Options of `set` and `add`.
struct WriteOptions: ParsableArguments {
    @Argument(help: "The value as JSON text: '\"text\"', 42, '{\"name\": \"Zoë\"}'.")
    var value: String

    @Option(help: "Time to live in whole seconds; default: the configuration's (none if it has none).")
    var ttl: Int?
}

/// `caches set KEY VALUE`: stores a JSON value.
struct SetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "set",
        abstract: "Store a value (JSON text) under a key.",
        discussion: "Examples:\n  caches set greeting '\"hello\"' --ttl 60\n  caches set user:1 '{\"name\": \"Zoë\", \"age\": 7}' --json"
    )

    @OptionGroup var key: KeyOptions
    @OptionGroup var write: WriteOptions
    @OptionGroup var options: CacheOptions

    func run() async throws {
        let value = try CLIJSON.parse(self.write.value, argument: "VALUE")
        let (node, absorbed) = try await self.options.withCache { cache in
            let absorbed = try await absorbingWrite(cache) {
                try await cache.set(self.key.key, value, ttl: self.write.ttl, version: self.key.cacheVersion)
            }
            return (cache.nodeName(for: self.key.key, version: self.key.cacheVersion), absorbed)
        }
        if self.options.json {
            CLIJSON.print([
                "key": .string(self.key.key), "stored": .bool(!absorbed), "absorbed": .bool(absorbed),
                "node": node.map { .string($0) } ?? .null,
            ])
        } else if !absorbed {
            print("OK")
        }
        if absorbed { throw notStored(self.key.key, node: node) }
    }
}

/// `caches add KEY VALUE`: stores a JSON value only if the key is missing.
struct AddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Store a value only if the key is missing. Exits 1 when the key exists.",
        discussion: "Examples:\n  caches add lock:job-7 '\"worker-3\"' --ttl 30 && echo got the lock"
    )

    @OptionGroup var key: KeyOptions
    @OptionGroup var write: WriteOptions
    @OptionGroup var options: CacheOptions

    func run() async throws {
        let value = try CLIJSON.parse(self.write.value, argument: "VALUE")
        var added = false
        let (node, absorbed) = try await self.options.withCache { cache in
            let absorbed = try await absorbingWrite(cache) {
                added = try await cache.add(self.key.key, value, ttl: self.write.ttl, version: self.key.cacheVersion)
            }
            return (cache.nodeName(for: self.key.key, version: self.key.cacheVersion), absorbed)
        }
        if self.options.json {
            CLIJSON.print(["key": .string(self.key.key), "stored": .bool(added), "absorbed": .bool(absorbed)])
        } else if !absorbed {
            print(added ? "OK" : "EXISTS")
        }
        if absorbed { throw notStored(self.key.key, node: node) }
        if !added { throw CLIExitCode.notFound }
    }
}

/// Runs a write and returns whether the miss policy dropped (part of) it because a node was down.
private func absorbingWrite(_ cache: Cache, _ write: () async throws -> Void) async throws -> Bool {
    let before = cache.absorbedFailures
    try await write()
    return cache.absorbedFailures != before
}

/// Says on standard error that a write was dropped; the exit code is that of a node error.
private func notStored(_ key: String, node: String?) -> ExitCode {
    printError("caches: \(key): not stored: node \(node ?? "?") is down and failure_policy=miss dropped the write")
    return CLIExitCode.node
}

// MARK: - delete

/// `caches delete KEY…`: removes keys.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Remove keys (a missing key is fine).",
        discussion: "Examples:\n  caches delete greeting\n  caches delete user:1 user:2 user:3 --json"
    )

    @Argument(help: "The logical keys.")
    var keys: [String]

    // Unconditional: the next argument is the version even when it starts with `-` (`--version -1`).
    @Option(parsing: .unconditional, help: "The keys' version, any text (`-1` too); default: the configuration's.")
    var version: String?

    @OptionGroup var options: CacheOptions

    func validate() throws {
        if self.keys.isEmpty { throw ValidationError("name at least one key") }
    }

    func run() async throws {
        let version = self.version.map { CacheVersion($0) }
        let absorbed = try await self.options.withCache { cache in
            try await absorbingWrite(cache) {
                if self.keys.count == 1 {
                    try await cache.delete(self.keys[0], version: version)
                } else {
                    try await cache.deleteMany(self.keys, version: version)
                }
            }
        }
        if self.options.json {
            CLIJSON.print(["deleted": .array(self.keys.map { .string($0) }), "absorbed": .bool(absorbed)])
        } else if !absorbed {
            print("OK")
        }
        if absorbed {
            printError("caches: not deleted everywhere: a node is down and failure_policy=miss dropped its part")
            throw CLIExitCode.node
        }
    }
}

// MARK: - incr, decr

/// Options of `incr` and `decr`.
struct CounterOptions: ParsableArguments {
    @Option(help: "The amount: an integer, or a number with a fraction for a float counter.")
    var by: String = "1"

    /// The amount as an integer or a float, already multiplied by `sign` (1 for incr, -1 for decr).
    ///
    /// Text written as an integer (digits with an optional sign) must fit a 64-bit integer: it is refused rather
    /// than read as a float, which would turn an integer counter into a float one.
    func amount(sign: Int = 1) throws -> JSONValue {
        let digits = self.by.first == "-" || self.by.first == "+" ? self.by.dropFirst() : Substring(self.by)
        if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
            guard let int = Int(self.by) else {
                throw ValidationError("--by \(self.by) does not fit a 64-bit integer (\(Int.min)...\(Int.max))")
            }
            let (product, overflow) = int.multipliedReportingOverflow(by: sign)
            guard !overflow else { throw ValidationError("--by \(self.by) does not fit a 64-bit integer once negated") }
            return .int(product)
        }
        if let double = Double(self.by), double.isFinite { return .double(Double(sign) * double) }
        throw ValidationError("--by must be a finite number, got '\(self.by)'")
    }

    func validate() throws {
        _ = try self.amount()
    }
}

/// Adds `sign × amount` and prints the new value.
private func count(_ key: KeyOptions, _ counter: CounterOptions, sign: Int, _ options: CacheOptions) async throws {
    let amount = try counter.amount(sign: sign)
    let result: JSONValue = try await options.withCache { cache in
        switch amount {
        case .int(let int): .int(try await cache.incr(key.key, by: int, version: key.cacheVersion))
        case .double(let double): .double(try await cache.incr(key.key, by: double, version: key.cacheVersion))
        default: .null
        }
    }
    if options.json {
        CLIJSON.print(["key": .string(key.key), "value": result])
    } else {
        print(CLIJSON.text(result))
    }
}

/// `caches incr KEY`: adds to a counter.
struct IncrCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incr",
        abstract: "Add to a counter and print the new value (a missing key starts at 0).",
        discussion: "Examples:\n  caches incr visits\n  caches incr visits --by 10 --json\n  caches incr ratio --by 0.5"
    )

    @OptionGroup var key: KeyOptions
    @OptionGroup var counter: CounterOptions
    @OptionGroup var options: CacheOptions

    func run() async throws {
        try await count(self.key, self.counter, sign: 1, self.options)
    }
}

/// `caches decr KEY`: subtracts from a counter.
struct DecrCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decr",
        abstract: "Subtract from a counter and print the new value (a missing key starts at 0).",
        discussion: "Examples:\n  caches decr stock:42\n  caches decr stock:42 --by 3 --json"
    )

    @OptionGroup var key: KeyOptions
    @OptionGroup var counter: CounterOptions
    @OptionGroup var options: CacheOptions

    func run() async throws {
        try await count(self.key, self.counter, sign: -1, self.options)
    }
}

// MARK: - touch, ttl

/// `caches touch KEY --ttl N`: sets a key's expiry.
struct TouchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "touch",
        abstract: "Set a key's time to live. Exits 1 when the key is missing.",
        discussion: """
            Without --ttl the configuration's default ttl is used; with no default the key stops expiring.
            Examples:
              caches touch session:9 --ttl 600
              caches touch session:9 --ttl 600 --json
            """
    )

    @OptionGroup var key: KeyOptions

    @Option(help: "Time to live in whole seconds.")
    var ttl: Int?

    @OptionGroup var options: CacheOptions

    func run() async throws {
        let touched = try await self.options.withCache { cache in
            try await cache.touch(self.key.key, ttl: self.ttl, version: self.key.cacheVersion)
        }
        if self.options.json {
            CLIJSON.print(["key": .string(self.key.key), "found": .bool(touched)])
        } else if touched {
            print("OK")
        } else {
            printError("caches: \(self.key.key): not found")
        }
        if !touched { throw CLIExitCode.notFound }
    }
}

/// `caches ttl KEY`: prints a key's remaining time to live.
struct TTLCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ttl",
        abstract: "Print a key's remaining time to live in seconds, or 'none' if it never expires. Exits 1 when missing.",
        discussion: "Examples:\n  caches ttl session:9\n  caches ttl session:9 --json   # {\"key\": \"session:9\", \"found\": true, \"ttl\": 598}"
    )

    @OptionGroup var key: KeyOptions
    @OptionGroup var options: CacheOptions

    func run() async throws {
        let remaining = try await self.options.withCache { cache in
            try await cache.remainingTTL(self.key.key, version: self.key.cacheVersion)
        }
        if self.options.json {
            CLIJSON.print([
                "key": .string(self.key.key), "found": .bool(remaining != -2), "ttl": remaining >= 0 ? .int(remaining) : .null,
            ])
        } else {
            switch remaining {
            case -2: printError("caches: \(self.key.key): not found")
            case -1: print("none")
            default: print(remaining)
            }
        }
        if remaining == -2 { throw CLIExitCode.notFound }
    }
}

// MARK: - clear

/// `caches clear --yes` / `caches clear --prefix-only --yes`: removes every key of the databases, or only the
/// cache's own keys.
struct ClearCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clear",
        abstract: "Remove keys: every key of every node's database, or with --prefix-only only this cache's keys.",
        discussion: """
            Without --prefix-only: FLUSHDB ASYNC on every node (the whole database, other data included).
            With --prefix-only: SCAN MATCH 'PREFIX:*' and UNLINK in batches on every node, removing only the keys of the
            configuration's key prefix (every version); refused when the configuration has no key prefix.
            Both need --yes. Prints how many keys were removed.

            Examples:
              caches clear --prefix-only --yes --config config/local.yaml
              caches clear --yes --url redis://127.0.0.1:7001/0 --json   # {"scope": "database", "removed": 42}
            """
    )

    @Flag(help: "Remove only the keys of the cache's key prefix, not the whole database.")
    var prefixOnly = false

    @Flag(help: "Confirm the removal (required).")
    var yes = false

    @OptionGroup var options: CacheOptions

    func validate() throws {
        guard self.yes else {
            let what = self.prefixOnly ? "every key of the cache's prefix on every node" : "every key of every node's database"
            throw ValidationError("clear removes \(what): add --yes to confirm")
        }
    }

    func run() async throws {
        let scope: CacheClearScope = self.prefixOnly ? .keyPrefix : .database
        let (removed, prefix) = try await self.options.withCache { cache in
            (try await cache.clear(scope: scope), cache.configuration.keyPrefix)
        }
        if self.options.json {
            var object: JSONObject = ["scope": .string(self.prefixOnly ? "keyPrefix" : "database"), "removed": .int(removed)]
            if self.prefixOnly { object["prefix"] = .string(prefix) }
            CLIJSON.print(.object(object))
        } else {
            print("removed \(removed) key(s)\(self.prefixOnly ? " of prefix '\(prefix)'" : "")")
        }
    }
}

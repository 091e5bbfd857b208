import CacheRing
import Caches
import Foundation
import RedisTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The built `caches` binary, run end to end against real loopback Redis nodes: every subcommand, `--json` output
/// parsed, exit codes.
@Suite struct CLITests {
    /// The `caches` executable built with these tests (`CACHES_BINARY` overrides it).
    ///
    /// The test bundle runs from the build products folder, beside `caches`, whatever the scratch path or the
    /// configuration (`--scratch-path .build-tsan`, `-c release`); `.build/debug/caches` of this checkout is the
    /// fallback when the tests run from somewhere else.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["CACHES_BINARY"] { return path }
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let besideTheTests = products.appendingPathComponent("caches").path
        if FileManager.default.isExecutableFile(atPath: besideTheTests) { return besideTheTests }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/caches").path
    }()

    /// Runs `caches` with arguments; returns its exit status and output.
    func caches(_ arguments: String...) async throws -> CLIProcess.Output {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the CLI first: swift build --build-tests")
        return try await CLIProcess.run(Self.binary, arguments: arguments)
    }

    /// The seconds since `start`, rounded up (at least 1).
    static func wholeSeconds(since start: ContinuousClock.Instant, _ clock: ContinuousClock) -> Int {
        let (seconds, attoseconds) = (clock.now - start).components
        return max(1, Int(seconds) + (attoseconds > 0 ? 1 : 0))
    }

    /// Parses the JSON document a `--json` run printed.
    func json(_ output: CLIProcess.Output) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8), options: [.fragmentsAllowed])
    }

    func object(_ output: CLIProcess.Output) throws -> [String: Any] {
        try #require(try self.json(output) as? [String: Any], "not a JSON object: \(output.standardOutput)")
    }

    // MARK: Single-key commands

    @Test func setGetAndMiss() async throws {
        let url = try await TestNodes.shared.url(for: .redis)
        let set = try await self.caches("set", "user:1", #"{"name": "Zoë", "age": 7}"#, "--url", url)
        #expect(set.status == 0)
        #expect(set.standardOutput == "OK\n")

        let get = try await self.caches("get", "user:1", "--url", url)
        #expect(get.status == 0)
        #expect(get.standardOutput == "{\"name\": \"Zo\\u00eb\", \"age\": 7}\n")

        let getJSON = try self.object(try await self.caches("get", "user:1", "--url", url, "--json"))
        #expect(getJSON["found"] as? Bool == true)
        let value = try #require(getJSON["value"] as? [String: Any])
        #expect(value["name"] as? String == "Zoë")
        #expect(value["age"] as? Int == 7)

        // The library reads what the CLI wrote.
        struct User: Codable, Equatable { var name: String; var age: Int }
        let cache = try Cache(url: url)
        try await cache.withConnection { cache async throws in
            #expect(try await cache.get("user:1", as: User.self) == User(name: "Zoë", age: 7))
        }

        let miss = try await self.caches("get", "nobody", "--url", url)
        #expect(miss.status == 1)
        #expect(miss.standardOutput.isEmpty)
        let missJSON = try await self.caches("get", "nobody", "--url", url, "--json")
        #expect(missJSON.status == 1)
        #expect(try self.object(missJSON)["found"] as? Bool == false)
    }

    @Test func nearCacheHealthBenchAndDelay() async throws {
        let url = try await TestNodes.shared.url(for: .nearRing)
        let health = try await self.caches("health", "--json", "--url", url)
        let nodes = try #require(try self.json(health) as? [[String: Any]], "\(health.standardOutput)")
        #expect(nodes.count == 3)
        for node in nodes { #expect(node["tracking"] as? String == "on", "\(node)") }

        let bench = try await self.caches("bench", "--ops", "get", "--keyspace", "100", "-n", "20000", "-c", "10", "--json", "--url", url)
        #expect(bench.status == 0, "\(bench.standardError)")
        let near = try #require(try self.object(bench)["nearCache"] as? [String: Any])
        // After the 1 s warm-up over 100 keys, almost every read is local.
        #expect((near["hitRatio"] as? Double ?? 0) > 0.9, "\(near)")

        let delay = try await self.caches("near-delay", "-c", "5", "-n", "50", "--key", "delay-\(UUID().uuidString)", "--url", url)
        #expect(delay.status == 0, "\(delay.standardError)")
        #expect(delay.standardOutput.contains("50 writes, 5 readers; delay µs p50 "), "\(delay.standardOutput)")
        #expect(delay.standardOutput.contains("not seen within 1 s: 0;"), "\(delay.standardOutput)")

        let plain = try await self.caches("near-delay", "--url", try await TestNodes.shared.url(for: .redis))
        #expect(plain.status == 2)
        #expect(plain.standardError.contains("near_cache=ENTRIES"), "\(plain.standardError)")
    }

    @Test func addOnlyWhenMissing() async throws {
        let url = try await TestNodes.shared.url(for: .redis)
        let first = try await self.caches("add", "lock", #""worker-1""#, "--url", url, "--json")
        #expect(first.status == 0)
        #expect(try self.object(first)["stored"] as? Bool == true)
        let second = try await self.caches("add", "lock", #""worker-2""#, "--url", url, "--json")
        #expect(second.status == 1)
        #expect(try self.object(second)["stored"] as? Bool == false)
        #expect(try await self.caches("get", "lock", "--url", url).standardOutput == "\"worker-1\"\n")
    }

    @Test func deleteOneAndMany() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        for key in ["a", "b", "c"] {
            #expect(try await self.caches("set", key, "1", "--url", url).status == 0)
        }
        #expect(try await self.caches("delete", "a", "--url", url).status == 0)
        let many = try await self.caches("delete", "b", "c", "--url", url, "--json")
        #expect(many.status == 0)
        #expect(try self.object(many)["deleted"] as? [String] == ["b", "c"])
        for key in ["a", "b", "c"] {
            #expect(try await self.caches("get", key, "--url", url).status == 1)
        }
    }

    @Test func incrDecrAndRefusal() async throws {
        let url = try await TestNodes.shared.url(for: .redis)
        #expect(try await self.caches("incr", "visits", "--url", url).standardOutput == "1\n")
        let by = try await self.caches("incr", "visits", "--by", "10", "--url", url, "--json")
        #expect(by.status == 0)
        #expect(try self.object(by)["value"] as? Int == 11)
        #expect(try await self.caches("decr", "visits", "--by", "4", "--url", url).standardOutput == "7\n")
        #expect(try await self.caches("incr", "ratio", "--by", "0.5", "--url", url).standardOutput == "0.5\n")

        #expect(try await self.caches("set", "name", #""text""#, "--url", url).status == 0)
        let refused = try await self.caches("incr", "name", "--url", url)
        #expect(refused.status == 4)
        #expect(refused.standardError.contains("notNumeric"))
    }

    @Test func numericOptionsThatDoNotFitAreRefusedNotTrapped() async throws {
        let url = try await TestNodes.shared.url(for: .redis)
        #expect(try await self.caches("incr", "big", "--by", "5", "--url", url).standardOutput == "5\n")
        // An integer that does not fit 64 bits is refused: the counter must not become a float.
        for arguments in [
            ["incr", "big", "--by", "99999999999999999999"], ["decr", "big", "--by=-9223372036854775808"],
            ["incr", "big", "--by", "inf"], ["bench", "--duration", "1e300"], ["bench", "--warmup", "inf"],
            ["bench", "-c", "99999999999"], ["bench", "--value-size", "9999999999999"],
            ["ring", "stats", "--keys", "9999999999999"], ["demo", "--keys", "-1"], ["demo", "--batch", "0"],
            ["demo", "--concurrency", "0"],
        ] {
            let refused = try await CLIProcess.run(Self.binary, arguments: arguments + ["--url", url])
            #expect(refused.status == 64 || refused.status == 2, "\(arguments): \(refused.status) \(refused.standardError)")
            #expect(refused.standardError.contains("Error:"), "\(arguments)")
        }
        #expect(try await self.caches("get", "big", "--url", url).standardOutput == "5\n")
    }

    @Test func demoRunsEveryPhaseOverTheRingAndLeavesNothingBehind() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        let demo = try await self.caches("demo", "--url", url, "--keys", "300", "--concurrency", "10", "--batch", "50")
        #expect(demo.status == 0, "\(demo.standardError)")
        let output = demo.standardOutput
        for phase in ["set", "get", "getMany(50)", "setMany(50)", "incr", "deleteMany(50)"] {
            #expect(output.contains("\n" + phase + " "), "no \(phase) phase in:\n\(output)")
        }
        for node in ["node-a", "node-b", "node-c"] {
            #expect(output.contains("\n" + node + " "), "no row for \(node) in:\n\(output)")
        }
        #expect(output.contains("after deleteMany: 0 of 1000 sampled keys remain"), "\(output)")
        // The demo clears its database at the end.
        let cache = try Cache(url: url, keyPrefix: "demo")
        try await cache.withConnection { cache async throws in
            let values = try await cache.getMany((0..<300).map { "key:\($0)" } + ["counter:0"], as: Int.self)
            #expect(values.values.allSatisfy { $0 == nil })
        }
    }

    @Test func demoAndHealthRunOnACluster() async throws {
        let url = try await TestNodes.shared.url(for: .cluster)
        let primaries = try await TestNodes.shared.clusterNodes().nodes.map(\.address)
        let demo = try await self.caches("demo", "--url", url, "--keys", "300", "--concurrency", "10", "--batch", "50")
        #expect(demo.status == 0, "\(demo.standardError)")
        for phase in ["set", "get", "getMany(50)", "setMany(50)", "incr", "deleteMany(50)"] {
            #expect(demo.standardOutput.contains("\n" + phase + " "), "no \(phase) phase in:\n\(demo.standardOutput)")
        }
        #expect(demo.standardOutput.contains("after deleteMany: 0 of 1000 sampled keys remain"), "\(demo.standardOutput)")
        let health = try await self.caches("health", "--url", url)
        #expect(health.status == 0, "\(health.standardError)")
        for primary in primaries {
            #expect(health.standardOutput.contains(primary), "no row for \(primary) in:\n\(health.standardOutput)")
        }
        #expect(
            health.standardOutput.contains("cluster: 3 primaries, 0 replicas, 16384 of 16384 slots served by a primary that answered"),
            "\(health.standardOutput)"
        )

        // ring locate on a cluster: each key's slot (as the server computes it) and the primary serving it.
        let locate = try await self.caches("ring", "locate", "user:1", "{tag}a", "--url", url, "--version", "2", "--json")
        #expect(locate.status == 0, "\(locate.standardError)")
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(locate.standardOutput.utf8)) as? [[String: Any]])
        #expect(rows.map { $0["storedKey"] as? String } == [":2:user:1", ":2:{tag}a"])
        let cluster = try await TestNodes.shared.clusterNodes()
        for row in rows {
            let stored = try #require(row["storedKey"] as? String)
            let slot = try #require(row["slot"] as? Int)
            #expect(try await cluster.nodes[0].cli("CLUSTER", "KEYSLOT", stored) == String(slot))
            let node = try #require(row["node"] as? String)
            let owner = primaries.first { $0 == node }
            #expect(owner != nil, "\(node) is not a primary")
            // The named primary holds the slot: it accepts the key without a redirection.
            let server = try #require(cluster.nodes.first { $0.address == node })
            #expect(try await server.cli("EXISTS", stored) == "0")
        }
    }

    @Test func aStoredValueThatIsNotJSONOrNotAStringIsRefusedWithExitCode4() async throws {
        let node = try await TestNodes.shared.plainNodes()[0]
        let database = String(await TestNodes.shared.database())
        let url = "redis://\(node.host):\(node.port)/\(database)"
        #expect(try await node.cli("-n", database, "SET", "::foreign", "not json {") == "OK")
        let notJSON = try await self.caches("get", "foreign", "--url", url)
        #expect(notJSON.status == 4, "\(notJSON.standardError)")
        #expect(notJSON.standardError.contains("decodingFailed"), "\(notJSON.standardError)")
        #expect(try await node.cli("-n", database, "GET", "::foreign") == "not json {", "the CLI changed nothing")

        #expect(try await node.cli("-n", database, "LPUSH", "::list", "a") == "1")
        let wrongType = try await self.caches("get", "list", "--url", url)
        #expect(wrongType.status == 4, "\(wrongType.standardError)")
        #expect(wrongType.standardError.contains("wrongType"), "\(wrongType.standardError)")
        #expect(try await node.cli("-n", database, "DEL", "::foreign", "::list") == "2")
    }

    @Test func touchAndTTL() async throws {
        let url = try await TestNodes.shared.url(for: .redis)
        let missing = try await self.caches("ttl", "session", "--url", url, "--json")
        #expect(missing.status == 1)
        #expect(try self.object(missing)["found"] as? Bool == false)
        #expect(try await self.caches("touch", "session", "--ttl", "100", "--url", url).status == 1)

        #expect(try await self.caches("set", "session", "1", "--url", url).status == 0)
        #expect(try await self.caches("ttl", "session", "--url", url).standardOutput == "none\n")
        let forever = try self.object(try await self.caches("ttl", "session", "--url", url, "--json"))
        #expect(forever["found"] as? Bool == true)
        #expect(forever["ttl"] is NSNull)

        let touched = try await self.caches("touch", "session", "--ttl", "100", "--url", url, "--json")
        #expect(touched.status == 0)
        #expect(try self.object(touched)["found"] as? Bool == true)
        let ttl = try #require(try self.object(try await self.caches("ttl", "session", "--url", url, "--json"))["ttl"] as? Int)
        #expect((90...100).contains(ttl))

        #expect(try await self.caches("set", "short", "1", "--ttl", "30", "--url", url).status == 0)
        let text = try await self.caches("ttl", "short", "--url", url)
        let seconds = try #require(Int(text.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect((20...30).contains(seconds))
    }

    // MARK: clear

    @Test func clearNeedsYesAndPrefixOnlyRemovesOnlyThePrefixesKeys() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        let mine = try Cache(url: url, keyPrefix: "mine")
        let theirs = try Cache(url: url, keyPrefix: "theirs")
        let mineURL = url + (url.contains("?") ? "&" : "?") + "key_prefix=mine"
        for cache in [mine, theirs] { try await cache.connect() }
        try await mine.setMany((0..<30).map { ("k\($0)", $0) })
        try await theirs.setMany((0..<5).map { ("k\($0)", $0) })

        let unconfirmed = try await self.caches("clear", "--prefix-only", "--url", mineURL)
        #expect(unconfirmed.status == 2)
        #expect(unconfirmed.standardError.contains("--yes"))
        #expect(try await mine.get("k1", as: Int.self) == 1)
        #expect(try await self.caches("clear", "--url", url).status == 2, "the whole database needs --yes too")

        let noPrefix = try await self.caches("clear", "--prefix-only", "--yes", "--url", url)
        #expect(noPrefix.status == 2)
        #expect(noPrefix.standardError.contains("invalidArgument"))

        let cleared = try self.object(try await self.caches("clear", "--prefix-only", "--yes", "--url", mineURL, "--json"))
        #expect(cleared["removed"] as? Int == 30)
        #expect(cleared["scope"] as? String == "keyPrefix")
        #expect(cleared["prefix"] as? String == "mine")
        #expect(try await mine.get("k1", as: Int.self) == nil)
        #expect(try await theirs.get("k1", as: Int.self) == 1)

        let all = try await self.caches("clear", "--yes", "--url", url)
        #expect(all.status == 0)
        #expect(all.standardOutput == "removed 5 key(s)\n")
        #expect(try await theirs.get("k1", as: Int.self) == nil)
        for cache in [mine, theirs] { try await cache.disconnect() }
    }

    // MARK: Cache.ttl (the library call behind `caches ttl`)

    @Test(arguments: BackendKind.storing)
    func ttlReadsTheRemainingTime(_ kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            #expect(try await cache.ttl("missing") == nil)
            #expect(try await cache.remainingTTL("missing") == -2)
            try await cache.set("forever", 1)
            #expect(try await cache.ttl("forever") == nil)
            #expect(try await cache.remainingTTL("forever") == -1)
            // The remaining time shrinks with the time since the ttl was set (rounded as Redis rounds): the lower
            // bound is measured from before the write, not fixed.
            let clock = ContinuousClock()
            let setAt = clock.now
            try await cache.set("soon", 1, ttl: 100)
            let remaining = try #require(try await cache.ttl("soon"))
            #expect((100 - Self.wholeSeconds(since: setAt, clock)...100).contains(remaining))
            let touchedAt = clock.now
            try await cache.touch("forever", ttl: 50)
            let touched = try #require(try await cache.ttl("forever"))
            #expect((50 - Self.wholeSeconds(since: touchedAt, clock)...50).contains(touched))
        }
    }

    // MARK: Config files

    @Test func readsAConfigFile() async throws {
        let nodes = try await TestNodes.shared.plainNodes()
        let database = await TestNodes.shared.database()
        let file = try self.configFile(
            """
            {"defaults": {"keyPrefix": "cli", "version": 3},
             "nodes": [{"name": "only", "host": "127.0.0.1", "port": \(nodes[0].port), "db": \(database)}]}
            """
        )
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(try await self.caches("set", "k", "[1, 2]", "--config", file).status == 0)
        #expect(try await self.caches("get", "k", "--config", file).standardOutput == "[1, 2]\n")
        // Stored under the file's prefix and version.
        let cache = try Cache(url: "redis://127.0.0.1:\(nodes[0].port)/\(database)", version: 3, keyPrefix: "cli")
        try await cache.withConnection { cache async throws in
            #expect(try await cache.get("k", as: [Int].self) == [1, 2])
            try await cache.clear()
        }
        let locate = try #require(try self.json(try await self.caches("ring", "locate", "k", "--config", file, "--json")) as? [[String: Any]])
        #expect(locate.first?["storedKey"] as? String == "cli:3:k")
        #expect(locate.first?["node"] as? String == "only")
    }

    @Test func missingConfigFileIsAUsageError() async throws {
        let result = try await self.caches("get", "k", "--config", "/nonexistent/caches.json")
        #expect(result.status == 2)
        #expect(result.standardError.contains("/nonexistent/caches.json"))
    }

    // MARK: Config

    @Test func configSettingsPrintsTheTableAndItsMarkdown() async throws {
        let text = try await self.caches("config", "settings")
        #expect(text.status == 0)
        for setting in CacheSettings.all {
            #expect(text.standardOutput.contains(setting.path + "  "), "\(setting.path)")
            #expect(text.standardOutput.contains(setting.environmentVariable))
        }
        let markdown = try await self.caches("config", "settings", "--markdown")
        #expect(markdown.status == 0)
        #expect(markdown.standardOutput == CacheSettings.markdownTable())
    }

    @Test func configCheckPrintsTheResolvedSettingsWithoutSecrets() async throws {
        let url = "redis://:s3cret@127.0.0.1:7001,127.0.0.1:7002?weights=1,2&names=a,b&timeout=250ms&failure_policy=eject"
        let check = try await self.caches("config", "check", "--url", url)
        #expect(check.status == 0, "\(check.standardError)")
        #expect(check.standardOutput.contains("timeouts.command: 250ms\n"))
        #expect(check.standardOutput.contains("nodes[1].weight: 2\n"))
        #expect(check.standardOutput.contains("nodes[0].password: ***\n"))
        #expect(check.standardOutput.contains("failurePolicy: eject\n"))
        #expect(!check.standardOutput.contains("s3cret"))
        let json = try self.object(try await self.caches("config", "check", "--url", url, "--json"))
        #expect(json["nodes[1].name"] as? String == "b")
        #expect(json["nodes[1].password"] as? String == "***")

        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try await self.caches("config", "check", "--config", root.appendingPathComponent("config/local.yaml").path)
        #expect(file.status == 0, "\(file.standardError)")
        #expect(file.standardOutput.contains("nodes[2].name: node-c\n"))
        #expect(file.standardOutput.contains("timeouts.connect: 2s\n"))

        let bad = try await self.caches("config", "check", "--url", "redis://:s3cret@h1,h2?weights=1,0")
        #expect(bad.status == 2)
        #expect(bad.standardError.contains("weights: item 2 of 2"), "\(bad.standardError)")
        #expect(!bad.standardError.contains("s3cret"))
        let badDuration = try await self.caches("config", "check", "--url", "redis://h?timeout=5d")
        #expect(badDuration.status == 2)
        #expect(badDuration.standardError.contains("timeout"), "\(badDuration.standardError)")
        let missing = try await self.caches("config", "check", "--config", "/nonexistent/caches.yaml")
        #expect(missing.status == 2)
    }

    // MARK: Ring

    @Test func ringLocateAgreesWithTheLibrary() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        // Unrelated keys: FNV-1a puts keys that differ only in the last byte close together on the ring.
        // 200 of them: every node gets some (a node of a quarter of the ring misses 200 keys with odds of 1e-25).
        let keys = (0..<200).map { _ in "user:\(UUID().uuidString)" }
        let output = try await self.caches(["ring", "locate"] + keys + ["--url", url, "--json"])
        #expect(output.status == 0)
        let rows = try #require(try self.json(output) as? [[String: Any]])
        #expect(rows.count == keys.count)
        let cache = try Cache(url: url)
        for (key, row) in zip(keys, rows) {
            #expect(row["key"] as? String == key)
            #expect(row["node"] as? String == cache.nodeName(for: key))
        }
        #expect(Set(rows.compactMap { $0["node"] as? String }).count == 3)
    }

    /// The text output's rows: key and node name of each line.
    static func locatedRows(_ output: String) -> [(key: String, node: String)] {
        output.split(separator: "\n").map { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return (String(fields.first ?? ""), String(fields.dropFirst().first ?? ""))
        }
    }

    @Test func ringLocateReadsKeysFromStandardInput() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        let cache = try Cache(url: url)
        let piped = try await self.caches(["ring", "locate", "--url", url], standardInput: "a\nb\n")
        #expect(piped.status == 0, "\(piped.standardError)")
        let rows = Self.locatedRows(piped.standardOutput)
        #expect(rows.map(\.key) == ["a", "b"])
        #expect(rows.map(\.node) == ["a", "b"].map { cache.nodeName(for: $0) ?? "?" })

        // Many keys, CRLF line ends and no final newline; --json.
        let keys = (0..<2000).map { "user:\($0)" }
        let json = try await self.caches(
            ["ring", "locate", "--url", url, "--json", "--version", "-1"],
            standardInput: keys.joined(separator: "\r\n")
        )
        #expect(json.status == 0, "\(json.standardError)")
        let located = try #require(try self.json(json) as? [[String: Any]])
        #expect(located.compactMap { $0["key"] as? String } == keys)
        #expect(located.compactMap { $0["node"] as? String } == keys.map { cache.nodeName(for: $0, version: "-1") ?? "?" })
        #expect(located.first?["storedKey"] as? String == cache.makeKey("user:0", version: "-1"))

        // No keys in, no rows out.
        let empty = try await self.caches(["ring", "locate", "--url", url, "--json"], standardInput: "")
        #expect(empty.status == 0)
        #expect((try self.json(empty) as? [Any])?.isEmpty == true, "\(empty.standardOutput)")
    }

    @Test func ringLocateReadsAKeysFile() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        let cache = try Cache(url: url)
        let keys = (0..<500).map { _ in "user:\(UUID().uuidString)" }
        let path = NSTemporaryDirectory() + "caches-keys-\(UUID().uuidString).txt"
        try (keys.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let output = try await self.caches(["ring", "locate", "--keys-file", path, "--url", url, "--json"])
        #expect(output.status == 0, "\(output.standardError)")
        let rows = try #require(try self.json(output) as? [[String: Any]])
        #expect(rows.compactMap { $0["key"] as? String } == keys)
        #expect(rows.compactMap { $0["node"] as? String } == keys.map { cache.nodeName(for: $0) ?? "?" })

        let missing = try await self.caches(["ring", "locate", "--keys-file", "/nonexistent/keys.txt", "--url", url])
        #expect(missing.status == 2)
        #expect(missing.standardError.contains("/nonexistent/keys.txt"))
        let both = try await self.caches(["ring", "locate", "k", "--keys-file", path, "--url", url])
        #expect(both.status == 2)
    }

    @Test func aNegativeVersionIsAcceptedAfterVersion() async throws {
        let url = try await TestNodes.shared.url(for: .redis)
        #expect(try await self.caches("set", "negative-version", "1", "--version", "-1", "--url", url).status == 0)
        let get = try await self.caches("get", "negative-version", "--version=-1", "--url", url)
        #expect(get.status == 0)
        #expect(get.standardOutput == "1\n")
        let cache = try Cache(url: url)
        try await cache.withConnection { cache async throws in
            #expect(try await cache.get("negative-version", as: Int.self, version: "-1") == 1)
            #expect(try await cache.get("negative-version", as: Int.self) == nil)
        }
        #expect(try await self.caches("delete", "negative-version", "--version", "-1", "--url", url).status == 0)
        #expect(try await self.caches("get", "negative-version", "--version", "-1", "--url", url).status == 1)
    }

    @Test func ringStatsFollowTheWeights() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        let output = try await self.caches("ring", "stats", "--keys", "40000", "--url", url, "--json")
        #expect(output.status == 0)
        let report = try self.object(output)
        #expect(report["sampleKeys"] as? Int == 40000)
        let nodes = try #require(report["nodes"] as? [[String: Any]])
        #expect(nodes.compactMap { $0["node"] as? String } == ["node-a", "node-b", "node-c"])
        #expect(nodes.compactMap { $0["keys"] as? Int }.reduce(0, +) == 40000)
        for node in nodes {
            let share = try #require(node["share"] as? Double)
            let expected = try #require(node["expectedShare"] as? Double)
            #expect(abs(share - expected) < 0.08, "\(node)")
        }
    }

    @Test func ringDiffPredictsTheMovedShare() async throws {
        let old = try self.configFile(
            #"{"nodes": [{"name": "a", "host": "127.0.0.1", "port": 7001}, {"name": "b", "host": "127.0.0.1", "port": 7002}, {"name": "c", "host": "127.0.0.1", "port": 7003}]}"#
        )
        let new = try self.configFile(
            #"{"nodes": [{"name": "a", "host": "127.0.0.1", "port": 7001}, {"name": "b", "host": "127.0.0.1", "port": 7002}, {"name": "c", "host": "127.0.0.1", "port": 7003}, {"name": "d", "host": "127.0.0.1", "port": 7004}]}"#
        )
        defer {
            try? FileManager.default.removeItem(atPath: old)
            try? FileManager.default.removeItem(atPath: new)
        }
        let output = try await self.caches("ring", "diff", old, new, "--keys", "20000", "--json")
        #expect(output.status == 0)
        let report = try self.object(output)
        let moved = try #require(report["movedFraction"] as? Double)
        let oldRing = try HashRing(nodes: ["a", "b", "c"].map { HashRing.Node(name: $0) })
        let newRing = try HashRing(nodes: ["a", "b", "c", "d"].map { HashRing.Node(name: $0) })
        let expected = HashRing.movedFraction(from: oldRing, to: newRing, sampleKeys: (0..<20000).map { "::key:\($0)" })
        #expect(moved == expected)
        #expect(moved > 0.15 && moved < 0.35)
        let text = try await self.caches("ring", "diff", old, new, "--keys", "20000")
        #expect(text.standardOutput.contains("of 20000 sample keys would move"))
    }

    // MARK: Health

    @Test func healthReportsEveryNode() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        let output = try await self.caches("health", "--url", url, "--json")
        #expect(output.status == 0)
        let nodes = try #require(try self.json(output) as? [[String: Any]])
        #expect(nodes.compactMap { $0["node"] as? String } == ["node-a", "node-b", "node-c"])
        #expect(nodes.allSatisfy { $0["healthy"] as? Bool == true && $0["latencyMicroseconds"] is Double })
    }

    @Test func aDownNodeIsExitCode3() async throws {
        let port = 1  // privileged, so nothing listens on it
        let health = try await self.caches("health", "--url", "redis://127.0.0.1:\(port)", "--json")
        #expect(health.status == 3)
        let nodes = try #require(try self.json(health) as? [[String: Any]])
        #expect(nodes.first?["healthy"] as? Bool == false)
        let get = try await self.caches("get", "k", "--url", "redis://127.0.0.1:\(port)")
        #expect(get.status == 3)
    }

    /// A ring of a live node and a node that refuses connections (port 1: privileged, nothing listens), in a
    /// fresh database, with `options`.
    func ringWithADeadNode(_ options: String) async throws -> String {
        let live = try await TestNodes.shared.plainNodes()[0]
        let database = await TestNodes.shared.database()
        return "redis://\(live.host):\(live.port),127.0.0.1:1/\(database)?names=live,dead" + (options.isEmpty ? "" : "&" + options)
    }

    @Test func aWriteDroppedByTheMissPolicyIsReported() async throws {
        let url = try await self.ringWithADeadNode("failure_policy=miss")
        let ring = try Cache(url: url)
        let onDead = try #require((0..<1000).map { "k\($0)" }.first { ring.nodeName(for: $0) == "dead" })
        let onLive = try #require((0..<1000).map { "k\($0)" }.first { ring.nodeName(for: $0) == "live" })

        let stored = try await self.caches("set", onLive, "1", "--url", url)
        #expect(stored.status == 0)
        #expect(stored.standardOutput == "OK\n")

        let dropped = try await self.caches("set", onDead, "1", "--url", url)
        #expect(dropped.status == 3, "a write that was not stored is a node error")
        #expect(dropped.standardOutput.isEmpty, "no OK for a write that was dropped")
        #expect(dropped.standardError.contains("not stored"), "\(dropped.standardError)")
        #expect(dropped.standardError.contains("dead"), "the node is named")

        let droppedJSON = try self.object(try await self.caches("set", onDead, "1", "--url", url, "--json"))
        #expect(droppedJSON["stored"] as? Bool == false)
        #expect(droppedJSON["absorbed"] as? Bool == true)

        let add = try await self.caches("add", onDead, "1", "--url", url)
        #expect(add.status == 3)
        #expect(!add.standardOutput.contains("EXISTS"), "an add that was dropped does not say the key exists")
    }

    @Test func benchRunsWhileANodeIsDownAndSaysWhatThePrefillSkipped() async throws {
        let url = try await self.ringWithADeadNode("")
        let output = try await self.caches(
            "bench",
            "--url",
            url,
            "-c",
            "2",
            "-n",
            "100",
            "--keyspace",
            "200",
            "--warmup",
            "0",
            "--ops",
            "get",
            "--json"
        )
        #expect(output.status == 3, "calls for the down node's keys fail: a node error")
        #expect(output.standardError.contains("prefill skipped"), "\(output.standardError)")
        #expect(output.standardError.contains("dead"))
        let report = try self.object(output)
        #expect(report["calls"] as? Int == 100, "the bench ran")
        #expect((report["errors"] as? Int ?? 0) > 0)
    }

    // MARK: Usage

    @Test func usageErrorsAreExitCode2() async throws {
        #expect(try await self.caches("get").status == 2)
        #expect(try await self.caches("set", "k", "not json", "--url", "memory://cli").status == 2)
        #expect(try await self.caches("bench", "--ops", "explode", "--url", "memory://cli").status == 2)
        #expect(try await self.caches("incr", "k", "--by", "many", "--url", "memory://cli").status == 2)
        #expect(try await self.caches("get", "k", "--url", "ftp://nowhere").status == 2)
        let help = try await self.caches("--help")
        #expect(help.status == 0)
        #expect(help.standardOutput.contains("Exit codes:"))
    }

    // MARK: Bench

    @Test func benchReportsEveryOperation() async throws {
        let url = try await TestNodes.shared.url(for: .ring)
        let output = try await self.caches(
            "bench",
            "--url",
            url,
            "-c",
            "4",
            "-n",
            "600",
            "--keyspace",
            "500",
            "--value-size",
            "50",
            "--warmup",
            "0",
            "--ops",
            "get,set,getMany:10,setMany:5,incr,deleteMany:3",
            "--json"
        )
        #expect(output.status == 0, "\(output.standardError)")
        let report = try self.object(output)
        #expect(report["calls"] as? Int == 600)
        #expect(report["errors"] as? Int == 0)
        let operations = try #require(report["operations"] as? [[String: Any]])
        #expect(operations.compactMap { $0["op"] as? String } == ["get", "set", "getMany:10", "setMany:5", "incr", "deleteMany:3"])
        // Callers take the mix in turn and stop at 600 calls in all, so each operation gets about a sixth.
        let calls = operations.compactMap { $0["calls"] as? Int }
        #expect(calls.reduce(0, +) == 600)
        #expect(calls.allSatisfy { (80...120).contains($0) }, "\(calls)")
        for operation in operations {
            let latency = try #require(operation["latencyMicroseconds"] as? [String: Any])
            let p50 = try #require(latency["p50"] as? Int)
            let max = try #require(latency["max"] as? Int)
            #expect(p50 >= 1 && p50 <= max)
        }
        let keysPerNode = try #require(report["keysPerNode"] as? [String: Int])
        #expect(keysPerNode.keys.sorted() == ["node-a", "node-b", "node-c"])
        #expect(keysPerNode.values.reduce(0, +) == 500)
        #expect((report["cpuMicrosecondsPerOp"] as? Double ?? 0) > 0)
        // The bench's counters are really there.
        let cache = try Cache(url: url)
        try await cache.withConnection { cache async throws in
            let counters = try await cache.getMany(
                (0..<500).map { "counter:" + String(repeating: "0", count: 12 - String($0).count) + String($0) },
                as: Int.self
            )
            #expect(counters.values.compactMap { $0 }.reduce(0, +) == calls[4])
            try await cache.clear()
        }
    }

    /// A many-key call's keys are picked one by one at random, as redis-benchmark's `key:__rand_int__` arguments are:
    /// 100 of them reach all three nodes of a ring, so each call sends each node one `MGET`. A run of neighbouring
    /// keys (`key:000000000100` … `key:000000000199`) mostly falls on one node under the default `fnv1a_64`, and
    /// would send fewer.
    @Test func benchManyKeyCallsReachEveryRingNode() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let url = "redis://" + servers.map { "\($0.host):\($0.port)" }.joined(separator: ",")
            let output = try await self.caches(
                "bench",
                "--url",
                url,
                "-c",
                "2",
                "-n",
                "60",
                "--keyspace",
                "100000",
                "--warmup",
                "0",
                "--no-prefill",
                "--ops",
                "getMany:100",
                "--json"
            )
            #expect(output.status == 0, "\(output.standardError)")
            #expect(try self.object(output)["calls"] as? Int == 60)
            for server in servers {
                #expect(try await server.commandCalls()["mget"] == 60, "node \(server.port)")
            }
        }
    }

    // MARK: Helpers

    func caches(_ arguments: [String], standardInput: String? = nil) async throws -> CLIProcess.Output {
        try #require(FileManager.default.isExecutableFile(atPath: Self.binary), "build the CLI first: swift build --build-tests")
        return try await CLIProcess.run(Self.binary, arguments: arguments, standardInput: standardInput)
    }

    /// Writes a JSON config file; returns its path.
    func configFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "caches-cli-\(UUID().uuidString).json"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// Runs the CLI with `posix_spawn` and reaps it on a thread of its own blocked in `waitpid`: independent of
/// Foundation's `Process`, whose exit notification went missing here when many tests ran processes at once.
enum CLIProcess {
    struct Output: Sendable {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Runs `executable`; its standard input is `standardInput` when given, else empty (`/dev/null`). Its standard
    /// error goes to `standardErrorPath` when given, so a test can watch it while the process runs.
    static func run(
        _ executable: String,
        arguments: [String],
        standardInput: String? = nil,
        standardErrorPath: String? = nil
    ) async throws -> Output {
        let directory = NSTemporaryDirectory() + "caches-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let stdoutPath = directory + "/stdout"
        let stderrPath = standardErrorPath ?? directory + "/stderr"
        var stdinPath = "/dev/null"
        if let standardInput {
            stdinPath = directory + "/stdin"
            try standardInput.write(toFile: stdinPath, atomically: false, encoding: .utf8)
        }

        #if canImport(Darwin)
            var actions: posix_spawn_file_actions_t? = nil
        #else
            var actions = posix_spawn_file_actions_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = argv.withUnsafeBufferPointer { posix_spawn(&pid, executable, &actions, nil, $0.baseAddress!, environ) }
        guard result == 0 else { throw CacheError(.invalidArgument, "posix_spawn \(executable): \(String(cString: strerror(result)))") }

        let status: Int32 = await withCheckedContinuation { continuation in
            let reaper = Thread { [pid] in
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                // WIFEXITED / WEXITSTATUS; a signal shows as 128 + the signal number.
                let signal = status & 0x7f
                continuation.resume(returning: signal == 0 ? (status >> 8) & 0xff : 128 + signal)
            }
            reaper.start()
        }
        return Output(
            status: status,
            standardOutput: (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "",
            standardError: (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        )
    }
}

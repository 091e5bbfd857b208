import Foundation
import RedisTestSupport
import Testing

@testable import Caches

#if ConfigFiles
    /// Writes `text` to a fresh temporary file named `name`, runs `body` with its path, and removes it.
    private func withConfigFile<T>(_ name: String, _ text: String, _ body: (String) async throws -> T) async throws -> T {
        let directory = FileManager.default.temporaryDirectory.path + "/caches-limits-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/" + name
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        return try await body(file)
    }

    /// Loads `text` as a config file and returns the error it throws (nil, with an issue recorded, when it loads).
    private func loadError(_ text: String, name: String = "cache.yaml") async throws -> CacheError? {
        try await withConfigFile(name, text) { file in
            do {
                _ = try await CacheConfiguration.load(fromFile: file, environment: [:])
                Issue.record("loading did not fail")
                return nil
            } catch let error as CacheError {
                #expect(error.code == .invalidConfiguration)
                return error
            }
        }
    }
#endif

/// Parses `url` into a configuration and validates it, the way `Cache(url:)` does.
private func configuration(url: String) throws(CacheError) -> CacheConfiguration {
    let configuration = try CacheConfiguration(url: CacheURL(url))
    try configuration.validate()
    return configuration
}

/// Issue 13's input side: no trap from any number, no secret in any error, bounded config parsing.
@Suite("Input limits")
struct InputLimitsTests {
    // MARK: Numbers never trap

    @Test(
        "huge, tiny and non-finite URL durations are invalidURL naming the option",
        arguments: [
            "timeout", "connect_timeout", "health_check",
        ]
    )
    func urlDurationsOutOfRange(option: String) throws {
        // 0 turns the health check off (as in files); every other duration must be positive.
        let values = ["1e10", "1e20", "1e308", "9223372036854775807", "2147484", "inf", "nan", "-0", "-1", "1e-400", "1 s", "5d"]
        for value in values + (option == "health_check" ? [] : ["0"]) {
            let error = #expect(throws: CacheError.self, "\(option)=\(value)") {
                try configuration(url: "redis://127.0.0.1:6379?\(option)=\(value)")
            }
            #expect(error?.code == .invalidURL)
            #expect(error?.message.contains(option) == true, "\(error?.message ?? "")")
        }
        // The largest accepted value: Int32.max milliseconds.
        _ = try configuration(url: "redis://127.0.0.1:6379?\(option)=2147483.647")
        _ = try configuration(url: "redis://127.0.0.1:6379?\(option)=2147483647ms")
        let error = #expect(throws: CacheError.self) { try configuration(url: "redis://127.0.0.1:6379?\(option)=2147484") }
        #expect(
            error?.message.hasSuffix("must be at most 2147483647 ms (about 24.8 days), got \"2147484\"") == true,
            "\(error?.message ?? "")"
        )
        #expect(throws: CacheError.self) { try Cache(url: "redis://127.0.0.1:6379?\(option)=1e10") }
    }

    @Test("eject options are validated and need failure_policy=eject")
    func ejectOptions() throws {
        for query in [
            "eject_after=abc", "eject_after=3", "eject_retry=5", "failure_policy=miss&eject_after=2", "eject_journal=abc",
            "eject_journal=5",
        ] {
            let error = #expect(throws: CacheError.self, "\(query)") { try configuration(url: "redis://h?\(query)") }
            #expect(error?.code == .invalidURL)
            #expect(error?.message.contains("eject_") == true)
        }
        for query in ["eject_after=abc", "eject_after=99999999999999999999", "eject_retry=1e20", "eject_after=0"] {
            #expect(throws: CacheError.self, "\(query)") { try configuration(url: "redis://h?failure_policy=eject&\(query)") }
        }
        #expect(
            try configuration(url: "redis://h?failure_policy=eject&eject_after=2&eject_retry=1").failurePolicy
                == .eject(afterFailures: 2, retryAfter: .seconds(1))
        )
    }

    @Test("a repeated option and an empty host are errors")
    func duplicatesAndEmptyHosts() throws {
        for url in ["redis://h?timeout=1&timeout=2", "redis://h?timeout=1&timeout=", "redis://h?db=1&db=1"] {
            let error = #expect(throws: CacheError.self, "\(url)") { try CacheURL(url) }
            #expect(error?.code == .invalidURL)
            #expect(error?.message.contains("more than once") == true)
        }
        for url in ["redis://,h:6379", "redis://h:6379,", "redis://a,,b", "redis://:6379", "redis://u:S3cr3t@,h"] {
            let error = #expect(throws: CacheError.self, "\(url)") { try CacheURL(url) }
            #expect(error?.code == .invalidURL)
            #expect(error?.message.contains("empty host") == true)
            #expect(error.map { !"\($0)".contains("S3cr3t") } == true)
        }
        #expect(try CacheURL("redis://").hosts.isEmpty)
    }

    @Test("a bad percent-escape is kept as written")
    func percentEscapes() throws {
        #expect(try CacheURL("redis://h?key_prefix=a%zzb%4").options["key_prefix"] == "a%zzb%4")
        #expect(try CacheURL("redis://h?key_prefix=%41%FF").options["key_prefix"] == "A\u{FFFD}")
    }

    @Test("a configuration built in code with a huge Duration is refused by validate(), naming the setting")
    func hugeDurationsInCode() throws {
        let huge = Duration.seconds(Int64.max)
        let cases: [(String, (inout CacheConfiguration) -> Void)] = [
            ("connectTimeout", { $0.connectTimeout = huge }),
            ("commandTimeout", { $0.commandTimeout = .seconds(10_000_000) }),
            ("healthCheckInterval", { $0.healthCheckInterval = huge }),
            ("pool.connectionWaitTimeout", { $0.pool.connectionWaitTimeout = huge }),
            ("pool.idleTimeout", { $0.pool.idleTimeout = huge }),
            ("pool.keepaliveInterval", { $0.pool.keepaliveInterval = huge }),
            ("pool.initialBackoff", { $0.pool.initialBackoff = huge }),
            ("pool.maximumBackoff", { $0.pool.maximumBackoff = huge }),
            ("pool.shutdownGracePeriod", { $0.pool.shutdownGracePeriod = huge }),
            ("retryAfter", { $0.failurePolicy = .eject(afterFailures: 1, retryAfter: huge) }),
            ("pool.idleTimeout", { $0.pool.idleTimeout = .seconds(-1) }),
        ]
        for (name, change) in cases {
            var configuration = CacheConfiguration(backend: .redis, nodes: [.init(host: "127.0.0.1")])
            change(&configuration)
            let error = #expect(throws: CacheError.self, "\(name)") { try configuration.validate() }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message.contains(name) == true, "\(error?.message ?? "")")
            #expect(throws: CacheError.self) { try Cache(configuration: configuration) }
        }
        for node in [CacheNodeConfiguration(host: "h", port: 65536), .init(host: "h", port: -1), .init(host: "h", database: Int.max)] {
            let error = #expect(throws: CacheError.self) { try CacheConfiguration(backend: .redis, nodes: [node]).validate() }
            #expect(error?.message.contains("nodes[0].") == true)
        }
        #expect(throws: CacheError.self) { try configuration(url: "redis://h/99999999999") }
        #expect(throws: CacheError.self) { try configuration(url: "redis://h?db=-1") }
        var many = CacheConfiguration(backend: .redis, nodes: [.init(host: "127.0.0.1")])
        many.pool.maximumConnections = Int.max
        #expect(throws: CacheError.self) { try many.validate() }
        #expect(Cache.seconds(.seconds(Int64.max) + .nanoseconds(1)) == .max)
    }

    #if ConfigFiles
        @Test("huge numbers in a config file name the key")
        func hugeNumbersInFiles() async throws {
            for (key, value) in [
                ("timeouts.connectMs", "1e10"), ("timeouts.connectMs", "99999999999999999999"),
                ("timeouts.commandMs", "2147483648"), ("pool.maxConnections", "9223372036854775808"),
                ("pool.maxConnections", "100000"), ("healthCheckMs", "-1"), ("defaults.ttl", "1e400"),
            ] {
                let parts = key.split(separator: ".")
                let yaml: String =
                    parts.count == 2
                    ? "\(parts[0]):\n  \(parts[1]): \(value)\nnodes:\n  - host: h\n" : "\(key): \(value)\nnodes:\n  - host: h\n"
                let error = try await loadError(yaml)
                #expect(error?.message.contains(key) == true || error?.message.contains("maximumConnections") == true, "\(error?.message ?? "")")
            }
        }

        // MARK: No secret in any error

        @Test("a YAML syntax error on a password or passphrase line does not print the secret")
        func syntaxErrorsHideSecrets() async throws {
            let files = [
                "nodes:\n  - host: h\n    password: \"S3cr3t\n",
                "nodes:\n  - host: h\n    password: 'S3cr3t\n  - host: i\n",
                "nodes:\n  - host: h\n    password: S3cr3t: more: colons\n",
                "tls:\n  keyPassphrase: \"S3cr3t\nnodes:\n  - host: h\n",
                "nodes:\n  - host: h\n    password: [S3cr3t\n",
                "nodes:\n  - host: h\n    password: a\n    password: S3cr3t\n",
                "nodes:\n  - host: h\n    password: \"S3cr3t\\q\"\n",
            ]
            for text in files {
                let error = try await loadError(text)
                let printed = [error.map { "\($0)" }, error.map { String(reflecting: $0) }, error?.message]
                for text in printed {
                    #expect(text?.contains("S3cr3t") == false, "\(text ?? "")")
                }
                if let underlying = error?.underlyingError {
                    #expect(!"\(underlying)".contains("S3cr3t"))
                    #expect(!String(reflecting: underlying).contains("S3cr3t"))
                }
            }
            let error = try await loadError(files[0])
            #expect(error?.message.contains("line 3") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("nodes[0].password") == true, "\(error?.message ?? "")")
        }

        @Test("a JSON syntax error on a password does not print it")
        func jsonErrorsHideSecrets() async throws {
            let error = try await loadError("{\"nodes\": [{\"host\": \"h\", \"password\": \"S3cr3t}]}", name: "cache.json")
            #expect(error.map { !"\($0)".contains("S3cr3t") && !String(reflecting: $0).contains("S3cr3t") } == true)
        }

        // MARK: Parsing limits

        @Test("a YAML alias bomb is refused as soon as the first alias is seen")
        func aliasBomb() async throws {
            var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
            for level in 1...10 {
                let previous = "*a\(level - 1)"
                text += "a\(level): &a\(level) [\(Array(repeating: previous, count: 10).joined(separator: ", "))]\n"
            }
            text += "nodes:\n  - host: h\n"
            #expect(text.utf8.count < 1000)
            let error = try await loadError(text)
            #expect(error?.message.contains("aliases") == true, "\(error?.message ?? "")")
            #expect(error?.message.contains("line 2") == true)
            // A harmless alias is refused too: the schema never needs one.
            let plain = try await loadError("x: &p 7001\nnodes:\n  - host: h\n    port: *p\n")
            #expect(plain?.message.contains("aliases") == true)
        }

        @Test("a file over 1 MiB is refused before it is read")
        func fileSize() async throws {
            let text = "nodes:\n  - host: h\n" + "# " + String(repeating: "x", count: ConfigFileScanner.maximumBytes) + "\n"
            let error = try await loadError(text)
            #expect(error?.message.contains("1 MiB") == true, "\(error?.message ?? "")")
            #expect(throws: CacheConfigFileSnapshot.ParseError.self) { try ConfigFileScanner.scan(Array(text.utf8)) }
        }

        @Test("more YAML nodes than the limit, or nesting deeper than the limit, is refused")
        func nodeCountAndDepth() async throws {
            let items = Array(repeating: "1", count: ConfigFileScanner.maximumNodes).joined(separator: ",")
            let wide = try await loadError("x: [\(items)]\nnodes:\n  - host: h\n")
            #expect(wide?.message.contains("\(ConfigFileScanner.maximumNodes) YAML nodes") == true, "\(wide?.message ?? "")")
            let deep = try await loadError("x: " + String(repeating: "[", count: 100_000) + "\n")
            // Refused by our limit or by libyaml's own nesting limit, whichever sees it first; never a stack overflow.
            #expect(deep?.message.contains("nest") == true, "\(deep?.message ?? "")")
            let deep40 = try await loadError("x: " + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "\n")
            #expect(deep40?.message.contains("nested more than \(ConfigFileScanner.maximumDepth) deep") == true, "\(deep40?.message ?? "")")
            let deepJSON = try await loadError("{\"x\": " + String(repeating: "[", count: 100_000), name: "cache.json")
            #expect(deepJSON != nil)
            // Many Redis nodes (beyond 1,000) are refused by validate().
            let nodes = (0...CacheConfiguration.maximumNodes).map { "  - host: h\($0)\n" }.joined()
            let tooMany = try await loadError("nodes:\n" + nodes)
            #expect(tooMany?.message.contains("at most \(CacheConfiguration.maximumNodes) nodes") == true, "\(tooMany?.message ?? "")")
        }

        @Test("a trailing comma, a comment or YAML syntax in a JSON file is refused with its line and column")
        func strictJSON() async throws {
            let comma = try await loadError("{\"nodes\": [{\"host\": \"h\"},\n]}", name: "cache.json")
            #expect(
                comma?.message.hasSuffix(
                    "not valid JSON: line 2, column 1: unexpected character (a trailing comma, a comment or YAML syntax are not JSON)"
                ) == true,
                "\(comma?.message ?? "")"
            )
            let object = try await loadError("{\"nodes\": [{\"host\": \"h\",}]}", name: "cache.json")
            #expect(object?.message.contains("line 1, column 25") == true, "\(object?.message ?? "")")
            _ = try await loadError("nodes:\n  - host: h\n", name: "cache.json")
            let count = try await withConfigFile("cache.json", "{\"nodes\": [{\"host\": \"h\"}]}") { file in
                try await CacheConfiguration.load(fromFile: file, environment: [:]).nodes.count
            }
            #expect(count == 1)
        }

        @Test("an empty file is a missing-nodes error")
        func emptyFile() async throws {
            let error = try await loadError("")
            #expect(error?.message.hasSuffix("nodes: at least one node is required") == true, "\(error?.message ?? "")")
        }
    #endif

    // MARK: Fuzz

    /// Numbers at and around every boundary the parsers meet.
    static let numbers = [
        "0", "-0", "+0", "1", "-1", "0.0", "1e-400", "1e10", "1e20", "1e308", "1e309", "-1e308", "nan", "NaN", "inf",
        "-inf", "Infinity", "infinity", "9223372036854775807", "9223372036854775808", "-9223372036854775808",
        "-9223372036854775809", "18446744073709551616", "2147483647", "2147483648", "4294967295", "4294967296",
        "2147483.647", "2147483.648", "0x10", "1_000", "١٢", "１", String(repeating: "9", count: 400),
        "0." + String(repeating: "0", count: 400) + "1", "1e", "e1", ".", "-", "", " 1", "1 ", "%31", "+",
    ]

    static let urlOptions = [
        "ttl", "version", "key_prefix", "minsize", "maxsize", "db", "password", "username", "timeout",
        "connect_timeout", "hash", "hash_tag", "weights", "names", "client_name", "ssl", "tls", "tls_min_version",
        "tls_verify", "failure_policy", "eject_after", "eject_retry", "eject_journal", "health_check", "bogus",
    ]

    static let odd = [
        "%", "%%", "%0", "%zz", "%FF", "%C0%80", "%ED%A0%80", "%00", "+", "&", "=", "==", "?", "#", "@", ":", "[", "]",
        "[::1", "é", "e\u{301}", "\u{1F600}", "\u{202E}", "\u{FEFF}", "\u{0}", "\n", "\\", "\"", "'", "*", "&a",
        ",", ",,", "/", "//", "://",
    ]

    fileprivate static func pick<T>(_ array: [T], _ random: inout SplitMix64) -> T {
        array[Int(random.next() % UInt64(array.count))]
    }

    fileprivate static func randomNumber(_ random: inout SplitMix64) -> String {
        switch random.next() % 4 {
        case 0: String(Int64(bitPattern: random.next()))
        case 1: String(Double(bitPattern: random.next()))
        case 2: String(repeating: String(random.next() % 10), count: Int(random.next() % 40) + 1)
        default: pick(numbers, &random)
        }
    }

    fileprivate static func randomText(_ random: inout SplitMix64) -> String {
        switch random.next() % 5 {
        case 0: randomNumber(&random)
        case 1: String(repeating: pick(odd, &random), count: Int(random.next() % 3000) + 1)
        case 2: (0..<Int(random.next() % 8)).map { _ in pick(odd, &random) }.joined()
        case 3:
            String(
                String.UnicodeScalarView(
                    (0..<Int(random.next() % 20)).compactMap { _ in Unicode.Scalar(UInt32(random.next() % 0x11_0000)) }
                )
            )
        default: pick(numbers, &random)
        }
    }

    fileprivate static func randomURL(_ random: inout SplitMix64) -> String {
        var url = pick(["redis://", "rediss://", "memory://", "dummy://", "locmem://", "redis:/", "", "x://"], &random)
        if random.next() % 4 == 0 { url += "u:" + randomText(&random) + "@" }
        let hosts = Int(random.next() % 3)
        url += (0..<hosts).map { _ in
            pick(["127.0.0.1", "h", "[::1]", "", randomText(&random)], &random)
                + (random.next() % 2 == 0 ? ":" + randomNumber(&random) : "")
        }.joined(separator: ",")
        if random.next() % 3 == 0 { url += "/" + randomNumber(&random) }
        let count = Int(random.next() % 5)
        if count > 0 {
            url +=
                "?"
                + (0..<count).map { _ in
                    let name = random.next() % 10 == 0 ? randomText(&random) : pick(urlOptions, &random)
                    return name + "=" + (random.next() % 2 == 0 ? randomNumber(&random) : randomText(&random))
                }.joined(separator: "&")
        }
        return url
    }

    /// A config file that follows the schema with random values, or random text.
    fileprivate static func randomConfig(_ random: inout SplitMix64, json: Bool) -> String {
        func value() -> String {
            let text = random.next() % 3 == 0 ? randomText(&random) : randomNumber(&random)
            switch random.next() % 3 {
            case 0: return text
            case 1: return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
            default: return "'" + text + "'"
            }
        }
        let scalars = [
            "defaults.ttl", "defaults.version", "defaults.keyPrefix", "ring.hash", "ring.hashTag", "pool.minConnections",
            "pool.maxConnections", "pool.waitTimeoutMs", "pool.idleTimeoutMs", "pool.keepaliveMs", "timeouts.connectMs",
            "timeouts.commandMs", "clientName", "failurePolicy", "ejectAfterFailures", "ejectRetryMs", "ejectJournalKeys",
            "healthCheckMs",
        ]
        if random.next() % 6 == 0 { return randomText(&random) }
        var groups: [String: [String]] = [:]
        var top: [String] = []
        for _ in 0..<Int(random.next() % 6) {
            let key = pick(scalars, &random)
            let parts = key.split(separator: ".")
            if parts.count == 2 {
                groups[String(parts[0]), default: []].append(json ? "\"\(parts[1])\": \(value())" : "\(parts[1]): \(value())")
            } else {
                top.append(json ? "\"\(key)\": \(value())" : "\(key): \(value())")
            }
        }
        var fields = [("host", random.next() % 4 == 0 ? value() : "h")]
        for key in ["port", "weight", "password", "db"] where random.next() % 3 == 0 {
            fields.append((key, value()))
        }
        let node = "{" + fields.map { json ? "\"\($0.0)\": \($0.1)" : "\($0.0): \($0.1)" }.joined(separator: ", ") + "}"
        var entries = top
        for (group, keys) in groups {
            entries.append(json ? "\"\(group)\": {\(keys.joined(separator: ", "))}" : "\(group): {\(keys.joined(separator: ", "))}")
        }
        entries.append(json ? "\"nodes\": [\(node)]" : "nodes: [\(node)]")
        var text = json ? "{" + entries.joined(separator: ", ") + "}" : entries.joined(separator: "\n") + "\n"
        if random.next() % 5 == 0, !text.isEmpty {
            // Cut or corrupt the file somewhere.
            var bytes = Array(text.utf8)
            let index = Int(random.next() % UInt64(bytes.count))
            if random.next() % 2 == 0 { bytes.removeSubrange(index...) } else { bytes[index] = UInt8(truncatingIfNeeded: random.next()) }
            text = String(decoding: bytes, as: UTF8.self)
        }
        return text
    }

    @Test("fuzz: URLs with random and boundary numbers, long strings and odd encodings parse or throw CacheError")
    func fuzzURLs() throws {
        var random = SplitMix64(seed: 0x13_1313)
        var parsed = 0
        for _ in 0..<4000 {
            let url = Self.randomURL(&random)
            do {
                let configuration = try configuration(url: url)
                parsed += 1
                _ = try? Cache(configuration: configuration)
            } catch {
                // The typed throw is the assertion: any error here is a CacheError. A trap would end the process.
                #expect(!error.message.isEmpty)
            }
        }
        #expect(parsed > 0)
        for number in Self.numbers {
            for option in Self.urlOptions {
                _ = try? configuration(url: "redis://127.0.0.1?\(option)=\(number)")
                _ = try? configuration(url: "redis://127.0.0.1:\(number)/\(number)?failure_policy=eject&\(option)=\(number)")
            }
        }
    }

    #if ConfigFiles
        @Test("fuzz: config files with random values and random corruption load or throw CacheError")
        func fuzzConfigFiles() async throws {
            var random = SplitMix64(seed: 0xC0_FF_EE)
            let directory = FileManager.default.temporaryDirectory.path + "/caches-fuzz-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            var loaded = 0
            for index in 0..<1500 {
                let json = index % 3 == 0
                let text = Self.randomConfig(&random, json: json)
                let file = directory + "/cache\(index % 2).\(json ? "json" : "yaml")"
                try Data(text.utf8).write(to: URL(fileURLWithPath: file))
                do {
                    _ = try await CacheConfiguration.load(fromFile: file, environment: [:])
                    loaded += 1
                } catch let error as CacheError {
                    #expect(error.code == .invalidConfiguration, "\(error)")
                } catch {
                    Issue.record("not a CacheError: \(error) for \(String(reflecting: text))")
                }
                // The snapshot alone, without the file system, on the same text.
                _ = try? CacheConfigFileSnapshot(text: text, providerName: "fuzz", isSecret: ConfigFileSchema.isSecret, isJSON: json)
            }
            #expect(loaded > 0)
        }
    #endif
}

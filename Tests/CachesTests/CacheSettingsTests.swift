import Foundation
import Testing

@testable import Caches

/// The settings table (issue 14 point 1): every setting round-trips through a YAML file, a JSON file, a URL, the
/// environment and code; the README's table is the generated one.
@Suite("Settings table")
struct CacheSettingsTests {
    /// How code sets each setting to its example value: written by hand, so the table is checked against the
    /// properties it claims to set. A setting missing here fails ``everySettingRoundTrips()``.
    static let code: [String: @Sendable (inout CacheConfiguration, String) -> Void] = [
        "defaults.ttl": { c, _ in c.defaultTTL = 600 },
        "defaults.version": { c, _ in c.defaultVersion = "2" },
        "defaults.keyPrefix": { c, _ in c.keyPrefix = "forum" },
        "ring.hash": { c, _ in c.ring.hash = .murmur },
        "ring.hashTag": { c, _ in c.ring.hashTag = "{}" },
        "pool.minConnections": { c, _ in c.pool.minimumConnections = 2 },
        "pool.maxConnections": { c, _ in c.pool.maximumConnections = 20 },
        "pool.waitTimeout": { c, _ in c.pool.connectionWaitTimeout = .milliseconds(250) },
        "pool.idleTimeout": { c, _ in c.pool.idleTimeout = .seconds(90) },
        "pool.keepalive": { c, _ in c.pool.keepaliveInterval = nil },
        "pool.initialBackoff": { c, _ in c.pool.initialBackoff = .milliseconds(250) },
        "pool.maximumBackoff": { c, _ in c.pool.maximumBackoff = .seconds(10) },
        "pool.loadThreshold": { c, _ in c.pool.loadThreshold = 64 },
        "pool.shutdownGracePeriod": { c, _ in c.pool.shutdownGracePeriod = .seconds(10) },
        "timeouts.connect": { c, _ in c.connectTimeout = .milliseconds(1500) },
        "timeouts.command": { c, _ in c.commandTimeout = .seconds(2) },
        "clientName": { c, _ in c.clientName = "web-1" },
        "healthCheck": { c, _ in c.healthCheckInterval = .milliseconds(250) },
        "nearCache.maxEntries": { c, _ in c.nearCache.maxEntries = 10_000 },
        "nearCache.maxBytes": { c, _ in c.nearCache.maxBytes = 1_048_576 },
        "nearCache.maxLifetime": { c, _ in c.nearCache.maxLifetime = .seconds(5) },
        "failurePolicy": { c, _ in c.failurePolicy = .eject() },
        // A cluster setting makes the configuration a cluster's (a file's `cluster` section does the same).
        "cluster.readFrom": { c, _ in
            c.backend = .redisCluster
            c.cluster.readFrom = .replica
        },
        "cluster.refreshInterval": { c, _ in
            c.backend = .redisCluster
            c.cluster.refreshInterval = .seconds(5)
        },
        "cluster.manyKeyReads": { c, _ in
            c.backend = .redisCluster
            c.cluster.manyKeyReads = .mget
        },
        "ejectAfterFailures": { c, _ in c.failurePolicy = .eject(afterFailures: 5) },
        "ejectRetry": { c, _ in c.failurePolicy = .eject(retryAfter: .milliseconds(1500)) },
        "ejectJournalKeys": { c, _ in c.failurePolicy = .eject(journalLimit: 0) },
        "nodes[i].name": { c, _ in c.nodes[0].name = "cache-a" },
        "nodes[i].host": { c, _ in c.nodes[0].host = "10.0.0.7" },
        "nodes[i].port": { c, _ in c.nodes[0].port = 7001 },
        "nodes[i].weight": { c, _ in c.nodes[0].weight = 3 },
        "nodes[i].db": { c, _ in c.nodes[0].database = 3 },
        "nodes[i].username": { c, _ in c.nodes[0].username = "app" },
        "nodes[i].password": { c, _ in c.nodes[0].password = "s3cret" },
        "tls.enabled": { _, _ in },
        "tls.caFile": { c, dir in c.tls?.trust = .caFile(dir + "/ca.pem") },
        "tls.caDirectory": { c, dir in c.tls?.trust = .caDirectory(dir + "/ca.d") },
        "tls.certificateFile": { c, dir in c.tls?.certificateFile = dir + "/client.pem" },
        "tls.keyFile": { c, dir in c.tls?.keyFile = dir + "/client.key" },
        "tls.keyPassphrase": { c, _ in c.tls?.keyPassphrase = "hunter2" },
        "tls.serverName": { c, _ in c.tls?.serverName = "cache.internal" },
        "tls.minimumVersion": { c, _ in c.tls?.minimumVersion = .tls13 },
        "tls.verification": { c, _ in c.tls?.verification = .noHostnameVerification },
    ]

    /// The settings a setting needs to apply, as (setting, value) pairs: the eject policy, TLS on, a certificate.
    static func prerequisites(of setting: CacheSetting) -> [(CacheSetting, String)] {
        var needs: [(CacheSetting, String)] = []
        if let (key, value) = setting.appliesOnlyWith, let other = CacheSettings.setting(key) { needs.append((other, value)) }
        if setting.scope == .tls, setting.key != "enabled", let enabled = CacheSettings.setting("enabled", .tls) {
            needs.append((enabled, "true"))
        }
        if setting.key == "keyFile", let certificate = CacheSettings.setting("certificateFile", .tls) {
            needs.append((certificate, "client.pem"))
        }
        return needs
    }

    /// A value as a file, the environment and code give it: file paths absolute in the test directory.
    static func text(_ setting: CacheSetting, _ value: String, directory: String) -> String {
        setting.kind == .file || setting.kind == .directory ? directory + "/" + value : value
    }

    /// The base every form starts from: one node, `h:6379`.
    static let base = CacheConfiguration(backend: .redis, nodes: [CacheNodeConfiguration(host: "h")])

    /// The configuration code makes: the base, the prerequisites, the setting, through ``code``.
    static func fromCode(_ settings: [(CacheSetting, String)], node: Bool, directory: String) throws -> CacheConfiguration {
        var configuration = base
        for (setting, _) in settings {
            let change = try #require(Self.code[setting.path], "no code for \(setting.path)")
            if setting.scope == .tls {
                // The TLS setting, cache-wide or on the node.
                var holder = base
                holder.tls = node ? configuration.nodes[0].tls ?? CacheTLSConfiguration() : configuration.tls ?? CacheTLSConfiguration()
                change(&holder, directory)
                if node { configuration.nodes[0].tls = holder.tls } else { configuration.tls = holder.tls }
            } else {
                change(&configuration, directory)
            }
        }
        // `.eject(afterFailures:)` and friends reset the other eject fields: merge them as the readers do.
        let policies = settings.filter { $0.0.appliesOnlyWith != nil }
        if !policies.isEmpty {
            var merged = base
            merged.failurePolicy = .eject()
            for (setting, value) in policies { setting.apply(try setting.parse(value).get(), to: &merged) }
            #expect(merged.failurePolicy == configuration.failurePolicy, "code and table disagree on \(policies.map(\.0.path))")
        }
        return configuration
    }

    /// Key paths (dotted, with node index) and values, in order.
    static func entries(_ settings: [(CacheSetting, String)], node: Bool, directory: String) -> [(
        path: [String], value: String, setting: CacheSetting
    )] {
        var entries: [(path: [String], value: String, setting: CacheSetting)] = []
        for (setting, value) in settings {
            let text = Self.text(setting, value, directory: directory)
            switch setting.scope {
            case .cache: entries.append((setting.key.split(separator: ".").map(String.init), text, setting))
            case .node: entries.append((["nodes", "0", setting.key], text, setting))
            case .tls: entries.append(((node ? ["nodes", "0", "tls"] : ["tls"]) + [setting.key], text, setting))
            }
        }
        return entries
    }

    /// A YAML or JSON file with the entries and the base node (unless the entries give its host).
    static func file(_ settings: [(CacheSetting, String)], node: Bool, directory: String, json: Bool) -> String {
        var entries = Self.entries(settings, node: node, directory: directory)
        if !entries.contains(where: { $0.path == ["nodes", "0", "host"] }), let host = CacheSettings.setting("host", .node) {
            entries.append((["nodes", "0", "host"], "h", host))
        }
        func scalar(_ value: String, _ setting: CacheSetting) -> String {
            if setting.kind == .integer { return value }
            let escaped = value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            return "\"\(escaped)\""
        }
        // A tree of mappings; `nodes` is a list of one mapping.
        func keys(_ prefix: [String]) -> [(String, (path: [String], value: String, setting: CacheSetting)?)] {
            var keys: [(String, (path: [String], value: String, setting: CacheSetting)?)] = []
            for entry in entries where entry.path.count > prefix.count && Array(entry.path.prefix(prefix.count)) == prefix {
                let key = entry.path[prefix.count]
                if !keys.contains(where: { $0.0 == key }) { keys.append((key, entry.path.count == prefix.count + 1 ? entry : nil)) }
            }
            return keys
        }
        func yaml(_ prefix: [String]) -> [String] {
            keys(prefix).flatMap { key, leaf -> [String] in
                if let leaf { return ["\(key): \(scalar(leaf.value, leaf.setting))"] }
                if key == "nodes" { return ["nodes:", "  -"] + yaml(prefix + [key, "0"]).map { "    " + $0 } }
                return ["\(key):"] + yaml(prefix + [key]).map { "  " + $0 }
            }
        }
        func object(_ prefix: [String]) -> String {
            let members = keys(prefix).map { key, leaf -> String in
                if let leaf { return "\"\(key)\": \(scalar(leaf.value, leaf.setting))" }
                if key == "nodes" { return "\"nodes\": [\(object(prefix + [key, "0"]))]" }
                return "\"\(key)\": \(object(prefix + [key]))"
            }
            return "{" + members.joined(separator: ", ") + "}"
        }
        return json ? object([]) : yaml([]).joined(separator: "\n") + "\n"
    }

    /// The environment variables for the entries, the node's host included.
    static func environment(_ settings: [(CacheSetting, String)], node: Bool, directory: String) -> [String: String] {
        var variables: [String: String] = ["CACHES_NODES_0_HOST": "h"]
        for entry in Self.entries(settings, node: node, directory: directory) {
            let name =
                entry.path.first == "nodes"
                ? CacheSettings.environmentVariable(for: entry.path.joined(separator: "."))
                : entry.setting.environmentVariable
            if entry.path.first != "nodes" {
                #expect(name == CacheSettings.environmentVariable(for: entry.path.joined(separator: ".")))
            } else if entry.setting.scope == .node {
                #expect(name == entry.setting.environmentVariable.replacingOccurrences(of: "<i>", with: "0"))
            }
            variables[name] = entry.value
        }
        return variables
    }

    /// A URL with the settings' URL forms, or nil when one of them has none.
    static func url(_ settings: [(CacheSetting, String)], directory: String) -> String? {
        var host = "h"
        var port: String?
        var query: [String] = []
        func encoded(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~/"))) ?? text
        }
        for (setting, value) in settings {
            let text = Self.text(setting, value, directory: directory)
            switch setting.url {
            case .option(let name), .perHost(let name), .authority(option: let name?): query.append("\(name)=\(encoded(text))")
            case .authority(nil): if setting.key == "host" { host = text } else { port = text }
            case nil: return nil
            }
        }
        let scheme = settings.contains { $0.0.key.hasPrefix("cluster.") } ? "redis-cluster" : "redis"
        return "\(scheme)://\(host)\(port.map { ":" + $0 } ?? "")" + (query.isEmpty ? "" : "?" + query.joined(separator: "&"))
    }

    #if ConfigFiles
        @Test("every setting of the table round-trips through YAML, JSON, a URL, the environment and code")
        func everySettingRoundTrips() async throws {
            let directory = FileManager.default.temporaryDirectory.path + "/caches-settings-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory + "/ca.d", withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            for name in ["ca.pem", "client.pem", "client.key"] {
                try "placeholder\n".write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
            }
            let baseEntries = CacheSettings.entries(of: Self.base, revealingSecrets: true)
            var forms = 0
            for setting in CacheSettings.all {
                #expect(Self.code[setting.path] != nil, "\(setting.path) has no code form in CacheSettingsTests.code")
                for node in setting.scope == .tls ? [false, true] : [false] {
                    let settings = Self.prerequisites(of: setting) + [(setting, setting.example)]
                    let label = node ? "nodes[0].tls.\(setting.key)" : setting.path
                    let code = try Self.fromCode(settings, node: node, directory: directory)
                    let expected = CacheSettings.entries(of: code, revealingSecrets: true)
                    #expect(expected != baseEntries, "\(label): the example \(setting.example) is the default")
                    let concrete = node ? label : setting.path.replacingOccurrences(of: "[i]", with: "[0]")
                    let shown = Self.text(setting, try setting.parse(setting.example).get().description, directory: directory)
                    #expect(expected.contains(.init(path: concrete, value: shown)), "\(label): \(expected)")

                    for json in [false, true] {
                        let name = "\(directory)/\(forms).\(json ? "json" : "yaml")"
                        forms += 1
                        let text = Self.file(settings, node: node, directory: directory, json: json)
                        try text.write(toFile: name, atomically: true, encoding: .utf8)
                        let loaded = try await CacheConfiguration.load(fromFile: name, environment: [:])
                        #expect(
                            CacheSettings.entries(of: loaded, revealingSecrets: true) == expected,
                            "\(label) from \(json ? "JSON" : "YAML"):\n\(text)"
                        )
                    }
                    let empty = "\(directory)/\(forms).yaml"
                    forms += 1
                    try "".write(toFile: empty, atomically: true, encoding: .utf8)
                    let environment = Self.environment(settings, node: node, directory: directory)
                    let fromEnvironment = try await CacheConfiguration.load(fromFile: empty, environment: environment)
                    #expect(CacheSettings.entries(of: fromEnvironment, revealingSecrets: true) == expected, "\(label) from \(environment)")

                    if !node, let url = Self.url(settings, directory: directory) {
                        let fromURL = try CacheConfiguration(url: CacheURL(url))
                        #expect(CacheSettings.entries(of: fromURL, revealingSecrets: true) == expected, "\(label) from \(url)")
                    } else if !node {
                        #expect(setting.url == nil)
                    }
                }
            }
            #expect(Set(Self.code.keys) == Set(CacheSettings.all.map(\.path)), "CacheSettingsTests.code lists a setting the table lacks")
        }
    #endif

    @Test("the README's Settings table is the generated one")
    func readmeTable() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let table = CacheSettings.markdownTable()
        #expect(readme.contains(table), "README.md lacks the output of `caches config settings --markdown`:\n\(table)")
    }

    @Test("production.example.yaml mentions every key of the table")
    func productionExampleMentionsEveryKey() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let text = try String(contentsOf: root.appendingPathComponent("config/production.example.yaml"), encoding: .utf8)
        for setting in CacheSettings.all {
            let last = setting.key.split(separator: ".").last.map(String.init) ?? setting.key
            #expect(text.contains(last + ":"), "config/production.example.yaml lacks \(setting.path)")
        }
    }

    @Test("durations: one form, formatted back the same way")
    func durations() throws {
        for (text, milliseconds) in [("250ms", 250), ("1.5s", 1500), ("2m", 120_000), ("1h", 3_600_000), ("0.5", 500), ("3", 3000), ("0.0001", 1)] {
            #expect(try CacheSettings.parseDuration(text).get() == .milliseconds(milliseconds), "\(text)")
        }
        for text in ["", "s", "1 s", "-1", "1e3", "1d", "inf", "nan", "1..5s", "2147484"] {
            #expect(throws: CacheSettingProblem.self, "\(text)") { try CacheSettings.parseDuration(text).get() }
        }
        for milliseconds in [1, 250, 1500, 30_000, 90_000, 120_000, 3_600_000] {
            let text = CacheSettings.format(duration: .milliseconds(milliseconds))
            #expect(try CacheSettings.parseDuration(text).get() == .milliseconds(milliseconds), "\(text)")
        }
        // Decimals a Double cannot hold exactly do not gain a millisecond: every 3-decimal second up to 100 s.
        for thousandths in 1...100_000 {
            let text = "\(thousandths / 1000).\(String(repeating: "0", count: 3 - String(thousandths % 1000).count))\(thousandths % 1000)"
            guard try CacheSettings.parseDuration(text).get() == .milliseconds(thousandths) else {
                Issue.record("\(text) is not \(thousandths) ms")
                break
            }
        }
        #expect(try CacheSettings.parseDuration("0.017m").get() == .milliseconds(1020))
        // Formatting never traps and rounds a sub-millisecond part up, as parsing does.
        #expect(CacheSettings.format(duration: .microseconds(1500)) == "2ms")
        #expect(CacheSettings.format(duration: .seconds(Int64.max)) == "\(Int64.max)s")
    }

    @Test("a configuration built in code keeps a positive duration under a millisecond; zero is refused")
    func subMillisecondDurationsInCode() throws {
        var configuration = CacheConfiguration(backend: .memory(name: "settings"))
        configuration.commandTimeout = .microseconds(500)
        try configuration.validate()
        configuration.commandTimeout = .zero
        let error = #expect(throws: CacheError.self) { try configuration.validate() }
        #expect(error?.message.contains("must be positive") == true, "\(error?.message ?? "")")
    }

    @Test("the entries never show a secret unless asked")
    func secretsAreRedacted() throws {
        let configuration = try CacheConfiguration(url: CacheURL("rediss://:s3cret@h?tls_key_passphrase=hunter2"))
        let text = CacheSettings.entries(of: configuration).map(\.description).joined(separator: "\n")
        #expect(!text.contains("s3cret") && !text.contains("hunter2"))
        #expect(text.contains("nodes[0].password: ***") && text.contains("tls.keyPassphrase: ***"))
    }
}

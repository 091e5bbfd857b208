#if ConfigFiles
    import CacheRing
    import Configuration
    import Foundation
    import Logging
    import Testing

    @testable import Caches

    /// A temporary directory for config files, removed at the end of the test.
    private final class ConfigDirectory {
        let path: String

        init() throws {
            let base = FileManager.default.temporaryDirectory.path
            self.path = base + "/caches-config-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: self.path, withIntermediateDirectories: true)
        }

        deinit {
            try? FileManager.default.removeItem(atPath: self.path)
        }

        /// Writes `text` to `name` in the directory and returns its path.
        @discardableResult
        func write(_ name: String, _ text: String) throws -> String {
            let file = self.path + "/" + name
            let folder = (file as NSString).deletingLastPathComponent
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
    }

    /// The repository's `config/` folder.
    private let configFolder: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path + "/config"
    }()

    private let twoNodes = """
        nodes:
          - name: a
            host: 127.0.0.1
            port: 7001
          - name: b
            host: 127.0.0.1
            port: 7002
            weight: 2
        """

    @Suite("Config files")
    struct ConfigFileTests {
        // MARK: A cluster

        @Test("a `cluster` section makes the nodes a Redis Cluster's seeds; its keys, and what a cluster refuses, name their path")
        func clusterSection() async throws {
            let directory = try ConfigDirectory()
            let seeds = """
                nodes:
                  - host: 127.0.0.1
                    port: 7000
                  - host: 127.0.0.1
                    port: 7001
                """
            let full = try await CacheConfiguration.load(
                fromFile: try directory.write("full.yaml", "cluster:\n  readFrom: replica\n  refreshInterval: 5s\n" + seeds),
                environment: [:]
            )
            #expect(full.backend == .redisCluster)
            #expect(full.cluster == CacheConfiguration.Cluster(readFrom: .replica, refreshInterval: .seconds(5)))
            #expect(full.nodes.map(\.port) == [7000, 7001])

            let empty = try await CacheConfiguration.load(fromFile: try directory.write("empty.yaml", "cluster: {}\n" + seeds), environment: [:])
            #expect(empty.backend == .redisCluster)
            #expect(empty.cluster == CacheConfiguration.Cluster(), "an empty section: a cluster with the defaults")
            let ring = try await CacheConfiguration.load(fromFile: try directory.write("ring.yaml", seeds), environment: [:])
            #expect(ring.backend == .redis, "no section: a ring")
            let fromEnvironment = try await CacheConfiguration.load(
                fromFile: try directory.write("env.yaml", seeds),
                environment: ["CACHES_CLUSTER_REFRESH_INTERVAL": "0"]
            )
            #expect(fromEnvironment.backend == .redisCluster)
            #expect(fromEnvironment.cluster.refreshInterval == nil, "0 turns the periodic refresh off")

            let cases = [
                ("cluster:\n  readFrom: nearest\n" + seeds, "cluster.readFrom"),
                ("cluster:\n  refresh: 5s\n" + seeds, "cluster.refresh"),
                ("cluster: {}\nring:\n  hash: md5\n" + seeds, "ring"),
                ("cluster: {}\nnodes:\n  - host: 127.0.0.1\n    db: 2\n", "nodes[0].database"),
            ]
            for (index, (text, path)) in cases.enumerated() {
                let file = try directory.write("bad\(index).yaml", text)
                let error = await #expect(throws: CacheError.self, "\(text)") {
                    try await CacheConfiguration.load(fromFile: file, environment: [:])
                }
                #expect(error?.code == .invalidConfiguration)
                #expect(error?.message.contains(path) == true, "\(error?.message ?? "")")
            }
        }

        // MARK: The files in config/

        @Test("every file in config/ loads")
        func everyFileInConfigFolderLoads() async throws {
            let names = try FileManager.default.contentsOfDirectory(atPath: configFolder)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") || $0.hasSuffix(".json") }
                .sorted()
            #expect(names.contains("local.yaml"))
            #expect(names.contains("production.example.yaml"))
            for name in names {
                let original = configFolder + "/" + name
                var loaded: CacheConfiguration?
                do {
                    loaded = try await CacheConfiguration.load(fromFile: original, environment: [:])
                } catch let error as CacheError {
                    // Only a TLS file that the checkout does not hold may stop an example from loading in place.
                    guard error.message.hasPrefix(original + ": "), error.message.contains(": cannot read ") else {
                        Issue.record("\(name): \(error.message)")
                        continue
                    }
                    loaded = try await self.loadWithPlaceholderFiles(original, name: name)
                }
                if let loaded {
                    #expect(!loaded.nodes.isEmpty, "\(name)")
                    #expect(loaded.backend == (name.hasPrefix("cluster") ? .redisCluster : .redis), "\(name)")
                }
            }
        }

        /// Loads a copy of a config file in a temporary folder, creating the TLS files it names by relative path there.
        /// For `tls.yaml`, whose certificates may be named by absolute paths that exist only where the TLS test
        /// fixtures were generated, an error naming the file and the unreadable path is accepted (returns nil).
        private func loadWithPlaceholderFiles(_ original: String, name: String) async throws -> CacheConfiguration? {
            let directory = try ConfigDirectory()
            let file = try directory.write(name, try String(contentsOfFile: original, encoding: .utf8))
            for _ in 0..<8 {
                do {
                    return try await CacheConfiguration.load(fromFile: file, environment: [:])
                } catch let error as CacheError {
                    let marker = "cannot read \(directory.path)/"
                    if let range = error.message.range(of: marker) {
                        let relative = String(error.message[range.upperBound...].prefix { $0 != ":" && $0 != " " })
                        if !relative.contains("..") {
                            try directory.write(relative, "placeholder\n")
                            continue
                        }
                    }
                    if name == "tls.yaml", error.message.hasPrefix(file + ": "), error.message.contains(": cannot read ") {
                        return nil
                    }
                    Issue.record("\(name): \(error.message)")
                    return nil
                }
            }
            Issue.record("\(name): too many missing files")
            return nil
        }

        @Test("config/local.yaml holds the demo's three nodes")
        func localYAML() async throws {
            let configuration = try await CacheConfiguration.load(fromFile: configFolder + "/local.yaml", environment: [:])
            #expect(configuration.nodes.map(\.name) == ["node-a", "node-b", "node-c"])
            #expect(configuration.nodes.map(\.host) == ["127.0.0.1", "127.0.0.1", "127.0.0.1"])
            #expect(configuration.nodes.map(\.port) == [7001, 7002, 7003])
            #expect(configuration.nodes.map(\.weight) == [1, 2, 1])
            #expect(configuration.tls == nil)
        }

        @Test("production.example.yaml: every key is read")
        func productionExample() async throws {
            let directory = try ConfigDirectory()
            let text = try String(contentsOfFile: configFolder + "/production.example.yaml", encoding: .utf8)
            let file = try directory.write("production.yaml", text)
            for name in ["tls/ca.pem", "tls/client.pem", "tls/client.key"] { try directory.write(name, "placeholder\n") }
            let configuration = try await CacheConfiguration.load(fromFile: file, environment: [:])
            #expect(configuration.defaultTTL == 600)
            #expect(configuration.defaultVersion.text == "2")
            #expect(configuration.keyPrefix == "forum")
            #expect(configuration.ring == .init(hash: .fnv1a_64, hashTag: "{}"))
            #expect(configuration.pool.minimumConnections == 1)
            #expect(configuration.pool.maximumConnections == 10)
            #expect(configuration.pool.connectionWaitTimeout == .milliseconds(1000))
            #expect(configuration.pool.idleTimeout == .milliseconds(60000))
            #expect(configuration.pool.keepaliveInterval == .milliseconds(30000))
            #expect(configuration.connectTimeout == .milliseconds(2000))
            #expect(configuration.commandTimeout == .milliseconds(1000))
            #expect(configuration.clientName == "forum-web")
            let tls = try #require(configuration.tls)
            #expect(tls.trust == .caFile(directory.path + "/tls/ca.pem"))
            #expect(tls.certificateFile == directory.path + "/tls/client.pem")
            #expect(tls.keyFile == directory.path + "/tls/client.key")
            #expect(tls.keyPassphrase == "change-me")
            #expect(tls.serverName == "redis.internal")
            #expect(tls.minimumVersion == .tls12)
            #expect(tls.verification == .full)
            #expect(configuration.nodes.count == 2)
            let first = configuration.nodes[0]
            #expect(first.name == "cache-1" && first.host == "10.0.0.11" && first.port == 6379 && first.weight == 1)
            #expect(first.database == 0 && first.username == "app" && first.password == "change-me")
            #expect(first.tls == nil)
            let second = configuration.nodes[1]
            #expect(second.weight == 2 && second.port == 6379)
            // The node's tls overrides one key of the cache-wide tls and inherits the rest.
            #expect(second.tls?.serverName == "cache-2.redis.internal")
            #expect(second.tls?.trust == tls.trust)
        }

        // MARK: Formats and the environment

        @Test("JSON reads like YAML")
        func json() async throws {
            let directory = try ConfigDirectory()
            let file = try directory.write(
                "cache.json",
                """
                {"defaults": {"ttl": 30, "keyPrefix": "app"}, "ring": {"hash": "md5"},
                 "nodes": [{"name": "a", "host": "127.0.0.1", "port": 7001},
                           {"host": "127.0.0.1", "port": 7002, "weight": 3, "password": "pw"}]}
                """
            )
            let configuration = try await CacheConfiguration.load(fromFile: file, environment: [:])
            #expect(configuration.defaultTTL == 30)
            #expect(configuration.keyPrefix == "app")
            #expect(configuration.ring.hash == .md5)
            #expect(configuration.nodes.map(\.ketamaName) == ["a", "127.0.0.1:7002"])
            #expect(configuration.nodes[1].weight == 3)
            #expect(configuration.nodes[1].password == "pw")
        }

        @Test("environment variables override the file and can add nodes")
        func environmentOverrides() async throws {
            let directory = try ConfigDirectory()
            let file = try directory.write("cache.yaml", "pool:\n  maxConnections: 4\n" + twoNodes)
            let configuration = try await CacheConfiguration.load(
                fromFile: file,
                environment: [
                    "CACHES_POOL_MAX_CONNECTIONS": "20",
                    "CACHES_NODES_0_PASSWORD": "from-env",
                    "CACHES_NODES_1_WEIGHT": "5",
                    "CACHES_DEFAULTS_TTL": "60",
                    "CACHES_NODES_2_HOST": "127.0.0.1",
                    "CACHES_NODES_2_PORT": "7003",
                    "UNRELATED": "x",
                ]
            )
            #expect(configuration.pool.maximumConnections == 20)
            #expect(configuration.nodes[0].password == "from-env")
            #expect(configuration.nodes[1].weight == 5)
            #expect(configuration.defaultTTL == 60)
            #expect(configuration.nodes.count == 3)
            #expect(configuration.nodes[2].ketamaName == "127.0.0.1:7003")
        }

        @Test("healthCheckMs sets the health check interval (0 turns it off), from the file or the environment")
        func healthCheckInterval() async throws {
            let directory = try ConfigDirectory()
            let unset = try directory.write("unset.yaml", twoNodes)
            #expect(try await CacheConfiguration.load(fromFile: unset, environment: [:]).healthCheckInterval == .seconds(5))
            let file = try directory.write("cache.yaml", "healthCheckMs: 250\n" + twoNodes)
            #expect(try await CacheConfiguration.load(fromFile: file, environment: [:]).healthCheckInterval == .milliseconds(250))
            let off = try directory.write("off.yaml", "healthCheckMs: 0\n" + twoNodes)
            #expect(try await CacheConfiguration.load(fromFile: off, environment: [:]).healthCheckInterval == nil)
            let environment = ["CACHES_HEALTH_CHECK_MS": "1500"]
            #expect(try await CacheConfiguration.load(fromFile: off, environment: environment).healthCheckInterval == .milliseconds(1500))
        }

        @Test("the eject policy's settings, journal size included, are read; they need failurePolicy: eject")
        func ejectSettings() async throws {
            let directory = try ConfigDirectory()
            let file = try directory.write(
                "eject.yaml",
                "failurePolicy: eject\nejectAfterFailures: 2\nejectRetryMs: 1500\nejectJournalKeys: 0\n" + twoNodes
            )
            #expect(
                try await CacheConfiguration.load(fromFile: file, environment: [:]).failurePolicy
                    == .eject(afterFailures: 2, retryAfter: .milliseconds(1500), journalLimit: 0)
            )
            let defaults = try directory.write("defaults.yaml", "failurePolicy: eject\n" + twoNodes)
            #expect(try await CacheConfiguration.load(fromFile: defaults, environment: [:]).failurePolicy == .eject())
            let stray = try directory.write("stray.yaml", "ejectJournalKeys: 5\n" + twoNodes)
            let error = await #expect(throws: CacheError.self) { try await CacheConfiguration.load(fromFile: stray, environment: [:]) }
            #expect(error?.message.contains("ejectJournalKeys") == true, "\(String(describing: error))")
            let negative = try directory.write("negative.yaml", "failurePolicy: eject\nejectJournalKeys: -1\n" + twoNodes)
            await #expect(throws: CacheError.self) { try await CacheConfiguration.load(fromFile: negative, environment: [:]) }
        }

        @Test("CACHES_TLS_KEY_PASSPHRASE sets the key passphrase the file leaves out")
        func keyPassphraseFromTheEnvironment() async throws {
            let directory = try ConfigDirectory()
            try directory.write("certs/client.pem", "placeholder\n")
            try directory.write("certs/client.key", "placeholder\n")
            let file = try directory.write(
                "cache.yaml",
                twoNodes + "\ntls:\n  certificateFile: certs/client.pem\n  keyFile: certs/client.key\n"
            )
            #expect(try await CacheConfiguration.load(fromFile: file, environment: [:]).tls?.keyPassphrase == nil)
            let configuration = try await CacheConfiguration.load(
                fromFile: file,
                environment: ["CACHES_TLS_KEY_PASSPHRASE": "open sesame"]
            )
            #expect(configuration.tls?.keyPassphrase == "open sesame")
            #expect(configuration.tls?.keyFile == directory.path + "/certs/client.key")
        }

        @Test("a bad value from the environment names the key")
        func environmentBadValue() async throws {
            let directory = try ConfigDirectory()
            let file = try directory.write("cache.yaml", twoNodes)
            let error = await #expect(throws: CacheError.self) {
                _ = try await CacheConfiguration.load(fromFile: file, environment: ["CACHES_NODES_0_PORT": "seven"])
            }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message == "\(file): nodes[0].port: expected an integer, got \"seven\"")
        }

        @Test("passwords and passphrases are secrets: redacted when printed")
        func secretsAreRedacted() async throws {
            let text = twoNodes + "\n    password: hunter2\ntls:\n  keyPassphrase: sesame\n"
            let snapshot = try CacheConfigFileSnapshot(text: text, providerName: "test", isSecret: ConfigFileSchema.isSecret)
            #expect(!snapshot.debugDescription.contains("hunter2"))
            #expect(!snapshot.debugDescription.contains("sesame"))
            #expect(snapshot.debugDescription.contains("nodes.1.password=<REDACTED>"))
            #expect(snapshot.debugDescription.contains("nodes.1.host=127.0.0.1"))
            let password = try snapshot.value(forKey: AbsoluteConfigKey(["nodes", "1", "password"]), type: .string)
            #expect(password.value?.isSecret == true)
            #expect(password.value?.content == .string("hunter2"))
            let host = try snapshot.value(forKey: AbsoluteConfigKey(["nodes", "1", "host"]), type: .string)
            #expect(host.value?.isSecret == false)

            let directory = try ConfigDirectory()
            let file = try directory.write("cache.yaml", text.replacingOccurrences(of: "keyPassphrase: sesame", with: "verification: none"))
            let configuration = try await CacheConfiguration.load(fromFile: file, environment: [:])
            #expect(configuration.nodes[1].password == "hunter2")
            #expect(!"\(configuration.nodes[1])".contains("hunter2"))
            #expect(!"\(configuration)".contains("hunter2"))
            #expect("\(configuration)".contains("auth ***"))
        }

        // MARK: Bad files

        /// Loads `text` as `name` and returns the error's message with the directory replaced by `DIR`.
        private func failure(_ text: String, name: String = "cache.yaml", environment: [String: String] = [:]) async throws -> String {
            let directory = try ConfigDirectory()
            let file = try directory.write(name, text)
            do {
                _ = try await CacheConfiguration.load(fromFile: file, environment: environment)
            } catch let error as CacheError {
                #expect(error.code == .invalidConfiguration)
                return error.message.replacingOccurrences(of: directory.path, with: "DIR")
            }
            Issue.record("loading did not fail")
            return ""
        }

        @Test("a missing file")
        func missingFile() async throws {
            let error = await #expect(throws: CacheError.self) {
                _ = try await CacheConfiguration.load(fromFile: "/nonexistent/caches.yaml", environment: [:])
            }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message == "/nonexistent/caches.yaml: cannot read /nonexistent/caches.yaml: No such file or directory")
        }

        @Test("an unsupported extension, invalid YAML, a top level that is not a mapping")
        func unreadableFormats() async throws {
            #expect(try await self.failure(twoNodes, name: "cache.toml") == "DIR/cache.toml: unsupported file type (expected .yaml, .yml or .json)")
            #expect(try await self.failure("nodes: [a, b\n").hasPrefix("DIR/cache.yaml: not valid YAML or JSON: "))
            #expect(try await self.failure("- a\n- b\n") == "DIR/cache.yaml: the top level must be a mapping of keys")
            #expect(try await self.failure("{\"nodes\": ", name: "cache.json").hasPrefix("DIR/cache.json: not valid JSON: "))
        }

        @Test("unknown keys, at the top, inside nodes[i] and inside tls")
        func unknownKeys() async throws {
            #expect(
                try await self.failure(twoNodes + "\nnodez: 1\n")
                    == "DIR/cache.yaml: nodez: unknown key (expected one of: clientName, cluster, defaults, ejectAfterFailures, ejectJournalKeys, ejectRetry, failurePolicy, healthCheck, nearCache, nodes, pool, ring, timeouts, tls)"
            )
            #expect(
                try await self.failure(twoNodes + "\n    wieght: 2\n")
                    == "DIR/cache.yaml: nodes[1].wieght: unknown key (expected one of: db, host, name, password, port, tls, username, weight)"
            )
            #expect(
                try await self.failure(twoNodes + "\ntls:\n  cafile: x.pem\n").hasPrefix(
                    "DIR/cache.yaml: tls.cafile: unknown key (expected one of: caDirectory, caFile,"
                )
            )
            #expect(try await self.failure(twoNodes + "\n    tls:\n      sni: x\n").hasPrefix("DIR/cache.yaml: nodes[1].tls.sni: unknown key"))
            #expect(try await self.failure(twoNodes + "\npool:\n  maxsize: 3\n").hasPrefix("DIR/cache.yaml: pool.maxsize: unknown key"))
        }

        @Test("values of the wrong type")
        func wrongTypes() async throws {
            #expect(
                try await self.failure(twoNodes.replacingOccurrences(of: "7002", with: "seven"))
                    == "DIR/cache.yaml: nodes[1].port: expected an integer, got \"seven\""
            )
            #expect(try await self.failure(twoNodes + "\npool: 5\n") == "DIR/cache.yaml: pool: expected a mapping of keys, got \"5\"")
            #expect(try await self.failure("nodes:\n  host: x\n") == "DIR/cache.yaml: nodes: expected a list, got a mapping")
            #expect(try await self.failure(twoNodes + "\nclientName: [a, b]\n") == "DIR/cache.yaml: clientName: expected a single value, got a list")
            #expect(
                try await self.failure(twoNodes + "\ntls:\n  enabled: maybe\n")
                    == "DIR/cache.yaml: tls.enabled: expected true or false, got \"maybe\""
            )
            #expect(
                try await self.failure(twoNodes + "\ntimeouts:\n  commandMs: 1.5\n")
                    == "DIR/cache.yaml: timeouts.commandMs: expected an integer (milliseconds), got \"1.5\""
            )
            #expect(
                try await self.failure(twoNodes + "\ntimeouts:\n  command: 1.5 s\n")
                    == "DIR/cache.yaml: timeouts.command: expected a duration (a number with an optional unit ms, s, m or h; a bare number is seconds), got \"1.5 s\""
            )
        }

        @Test("durations: a number with an optional unit ms, s, m or h, a bare number in seconds; the old …Ms keys still read")
        func durationForm() async throws {
            let directory = try ConfigDirectory()
            let file = try directory.write(
                "cache.yaml",
                "timeouts:\n  command: 1.5\n  connect: 250ms\npool:\n  idleTimeout: 2m\n  waitTimeout: 2s\n  keepalive: 0\nhealthCheck: 1h\n"
                    + twoNodes
            )
            let configuration = try await CacheConfiguration.load(fromFile: file, environment: [:])
            #expect(configuration.commandTimeout == .milliseconds(1500))
            #expect(configuration.connectTimeout == .milliseconds(250))
            #expect(configuration.pool.idleTimeout == .seconds(120))
            #expect(configuration.pool.connectionWaitTimeout == .seconds(2))
            #expect(configuration.pool.keepaliveInterval == nil)
            #expect(configuration.healthCheckInterval == .seconds(3600))
            let old = try directory.write("old.yaml", "timeouts:\n  commandMs: 1500\n" + twoNodes)
            #expect(try await CacheConfiguration.load(fromFile: old, environment: [:]).commandTimeout == .milliseconds(1500))
            #expect(
                try await self.failure(twoNodes + "\ntimeouts:\n  command: 1s\n  commandMs: 1000\n")
                    == "DIR/cache.yaml: timeouts.command: give timeouts.command or the deprecated timeouts.commandMs (milliseconds), not both"
            )
            let environment = ["CACHES_TIMEOUTS_COMMAND": "3s"]
            #expect(try await CacheConfiguration.load(fromFile: file, environment: environment).commandTimeout == .seconds(3))
            // The new key from the environment and the deprecated one in the file are given both.
            await #expect(throws: CacheError.self) { try await CacheConfiguration.load(fromFile: old, environment: environment) }
        }

        @Test("a duplicate node name")
        func duplicateNodeName() async throws {
            #expect(
                try await self.failure(twoNodes.replacingOccurrences(of: "name: b", with: "name: a"))
                    == "DIR/cache.yaml: nodes[1].name: duplicate node name \"a\" (also nodes[0])"
            )
            // Nodes without names are identified by host:port.
            #expect(
                try await self.failure("nodes:\n  - host: 127.0.0.1\n  - host: 127.0.0.1\n")
                    == "DIR/cache.yaml: nodes[1].host: duplicate node name \"127.0.0.1:6379\" (also nodes[0])"
            )
        }

        @Test("a weight of 0, a bad port, no nodes, no host")
        func outOfRange() async throws {
            #expect(
                try await self.failure(twoNodes.replacingOccurrences(of: "weight: 2", with: "weight: 0"))
                    == "DIR/cache.yaml: nodes[1].weight: must be at least 1, got 0"
            )
            #expect(
                try await self.failure(twoNodes.replacingOccurrences(of: "7002", with: "70000"))
                    == "DIR/cache.yaml: nodes[1].port: must be between 1 and 65535, got 70000"
            )
            #expect(try await self.failure("defaults:\n  ttl: 5\n") == "DIR/cache.yaml: nodes: at least one node is required")
            #expect(try await self.failure("nodes:\n  - port: 1\n") == "DIR/cache.yaml: nodes[0].host: is required")
            #expect(
                try await self.failure(twoNodes + "\npool:\n  minConnections: 5\n  maxConnections: 2\n")
                    == "DIR/cache.yaml: pool.minConnections: must not exceed pool.maxConnections (2), got 5"
            )
            #expect(
                try await self.failure(twoNodes + "\nring:\n  hashTag: \"{\"\n")
                    == "DIR/cache.yaml: ring.hashTag: must be exactly two ASCII characters, got \"{\""
            )
        }

        @Test("a ttl of zero or less")
        func nonPositiveTTL() async throws {
            let message = "must be a positive number of seconds (leave it out for no expiry)"
            #expect(try await self.failure(twoNodes + "\ndefaults:\n  ttl: 0\n") == "DIR/cache.yaml: defaults.ttl: \(message), got 0")
            #expect(try await self.failure(twoNodes + "\ndefaults:\n  ttl: -5\n") == "DIR/cache.yaml: defaults.ttl: \(message), got -5")
        }

        @Test("bad enum values")
        func badEnums() async throws {
            #expect(
                try await self.failure(twoNodes + "\nring:\n  hash: sha1\n")
                    == "DIR/cache.yaml: ring.hash: must be one of one_at_a_time, md5, crc16, crc32, crc32a, fnv1_64, fnv1a_64, fnv1_32, fnv1a_32, hsieh, murmur, jenkins, got \"sha1\""
            )
            #expect(
                try await self.failure(twoNodes + "\ntls:\n  verification: partial\n")
                    == "DIR/cache.yaml: tls.verification: must be one of full, no-hostname-verification, none, got \"partial\""
            )
            #expect(
                try await self.failure(twoNodes + "\ntls:\n  minimumVersion: 1.1\n")
                    == "DIR/cache.yaml: tls.minimumVersion: must be one of 1.2, 1.3, got \"1.1\""
            )
        }

        @Test("certificate and key files that cannot be read")
        func unreadableCertificates() async throws {
            #expect(
                try await self.failure(twoNodes + "\ntls:\n  caFile: missing-ca.pem\n")
                    == "DIR/cache.yaml: tls.caFile: cannot read DIR/missing-ca.pem: No such file or directory"
            )
            #expect(
                try await self.failure(twoNodes + "\ntls:\n  caFile: /\n") == "DIR/cache.yaml: tls.caFile: cannot read /: it is a directory"
            )
            #expect(
                try await self.failure(twoNodes + "\n    tls:\n      certificateFile: /nonexistent/client.pem\n")
                    == "DIR/cache.yaml: nodes[1].tls.certificateFile: cannot read /nonexistent/client.pem: No such file or directory"
            )
            #expect(
                try await self.failure(twoNodes + "\ntls:\n  caDirectory: /nonexistent/ca.d\n")
                    == "DIR/cache.yaml: tls.caDirectory: cannot read /nonexistent/ca.d: No such file or directory"
            )
        }

        @Test("a readable TLS setup loads; a node cannot turn the cache-wide TLS off")
        func tlsFiles() async throws {
            let directory = try ConfigDirectory()
            try directory.write("certs/ca.pem", "placeholder\n")
            let file = try directory.write("cache.yaml", twoNodes + "\ntls:\n  caFile: certs/ca.pem\n  verification: no-hostname-verification\n")
            let configuration = try await CacheConfiguration.load(fromFile: file, environment: [:])
            #expect(configuration.tls?.trust == .caFile(directory.path + "/certs/ca.pem"))
            #expect(configuration.tls?.verification == .noHostnameVerification)

            let off = try directory.write("off.yaml", twoNodes + "\n    tls:\n      enabled: false\ntls:\n  caFile: certs/ca.pem\n")
            let error = await #expect(throws: CacheError.self) {
                _ = try await CacheConfiguration.load(fromFile: off, environment: [:])
            }
            #expect(error?.message == "\(off): nodes[1].tls.enabled: cannot turn off the cache-wide tls for one node")
        }

        // MARK: Cache

        @Test("Cache(configurationFile:) routes by the file's ring without connecting")
        func cacheFromFile() async throws {
            let cache = try await Cache(configurationFile: configFolder + "/local.yaml")
            #expect(cache.configurationFile == configFolder + "/local.yaml")
            #expect(cache.activeConfiguration.nodes.count == 3)
            #expect(!cache.isConnected)
            let ring = try HashRing(nodes: [.init(name: "node-a", weight: 1), .init(name: "node-b", weight: 2), .init(name: "node-c", weight: 1)])
            var names = Set<String>()
            for index in 0..<2000 {
                let key = "user:\(index * 7919)"
                let name = try #require(cache.nodeName(for: key))
                #expect(name == ring.node(forKey: cache.makeKey(key)).name)
                names.insert(name)
            }
            #expect(names == ["node-a", "node-b", "node-c"])
        }

        @Test("reload on a disconnected cache applies at the next connect; key defaults cannot change")
        func reloadWhileDisconnected() async throws {
            let cache = try Cache(configuration: CacheConfiguration(backend: .redis, nodes: [.init(name: "a", host: "127.0.0.1", port: 7001)]))
            #expect(cache.nodeName(for: "k") == "a")
            try await cache.reload(configuration: CacheConfiguration(backend: .redis, nodes: [.init(name: "b", host: "127.0.0.1", port: 7002)]))
            #expect(cache.activeConfiguration.nodes.map(\.ketamaName) == ["b"])
            #expect(cache.configuration.nodes.map(\.ketamaName) == ["a"])
            #expect(cache.nodeName(for: "k") == "b")

            var prefixed = cache.activeConfiguration
            prefixed.keyPrefix = "other"
            let error = await #expect(throws: CacheError.self) {
                try await cache.reload(configuration: prefixed)
            }
            #expect(error?.code == .invalidConfiguration)
            #expect(error?.message == "defaults.keyPrefix cannot change while the cache runs: restart to apply it")
            #expect(cache.activeConfiguration.keyPrefix == "")
        }

        @Test("a reloaded topology keeps the clients of unchanged nodes; a weight change keeps every client")
        func successorKeepsUnchangedNodes() throws {
            let base = CacheConfiguration(
                backend: .redis,
                nodes: [
                    .init(name: "a", host: "127.0.0.1", port: 7001),
                    .init(name: "b", host: "127.0.0.1", port: 7002),
                ]
            )
            let backend = try RedisBackend(configuration: base, logger: .init(label: "test"))
            var weighted = base
            weighted.nodes[1].weight = 3
            let reweighted = try backend.successor(for: weighted)
            #expect(reweighted.added.isEmpty && reweighted.removed.isEmpty && reweighted.kept == 2)
            #expect(reweighted.new.nodes[0] === backend.nodes[0] && reweighted.new.nodes[1] === backend.nodes[1])
            #expect(reweighted.new.ring.nodes.map(\.weight) == [1, 3])

            var changed = base
            changed.nodes[1].port = 7005  // same name, new address: a new pool
            changed.nodes.append(.init(name: "c", host: "127.0.0.1", port: 7003))
            changed.nodes.remove(at: 0)
            let change = try backend.successor(for: changed)
            #expect(change.kept == 0)
            #expect(change.added.map(\.name) == ["b", "c"])
            #expect(change.removed.map(\.name) == ["a", "b"])

            var settings = base
            settings.commandTimeout = .seconds(3)  // a connection setting changes every node
            #expect(try backend.successor(for: settings).kept == 0)
        }

        @Test("the watcher applies changes (also one made before it started) and skips a bad file", .timeLimit(.minutes(1)))
        func watcherAppliesAndSkips() async throws {
            let directory = try ConfigDirectory()
            let file = try directory.write("cache.yaml", twoNodes)
            let cache = try await Cache(configurationFile: file)
            // Changed after the cache read it and before the watch starts.
            try directory.write("cache.yaml", twoNodes + "\n  - name: c\n    host: 127.0.0.1\n    port: 7003\n")
            let (events, continuation) = AsyncStream.makeStream(of: Result<CacheConfiguration, CacheError>.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await cache.watchConfigurationFile(interval: .milliseconds(10)) { continuation.yield($0) }
                }
                var iterator = events.makeAsyncIterator()
                let first = try #require(await iterator.next())
                #expect(try first.get().nodes.map(\.ketamaName) == ["a", "b", "c"])
                #expect(cache.activeConfiguration.nodes.count == 3)

                try directory.write("cache.yaml", twoNodes.replacingOccurrences(of: "weight: 2", with: "weight: 0"))
                let second = try #require(await iterator.next())
                guard case .failure(let error) = second else {
                    Issue.record("a bad file was applied")
                    return
                }
                #expect(error.message == "\(file): nodes[1].weight: must be at least 1, got 0")
                #expect(cache.activeConfiguration.nodes.count == 3, "the topology is kept")

                try directory.write("cache.yaml", twoNodes.replacingOccurrences(of: "weight: 2", with: "weight: 4"))
                let third = try #require(await iterator.next())
                #expect(try third.get().nodes.map(\.weight) == [1, 4])
                #expect(cache.activeConfiguration.nodes.map(\.weight) == [1, 4])
                group.cancelAll()
            }
        }
    }
#endif

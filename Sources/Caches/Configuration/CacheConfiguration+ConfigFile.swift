#if ConfigFiles
    import Configuration
    import Logging
    import SystemPackage

    extension CacheConfiguration {
        /// Reads a YAML (`.yaml`, `.yml`) or JSON (`.json`) config file, environment variables over it.
        ///
        /// The file is read through swift-configuration: a `FileProvider` over the file and an
        /// `EnvironmentVariablesProvider` in front of it. Every key can be set from the environment as `CACHES_` plus
        /// the key path in upper snake case: `pool.maxConnections` is `CACHES_POOL_MAX_CONNECTIONS`,
        /// `nodes[0].password` is `CACHES_NODES_0_PASSWORD`, `tls.keyPassphrase` is `CACHES_TLS_KEY_PASSPHRASE`.
        /// Passwords and key passphrases are read as secrets, so swift-configuration redacts them wherever it prints.
        ///
        /// Keys (all optional except `nodes`, each node's `host`; durations say their unit):
        /// - `defaults.ttl` (int seconds > 0; absent: no expiry), `defaults.version` (string or int),
        ///   `defaults.keyPrefix` (string)
        /// - `ring.hash` (`fnv1a_64` (default) or any other of twemproxy's twelve names, ``CacheHashFunction``), `ring.hashTag` (two characters, e.g. `"{}"`)
        /// - `pool.minConnections` (int, default 1), `pool.maxConnections` (int, default 10, at most 10,000),
        ///   `pool.waitTimeoutMs` (default 1000), `pool.idleTimeoutMs` (default 60000), `pool.keepaliveMs` (default 30000;
        ///   0 turns it off). Every `…Ms` key is at most `Int32.max` (about 24.8 days).
        /// - `timeouts.connectMs` (default 2000), `timeouts.commandMs` (default 1000)
        /// - `clientName` (string, sent with `CLIENT SETNAME`)
        /// - `tls`: `enabled` (bool, default true when `tls` is present), `caFile` or `caDirectory` (neither: the
        ///   system trust store), `certificateFile`, `keyFile`, `keyPassphrase` (secret), `serverName`,
        ///   `minimumVersion` (`"1.2"` (default) or `"1.3"`), `verification` (`full` (default),
        ///   `no-hostname-verification`, `none`). Relative file paths are relative to the config file's directory;
        ///   every file must be readable when the configuration is loaded.
        /// - `nodes` (a list, at least one): `name` (the ketama identity, default `host:port`), `host`, `port`
        ///   (default 6379), `weight` (int ≥ 1, default 1), `db`, `username`, `password` (secret), and `tls` with the
        ///   keys above, each overriding the cache-wide `tls` value of the same key.
        ///
        /// - Parameters:
        ///   - path: The file's path.
        ///   - environment: The environment variables to read; nil (the default) reads the process's environment.
        /// - Returns: The configuration, validated, with the ``Backend/redis`` backend.
        /// - Throws: ``CacheError`` with ``CacheError/Code/invalidConfiguration`` and a message that names the file
        ///   and the key path, e.g. `config/local.yaml: nodes[1].weight: must be at least 1, got 0`: a missing or
        ///   unreadable file, invalid YAML or JSON, an unknown key, a value of the wrong type or out of range, a
        ///   duplicate node name, a TLS file that cannot be read, a file beyond the parsing limits (1 MiB, 100,000 YAML
        ///   nodes, nesting 32 deep, any YAML alias: see `ConfigFileScanner`). No message quotes the file's text, so a
        ///   syntax error on a password line does not print the password.
        public static func load(fromFile path: String, environment: [String: String]? = nil) async throws -> CacheConfiguration {
            let lowered = path.lowercased()
            guard lowered.hasSuffix(".yaml") || lowered.hasSuffix(".yml") || lowered.hasSuffix(".json") else {
                throw CacheError(.invalidConfiguration, "\(path): unsupported file type (expected .yaml, .yml or .json)")
            }
            if let problem = ConfigFileSystem.problem(reading: path, directory: false) {
                throw CacheError(.invalidConfiguration, "\(path): \(problem)")
            }
            // Checked before the file is read into memory; the scanner checks the bytes read again.
            if let size = ConfigFileSystem.version(of: path)?.size, size > ConfigFileScanner.maximumBytes {
                throw CacheError(
                    .invalidConfiguration,
                    "\(path): the file has \(size) bytes, more than the limit of \(ConfigFileScanner.maximumBytes) (1 MiB)"
                )
            }
            let file: FileProvider<CacheConfigFileSnapshot>
            do {
                file = try await FileProvider(
                    parsingOptions: .init(isSecret: ConfigFileSchema.isSecret, isJSON: lowered.hasSuffix(".json")),
                    filePath: FilePath(path)
                )
            } catch let error as CacheConfigFileSnapshot.ParseError {
                throw CacheError(.invalidConfiguration, "\(path): \(error)", underlyingError: error)
            } catch {
                throw CacheError(.invalidConfiguration, "\(path): cannot read the file: \(error)", underlyingError: error)
            }
            guard let snapshot = file.snapshot() as? CacheConfigFileSnapshot else {
                throw CacheError(.invalidConfiguration, "\(path): the file provider returned an unexpected snapshot")
            }
            let secretVariable: SecretsSpecifier<String, String> = .dynamic { name, _ in
                let upper = name.uppercased()
                return upper.hasSuffix("_PASSWORD") || upper.hasSuffix("_PASSPHRASE")
            }
            let variables: EnvironmentVariablesProvider =
                if let environment {
                    EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: secretVariable)
                } else {
                    EnvironmentVariablesProvider(secretsSpecifier: secretVariable)
                }
            let reader = ConfigReader(providers: [variables.prefixKeys(with: ConfigKey(["caches"])), file])
            let fields = ConfigFileFields(file: path, shapes: snapshot.shapes, reader: reader)
            return try fields.configuration()
        }
    }

    extension Cache {
        /// Creates a cache from a YAML or JSON config file (see ``CacheConfiguration/load(fromFile:environment:)``).
        /// Does no I/O on the network.
        ///
        /// The cache remembers the file: ``reload(configuration:)`` applies a changed file without a restart, and the
        /// cache's run loop watches the file for changes.
        ///
        /// - Parameters:
        ///   - path: The config file.
        ///   - logger: Where the cache logs. Default: no logging.
        /// - Throws: ``CacheError`` with ``CacheError/Code/invalidConfiguration`` naming the file and the key path.
        public convenience init(configurationFile path: String, logger: Logger? = nil) async throws {
            let configuration = try await CacheConfiguration.load(fromFile: path)
            try self.init(configuration: configuration, logger: logger, configurationFile: path)
        }
    }

    // MARK: Schema

    /// The keys a config file may hold.
    enum ConfigFileSchema {
        enum Expected: Equatable {
            case mapping
            case list
            case value
        }

        static let tlsKeys = [
            "enabled", "caFile", "caDirectory", "certificateFile", "keyFile", "keyPassphrase", "serverName",
            "minimumVersion", "verification",
        ]

        /// Paths with list indices written `#`.
        static let paths: [String: Expected] = {
            var paths: [String: Expected] = [
                "": .mapping,
                "defaults": .mapping, "defaults.ttl": .value, "defaults.version": .value, "defaults.keyPrefix": .value,
                "ring": .mapping, "ring.hash": .value, "ring.hashTag": .value,
                "pool": .mapping, "pool.minConnections": .value, "pool.maxConnections": .value,
                "pool.waitTimeoutMs": .value, "pool.idleTimeoutMs": .value, "pool.keepaliveMs": .value,
                "timeouts": .mapping, "timeouts.connectMs": .value, "timeouts.commandMs": .value,
                "clientName": .value,
                "failurePolicy": .value, "ejectAfterFailures": .value, "ejectRetryMs": .value, "ejectJournalKeys": .value, "healthCheckMs": .value,
                "tls": .mapping,
                "nodes": .list, "nodes.#": .mapping,
                "nodes.#.name": .value, "nodes.#.host": .value, "nodes.#.port": .value, "nodes.#.weight": .value,
                "nodes.#.db": .value, "nodes.#.username": .value, "nodes.#.password": .value,
                "nodes.#.tls": .mapping,
            ]
            for key in tlsKeys {
                paths["tls." + key] = .value
                paths["nodes.#.tls." + key] = .value
            }
            return paths
        }()

        static func isSecret(_ key: String) -> Bool {
            key.hasSuffix(".password") || key.hasSuffix(".keyPassphrase") || key == "password" || key == "keyPassphrase"
        }

        /// The schema path of a file path: list indices become `#`.
        static func pattern(_ path: String) -> String {
            path.split(separator: ".", omittingEmptySubsequences: false)
                .map { $0.allSatisfy(\.isNumber) && !$0.isEmpty ? "#" : String($0) }
                .joined(separator: ".")
        }

        /// The keys allowed inside a mapping path, for messages.
        static func children(of pattern: String) -> [String] {
            let prefix = pattern.isEmpty ? "" : pattern + "."
            return paths.keys.filter { $0.hasPrefix(prefix) && $0.count > prefix.count }
                .map { String($0.dropFirst(prefix.count)) }
                .filter { !$0.contains(".") && $0 != "#" }
                .sorted()
        }
    }

    // MARK: Reading

    /// Reads the fields of one config file through a `ConfigReader`, with messages that name the file and key path.
    struct ConfigFileFields {
        let file: String
        let shapes: [String: CacheConfigFileSnapshot.Shape]
        let reader: ConfigReader

        func error(_ path: String, _ message: String) -> CacheError {
            CacheError(.invalidConfiguration, "\(self.file): \(CacheConfigFileSnapshot.displayPath(path)): \(message)")
        }

        /// Rejects unknown keys and values of the wrong shape (a scalar where a mapping belongs, and so on).
        func checkShape() throws(CacheError) {
            for path in self.shapes.keys.sorted() {
                let shape = self.shapes[path]!
                let pattern = ConfigFileSchema.pattern(path)
                guard let expected = ConfigFileSchema.paths[pattern] else {
                    let parent = path.split(separator: ".").dropLast().joined(separator: ".")
                    let allowed = ConfigFileSchema.children(of: ConfigFileSchema.pattern(parent))
                    throw self.error(path, "unknown key (expected one of: \(allowed.joined(separator: ", ")))")
                }
                switch (expected, shape) {
                case (_, .null), (.mapping, .mapping), (.list, .list), (.value, .scalar):
                    continue
                case (.mapping, _):
                    throw self.error(path, "expected a mapping of keys, got \(Self.describe(shape))")
                case (.list, _):
                    throw self.error(path, "expected a list, got \(Self.describe(shape))")
                case (.value, _):
                    throw self.error(path, "expected a single value, got \(Self.describe(shape))")
                }
            }
        }

        static func describe(_ shape: CacheConfigFileSnapshot.Shape) -> String {
            switch shape {
            case .mapping: "a mapping"
            case .list: "a list"
            case .scalar(let text, _): String(reflecting: text)
            case .null: "null"
            }
        }

        func string(_ path: String, secret: Bool = false) -> String? {
            self.reader.string(forKey: ConfigKey(path.split(separator: ".").map(String.init)), isSecret: secret)
        }

        func int(_ path: String, range: ClosedRange<Int>? = nil, rangeMessage: String? = nil) throws(CacheError) -> Int? {
            guard let text = self.string(path) else { return nil }
            guard let value = Int(text.trimmingSpaces) else {
                throw self.error(path, "expected an integer, got \(String(reflecting: text))")
            }
            if let range, !range.contains(value) {
                throw self.error(path, "\(rangeMessage ?? "must be between \(range.lowerBound) and \(range.upperBound)"), got \(value)")
            }
            return value
        }

        func bool(_ path: String) throws(CacheError) -> Bool? {
            guard let text = self.string(path) else { return nil }
            switch text.trimmingSpaces.lowercased() {
            case "true", "yes", "on", "1": return true
            case "false", "no", "off", "0": return false
            default: throw self.error(path, "expected true or false, got \(String(reflecting: text))")
            }
        }

        func choice<Value>(_ path: String, _ choices: [(String, Value)]) throws(CacheError) -> Value? {
            guard let text = self.string(path) else { return nil }
            guard let match = choices.first(where: { $0.0 == text.trimmingSpaces }) else {
                throw self.error(path, "must be one of \(choices.map(\.0).joined(separator: ", ")), got \(String(reflecting: text))")
            }
            return match.1
        }

        func milliseconds(_ path: String, allowZero: Bool = false) throws(CacheError) -> Duration? {
            let minimum = allowZero ? 0 : 1
            return try self.int(path, range: minimum...Int(Int32.max), rangeMessage: "must be at least \(minimum) ms").map { .milliseconds($0) }
        }

        /// A file path from the config, relative paths taken from the config file's directory.
        func resolve(_ path: String) -> String {
            if path.hasPrefix("/") { return path }
            guard let slash = self.file.lastIndex(of: "/") else { return path }
            return String(self.file[...slash]) + path
        }

        func readableFile(_ path: String, directory: Bool = false) throws(CacheError) -> String? {
            guard let value = self.string(path) else { return nil }
            let resolved = self.resolve(value)
            if let problem = ConfigFileSystem.problem(reading: resolved, directory: directory) {
                throw self.error(path, problem)
            }
            return resolved
        }

        /// Whether a mapping path is present in the file or any key under it is set (file or environment).
        func isPresent(_ path: String, keys: [String]) -> Bool {
            if case .mapping = self.shapes[path] { return true }
            return keys.contains { self.string(path + "." + $0, secret: ConfigFileSchema.isSecret($0)) != nil }
        }

        /// The TLS settings at `path`: nil when absent, `.some(nil)` when present and disabled.
        func tls(_ path: String, inheriting base: CacheTLSConfiguration?) throws(CacheError) -> CacheTLSConfiguration?? {
            guard self.isPresent(path, keys: ConfigFileSchema.tlsKeys) else { return nil }
            if try self.bool(path + ".enabled") == false { return .some(nil) }
            var tls = base ?? CacheTLSConfiguration()
            let caFile = try self.readableFile(path + ".caFile")
            let caDirectory = try self.readableFile(path + ".caDirectory", directory: true)
            if caFile != nil, caDirectory != nil {
                throw self.error(path + ".caDirectory", "give caFile or caDirectory, not both")
            }
            if let caFile { tls.trust = .caFile(caFile) }
            if let caDirectory { tls.trust = .caDirectory(caDirectory) }
            if let file = try self.readableFile(path + ".certificateFile") { tls.certificateFile = file }
            if let file = try self.readableFile(path + ".keyFile") { tls.keyFile = file }
            if let passphrase = self.string(path + ".keyPassphrase", secret: true) { tls.keyPassphrase = passphrase }
            if let name = self.string(path + ".serverName") { tls.serverName = name }
            if let version = try self.choice(path + ".minimumVersion", [("1.2", CacheTLSConfiguration.Version.tls12), ("1.3", .tls13)]) {
                tls.minimumVersion = version
            }
            if let verification = try self.choice(
                path + ".verification",
                [("full", CacheTLSConfiguration.Verification.full), ("no-hostname-verification", .noHostnameVerification), ("none", .none)]
            ) {
                tls.verification = verification
            }
            if tls.keyFile != nil, tls.certificateFile == nil {
                throw self.error(path + ".keyFile", "a keyFile needs a certificateFile")
            }
            return .some(tls)
        }

        /// The whole configuration.
        func configuration() throws(CacheError) -> CacheConfiguration {
            try self.checkShape()
            var configuration = CacheConfiguration(backend: .redis)

            configuration.defaultTTL = try self.int(
                "defaults.ttl",
                range: 1...Int.max,
                rangeMessage: "must be a positive number of seconds (leave it out for no expiry)"
            )
            if let version = self.string("defaults.version") { configuration.defaultVersion = CacheVersion(version) }
            if let prefix = self.string("defaults.keyPrefix") { configuration.keyPrefix = prefix }

            if let hash = try self.choice("ring.hash", CacheHashFunction.allCases.map { ($0.rawValue, $0) }) {
                configuration.ring.hash = hash
            }
            if let tag = self.string("ring.hashTag") {
                guard tag.count == 2, tag.utf8.count == 2 else {
                    throw self.error("ring.hashTag", "must be exactly two ASCII characters, got \(String(reflecting: tag))")
                }
                configuration.ring.hashTag = tag
            }

            let most = CacheConfiguration.maximumPoolConnections
            if let minimum = try self.int("pool.minConnections", range: 0...most) {
                configuration.pool.minimumConnections = minimum
            }
            if let maximum = try self.int("pool.maxConnections", range: 1...most) {
                configuration.pool.maximumConnections = maximum
            }
            if configuration.pool.minimumConnections > configuration.pool.maximumConnections {
                throw self.error(
                    "pool.minConnections",
                    "must not exceed pool.maxConnections (\(configuration.pool.maximumConnections)), got \(configuration.pool.minimumConnections)"
                )
            }
            if let wait = try self.milliseconds("pool.waitTimeoutMs") { configuration.pool.connectionWaitTimeout = wait }
            if let idle = try self.milliseconds("pool.idleTimeoutMs") { configuration.pool.idleTimeout = idle }
            if let keepalive = try self.milliseconds("pool.keepaliveMs", allowZero: true) {
                configuration.pool.keepaliveInterval = keepalive == .zero ? nil : keepalive
            }
            if let connect = try self.milliseconds("timeouts.connectMs") { configuration.connectTimeout = connect }
            if let command = try self.milliseconds("timeouts.commandMs") { configuration.commandTimeout = command }
            if let name = self.string("clientName") {
                guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\n" || $0 == "\r" }) else {
                    throw self.error("clientName", "must be non-empty and contain no spaces or newlines")
                }
                configuration.clientName = name
            }

            if let interval = try self.milliseconds("healthCheckMs", allowZero: true) {
                configuration.healthCheckInterval = interval == .zero ? nil : interval
            }
            switch self.string("failurePolicy") {
            case nil, "fail": configuration.failurePolicy = .fail
            case "miss": configuration.failurePolicy = .miss
            case "eject":
                configuration.failurePolicy = .eject(
                    afterFailures: try self.int("ejectAfterFailures", range: 1...1_000_000) ?? 3,
                    retryAfter: try self.milliseconds("ejectRetryMs") ?? .seconds(30),
                    journalLimit: try self.int("ejectJournalKeys", range: 0...10_000_000) ?? 10_000
                )
            case let other?:
                throw self.error("failurePolicy", "must be fail, miss or eject, got \(String(reflecting: other))")
            }
            if self.string("failurePolicy") != "eject" {
                for key in ["ejectAfterFailures", "ejectRetryMs", "ejectJournalKeys"] where self.string(key) != nil {
                    throw self.error(key, "only applies with failurePolicy: eject")
                }
            }

            let cacheTLS = try self.tls("tls", inheriting: nil)
            configuration.tls = cacheTLS ?? nil

            var count = 0
            if case .list(let items) = self.shapes["nodes"] { count = items }
            // Nodes that only the environment defines (`CACHES_NODES_3_HOST`) follow the file's.
            while self.string("nodes.\(count).host") != nil { count += 1 }
            if count == 0 {
                throw self.error("nodes", "at least one node is required")
            }
            var firstIndex: [String: Int] = [:]
            for index in 0..<count {
                let path = "nodes.\(index)"
                guard let host = self.string(path + ".host"), !host.isEmpty else {
                    throw self.error(path + ".host", "is required")
                }
                var node = CacheNodeConfiguration(host: host)
                if let name = self.string(path + ".name") {
                    guard !name.isEmpty else { throw self.error(path + ".name", "must not be empty") }
                    node.name = name
                }
                if let port = try self.int(path + ".port", range: 1...65535) { node.port = port }
                if let weight = try self.int(path + ".weight", range: 1...Int(UInt32.max), rangeMessage: "must be at least 1") {
                    node.weight = UInt32(weight)
                }
                node.database = try self.int(path + ".db", range: 0...Int(Int32.max), rangeMessage: "must be at least 0")
                node.username = self.string(path + ".username")
                node.password = self.string(path + ".password", secret: true)
                if let override = try self.tls(path + ".tls", inheriting: configuration.tls) {
                    if override == nil, configuration.tls != nil {
                        throw self.error(path + ".tls.enabled", "cannot turn off the cache-wide tls for one node")
                    }
                    node.tls = override
                }
                if let first = firstIndex[node.ketamaName] {
                    throw self.error(
                        path + (node.name != nil ? ".name" : ".host"),
                        "duplicate node name \(String(reflecting: node.ketamaName)) (also nodes[\(first)])"
                    )
                }
                firstIndex[node.ketamaName] = index
                configuration.nodes.append(node)
            }

            do {
                try configuration.validate()
            } catch {
                throw CacheError(.invalidConfiguration, "\(self.file): \(error.message)", underlyingError: error)
            }
            return configuration
        }
    }

    extension String {
        fileprivate var trimmingSpaces: Substring {
            var text = Substring(self)
            while text.first == " " { text = text.dropFirst() }
            while text.last == " " { text = text.dropLast() }
            return text
        }
    }
#endif

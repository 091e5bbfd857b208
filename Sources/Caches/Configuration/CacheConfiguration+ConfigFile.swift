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
        /// Keys: every key of ``CacheSettings/all`` (the README's "Settings" table, `caches config settings`), all
        /// optional except `nodes` (at least one) and each node's `host`. Durations (`pool.waitTimeout`,
        /// `pool.idleTimeout`, `pool.keepalive`, `timeouts.connect`, `timeouts.command`, `healthCheck`, `ejectRetry`)
        /// are a number with an optional unit `ms`, `s`, `m` or `h` (`250ms`, `1.5s`, `2m`; a bare number is seconds);
        /// the old keys `pool.waitTimeoutMs`, …, `ejectRetryMs` (integer milliseconds) are still read as deprecated
        /// aliases, and giving both the old and the new key is an error. `tls` and each node's `tls` take the same TLS
        /// keys, a node's overriding the cache-wide value of the same key; relative file paths are relative to the
        /// config file's directory, and every file must be readable when the configuration is loaded.
        ///
        /// - Parameters:
        ///   - path: The file's path.
        ///   - environment: The environment variables to read; nil (the default) reads the process's environment.
        /// - Returns: The configuration, validated, with the ``Backend/redis`` backend, or ``Backend/redisCluster`` when
        ///   the file has a `cluster` section (or the environment sets a `cluster.…` key).
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
            // The secret settings' variables end in `_PASSWORD` and `_KEY_PASSPHRASE` (from the table).
            let secretSuffixes = CacheSettings.all.filter(\.isSecret).map {
                "_" + CacheSettings.environmentVariable(for: $0.key).dropFirst("CACHES_".count)
            }
            let secretVariable: SecretsSpecifier<String, String> = .dynamic { name, _ in
                let upper = name.uppercased()
                return secretSuffixes.contains { upper.hasSuffix($0) }
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

    /// The keys a config file may hold, from ``CacheSettings/all``.
    enum ConfigFileSchema {
        enum Expected: Equatable {
            case mapping
            case list
            case value
        }

        static let tlsKeys = CacheSettings.all.filter { $0.scope == .tls }.map(\.key)

        /// Paths with list indices written `#`: every setting's key and deprecated key, and the mappings above them.
        static let paths: [String: Expected] = {
            var paths: [String: Expected] = ["": .mapping, "nodes": .list, "nodes.#": .mapping, "tls": .mapping, "nodes.#.tls": .mapping]
            func add(_ path: String) {
                paths[path] = .value
                var parts = path.split(separator: ".").dropLast()
                while !parts.isEmpty {
                    let parent = parts.joined(separator: ".")
                    if paths[parent] == nil { paths[parent] = .mapping }
                    parts = parts.dropLast()
                }
            }
            for setting in CacheSettings.all {
                for key in [setting.key] + (setting.deprecatedKey.map { [$0] } ?? []) {
                    switch setting.scope {
                    case .cache: add(key)
                    case .node: add("nodes.#." + key)
                    case .tls:
                        add("tls." + key)
                        add("nodes.#.tls." + key)
                    }
                }
            }
            return paths
        }()

        static let secretKeys = Set(CacheSettings.all.filter(\.isSecret).map(\.key))

        static func isSecret(_ key: String) -> Bool {
            secretKeys.contains(String(key.split(separator: ".").last ?? ""))
        }

        /// The schema path of a file path: list indices become `#`.
        static func pattern(_ path: String) -> String {
            path.split(separator: ".", omittingEmptySubsequences: false)
                .map { $0.allSatisfy(\.isNumber) && !$0.isEmpty ? "#" : String($0) }
                .joined(separator: ".")
        }

        /// The deprecated keys (`…Ms`), accepted but not suggested.
        static let deprecatedKeys = Set(CacheSettings.all.compactMap(\.deprecatedKey))

        /// The keys allowed inside a mapping path, for messages; deprecated keys are left out.
        static func children(of pattern: String) -> [String] {
            let prefix = pattern.isEmpty ? "" : pattern + "."
            return paths.keys.filter { $0.hasPrefix(prefix) && $0.count > prefix.count && !deprecatedKeys.contains($0) }
                .map { String($0.dropFirst(prefix.count)) }
                .filter { !$0.contains(".") && $0 != "#" }
                .sorted()
        }
    }

    // MARK: Reading

    /// Reads the settings of one config file through a `ConfigReader`, driven by ``CacheSettings/all``, with messages
    /// that name the file and key path.
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

        /// The reader scoped to a path's parent, and the path's last component as a key.
        func scoped(_ path: String) -> (ConfigReader, ConfigKey) {
            let components = path.split(separator: ".").map(String.init)
            let reader = components.count > 1 ? self.reader.scoped(to: ConfigKey(Array(components.dropLast()))) : self.reader
            return (reader, ConfigKey([components.last ?? ""]))
        }

        /// The raw text at a path (file or environment), or nil.
        func string(_ path: String, secret: Bool = false) -> String? {
            let (reader, key) = self.scoped(path)
            return reader.string(forKey: key, isSecret: secret)
        }

        /// A value at a path through the typed accessor of the setting's kind; a deprecated key is integer
        /// milliseconds.
        func typed(_ setting: CacheSetting, at path: String, milliseconds: Bool = false) throws(CacheError) -> CacheSettingValue? {
            let (reader, key) = self.scoped(path)
            if milliseconds {
                if let number = reader.int(forKey: key) {
                    return .duration(number == 0 && setting.zeroTurnsOff ? nil : .milliseconds(number))
                }
            } else {
                switch setting.kind {
                case .integer:
                    if let number = reader.int(forKey: key) { return .integer(number) }
                case .bool:
                    if let flag = reader.bool(forKey: key) { return .bool(flag) }
                case .string, .file, .directory, .choice, .duration:
                    // Choices and durations are strings the setting parses (`250ms`, `eject`).
                    if let text = reader.string(forKey: key, isSecret: setting.isSecret) {
                        return try self.parsed(setting, text, at: path)
                    }
                    return nil
                }
            }
            // The typed accessors return nil for a value they cannot convert and do not say why: the raw text is read
            // only to explain the error (or, for an integer with spaces around it, to accept it as before).
            guard let raw = reader.string(forKey: key, isSecret: setting.isSecret) else { return nil }
            if milliseconds {
                guard let number = Int(CacheSettings.trimmed(raw)) else {
                    throw self.error(path, "expected an integer (milliseconds), got \(String(reflecting: raw))")
                }
                return .duration(number == 0 && setting.zeroTurnsOff ? nil : .milliseconds(number))
            }
            return try self.parsed(setting, raw, at: path)
        }

        func parsed(_ setting: CacheSetting, _ text: String, at path: String) throws(CacheError) -> CacheSettingValue {
            switch setting.parse(text) {
            case .success(let value): return value
            case .failure(let problem): throw self.error(path, setting.isSecret ? "invalid value" : problem.description)
            }
        }

        /// A setting's value at `prefix + key` (or its deprecated key), range-checked; nil when absent.
        ///
        /// - Returns: The value and the key path it was read from.
        func value(_ setting: CacheSetting, prefix: String = "") throws(CacheError) -> (CacheSettingValue, String)? {
            let path = prefix + setting.key
            var found = try self.typed(setting, at: path).map { ($0, path) }
            if let old = setting.deprecatedKey.map({ prefix + $0 }), let value = try self.typed(setting, at: old, milliseconds: true) {
                if found != nil {
                    throw self.error(
                        path,
                        "give \(CacheSetting.display(path)) or the deprecated \(CacheSetting.display(old)) (milliseconds), not both"
                    )
                }
                found = (value, old)
            }
            guard let (value, at) = found else { return nil }
            if let problem = setting.problem(with: value) { throw self.error(at, problem.description) }
            return (value, at)
        }

        /// A file path from the config, relative paths taken from the config file's directory.
        func resolve(_ path: String) -> String {
            if path.hasPrefix("/") { return path }
            guard let slash = self.file.lastIndex(of: "/") else { return path }
            return String(self.file[...slash]) + path
        }

        /// Whether a mapping path is present in the file or any key under it is set (file or environment).
        func isPresent(_ path: String, keys: [String]) -> Bool {
            if case .mapping = self.shapes[path] { return true }
            return keys.contains { self.string(path + "." + $0, secret: ConfigFileSchema.isSecret($0)) != nil }
        }

        /// The TLS settings at `path`: nil when absent, `.some(nil)` when present and disabled.
        func tls(_ path: String, inheriting base: CacheTLSConfiguration?) throws(CacheError) -> CacheTLSConfiguration?? {
            guard self.isPresent(path, keys: ConfigFileSchema.tlsKeys) else { return nil }
            var values: [(CacheSetting, CacheSettingValue)] = []
            for setting in CacheSettings.all where setting.scope == .tls {
                guard let (value, at) = try self.value(setting, prefix: path + ".") else { continue }
                if setting.key == "enabled" {
                    if value == .bool(false) { return .some(nil) }
                    continue
                }
                if setting.kind == .file || setting.kind == .directory, case .string(let text) = value {
                    let resolved = self.resolve(text)
                    if let problem = ConfigFileSystem.problem(reading: resolved, directory: setting.kind == .directory) {
                        throw self.error(at, problem)
                    }
                    values.append((setting, .string(resolved)))
                } else {
                    values.append((setting, value))
                }
            }
            let keys = Set(values.map(\.0.key))
            if keys.contains("caFile"), keys.contains("caDirectory") {
                throw self.error(path + ".caDirectory", "give caFile or caDirectory, not both")
            }
            var tls = base ?? CacheTLSConfiguration()
            for (setting, value) in values { setting.apply(value, to: &tls) }
            if tls.keyFile != nil, tls.certificateFile == nil {
                throw self.error(path + ".keyFile", "a keyFile needs a certificateFile")
            }
            return .some(tls)
        }

        /// The whole configuration.
        func configuration() throws(CacheError) -> CacheConfiguration {
            try self.checkShape()
            var configuration = CacheConfiguration(backend: .redis)

            var given: [(CacheSetting, String)] = []
            for setting in CacheSettings.all where setting.scope == .cache {
                guard let (value, at) = try self.value(setting) else { continue }
                setting.apply(value, to: &configuration)
                given.append((setting, at))
            }
            // A `cluster` section (even an empty one), or a cluster setting from the environment, makes the nodes a
            // Redis Cluster's seeds.
            if self.shapes["cluster"] != nil || given.contains(where: { $0.0.key.hasPrefix("cluster.") }) {
                configuration.backend = .redisCluster
            }
            for (setting, at) in given {
                guard let (key, wanted) = setting.appliesOnlyWith,
                    CacheSettings.setting(key)?.value(in: configuration) != .string(wanted)
                else { continue }
                throw self.error(at, "only applies with \(key): \(wanted)")
            }
            if configuration.pool.minimumConnections > configuration.pool.maximumConnections {
                throw self.error(
                    "pool.minConnections",
                    "must not exceed pool.maxConnections (\(configuration.pool.maximumConnections)), got \(configuration.pool.minimumConnections)"
                )
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
                var node = CacheNodeConfiguration(host: "")
                var hasHost = false
                for setting in CacheSettings.all where setting.scope == .node {
                    guard let (value, _) = try self.value(setting, prefix: path + ".") else { continue }
                    setting.apply(value, to: &node)
                    hasHost = hasHost || setting.key == "host"
                }
                if !hasHost { throw self.error(path + ".host", "is required") }
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
#endif

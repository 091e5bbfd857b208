extension CacheConfiguration {
    /// The query options a cache URL may carry: every ``CacheSetting/urlOption`` of ``CacheSettings/all``, and `ssl`
    /// (the same as `tls`).
    static let urlOptions: Set<String> = Set(CacheSettings.all.compactMap(\.urlOption) + ["ssl"])

    /// Builds a configuration from a parsed cache URL.
    ///
    /// Schemes: `memory://NAME` and `locmem://NAME` (in-memory store NAME, default `_`), `dummy://`,
    /// `redis://[user[:password]@]host[:port][,host[:port]…][/db]` and `rediss://…` (TLS).
    ///
    /// The options (`?name=value&…`) are the URL options of ``CacheSettings/all`` (the README's "Settings" table):
    /// `ttl`, `version`, `key_prefix`, `minsize`, `maxsize` as async-caches; durations such as `timeout` and
    /// `connect_timeout` in the one duration form (`250ms`, `1.5s`, `2m`; a bare number is seconds, as in
    /// async-caches); `weights` and `names` one comma-separated item per host; `ssl`/`tls` (`true`) and the `tls_…`
    /// options. Node options (`db`, `username`, `password`) apply to every node.
    ///
    /// Every value is parsed by its setting's type and range-checked before it is converted (the default ttl is
    /// checked by ``validate()``, with async-caches' message); `eject_after`, `eject_retry` and `eject_journal` need
    /// `failure_policy=eject`; the `tls_…` options need TLS on.
    ///
    /// - Parameter url: The parsed URL.
    /// - Throws: ``CacheError/Code/invalidURL`` naming the option that is unknown, malformed or out of range.
    public init(url: CacheURL) throws(CacheError) {
        self.init()
        let options = url.options
        for name in options.keys.sorted() where !Self.urlOptions.contains(name) {
            throw CacheError(.invalidURL, "cache URL \(url) has an unknown option \(String(reflecting: name))")
        }
        /// The value of an option parsed and range-checked by its setting.
        func value(_ setting: CacheSetting, _ text: String, option name: String) throws(CacheError) -> CacheSettingValue {
            let shown = setting.isSecret ? "" : "=\(String(reflecting: text))"
            let value: CacheSettingValue
            switch setting.parse(text) {
            case .success(let parsed): value = parsed
            case .failure(let problem):
                throw CacheError(.invalidURL, "cache URL option \(name)\(shown): \(setting.isSecret ? "invalid value" : problem.description)")
            }
            // The default ttl is left to validate(), which refuses it with async-caches' own message.
            if setting.key != "defaults.ttl", let problem = setting.problem(with: value) {
                throw CacheError(.invalidURL, "cache URL option \(name)\(shown): \(problem)")
            }
            return value
        }
        func option(_ setting: CacheSetting) throws(CacheError) -> CacheSettingValue? {
            guard case .option(let name) = setting.url, let text = options[name] else { return nil }
            return try value(setting, text, option: name)
        }

        switch url.backend {
        case "memory", "locmem": self.backend = .memory(name: url.netloc ?? "_")
        case "dummy": self.backend = .dummy
        case "redis", "rediss": self.backend = .redis
        case "redis-cluster", "rediss-cluster": self.backend = .redisCluster
        default:
            throw CacheError(
                .invalidURL,
                "cache URL \(url) names an unknown backend \(String(reflecting: url.backend)) (expected redis, rediss, redis-cluster, rediss-cluster, memory, locmem or dummy)"
            )
        }
        // Cache-wide settings. The memory and dummy backends read only the seed's options (as async-caches).
        let seedOptions: Set<String> = ["ttl", "version", "key_prefix", "minsize", "maxsize"]
        for setting in CacheSettings.all where setting.scope == .cache {
            if self.backend.isRedis {
            } else if !seedOptions.contains(setting.urlOption ?? "") {
                continue
            }
            if let value = try option(setting) { setting.apply(value, to: &self) }
        }
        guard self.backend.isRedis else { return }
        for setting in CacheSettings.all where setting.scope == .cache {
            guard let name = setting.urlOption, options[name] != nil, let (key, wanted) = setting.appliesOnlyWith,
                let other = CacheSettings.setting(key), other.value(in: self) != .string(wanted)
            else { continue }
            throw CacheError(.invalidURL, "cache URL option \(name) only applies with \(other.urlOption ?? key)=\(wanted)")
        }

        // Per node: the authority gives hosts, ports and credentials; options apply to every node.
        var template = CacheNodeConfiguration(host: "")
        for setting in CacheSettings.all where setting.scope == .node {
            guard case .authority(let name?) = setting.url, let text = options[name] else { continue }
            setting.apply(try value(setting, text, option: name), to: &template)
        }
        if let path = url.database {
            guard let db = Int(path), db >= 0 else {
                throw CacheError(.invalidURL, "cache URL path /\(path) is not a database number")
            }
            if template.database != nil, template.database != db {
                throw CacheError(.invalidURL, "cache URL gives the database twice (path and ?db=)")
            }
            if let setting = CacheSettings.setting("db", .node), let problem = setting.problem(with: .integer(db)) {
                throw CacheError(.invalidURL, "cache URL path /\(path): \(problem)")
            }
            template.database = db
        }
        if template.password == nil { template.password = url.password }
        if template.username == nil { template.username = url.username }

        let hosts = url.hosts.isEmpty ? [CacheURL.Host(host: "localhost", port: nil)] : url.hosts
        var nodes: [CacheNodeConfiguration] = []
        for host in hosts {
            var node = template
            node.host = host.host
            node.port = host.port ?? 6379
            nodes.append(node)
        }
        for setting in CacheSettings.all where setting.scope == .node {
            guard case .perHost(let name) = setting.url, let items = try Self.list(options[name], count: hosts.count, name: name) else {
                continue
            }
            for (index, text) in items.enumerated() {
                let parsed: CacheSettingValue
                do {
                    parsed = try value(setting, text, option: name)
                } catch {
                    throw CacheError(
                        .invalidURL,
                        "cache URL option \(name): item \(index + 1) of \(hosts.count), \(String(reflecting: text)): \(Self.problem(in: error.message))"
                    )
                }
                setting.apply(parsed, to: &nodes[index])
            }
        }
        self.nodes = nodes

        // TLS, cache-wide.
        let tlsFlag = options["tls"] ?? options["ssl"]
        var tlsOn = url.backend == "rediss" || url.backend == "rediss-cluster"
        if let flag = tlsFlag, let setting = CacheSettings.setting("enabled", .tls) {
            tlsOn = try value(setting, flag, option: options["tls"] != nil ? "tls" : "ssl") == .bool(true) || tlsOn
        }
        if tlsOn {
            var tls = CacheTLSConfiguration()
            for setting in CacheSettings.all where setting.scope == .tls {
                if let value = try option(setting) { setting.apply(value, to: &tls) }
            }
            if options["tls_ca_file"] != nil, options["tls_ca_dir"] != nil {
                throw CacheError(.invalidURL, "cache URL option tls_ca_dir: give tls_ca_file or tls_ca_dir, not both")
            }
            self.tls = tls
        } else if let first = options.keys.filter({ $0.hasPrefix("tls_") }).sorted().first {
            throw CacheError(.invalidURL, "cache URL option \(first) needs TLS on (rediss:// or ?tls=true)")
        }
    }

    /// The problem part of a message `cache URL option NAME=VALUE: PROBLEM`.
    private static func problem(in message: String) -> String {
        guard let range = message.firstRange(of: ": ") else { return message }
        return String(message[range.upperBound...])
    }

    private static func list(_ text: String?, count: Int, name: String) throws(CacheError) -> [String]? {
        guard let text else { return nil }
        let items = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard items.count == count else {
            throw CacheError(.invalidURL, "cache URL option \(name) has \(items.count) item(s) for \(count) host(s)")
        }
        if let empty = items.firstIndex(where: \.isEmpty) {
            throw CacheError(
                .invalidURL,
                "cache URL option \(name): item \(empty + 1) of \(count) is empty (one non-empty value per host, comma-separated)"
            )
        }
        return items
    }
}

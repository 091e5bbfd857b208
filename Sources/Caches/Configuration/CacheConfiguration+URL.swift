extension CacheConfiguration {
    /// The query options a cache URL may carry.
    static let urlOptions: Set<String> = [
        "ttl", "version", "key_prefix", "minsize", "maxsize", "db", "password", "username", "timeout",
        "connect_timeout", "hash", "hash_tag", "weights", "names", "client_name", "ssl", "tls", "tls_ca_file",
        "tls_ca_dir", "tls_cert_file", "tls_key_file", "tls_key_passphrase", "tls_server_name", "tls_min_version",
        "tls_verify", "failure_policy", "eject_after", "eject_retry", "eject_journal", "health_check",
    ]

    /// Builds a configuration from a parsed cache URL.
    ///
    /// Schemes: `memory://NAME` and `locmem://NAME` (in-memory store NAME, default `_`), `dummy://`,
    /// `redis://[user[:password]@]host[:port][,host[:port]…][/db]` and `rediss://…` (TLS).
    /// Options (`?name=value&…`): `ttl`, `version`, `key_prefix`, `minsize`, `maxsize` (as async-caches);
    /// `db`, `username`, `password`, `timeout` and `connect_timeout` (seconds), `client_name`, `hash` (any of
    /// twemproxy's twelve names, ``CacheHashFunction``), `hash_tag` (two characters), `weights` and `names`
    /// (comma-separated, one per host, none empty),
    /// `ssl`/`tls` (`true`), `tls_ca_file`, `tls_ca_dir`, `tls_cert_file`, `tls_key_file`, `tls_key_passphrase`,
    /// `tls_server_name`, `tls_min_version` (`1.2`, `1.3`), `tls_verify` (`full`, `no-hostname-verification`,
    /// `none`).
    ///
    /// - Parameter url: The parsed URL.
    /// Every number is range-checked before it is converted: durations (`timeout`, `connect_timeout`,
    /// `health_check`, `eject_retry`) must be positive and at most ``maximumDurationMilliseconds`` ms; `eject_after`,
    /// `eject_retry` and `eject_journal` need `failure_policy=eject`.
    ///
    /// - Throws: ``CacheError/Code/invalidURL`` naming the option that is unknown, malformed or out of range.
    public init(url: CacheURL) throws(CacheError) {
        self.init()
        let options = url.options
        for name in options.keys.sorted() where !Self.urlOptions.contains(name) {
            throw CacheError(.invalidURL, "cache URL \(url) has an unknown option \(String(reflecting: name))")
        }
        func int(_ name: String) throws(CacheError) -> Int? {
            guard let text = options[name] else { return nil }
            guard let value = Int(text) else {
                throw CacheError(.invalidURL, "cache URL option \(name)=\(String(reflecting: text)) is not an integer")
            }
            return value
        }
        func seconds(_ name: String) throws(CacheError) -> Duration? {
            guard let text = options[name] else { return nil }
            guard let value = Double(text), value > 0, value.isFinite else {
                throw CacheError(.invalidURL, "cache URL option \(name)=\(String(reflecting: text)) is not a positive number of seconds")
            }
            // Range-checked as a Double, before any conversion to an integer: 1e20 must not trap.
            let milliseconds = (value * 1000).rounded(.up)
            guard milliseconds <= Double(CacheConfiguration.maximumDurationMilliseconds) else {
                throw CacheError(
                    .invalidURL,
                    "cache URL option \(name)=\(String(reflecting: text)) is too large (at most \(Double(CacheConfiguration.maximumDurationMilliseconds) / 1000) seconds)"
                )
            }
            return .milliseconds(Int64(milliseconds))
        }
        self.defaultTTL = try int("ttl")
        if let version = options["version"] { self.defaultVersion = CacheVersion(version) }
        if let prefix = options["key_prefix"] { self.keyPrefix = prefix }
        if let min = try int("minsize") { self.pool.minimumConnections = min }
        if let max = try int("maxsize") { self.pool.maximumConnections = max }

        switch url.backend {
        case "memory", "locmem":
            self.backend = .memory(name: url.netloc ?? "_")
            return
        case "dummy":
            self.backend = .dummy
            return
        case "redis", "rediss":
            self.backend = .redis
        default:
            throw CacheError(
                .invalidURL,
                "cache URL \(url) names an unknown backend \(String(reflecting: url.backend)) (expected redis, rediss, memory, locmem or dummy)"
            )
        }

        if let timeout = try seconds("timeout") { self.commandTimeout = timeout }
        if let timeout = try seconds("connect_timeout") { self.connectTimeout = timeout }
        if let name = options["client_name"] { self.clientName = name }
        if let interval = try seconds("health_check") { self.healthCheckInterval = interval }
        // The eject options are parsed whatever the policy, so a bad value is always an error, then refused
        // unless the policy is eject (as the config file does): a setting that would be silently ignored is a mistake.
        let ejectAfter = try int("eject_after")
        let ejectRetry = try seconds("eject_retry")
        let ejectJournal = try int("eject_journal")
        switch options["failure_policy"] {
        case nil, "fail": self.failurePolicy = .fail
        case "miss": self.failurePolicy = .miss
        case "eject":
            self.failurePolicy = .eject(
                afterFailures: ejectAfter ?? 3,
                retryAfter: ejectRetry ?? .seconds(30),
                journalLimit: ejectJournal ?? 10_000
            )
        case let other?:
            throw CacheError(.invalidURL, "cache URL option failure_policy=\(String(reflecting: other)) is not fail, miss or eject")
        }
        if options["failure_policy"] != "eject" {
            for name in ["eject_after", "eject_retry", "eject_journal"] where options[name] != nil {
                throw CacheError(.invalidURL, "cache URL option \(name) only applies with failure_policy=eject")
            }
        }
        if let hash = options["hash"] {
            guard let function = CacheHashFunction(rawValue: hash) else {
                throw CacheError(
                    .invalidURL,
                    "cache URL option hash=\(String(reflecting: hash)) is not a twemproxy hash (one of \(CacheHashFunction.validNames))"
                )
            }
            self.ring.hash = function
        }
        if let tag = options["hash_tag"] { self.ring.hashTag = tag }

        var database: Int?
        if let path = url.database {
            guard let db = Int(path), db >= 0 else {
                throw CacheError(.invalidURL, "cache URL path /\(path) is not a database number")
            }
            database = db
        }
        if let db = try int("db") {
            if database != nil, database != db {
                throw CacheError(.invalidURL, "cache URL gives the database twice (path and ?db=)")
            }
            database = db
        }
        let password = options["password"] ?? url.password
        let username = options["username"] ?? url.username

        let hosts = url.hosts.isEmpty ? [CacheURL.Host(host: "localhost", port: nil)] : url.hosts
        let weights = try Self.list(options["weights"], count: hosts.count, name: "weights")
        let names = try Self.list(options["names"], count: hosts.count, name: "names")
        var nodes: [CacheNodeConfiguration] = []
        for (index, host) in hosts.enumerated() {
            var weight: UInt32 = 1
            if let text = weights?[index] {
                guard let value = UInt32(text), value > 0 else {
                    throw CacheError(
                        .invalidURL,
                        "cache URL option weights: item \(index + 1) of \(hosts.count), \(String(reflecting: text)), is not a positive integer"
                    )
                }
                weight = value
            }
            nodes.append(
                CacheNodeConfiguration(
                    name: names?[index],
                    host: host.host,
                    port: host.port ?? 6379,
                    weight: weight,
                    database: database,
                    username: username,
                    password: password
                )
            )
        }
        self.nodes = nodes

        let tlsOptions = options.keys.filter { $0.hasPrefix("tls_") }
        let tlsFlag = options["tls"] ?? options["ssl"]
        if let flag = tlsFlag, !["true", "false", "1", "0"].contains(flag) {
            throw CacheError(.invalidURL, "cache URL option tls/ssl must be true or false, got \(String(reflecting: flag))")
        }
        let tlsOn = url.backend == "rediss" || tlsFlag == "true" || tlsFlag == "1"
        if tlsOn {
            var tls = CacheTLSConfiguration()
            if let file = options["tls_ca_file"] { tls.trust = .caFile(file) }
            if let dir = options["tls_ca_dir"] { tls.trust = .caDirectory(dir) }
            tls.certificateFile = options["tls_cert_file"]
            tls.keyFile = options["tls_key_file"]
            tls.keyPassphrase = options["tls_key_passphrase"]
            tls.serverName = options["tls_server_name"]
            if let version = options["tls_min_version"] {
                guard let value = CacheTLSConfiguration.Version(rawValue: version) else {
                    throw CacheError(.invalidURL, "cache URL option tls_min_version must be 1.2 or 1.3")
                }
                tls.minimumVersion = value
            }
            if let verify = options["tls_verify"] {
                guard let value = CacheTLSConfiguration.Verification(rawValue: verify) else {
                    throw CacheError(.invalidURL, "cache URL option tls_verify must be full, no-hostname-verification or none")
                }
                tls.verification = value
            }
            self.tls = tls
        } else if let first = tlsOptions.sorted().first {
            throw CacheError(.invalidURL, "cache URL option \(first) needs TLS on (rediss:// or ?tls=true)")
        }
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

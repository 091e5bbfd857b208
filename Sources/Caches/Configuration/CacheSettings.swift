/// A value of one setting, typed as the schema types it.
public enum CacheSettingValue: Sendable, Hashable, CustomStringConvertible {
    /// Text (also every choice).
    case string(String)
    /// A whole number.
    case integer(Int)
    /// A flag.
    case bool(Bool)
    /// A duration; nil means off (written `0` where the setting allows it).
    case duration(Duration?)

    /// The value in the form files, URLs and environment variables accept: `250ms`, `1.5s`, `2m`, `true`, `42`.
    public var description: String {
        switch self {
        case .string(let text): text
        case .integer(let number): String(number)
        case .bool(let flag): String(flag)
        case .duration(let duration): duration.map(CacheSettings.format(duration:)) ?? "0"
        }
    }
}

/// One setting of ``CacheConfiguration``: its names in files, URLs and the environment, its type, range and default.
///
/// ``CacheSettings/all`` lists every setting once. The URL parser, the config-file reader,
/// ``CacheConfiguration/validate()``, the `caches config` commands and the README's settings table are driven by it.
public struct CacheSetting: Sendable {
    /// Where a setting lives.
    public enum Scope: Sendable, Hashable {
        /// One value for the whole cache, at ``CacheSetting/key`` in a file.
        case cache
        /// One value per node, at `nodes[i].KEY` in a file.
        case node
        /// TLS, at `tls.KEY` for every node and `nodes[i].tls.KEY` for one node.
        case tls
    }

    /// The type of a setting's value.
    public enum Kind: Sendable, Hashable {
        /// Any text.
        case string
        /// A whole number.
        case integer
        /// `true` or `false`.
        case bool
        /// A number with an optional unit suffix `ms`, `s`, `m` or `h` (`250ms`, `1.5s`, `2m`); a bare number is
        /// seconds.
        case duration
        /// One of the listed words.
        case choice([String])
        /// A path to a readable file (relative paths in a file: from the config file's directory).
        case file
        /// A path to a readable directory.
        case directory
    }

    /// How a cache URL carries a setting.
    public enum URLForm: Sendable, Hashable {
        /// A query option `?NAME=VALUE`; node settings apply to every node.
        case option(String)
        /// A query option holding one comma-separated item per host (`?weights=1,2,1`).
        case perHost(String)
        /// The URL's authority (`redis://user:password@host:port,…`) or, where also given, the named option.
        case authority(option: String?)
    }

    /// The key path below the setting's scope: `pool.waitTimeout`, `weight` (`nodes[i].weight`), `caFile`.
    public let key: String
    /// The property of ``CacheConfiguration`` it sets: `pool.connectionWaitTimeout`, `nodes[i].weight`.
    public let property: String
    /// Whether the setting is cache-wide, per node or TLS.
    public let scope: Scope
    /// How a URL carries it; nil when only files and code can set it.
    public let url: URLForm?
    /// A deprecated file key (integer milliseconds) accepted in place of ``key``; giving both is an error.
    public let deprecatedKey: String?
    /// The type of the value.
    public let kind: Kind
    /// The smallest whole number (integers) or the smallest duration in milliseconds; nil: none.
    public let minimum: Int?
    /// The largest whole number (integers) or duration in milliseconds; nil: none.
    public let maximum: Int?
    /// Whether a duration of `0` turns the feature off (read back as ``CacheSettingValue/duration(_:)`` nil).
    public let zeroTurnsOff: Bool
    /// The default, as shown in the table.
    public let defaultText: String
    /// Whether the value is a secret: never printed, redacted by swift-configuration.
    public let isSecret: Bool
    /// What the setting means, in one line.
    public let meaning: String
    /// An example value different from the default (for tests and `caches config settings`).
    public let example: String
    /// A rule beyond the range (returns the problem, or nil).
    let rule: (@Sendable (CacheSettingValue) -> String?)?
    /// The message for a value outside the range, before `, got VALUE`; nil: the generic one.
    let rangeMessage: String?
    /// Another setting that must have a given value for this one to apply (eject options).
    public let appliesOnlyWith: (key: String, value: String)?
    let access: Access

    enum Access: Sendable {
        case cache(read: @Sendable (CacheConfiguration) -> CacheSettingValue?, apply: @Sendable (inout CacheConfiguration, CacheSettingValue) -> Void)
        case node(
            read: @Sendable (CacheNodeConfiguration) -> CacheSettingValue?,
            apply: @Sendable (inout CacheNodeConfiguration, CacheSettingValue) -> Void
        )
        case tls(
            read: @Sendable (CacheTLSConfiguration) -> CacheSettingValue?,
            apply: @Sendable (inout CacheTLSConfiguration, CacheSettingValue) -> Void
        )
    }

    init(
        _ key: String,
        _ scope: Scope = .cache,
        code property: String,
        url: URLForm? = nil,
        deprecatedKey: String? = nil,
        kind: Kind,
        minimum: Int? = nil,
        maximum: Int? = nil,
        zeroTurnsOff: Bool = false,
        default defaultText: String,
        secret: Bool = false,
        example: String,
        rangeMessage: String? = nil,
        appliesOnlyWith: (key: String, value: String)? = nil,
        rule: (@Sendable (CacheSettingValue) -> String?)? = nil,
        _ meaning: String,
        _ access: Access
    ) {
        self.key = key
        self.scope = scope
        self.property = property
        self.url = url
        self.deprecatedKey = deprecatedKey
        self.kind = kind
        self.minimum = minimum
        self.maximum = maximum
        self.zeroTurnsOff = zeroTurnsOff
        self.defaultText = defaultText
        self.isSecret = secret
        self.example = example
        self.rangeMessage = rangeMessage
        self.appliesOnlyWith = appliesOnlyWith
        self.rule = rule
        self.meaning = meaning
        self.access = access
    }

    /// The key path in a file: `pool.waitTimeout`, `nodes[i].weight`, `tls.caFile`.
    public var path: String {
        switch self.scope {
        case .cache: self.key
        case .node: "nodes[i]." + self.key
        case .tls: "tls." + self.key
        }
    }

    /// The environment variable: `CACHES_` and the key path in upper snake case (`CACHES_POOL_WAIT_TIMEOUT`,
    /// `CACHES_NODES_<i>_WEIGHT`, `CACHES_TLS_CA_FILE`, and `CACHES_NODES_<i>_TLS_CA_FILE` for one node).
    public var environmentVariable: String {
        CacheSettings.environmentVariable(for: self.path.replacing("[i]", with: ".<i>"))
    }

    /// The name of the option in a URL, if any.
    public var urlOption: String? {
        switch self.url {
        case .option(let name), .perHost(let name): name
        case .authority(let option): option
        case nil: nil
        }
    }

    /// The unit shown in the table.
    public var unit: String {
        switch self.kind {
        case .duration: "duration"
        case .integer where self.key == "defaults.ttl": "seconds"
        default: ""
        }
    }

    /// Parses a text value (a URL option, an environment variable, a file's scalar).
    ///
    /// - Returns: The value, or the problem (`expected an integer, got "x"`), without the key.
    public func parse(_ text: String) -> Result<CacheSettingValue, CacheSettingProblem> {
        let trimmed = CacheSettings.trimmed(text)
        switch self.kind {
        case .string, .file, .directory:
            return .success(.string(text))
        case .integer:
            guard let number = Int(trimmed) else { return .failure(.init("expected an integer, got \(String(reflecting: text))")) }
            return .success(.integer(number))
        case .bool:
            switch trimmed.lowercased() {
            case "true", "yes", "on", "1": return .success(.bool(true))
            case "false", "no", "off", "0": return .success(.bool(false))
            default: return .failure(.init("expected true or false, got \(String(reflecting: text))"))
            }
        case .choice(let words):
            guard words.contains(String(trimmed)) else {
                return .failure(.init("must be one of \(words.joined(separator: ", ")), got \(String(reflecting: text))"))
            }
            return .success(.string(String(trimmed)))
        case .duration:
            return CacheSettings.parseDuration(trimmed, original: text).map { .duration($0 == .zero && self.zeroTurnsOff ? nil : $0) }
        }
    }

    /// Checks a value against the setting's range and rules; nil when it is fine.
    public func problem(with value: CacheSettingValue) -> CacheSettingProblem? {
        switch value {
        case .integer(let number):
            if let minimum = self.minimum, number < minimum {
                return .init("\(self.rangeMessage ?? self.rangeText()), got \(number)")
            }
            if let maximum = self.maximum, number > maximum {
                return .init("\(self.rangeMessage ?? self.rangeText()), got \(number)")
            }
        case .duration(let duration?):
            // A positive minimum of 1 ms means "positive": code may give less than a millisecond (files and URLs
            // cannot, they round up), as before the table existed.
            if let minimum = self.minimum, minimum == 1 ? duration <= .zero : duration < .milliseconds(minimum) {
                let least = minimum == 0 ? "at least zero" : minimum == 1 ? "positive" : "at least \(minimum) ms"
                return .init("must be \(least)\(self.zeroTurnsOff ? " (0 turns it off)" : ""), got \(duration)")
            }
            if let maximum = self.maximum, duration > .milliseconds(maximum) {
                return .init("must be at most \(maximum) ms (about 24.8 days), got \(duration)")
            }
        default:
            break
        }
        return self.rule?(value).map { CacheSettingProblem($0) }
    }

    func rangeText() -> String {
        switch (self.minimum, self.maximum) {
        case (let low?, let high?): "must be between \(low) and \(high)"
        case (let low?, nil): "must be at least \(low)"
        case (nil, let high?): "must be at most \(high)"
        case (nil, nil): ""
        }
    }

    /// The range as shown in the table.
    public var rangeDescription: String {
        switch self.kind {
        case .choice(let words): return words.joined(separator: ", ")
        case .duration:
            let low = self.zeroTurnsOff ? "0 (off)" : self.minimum == 0 ? "≥ 0" : "> 0"
            return "\(low) … \(self.maximum.map { CacheSettings.format(duration: .milliseconds($0)) } ?? "")"
        case .integer:
            switch (self.minimum, self.maximum) {
            case (let low?, let high?): return "\(low) … \(high)"
            case (let low?, nil): return "≥ \(low)"
            default: return ""
            }
        case .bool: return "true, false"
        case .string, .file, .directory: return ""
        }
    }
}

/// Why a setting's value is refused, without the key (the reader adds the file and key path or the URL option).
public struct CacheSettingProblem: Error, Sendable, Hashable, CustomStringConvertible {
    /// The problem: `must be at least 1, got 0`.
    public var description: String

    /// Creates a problem.
    public init(_ description: String) { self.description = description }
}

/// The settings table: every setting of ``CacheConfiguration`` once, with its file key, URL option, environment
/// variable, type, range, default and meaning.
public enum CacheSettings {
    /// The longest duration, in milliseconds (``CacheConfiguration/maximumDurationMilliseconds``).
    static let longest = CacheConfiguration.maximumDurationMilliseconds

    /// Every setting, cache-wide first, then per node, then TLS; an order that applies dependencies first
    /// (`failurePolicy` before the eject options).
    public static let all: [CacheSetting] = [
        CacheSetting(
            "defaults.ttl",
            code: "defaultTTL",
            url: .option("ttl"),
            kind: .integer,
            minimum: 1,
            default: "none (no expiry)",
            example: "600",
            rangeMessage: "must be a positive number of seconds (leave it out for no expiry)",
            "The ttl in whole seconds for writes that give none.",
            .cache(read: { $0.defaultTTL.map { .integer($0) } }, apply: { if case .integer(let n) = $1 { $0.defaultTTL = n } })
        ),
        CacheSetting(
            "defaults.version",
            code: "defaultVersion",
            url: .option("version"),
            kind: .string,
            default: "none",
            example: "2",
            "The key version for calls that give none (`prefix:version:key`).",
            .cache(
                read: { $0.defaultVersion.description.isEmpty ? nil : .string($0.defaultVersion.description) },
                apply: { if case .string(let text) = $1 { $0.defaultVersion = CacheVersion(text) } }
            )
        ),
        CacheSetting(
            "defaults.keyPrefix",
            code: "keyPrefix",
            url: .option("key_prefix"),
            kind: .string,
            default: "empty",
            example: "forum",
            "The first field of every stored key.",
            .cache(read: { $0.keyPrefix.isEmpty ? nil : .string($0.keyPrefix) }, apply: { if case .string(let t) = $1 { $0.keyPrefix = t } })
        ),
        CacheSetting(
            "ring.hash",
            code: "ring.hash",
            url: .option("hash"),
            kind: .choice(CacheHashFunction.allCases.map(\.rawValue)),
            default: "fnv1a_64",
            example: "murmur",
            "twemproxy's key hash.",
            .cache(
                read: { .string($0.ring.hash.rawValue) },
                apply: { if case .string(let t) = $1, let hash = CacheHashFunction(rawValue: t) { $0.ring.hash = hash } }
            )
        ),
        CacheSetting(
            "ring.hashTag",
            code: "ring.hashTag",
            url: .option("hash_tag"),
            kind: .string,
            default: "none",
            example: "{}",
            rule: { value in
                guard case .string(let tag) = value, tag.count != 2 || tag.utf8.count != 2 else { return nil }
                return "must be exactly two ASCII characters, got \(String(reflecting: tag))"
            },
            "Two characters such as `{}`: only the part of a key between them is hashed.",
            .cache(read: { $0.ring.hashTag.map { .string($0) } }, apply: { if case .string(let t) = $1 { $0.ring.hashTag = t } })
        ),
        CacheSetting(
            "pool.minConnections",
            code: "pool.minimumConnections",
            url: .option("minsize"),
            kind: .integer,
            minimum: 0,
            maximum: CacheConfiguration.maximumPoolConnections,
            default: "1",
            example: "2",
            "Connections opened at connect and kept open, per node.",
            .cache(read: { .integer($0.pool.minimumConnections) }, apply: { if case .integer(let n) = $1 { $0.pool.minimumConnections = n } })
        ),
        CacheSetting(
            "pool.maxConnections",
            code: "pool.maximumConnections",
            url: .option("maxsize"),
            kind: .integer,
            minimum: 1,
            maximum: CacheConfiguration.maximumPoolConnections,
            default: "10",
            example: "20",
            "The most connections to one node.",
            .cache(read: { .integer($0.pool.maximumConnections) }, apply: { if case .integer(let n) = $1 { $0.pool.maximumConnections = n } })
        ),
        CacheSetting(
            "pool.waitTimeout",
            code: "pool.connectionWaitTimeout",
            url: .option("wait_timeout"),
            deprecatedKey: "pool.waitTimeoutMs",
            kind: .duration,
            minimum: 1,
            maximum: longest,
            default: "1s",
            example: "250ms",
            "How long a call may wait for a usable connection.",
            .cache(
                read: { .duration($0.pool.connectionWaitTimeout) },
                apply: { if case .duration(let d?) = $1 { $0.pool.connectionWaitTimeout = d } }
            )
        ),
        CacheSetting(
            "pool.idleTimeout",
            code: "pool.idleTimeout",
            url: .option("idle_timeout"),
            deprecatedKey: "pool.idleTimeoutMs",
            kind: .duration,
            minimum: 1,
            maximum: longest,
            default: "1m",
            example: "90s",
            "Connections above the minimum idle this long are closed.",
            .cache(read: { .duration($0.pool.idleTimeout) }, apply: { if case .duration(let d?) = $1 { $0.pool.idleTimeout = d } })
        ),
        CacheSetting(
            "pool.keepalive",
            code: "pool.keepaliveInterval",
            url: .option("keepalive"),
            deprecatedKey: "pool.keepaliveMs",
            kind: .duration,
            minimum: 1,
            maximum: longest,
            zeroTurnsOff: true,
            default: "30s",
            example: "0",
            "Idle connections are sent a PING this often; 0 turns keepalive off.",
            .cache(read: { .duration($0.pool.keepaliveInterval) }, apply: { if case .duration(let d) = $1 { $0.pool.keepaliveInterval = d } })
        ),
        CacheSetting(
            "pool.initialBackoff",
            code: "pool.initialBackoff",
            kind: .duration,
            minimum: 1,
            maximum: longest,
            default: "100ms",
            example: "250ms",
            "The first reconnect delay after a failure; it doubles (±20 % jitter) up to pool.maximumBackoff.",
            .cache(read: { .duration($0.pool.initialBackoff) }, apply: { if case .duration(let d?) = $1 { $0.pool.initialBackoff = d } })
        ),
        CacheSetting(
            "pool.maximumBackoff",
            code: "pool.maximumBackoff",
            kind: .duration,
            minimum: 0,
            maximum: longest,
            default: "5s",
            example: "10s",
            "The longest reconnect delay.",
            .cache(read: { .duration($0.pool.maximumBackoff) }, apply: { if case .duration(let d?) = $1 { $0.pool.maximumBackoff = d } })
        ),
        CacheSetting(
            "pool.loadThreshold",
            code: "pool.loadThreshold",
            kind: .integer,
            minimum: 0,
            maximum: 4095,
            default: "32",
            example: "64",
            "In-flight commands on every connection above which another connection is opened.",
            .cache(read: { .integer($0.pool.loadThreshold) }, apply: { if case .integer(let n) = $1 { $0.pool.loadThreshold = n } })
        ),
        CacheSetting(
            "pool.shutdownGracePeriod",
            code: "pool.shutdownGracePeriod",
            kind: .duration,
            minimum: 0,
            maximum: longest,
            default: "5s",
            example: "10s",
            "How long disconnect() lets in-flight commands finish before closing.",
            .cache(
                read: { .duration($0.pool.shutdownGracePeriod) },
                apply: { if case .duration(let d?) = $1 { $0.pool.shutdownGracePeriod = d } }
            )
        ),
        CacheSetting(
            "timeouts.connect",
            code: "connectTimeout",
            url: .option("connect_timeout"),
            deprecatedKey: "timeouts.connectMs",
            kind: .duration,
            minimum: 1,
            maximum: longest,
            default: "2s",
            example: "1500ms",
            "How long opening a connection (TCP, TLS handshake, AUTH, SELECT) may take.",
            .cache(read: { .duration($0.connectTimeout) }, apply: { if case .duration(let d?) = $1 { $0.connectTimeout = d } })
        ),
        CacheSetting(
            "timeouts.command",
            code: "commandTimeout",
            url: .option("timeout"),
            deprecatedKey: "timeouts.commandMs",
            kind: .duration,
            minimum: 1,
            maximum: longest,
            default: "1s",
            example: "2s",
            "How long a command may wait for its reply.",
            .cache(read: { .duration($0.commandTimeout) }, apply: { if case .duration(let d?) = $1 { $0.commandTimeout = d } })
        ),
        CacheSetting(
            "clientName",
            code: "clientName",
            url: .option("client_name"),
            kind: .string,
            default: "none",
            example: "web-1",
            rule: { value in
                guard case .string(let name) = value,
                    name.isEmpty || name.contains(where: { $0 == " " || $0 == "\n" || $0 == "\r" })
                else { return nil }
                return "must be non-empty and contain no spaces or newlines"
            },
            "The name sent with `CLIENT SETNAME` on every connection.",
            .cache(read: { $0.clientName.map { .string($0) } }, apply: { if case .string(let t) = $1 { $0.clientName = t } })
        ),
        CacheSetting(
            "healthCheck",
            code: "healthCheckInterval",
            url: .option("health_check"),
            deprecatedKey: "healthCheckMs",
            kind: .duration,
            minimum: 1,
            maximum: longest,
            zeroTurnsOff: true,
            default: "5s",
            example: "250ms",
            "How often the cache's run loop pings every node to mark it down or up; 0 turns checks off.",
            .cache(read: { .duration($0.healthCheckInterval) }, apply: { if case .duration(let d) = $1 { $0.healthCheckInterval = d } })
        ),
        CacheSetting(
            "nearCache.maxEntries",
            code: "nearCache.maxEntries",
            url: .option("near_cache"),
            kind: .integer,
            minimum: 0,
            maximum: 100_000_000,
            default: "0",
            example: "10000",
            "Entries the near cache keeps in process memory (coherent through Redis' invalidations); 0 turns it off.",
            .cache(read: { .integer($0.nearCache.maxEntries) }, apply: { if case .integer(let n) = $1 { $0.nearCache.maxEntries = n } })
        ),
        CacheSetting(
            "nearCache.maxBytes",
            code: "nearCache.maxBytes",
            url: .option("near_cache_bytes"),
            kind: .integer,
            minimum: 1024,
            maximum: 1 << 40,
            default: "67108864",
            example: "1048576",
            "Bytes the near cache keeps at most: keys, values and 256 bytes per entry.",
            .cache(read: { .integer($0.nearCache.maxBytes) }, apply: { if case .integer(let n) = $1 { $0.nearCache.maxBytes = n } })
        ),
        CacheSetting(
            "nearCache.maxLifetime",
            code: "nearCache.maxLifetime",
            url: .option("near_cache_lifetime"),
            kind: .duration,
            minimum: 1,
            maximum: longest,
            default: "60s",
            example: "5s",
            "The longest the near cache serves an entry without asking Redis again, whatever its ttl.",
            .cache(read: { .duration($0.nearCache.maxLifetime) }, apply: { if case .duration(let d?) = $1 { $0.nearCache.maxLifetime = d } })
        ),
        CacheSetting(
            "cluster.readFrom",
            code: "cluster.readFrom",
            url: .option("read_from"),
            kind: .choice(CacheConfiguration.Cluster.ReadFrom.allCases.map(\.rawValue)),
            default: "primary",
            example: "replica",
            "Redis Cluster only: which nodes answer reads, primary or replica (with READONLY; a shard without a replica is read from its primary).",
            .cache(
                read: { .string($0.cluster.readFrom.rawValue) },
                apply: { configuration, value in
                    if case .string(let text) = value, let readFrom = CacheConfiguration.Cluster.ReadFrom(rawValue: text) {
                        configuration.cluster.readFrom = readFrom
                    }
                }
            )
        ),
        CacheSetting(
            "cluster.refreshInterval",
            code: "cluster.refreshInterval",
            url: .option("cluster_refresh"),
            kind: .duration,
            minimum: 1,
            maximum: longest,
            zeroTurnsOff: true,
            default: "30s",
            example: "5s",
            "Redis Cluster only: how often the slot map is read again (MOVED replies and node failures also refresh it); 0 turns it off.",
            .cache(
                read: { .duration($0.cluster.refreshInterval) },
                apply: { if case .duration(let d) = $1 { $0.cluster.refreshInterval = d } }
            )
        ),
        CacheSetting(
            "cluster.manyKeyReads",
            code: "cluster.manyKeyReads",
            url: .option("many_key_reads"),
            kind: .choice(CacheConfiguration.Cluster.ManyKeyReads.allCases.map(\.rawValue)),
            default: "gets",
            example: "mget",
            "Redis Cluster only: how getMany reads a node's keys of several slots: gets (one GET per key, each node's in one flush), script (one EVAL per node, Redis 7+) or mget (one MGET per slot); gets and script fall back to mget for a node that refuses them.",
            .cache(
                read: { .string($0.cluster.manyKeyReads.rawValue) },
                apply: { configuration, value in
                    if case .string(let text) = value, let reads = CacheConfiguration.Cluster.ManyKeyReads(rawValue: text) {
                        configuration.cluster.manyKeyReads = reads
                    }
                }
            )
        ),
        CacheSetting(
            "failurePolicy",
            code: "failurePolicy",
            url: .option("failure_policy"),
            kind: .choice(["fail", "miss", "eject"]),
            default: "fail",
            example: "eject",
            "What calls for a down node's keys do: fail, miss, or eject the node from the ring.",
            .cache(
                read: { configuration in
                    switch configuration.failurePolicy {
                    case .fail: .string("fail")
                    case .miss: .string("miss")
                    case .eject: .string("eject")
                    }
                },
                apply: { configuration, value in
                    switch value {
                    case .string("miss"): configuration.failurePolicy = .miss
                    case .string("eject"):
                        if case .eject = configuration.failurePolicy { return }
                        configuration.failurePolicy = .eject()
                    default: configuration.failurePolicy = .fail
                    }
                }
            )
        ),
        CacheSetting(
            "ejectAfterFailures",
            code: "failurePolicy.eject afterFailures",
            url: .option("eject_after"),
            kind: .integer,
            minimum: 1,
            maximum: 1_000_000,
            default: "3",
            example: "5",
            appliesOnlyWith: ("failurePolicy", "eject"),
            "Consecutive failures after which a node is ejected.",
            .cache(
                read: { if case .eject(let n, _, _) = $0.failurePolicy { .integer(n) } else { nil } },
                apply: { configuration, value in
                    guard case .eject(_, let retry, let journal) = configuration.failurePolicy, case .integer(let n) = value else { return }
                    configuration.failurePolicy = .eject(afterFailures: n, retryAfter: retry, journalLimit: journal)
                }
            )
        ),
        CacheSetting(
            "ejectRetry",
            code: "failurePolicy.eject retryAfter",
            url: .option("eject_retry"),
            deprecatedKey: "ejectRetryMs",
            kind: .duration,
            minimum: 1,
            maximum: longest,
            default: "30s",
            example: "1500ms",
            appliesOnlyWith: ("failurePolicy", "eject"),
            "How long an ejected node stays out before it is tried again.",
            .cache(
                read: { if case .eject(_, let d, _) = $0.failurePolicy { .duration(d) } else { nil } },
                apply: { configuration, value in
                    guard case .eject(let n, _, let journal) = configuration.failurePolicy, case .duration(let d?) = value else { return }
                    configuration.failurePolicy = .eject(afterFailures: n, retryAfter: d, journalLimit: journal)
                }
            )
        ),
        CacheSetting(
            "ejectJournalKeys",
            code: "failurePolicy.eject journalLimit",
            url: .option("eject_journal"),
            kind: .integer,
            minimum: 0,
            maximum: 10_000_000,
            default: "10000",
            example: "0",
            appliesOnlyWith: ("failurePolicy", "eject"),
            "Keys written while a node is out, remembered to delete on its return; 0 remembers none.",
            .cache(
                read: { if case .eject(_, _, let j) = $0.failurePolicy { .integer(j) } else { nil } },
                apply: { configuration, value in
                    guard case .eject(let n, let d, _) = configuration.failurePolicy, case .integer(let j) = value else { return }
                    configuration.failurePolicy = .eject(afterFailures: n, retryAfter: d, journalLimit: j)
                }
            )
        ),
        // Per node.
        CacheSetting(
            "name",
            .node,
            code: "nodes[i].name",
            url: .perHost("names"),
            kind: .string,
            default: "host:port",
            example: "cache-a",
            rule: { $0 == .string("") ? "must not be empty" : nil },
            "The node's stable identity on the ring (twemproxy's server name).",
            .node(read: { $0.name.map { .string($0) } }, apply: { if case .string(let t) = $1 { $0.name = t } })
        ),
        CacheSetting(
            "host",
            .node,
            code: "nodes[i].host",
            url: .authority(option: nil),
            kind: .string,
            default: "required (URL: localhost)",
            example: "10.0.0.7",
            rule: { $0 == .string("") ? "is required" : nil },
            "The host name or address.",
            .node(read: { .string($0.host) }, apply: { if case .string(let t) = $1 { $0.host = t } })
        ),
        CacheSetting(
            "port",
            .node,
            code: "nodes[i].port",
            url: .authority(option: nil),
            kind: .integer,
            minimum: 1,
            maximum: 65535,
            default: "6379",
            example: "7001",
            "The port.",
            .node(read: { .integer($0.port) }, apply: { if case .integer(let n) = $1 { $0.port = n } })
        ),
        CacheSetting(
            "weight",
            .node,
            code: "nodes[i].weight",
            url: .perHost("weights"),
            kind: .integer,
            minimum: 1,
            maximum: Int(UInt32.max),
            default: "1",
            example: "3",
            rangeMessage: "must be at least 1",
            "The ring weight.",
            .node(read: { .integer(Int($0.weight)) }, apply: { if case .integer(let n) = $1 { $0.weight = UInt32(n) } })
        ),
        CacheSetting(
            "db",
            .node,
            code: "nodes[i].database",
            url: .authority(option: "db"),
            kind: .integer,
            minimum: 0,
            maximum: Int(Int32.max),
            default: "none",
            example: "3",
            rangeMessage: "must be at least 0",
            "The database selected with `SELECT` (URL: the path or `db`).",
            .node(read: { $0.database.map { .integer($0) } }, apply: { if case .integer(let n) = $1 { $0.database = n } })
        ),
        CacheSetting(
            "username",
            .node,
            code: "nodes[i].username",
            url: .authority(option: "username"),
            kind: .string,
            default: "none",
            example: "app",
            "The ACL user name for `AUTH`.",
            .node(read: { $0.username.map { .string($0) } }, apply: { if case .string(let t) = $1 { $0.username = t } })
        ),
        CacheSetting(
            "password",
            .node,
            code: "nodes[i].password",
            url: .authority(option: "password"),
            kind: .string,
            default: "none",
            secret: true,
            example: "s3cret",
            "The password for `AUTH`.",
            .node(read: { $0.password.map { .string($0) } }, apply: { if case .string(let t) = $1 { $0.password = t } })
        ),
        // TLS, cache-wide (`tls.…`) and per node (`nodes[i].tls.…`).
        CacheSetting(
            "enabled",
            .tls,
            code: "tls != nil",
            url: .option("tls"),
            kind: .bool,
            default: "false (true when `tls` is given)",
            example: "true",
            "TLS on (URL: also `ssl=true` or `rediss://`); a node cannot turn off the cache-wide TLS.",
            .tls(read: { _ in .bool(true) }, apply: { _, _ in })
        ),
        CacheSetting(
            "caFile",
            .tls,
            code: "tls.trust .caFile",
            url: .option("tls_ca_file"),
            kind: .file,
            default: "system trust store",
            example: "ca.pem",
            "The CA certificates (PEM) that verify the server; not with caDirectory.",
            .tls(
                read: { if case .caFile(let path) = $0.trust { .string(path) } else { nil } },
                apply: { if case .string(let t) = $1 { $0.trust = .caFile(t) } }
            )
        ),
        CacheSetting(
            "caDirectory",
            .tls,
            code: "tls.trust .caDirectory",
            url: .option("tls_ca_dir"),
            kind: .directory,
            default: "system trust store",
            example: "ca.d",
            "A directory of hashed CA certificates; not with caFile.",
            .tls(
                read: { if case .caDirectory(let path) = $0.trust { .string(path) } else { nil } },
                apply: { if case .string(let t) = $1 { $0.trust = .caDirectory(t) } }
            )
        ),
        CacheSetting(
            "certificateFile",
            .tls,
            code: "tls.certificateFile",
            url: .option("tls_cert_file"),
            kind: .file,
            default: "none",
            example: "client.pem",
            "The client certificate (PEM), for servers that ask for one.",
            .tls(read: { $0.certificateFile.map { .string($0) } }, apply: { if case .string(let t) = $1 { $0.certificateFile = t } })
        ),
        CacheSetting(
            "keyFile",
            .tls,
            code: "tls.keyFile",
            url: .option("tls_key_file"),
            kind: .file,
            default: "none",
            example: "client.key",
            "The client certificate's private key (PEM); needs certificateFile.",
            .tls(read: { $0.keyFile.map { .string($0) } }, apply: { if case .string(let t) = $1 { $0.keyFile = t } })
        ),
        CacheSetting(
            "keyPassphrase",
            .tls,
            code: "tls.keyPassphrase",
            url: .option("tls_key_passphrase"),
            kind: .string,
            default: "none",
            secret: true,
            example: "hunter2",
            "The passphrase of an encrypted keyFile.",
            .tls(read: { $0.keyPassphrase.map { .string($0) } }, apply: { if case .string(let t) = $1 { $0.keyPassphrase = t } })
        ),
        CacheSetting(
            "serverName",
            .tls,
            code: "tls.serverName",
            url: .option("tls_server_name"),
            kind: .string,
            default: "the host",
            example: "cache.internal",
            "The name sent with SNI and checked against the certificate.",
            .tls(read: { $0.serverName.map { .string($0) } }, apply: { if case .string(let t) = $1 { $0.serverName = t } })
        ),
        CacheSetting(
            "minimumVersion",
            .tls,
            code: "tls.minimumVersion",
            url: .option("tls_min_version"),
            kind: .choice(["1.2", "1.3"]),
            default: "1.2",
            example: "1.3",
            "The oldest TLS version accepted.",
            .tls(
                read: { .string($0.minimumVersion.rawValue) },
                apply: { if case .string(let t) = $1, let v = CacheTLSConfiguration.Version(rawValue: t) { $0.minimumVersion = v } }
            )
        ),
        CacheSetting(
            "verification",
            .tls,
            code: "tls.verification",
            url: .option("tls_verify"),
            kind: .choice(["full", "no-hostname-verification", "none"]),
            default: "full",
            example: "no-hostname-verification",
            "How the server's certificate is checked.",
            .tls(
                read: { .string($0.verification.rawValue) },
                apply: { if case .string(let t) = $1, let v = CacheTLSConfiguration.Verification(rawValue: t) { $0.verification = v } }
            )
        ),
    ]

    /// The setting at a key (`pool.waitTimeout`, `weight`, `caFile`) in a scope.
    public static func setting(_ key: String, _ scope: CacheSetting.Scope = .cache) -> CacheSetting? {
        self.all.first { $0.key == key && $0.scope == scope }
    }

    // MARK: Durations

    /// Parses the one duration form: a number with an optional unit `ms`, `s`, `m` or `h`; a bare number is seconds.
    ///
    /// Sub-millisecond parts round up to a whole millisecond. The number is range-checked before it is converted.
    public static func parseDuration(_ text: String) -> Result<Duration, CacheSettingProblem> {
        self.parseDuration(self.trimmed(text), original: text)
    }

    static func parseDuration(_ text: Substring, original: String) -> Result<Duration, CacheSettingProblem> {
        let units: [(String, Double)] = [("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]
        var number = text
        var scale = 1000.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            number = text.dropLast(suffix.count)
            scale = factor
            break
        }
        let form = "expected a duration (a number with an optional unit ms, s, m or h; a bare number is seconds), got \(String(reflecting: original))"
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let value = Double(number) else {
            return .failure(.init(form))
        }
        // To the nearest nanosecond first, so that a decimal the Double cannot hold exactly (2.007 s is
        // 2007.0000000000002 ms) does not round up a whole millisecond; then sub-millisecond parts round up.
        let milliseconds = ((value * scale * 1_000_000).rounded() / 1_000_000).rounded(.up)
        guard milliseconds <= Double(self.longest) else {
            return .failure(.init("must be at most \(self.longest) ms (about 24.8 days), got \(String(reflecting: original))"))
        }
        return .success(.milliseconds(Int64(milliseconds)))
    }

    /// A duration in the one form, in the largest unit that keeps it whole: `250ms`, `1500ms`, `30s`, `2m`, `1h`.
    public static func format(duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        // Sub-millisecond parts round up, as parsing does; a duration too long for whole milliseconds prints in seconds.
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1000)
        let part = attoseconds / 1_000_000_000_000_000 + (attoseconds % 1_000_000_000_000_000 > 0 ? 1 : 0)
        let (milliseconds, overflowAgain) = whole.addingReportingOverflow(part)
        if overflow || overflowAgain { return "\(seconds)s" }
        if milliseconds == 0 { return "0" }
        for (suffix, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where milliseconds % size == 0 {
            return "\(milliseconds / size)\(suffix)"
        }
        return "\(milliseconds)ms"
    }

    // MARK: Names

    /// `CACHES_` and a key path in upper snake case: `pool.waitTimeout` is `CACHES_POOL_WAIT_TIMEOUT`.
    static func environmentVariable(for path: String) -> String {
        var name = "CACHES"
        for component in path.split(separator: ".") {
            name += "_"
            if component == "<i>" {
                name += component
                continue
            }
            var previous: Character? = nil
            for character in component {
                if character.isUppercase, let previous, previous.isLowercase || previous.isNumber { name += "_" }
                name += character.uppercased()
                previous = character
            }
        }
        return name
    }

    static func trimmed(_ text: String) -> Substring {
        var text = Substring(text)
        while text.first == " " { text = text.dropFirst() }
        while text.last == " " { text = text.dropLast() }
        return text
    }
}

// MARK: Applying and reading back

extension CacheSetting {
    /// Sets a cache-wide setting (nothing for node and TLS settings).
    func apply(_ value: CacheSettingValue, to configuration: inout CacheConfiguration) {
        if case .cache(_, let apply) = self.access { apply(&configuration, value) }
    }

    /// Sets a node setting (nothing for other settings).
    func apply(_ value: CacheSettingValue, to node: inout CacheNodeConfiguration) {
        if case .node(_, let apply) = self.access { apply(&node, value) }
    }

    /// Sets a TLS setting (nothing for other settings).
    func apply(_ value: CacheSettingValue, to tls: inout CacheTLSConfiguration) {
        if case .tls(_, let apply) = self.access { apply(&tls, value) }
    }

    /// The value of a cache-wide setting; nil when unset.
    func value(in configuration: CacheConfiguration) -> CacheSettingValue? {
        if case .cache(let read, _) = self.access { return read(configuration) }
        return nil
    }

    /// The value of a node setting; nil when unset.
    func value(in node: CacheNodeConfiguration) -> CacheSettingValue? {
        if case .node(let read, _) = self.access { return read(node) }
        return nil
    }

    /// The value of a TLS setting; nil when unset.
    func value(in tls: CacheTLSConfiguration) -> CacheSettingValue? {
        if case .tls(let read, _) = self.access { return read(tls) }
        return nil
    }
}

extension CacheSettings {
    /// One setting's value in a configuration, at its concrete key path (`nodes[1].tls.caFile`).
    public struct Entry: Sendable, Hashable, CustomStringConvertible {
        /// The key path in a file, with the node index: `pool.waitTimeout`, `nodes[1].weight`.
        public var path: String
        /// The value; secrets are `***` unless asked for.
        public var value: String

        /// `path: value`.
        public var description: String { "\(self.path): \(self.value)" }
    }

    /// Every setting of a configuration that is set, read back through the table, in table order, then node by
    /// node. Secrets are shown as `***` unless `revealingSecrets` is true.
    ///
    /// Two configurations that give the same list have the same settings (the tracer aside).
    public static func entries(of configuration: CacheConfiguration, revealingSecrets: Bool = false) -> [Entry] {
        func shown(_ setting: CacheSetting, _ value: CacheSettingValue) -> String {
            setting.isSecret && !revealingSecrets ? "***" : value.description
        }
        var entries: [Entry] = []
        switch configuration.backend {
        case .memory(let name): entries.append(Entry(path: "backend", value: "memory://\(name)"))
        case .dummy: entries.append(Entry(path: "backend", value: "dummy://"))
        case .redis: entries.append(Entry(path: "backend", value: "redis"))
        case .redisCluster: entries.append(Entry(path: "backend", value: "redis-cluster"))
        }
        for setting in self.all where setting.scope == .cache {
            if let value = setting.value(in: configuration) {
                entries.append(Entry(path: setting.key, value: shown(setting, value)))
            }
        }
        func tls(_ prefix: String, _ tls: CacheTLSConfiguration?) {
            guard let tls else { return }
            for setting in self.all where setting.scope == .tls {
                if let value = setting.value(in: tls) {
                    entries.append(Entry(path: prefix + setting.key, value: shown(setting, value)))
                }
            }
        }
        tls("tls.", configuration.tls)
        for (index, node) in configuration.nodes.enumerated() {
            for setting in self.all where setting.scope == .node {
                if let value = setting.value(in: node) {
                    entries.append(Entry(path: "nodes[\(index)].\(setting.key)", value: shown(setting, value)))
                }
            }
            tls("nodes[\(index)].tls.", node.tls)
        }
        return entries
    }

    // MARK: Tables

    /// The settings table in Markdown, as in the README's "Settings" section (`caches config settings --markdown`).
    public static func markdownTable() -> String {
        var lines = [
            "| Key in files | URL option | Environment variable | Type | Range | Default | Meaning | In code |",
            "|---|---|---|---|---|---|---|---|",
        ]
        func code(_ text: String) -> String { text.isEmpty ? "" : "`\(text.replacing("|", with: "\\|"))`" }
        for setting in self.all {
            var key = code(setting.path)
            if setting.scope == .tls { key += " and " + code("nodes[i].tls." + setting.key) }
            if let old = setting.deprecatedKey { key += " (deprecated: " + code(old) + ", integer ms)" }
            let url: String
            switch setting.url {
            case .option(let name): url = code(name)
            case .perHost(let name): url = code(name) + " (one per host)"
            case .authority(let option?): url = "in the URL, or " + code(option)
            case .authority(nil): url = "`host:port` in the URL"
            case nil: url = ""
            }
            var type = setting.typeName
            if setting.isSecret { type += ", secret" }
            let range = setting.rangeDescription
            let cells = [
                key, url, code(setting.environmentVariable), type, range.isEmpty ? "" : range.replacing("|", with: "\\|"),
                setting.defaultText, setting.meaning.replacing("|", with: "\\|"), code(setting.property),
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The settings table as plain text, one setting a line (`caches config settings`).
    public static func textTable() -> String {
        var lines: [String] = []
        for setting in self.all {
            var line = setting.path
            if let option = setting.urlOption { line += "  url: \(option)" }
            line += "  env: \(setting.environmentVariable)  \(setting.typeName)"
            if !setting.rangeDescription.isEmpty { line += " [\(setting.rangeDescription)]" }
            line += "  default: \(setting.defaultText)"
            if setting.isSecret { line += "  (secret)" }
            if let old = setting.deprecatedKey { line += "  (deprecated key: \(old), ms)" }
            lines.append(line)
            lines.append("    \(setting.meaning)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension CacheSetting {
    /// The type's name in the table.
    public var typeName: String {
        switch self.kind {
        case .string: "string"
        case .integer: self.unit == "seconds" ? "integer (seconds)" : "integer"
        case .bool: "bool"
        case .duration: "duration"
        case .choice: "choice"
        case .file: "file path"
        case .directory: "directory path"
        }
    }
}

extension CacheSetting {
    /// A dotted path as shown in messages: `nodes.1.weight` is `nodes[1].weight`.
    static func display(_ path: String) -> String {
        var text = ""
        for component in path.split(separator: ".") {
            if component.allSatisfy(\.isNumber) {
                text += "[\(component)]"
            } else {
                text += text.isEmpty ? String(component) : "." + component
            }
        }
        return text
    }
}

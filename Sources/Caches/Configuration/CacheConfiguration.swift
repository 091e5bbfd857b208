#if Tracing
    import Tracing
#endif

/// Everything a ``Cache`` needs: the backend, its nodes, the ring, pools, timeouts, TLS and key defaults.
///
/// A plain value with sane defaults, usable from code without any file:
///
/// ```swift
/// var configuration = CacheConfiguration(backend: .redis, nodes: [
///     .init(name: "a", host: "127.0.0.1", port: 6379),
///     .init(name: "b", host: "127.0.0.1", port: 6380, weight: 2),
/// ])
/// configuration.defaultTTL = 600
/// configuration.keyPrefix = "forum"
/// let cache = Cache(configuration: configuration)
/// ```
public struct CacheConfiguration: Sendable {
    /// Where values are stored.
    public enum Backend: Sendable, Hashable {
        /// A process-wide in-memory store with a name (`memory://NAME`, the seed's `locmem://`).
        /// Caches that use the same name share it; different names are isolated.
        case memory(name: String)
        /// Stores nothing: every read misses (the seed's `dummy://`). Values are still encoded, so bad values fail.
        case dummy
        /// Redis nodes behind a ketama ring (one node is a ring of one).
        case redis
        /// A Redis Cluster (or Valkey Cluster): ``CacheConfiguration/nodes`` are seeds, the slot map is read from
        /// them, and each key goes to the primary that serves its slot (`redis-cluster://`, `rediss-cluster://`).
        case redisCluster

        /// Whether the backend is Redis (a ring or a cluster).
        public var isRedis: Bool {
            switch self {
            case .redis, .redisCluster: true
            case .memory, .dummy: false
            }
        }
    }

    /// Where values are stored. Default: `.memory(name: "_")`.
    public var backend: Backend
    /// The Redis nodes (for ``Backend/redis``). Default: none.
    public var nodes: [CacheNodeConfiguration]
    /// The ttl in whole seconds for writes that give none; nil (the default) means no expiry.
    public var defaultTTL: Int?
    /// The version for calls that give none. Default: none (`prefix::key`).
    public var defaultVersion: CacheVersion
    /// The first field of every stored key. Default: empty.
    public var keyPrefix: String
    /// The ring that maps keys to nodes.
    public var ring: Ring
    /// The connection pool of every node.
    public var pool: Pool
    /// How long opening a connection (TCP, TLS handshake, AUTH, SELECT) may take. Default: 2 seconds.
    public var connectTimeout: Duration
    /// How long a command may wait for its reply. Default: 1 second.
    public var commandTimeout: Duration
    /// TLS for every node, unless a node sets its own. Default: nil (plaintext).
    public var tls: CacheTLSConfiguration?
    /// The name sent with `CLIENT SETNAME` on every connection; nil (the default) sends nothing.
    public var clientName: String?
    /// What calls for a down node's keys do. Default: ``CacheFailurePolicy/fail``.
    public var failurePolicy: CacheFailurePolicy = .fail
    /// How often ``Cache/run()`` pings every node to mark it down or up; nil turns active checks off. Default: 5 s.
    public var healthCheckInterval: Duration? = .seconds(5)
    /// The near cache: hot keys served from process memory, kept coherent by Redis' invalidations. Off by default
    /// (``NearCache/maxEntries`` 0). Only for the Redis backend.
    public var nearCache = NearCache()
    /// How a Redis Cluster is used (the `cluster` section of a config file); only for ``Backend/redisCluster``.
    public var cluster = Cluster()
    #if Tracing
        /// Where the cache's spans go (swift-distributed-tracing); nil turns tracing off.
        ///
        /// Default: `InstrumentationSystem.tracer` as it is when the configuration is made, so bootstrap the tracing
        /// system before making the configuration (or the cache from a URL or a config file). The cache reads this once,
        /// when it is created: with nil or the `NoOpTracer` (nothing bootstrapped) its calls open no span at all and pay
        /// nothing for tracing. ``Cache/reload(configuration:)`` does not change it. Only with the package trait
        /// `Tracing` (on by default).
        public var tracer: (any Tracer)? = InstrumentationSystem.tracer
    #endif

    /// The ring settings: twemproxy's `hash` and `hash_tag`.
    public struct Ring: Sendable, Hashable {
        /// The key hash. Default: `fnv1a_64`, twemproxy's default.
        public var hash: CacheHashFunction
        /// Two characters such as `{}`: only the part of a key between them is hashed. Default: nil.
        public var hashTag: String?

        /// Creates ring settings.
        public init(hash: CacheHashFunction = .fnv1a_64, hashTag: String? = nil) {
            self.hash = hash
            self.hashTag = hashTag
        }
    }

    /// The near cache's bounds (see the README's "Near cache").
    ///
    /// With ``maxEntries`` above 0, `get`, `getOrSet` and `getMany` serve values read earlier from process memory
    /// until Redis says they changed: every connection speaks RESP3 with `CLIENT TRACKING ON` (Redis 6 or later).
    public struct NearCache: Sendable, Hashable {
        /// The most entries kept; 0 (the default) turns the near cache off.
        public var maxEntries: Int
        /// The most bytes kept (keys, values and 256 bytes per entry for the index, the slot and the buffer). Default: 64 MiB.
        public var maxBytes: Int
        /// The longest an entry is served without asking Redis again, whatever its ttl: a bound on what a lost
        /// invalidation could cost. Default: 60 s.
        public var maxLifetime: Duration

        /// Creates near-cache settings.
        public init(maxEntries: Int = 0, maxBytes: Int = 64 << 20, maxLifetime: Duration = .seconds(60)) {
            self.maxEntries = maxEntries
            self.maxBytes = maxBytes
            self.maxLifetime = maxLifetime
        }

        /// Whether the near cache is on.
        public var isEnabled: Bool { self.maxEntries > 0 }
    }

    /// How a Redis Cluster is used (see the README's "Redis Cluster").
    public struct Cluster: Sendable, Hashable {
        /// Which nodes answer reads.
        public enum ReadFrom: String, Sendable, Hashable, CaseIterable {
            /// Every call goes to the slot's primary (the default): reads see every write.
            case primary
            /// Reads (`get`, `getMany`, the ttl reads) go to a replica of the slot's shard (connections sent
            /// `READONLY`), spreading them over the replicas; a shard without a replica that answers is read from its
            /// primary. Replication is asynchronous: a read may miss a write made just before. Writes always go to
            /// primaries.
            case replica
        }

        /// How `getMany` reads the keys a node serves when they lie in several slots (`MGET` needs one slot).
        public enum ManyKeyReads: String, Sendable, Hashable, CaseIterable {
            /// One `GET` per key, each node's written in one flush and read back as one run of replies: one round
            /// trip per node, as on a ring, with no script. The node runs one command per key. When a key in the
            /// request moved or holds another type, that node's keys are read by ``mget`` instead.
            case gets
            /// One request per node: a read-only script (`EVAL`, Redis 7 or later) that `GET`s each key. The client
            /// writes and reads one request per node; the node runs one `GET` per key inside the script, which costs
            /// it about twice what ``gets`` does. When a node refuses the script (an older server, no `EVAL` rights),
            /// or a key in the request moved or holds another type, that node's keys are read by ``mget`` instead.
            case script
            /// One `MGET` per slot, each node's in one pipeline: about one request and one reply per key when keys
            /// are spread over many slots, each request a command object of its own.
            case mget
        }

        /// Which nodes answer reads. Default: ``ReadFrom/primary``.
        public var readFrom: ReadFrom
        /// How often the slot map is read again, besides the refreshes that `MOVED` replies and node failures start;
        /// nil turns the periodic refresh off. Default: 30 s.
        public var refreshInterval: Duration?
        /// How `getMany` reads a node's keys of several slots. Default: ``ManyKeyReads/gets``.
        public var manyKeyReads: ManyKeyReads

        /// Creates cluster settings.
        public init(readFrom: ReadFrom = .primary, refreshInterval: Duration? = .seconds(30), manyKeyReads: ManyKeyReads = .gets) {
            self.readFrom = readFrom
            self.refreshInterval = refreshInterval
            self.manyKeyReads = manyKeyReads
        }
    }

    /// Connection pool settings, the same for every node.
    public struct Pool: Sendable, Hashable {
        /// Connections opened at connect and kept open (the seed's `minsize`). Default: 1.
        public var minimumConnections: Int
        /// The most connections to one node (the seed's `maxsize`). Default: 10.
        public var maximumConnections: Int
        /// How long a call may wait for a usable connection before ``CacheError/Code/poolTimeout``. Default: 1 s.
        public var connectionWaitTimeout: Duration
        /// Connections above the minimum idle this long are closed. Default: 60 s.
        public var idleTimeout: Duration
        /// Idle connections are sent a `PING` this often; nil turns keepalive off. Default: 30 s.
        public var keepaliveInterval: Duration?
        /// The first reconnect delay after a failure; it doubles up to ``maximumBackoff``. Default: 100 ms.
        public var initialBackoff: Duration
        /// The longest reconnect delay. Default: 5 s.
        public var maximumBackoff: Duration
        /// In-flight commands on every connection above which another connection is opened. Default: 32.
        public var loadThreshold: Int
        /// How long ``Cache/disconnect()`` lets in-flight commands finish before closing. Default: 5 s.
        public var shutdownGracePeriod: Duration

        /// Creates pool settings.
        public init(
            minimumConnections: Int = 1,
            maximumConnections: Int = 10,
            connectionWaitTimeout: Duration = .seconds(1),
            idleTimeout: Duration = .seconds(60),
            keepaliveInterval: Duration? = .seconds(30),
            initialBackoff: Duration = .milliseconds(100),
            maximumBackoff: Duration = .seconds(5),
            loadThreshold: Int = 32,
            shutdownGracePeriod: Duration = .seconds(5)
        ) {
            self.minimumConnections = minimumConnections
            self.maximumConnections = maximumConnections
            self.connectionWaitTimeout = connectionWaitTimeout
            self.idleTimeout = idleTimeout
            self.keepaliveInterval = keepaliveInterval
            self.initialBackoff = initialBackoff
            self.maximumBackoff = maximumBackoff
            self.loadThreshold = loadThreshold
            self.shutdownGracePeriod = shutdownGracePeriod
        }
    }

    /// Creates a configuration; every setting not given has its documented default.
    public init(
        backend: Backend = .memory(name: "_"),
        nodes: [CacheNodeConfiguration] = [],
        defaultTTL: Int? = nil,
        defaultVersion: CacheVersion = .none,
        keyPrefix: String = "",
        ring: Ring = Ring(),
        pool: Pool = Pool(),
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(1),
        tls: CacheTLSConfiguration? = nil,
        clientName: String? = nil
    ) {
        self.backend = backend
        self.nodes = nodes
        self.defaultTTL = defaultTTL
        self.defaultVersion = defaultVersion
        self.keyPrefix = keyPrefix
        self.ring = ring
        self.pool = pool
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.tls = tls
        self.clientName = clientName
    }

    /// The longest duration any setting may have, in milliseconds: `Int32.max` ms, about 24.8 days.
    ///
    /// Durations become NIO `TimeAmount`s (64-bit nanoseconds) and deadlines `now + duration`; this bound keeps
    /// every such conversion and sum far from overflow, so no setting can trap. Every duration of
    /// ``CacheSettings/all`` (files, URLs, the environment) has this bound.
    public static let maximumDurationMilliseconds = Int(Int32.max)

    /// The most connections a node's pool may have (`pool.maximumConnections`, the URL's `maxsize`).
    public static let maximumPoolConnections = 10_000

    /// The most nodes a configuration may have.
    public static let maximumNodes = 1_000

    /// Checks every setting that can be checked without I/O.
    ///
    /// Every duration is range-checked here, before anything converts it: it must be at most
    /// ``maximumDurationMilliseconds`` ms (and positive where zero makes no sense), so a configuration built in code
    /// with a huge `Duration` is refused instead of trapping later.
    ///
    /// - Throws: ``CacheError`` with ``CacheError/Code/invalidConfiguration`` (or ``CacheError/Code/invalidArgument``
    ///   for a default ttl of zero or less) naming the setting.
    public func validate() throws(CacheError) {
        if let ttl = self.defaultTTL, ttl <= 0 {
            throw CacheError(
                .invalidArgument,
                "'ttl' option can't be set to \(ttl). If you want cache keys to never expire, set it to nil."
            )
        }
        // Every setting of the table: its range and rules, named by key path and property.
        func check(_ setting: CacheSetting, _ path: String, _ value: CacheSettingValue?, node: String? = nil) throws(CacheError) {
            guard let value, let problem = setting.problem(with: value) else { return }
            throw CacheError(.invalidConfiguration, "\(path) (\(setting.property)): \(problem)", node: node)
        }
        for setting in CacheSettings.all where setting.scope == .cache {
            try check(setting, setting.key, setting.value(in: self))
        }
        if self.pool.minimumConnections > self.pool.maximumConnections {
            throw CacheError(
                .invalidConfiguration,
                "pool: minimumConnections (\(self.pool.minimumConnections)) must be between 0 and maximumConnections (\(self.pool.maximumConnections)), which must be at least 1"
            )
        }
        if self.backend != .redisCluster, self.cluster != Cluster() {
            throw CacheError(
                .invalidConfiguration,
                "cluster: the cluster settings (readFrom, refreshInterval, manyKeyReads) only apply to a Redis Cluster (redis-cluster://, or a `cluster` section in a config file)"
            )
        }
        guard self.backend.isRedis else { return }
        if self.backend == .redisCluster { try self.validateCluster() }
        if self.nodes.isEmpty {
            throw CacheError(.invalidConfiguration, "nodes: a redis cache needs at least one node")
        }
        if self.nodes.count > Self.maximumNodes {
            throw CacheError(.invalidConfiguration, "nodes: at most \(Self.maximumNodes) nodes, got \(self.nodes.count)")
        }
        var seen = Set<String>()
        for (index, node) in self.nodes.enumerated() {
            for setting in CacheSettings.all where setting.scope == .node {
                try check(setting, "nodes[\(index)].\(setting.key)", setting.value(in: node), node: node.ketamaName)
            }
            if let tls = node.tls {
                for setting in CacheSettings.all where setting.scope == .tls {
                    try check(setting, "nodes[\(index)].tls.\(setting.key)", setting.value(in: tls), node: node.ketamaName)
                }
            }
            if !seen.insert(node.ketamaName).inserted {
                throw CacheError(
                    .invalidConfiguration,
                    "nodes[\(index)]: duplicate node name \(String(reflecting: node.ketamaName))",
                    node: node.ketamaName
                )
            }
        }
    }

    /// What a cluster cannot do (each names its key path): it has one database, and the ring's near cache, failure
    /// policies and weights do not apply to it.
    private func validateCluster() throws(CacheError) {
        func refuse(_ path: String, _ why: String) throws(CacheError) {
            throw CacheError(.invalidConfiguration, "\(path): \(why)")
        }
        if self.nearCache.isEnabled { try refuse("nearCache.maxEntries", "the near cache is not available on a cluster yet") }
        if self.failurePolicy != .fail {
            try refuse("failurePolicy", "a cluster fails over by itself; only the default (fail) applies")
        }
        for (index, node) in self.nodes.enumerated() {
            if let database = node.database, database != 0 {
                try refuse("nodes[\(index)].database", "a cluster has only database 0, got \(database)")
            }
            if node.weight != 1 { try refuse("nodes[\(index)].weight", "a cluster's seeds have no weight, got \(node.weight)") }
        }
        if self.ring != Ring() {
            try refuse("ring", "a cluster places keys by slot (CRC16 of the key or its {hash tag}), not by a ring's hash")
        }
    }
}

/// The key hash functions of twemproxy's ketama distribution, named as in twemproxy's `hash:` setting.
///
/// Each one places keys exactly as an x86-64 nutcracker 0.5.0 does, quirks included (`docs/KETAMA.md`). The same
/// names are accepted by the URL option `hash=` and the config-file key `ring.hash`; any other name is an error
/// that lists these.
public enum CacheHashFunction: String, Sendable, Hashable, CaseIterable {
    /// Bob Jenkins' one-at-a-time hash.
    case one_at_a_time
    /// The first four bytes of MD5, little-endian (libmemcached's ketama hash).
    case md5
    /// CRC-16/XMODEM, not masked to 16 bits (as twemproxy).
    case crc16
    /// libmemcached's CRC-32 variant: it keeps 15 bits only, so with ketama nearly every key lands on one node.
    /// Accepted for compatibility; do not choose it for a new ring.
    case crc32
    /// The standard CRC-32 (zlib's `crc32`).
    case crc32a
    /// 64-bit FNV-1, truncated to 32 bits.
    case fnv1_64
    /// twemproxy's default: a 32-bit FNV-1a with the low halves of the 64-bit FNV basis and prime.
    case fnv1a_64
    /// 32-bit FNV-1.
    case fnv1_32
    /// 32-bit FNV-1a.
    case fnv1a_32
    /// Paul Hsieh's SuperFastHash.
    case hsieh
    /// MurmurHash2.
    case murmur
    /// Bob Jenkins' lookup3 `hashlittle`.
    case jenkins

    /// The names accepted, in twemproxy's order, for error messages: `one_at_a_time, md5, …, jenkins`.
    static var validNames: String { Self.allCases.map(\.rawValue).joined(separator: ", ") }
}

/// One Redis node.
public struct CacheNodeConfiguration: Sendable, Hashable, CustomStringConvertible {
    /// A stable name. Its ketama points follow the name, so the node can move to another address without moving
    /// keys. Default: nil (the identity is `host:port`, as in twemproxy).
    public var name: String?
    /// The host name or address.
    public var host: String
    /// The port. Default: 6379.
    public var port: Int
    /// The ring weight. Default: 1.
    public var weight: UInt32
    /// The database selected with `SELECT`; nil (the default) sends no `SELECT`.
    public var database: Int?
    /// The ACL user name for `AUTH`. Default: nil.
    public var username: String?
    /// The password for `AUTH`. Never printed. Default: nil.
    public var password: String?
    /// TLS for this node, overriding the cache-wide setting. Default: nil (use the cache's).
    public var tls: CacheTLSConfiguration?

    /// Creates a node.
    public init(
        name: String? = nil,
        host: String,
        port: Int = 6379,
        weight: UInt32 = 1,
        database: Int? = nil,
        username: String? = nil,
        password: String? = nil,
        tls: CacheTLSConfiguration? = nil
    ) {
        self.name = name
        self.host = host
        self.port = port
        self.weight = weight
        self.database = database
        self.username = username
        self.password = password
        self.tls = tls
    }

    /// The node's identity on the ring: its name, or `host:port` (just `host` for port 11211), as twemproxy.
    public var ketamaName: String {
        if let name = self.name { return name }
        return self.port == 11211 ? self.host : "\(self.host):\(self.port)"
    }

    /// `name (host:port)`; never shows the password.
    public var description: String {
        var text = self.name.map { "\($0) (\(self.host):\(self.port))" } ?? "\(self.host):\(self.port)"
        if let db = self.database { text += " db \(db)" }
        if self.password != nil { text += " auth ***" }
        if self.tls != nil { text += " tls" }
        return text
    }
}

import CacheRing
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// One cache over an in-memory store or many Redis nodes, with the API of the Python library async-caches.
///
/// ```swift
/// let cache = try Cache(url: "redis://127.0.0.1:6379/0", ttl: 600, version: 2, keyPrefix: "forum")
/// try await cache.connect()
/// try await cache.set("user:1", User(name: "Zoë"))
/// let user = try await cache.get("user:1", as: User.self)
/// try await cache.disconnect()
/// ```
///
/// Keys are stored as `prefix:version:key` and values as the JSON text Python's `json.dumps` writes, so a Python
/// service using async-caches and a Swift service using `Cache` read each other's values.
///
/// Every call before ``connect()`` or after ``disconnect()`` throws ``CacheError`` with
/// ``CacheError/Code/notConnected``. A disconnected cache can be connected again.
///
/// In a service, add the cache to a ServiceLifecycle `ServiceGroup` instead: ``run()`` connects it, serves until
/// graceful shutdown and disconnects it. The cache logs to the `Logger` it is given, reports per-node metrics
/// through swift-metrics (see ``CacheMetrics``) and, with the package trait `Tracing` and a tracer in its
/// configuration (`CacheConfiguration.tracer`), opens a span per call through swift-distributed-tracing.
public final class Cache: Sendable {
    /// The configuration the cache was created with. After ``reload(configuration:)``, the nodes in use are those
    /// of ``activeConfiguration``; the key defaults (ttl, version, prefix) never change.
    public let configuration: CacheConfiguration
    /// The config file the cache was created from (``init(configurationFile:logger:)``), if any.
    package let configurationFile: String?
    /// The version (inode, size, modification time) of ``configurationFile`` when the cache was created.
    let configurationFileVersion: ConfigFileSystem.Version?
    let logger: Logger
    private let state: NIOLockedValueBox<State> = NIOLockedValueBox(.disconnected)
    /// The configuration in use: the one created with, or the last one ``reload(configuration:)`` applied.
    private let active: NIOLockedValueBox<CacheConfiguration>
    /// Whether a ``reload(configuration:)`` is running.
    private let reloading: NIOLockedValueBox<Bool> = NIOLockedValueBox(false)
    private let makeBackend: @Sendable (CacheConfiguration) throws -> any CacheBackend
    /// The near cache (Redis backend with ``CacheConfiguration/NearCache/maxEntries`` above 0), kept across
    /// reloads and reconnects.
    let nearCache: CacheNearCache?
    /// ``nearCache`` unretained, for the hit path: both cores would otherwise write its reference count on every
    /// read of a hot key (``nearCache`` keeps it alive as long as the cache).
    let nearCacheReference: Unmanaged<CacheNearCache>?
    /// Whether the cache is connected, readable without the state's lock: a near-cache hit tests this and nothing
    /// else of the cache's shared state (see `read`), so the hot-key reads of every core share no written memory.
    let connectedForNearHits = Atomic<Bool>(false)
    /// The state of ``run()`` (Cache+Service.swift).
    let service = CacheServiceState()
    /// `prefix:defaultVersion:`, the head of every stored key of a call that gives no version.
    let defaultKeyHead: String
    /// The `getOrSet` computations running, shared by the callers that miss on the same key (Cache+Commands.swift).
    let singleFlight = CacheSingleFlight()
    /// The refresh-ahead recomputations running in the background (Cache+Commands.swift).
    let refreshes = CacheRefreshes()
    /// How many times a `getOrSet` caller found a key's stampede lock held by someone else and waited.
    let lockWaits = Atomic<Int>(0)
    #if Tracing
        /// Where spans go; nil when the configuration has no tracer or the `NoOpTracer`, decided once here so that a
        /// call without tracing tests one pointer and nothing else.
        let tracer: CacheTracer?
    #endif

    private enum State {
        case disconnected
        case connecting
        case connected(any CacheBackend)
        case disconnecting
    }

    /// Creates a cache from a configuration. Does no I/O.
    ///
    /// - Parameters:
    ///   - configuration: The backend, nodes and settings.
    ///   - logger: Where the cache logs (at `trace` and `debug`, node trouble at `info`). Default: no logging.
    /// - Throws: ``CacheError`` when the configuration is invalid (see ``CacheConfiguration/validate()``).
    public convenience init(configuration: CacheConfiguration, logger: Logger? = nil) throws {
        try self.init(configuration: configuration, logger: logger, configurationFile: nil)
    }

    init(configuration: CacheConfiguration, logger: Logger?, configurationFile: String?) throws {
        try configuration.validate()
        self.configuration = configuration
        self.defaultKeyHead = configuration.keyPrefix + ":" + configuration.defaultVersion.text + ":"
        self.configurationFile = configurationFile
        self.configurationFileVersion = configurationFile.flatMap(ConfigFileSystem.version(of:))
        self.active = NIOLockedValueBox(configuration)
        let logger = logger ?? Logger(label: "swift-caches", factory: { _ in SwiftLogNoOpLogHandler() })
        self.logger = logger
        #if Tracing
            let tracer = CacheTracer(configuration.tracer, backend: configuration.backend)
            self.tracer = tracer
        #else
            let tracer: CacheTracer? = nil
        #endif
        let nearCache: CacheNearCache?
        if case .redis = configuration.backend, configuration.nearCache.isEnabled {
            nearCache = CacheNearCache(
                limits: .init(
                    maxEntries: configuration.nearCache.maxEntries,
                    maxBytes: configuration.nearCache.maxBytes,
                    maxLifetime: configuration.nearCache.maxLifetime
                )
            )
        } else {
            nearCache = nil
        }
        self.nearCache = nearCache
        self.nearCacheReference = nearCache.map { Unmanaged.passUnretained($0) }
        switch configuration.backend {
        case .memory(let name):
            self.makeBackend = { _ in MemoryBackend(name: name) }
        case .dummy:
            self.makeBackend = { _ in DummyBackend() }
        case .redisCluster:
            self.makeBackend = { configuration in try RedisClusterBackend(configuration: configuration, logger: logger) }
        case .redis:
            self.makeBackend = { [nearCache] configuration in
                // Nothing kept from an earlier connection is trusted: its tracking ended with it.
                nearCache?.removeAll()
                return try RedisBackend(configuration: configuration, logger: logger, tracer: tracer, nearCache: nearCache)
            }
        }
    }

    /// Creates a cache from a URL, as async-caches' `Cache(url, ttl=, version=, key_prefix=)`. Does no I/O.
    ///
    /// `memory://NAME` (or `locmem://NAME`) and `dummy://` are embedded; `redis://` and `rediss://` (TLS) name one
    /// or more comma-separated Redis nodes. An argument given here beats the same option in the URL.
    ///
    /// - Parameters:
    ///   - url: The cache URL; its query options are listed in the README.
    ///   - ttl: The default ttl in whole seconds (must be positive); nil uses the URL's `ttl`, else no expiry.
    ///   - version: The default version; nil (or `0`, `""`) uses the URL's `version`, else none.
    ///   - keyPrefix: The key prefix; nil (or `""`) uses the URL's `key_prefix`, else none.
    ///   - minConnections: The pool minimum per node (the seed's `minsize`); nil uses the URL's, else 1.
    ///   - maxConnections: The pool maximum per node (the seed's `maxsize`); nil uses the URL's, else 10.
    ///   - logger: Where the cache logs. Default: no logging.
    /// - Throws: ``CacheError`` with ``CacheError/Code/invalidURL`` or ``CacheError/Code/invalidArgument``.
    public convenience init(
        url: String,
        ttl: Int? = nil,
        version: CacheVersion? = nil,
        keyPrefix: String? = nil,
        minConnections: Int? = nil,
        maxConnections: Int? = nil,
        logger: Logger? = nil
    ) throws {
        var configuration = try CacheConfiguration(url: CacheURL(url))
        if let ttl {
            configuration.defaultTTL = ttl
        }
        if let version, version.isSet { configuration.defaultVersion = version }
        if let keyPrefix, !keyPrefix.isEmpty { configuration.keyPrefix = keyPrefix }
        if let minConnections { configuration.pool.minimumConnections = minConnections }
        if let maxConnections { configuration.pool.maximumConnections = maxConnections }
        try self.init(configuration: configuration, logger: logger)
    }

    /// Creates a cache, connects it, runs `body` and disconnects, also when `body` throws.
    ///
    /// The Swift form of async-caches' `async with Cache(url) as cache:`.
    ///
    /// - Parameters:
    ///   - url: The cache URL.
    ///   - ttl: The default ttl in whole seconds.
    ///   - version: The default version.
    ///   - keyPrefix: The key prefix.
    ///   - logger: Where the cache logs.
    ///   - body: The work to do with the connected cache.
    /// - Returns: What `body` returns.
    public static func with<Result>(
        url: String,
        ttl: Int? = nil,
        version: CacheVersion? = nil,
        keyPrefix: String? = nil,
        logger: Logger? = nil,
        _ body: (Cache) async throws -> Result
    ) async throws -> Result {
        let cache = try Cache(url: url, ttl: ttl, version: version, keyPrefix: keyPrefix, logger: logger)
        return try await cache.withConnection(body)
    }

    /// Connects, runs `body` and disconnects, also when `body` throws.
    ///
    /// - Parameter body: The work to do with the connected cache.
    /// - Returns: What `body` returns.
    public func withConnection<Result>(_ body: (Cache) async throws -> Result) async throws -> Result {
        try await self.connect()
        do {
            let result = try await body(self)
            try await self.disconnect()
            return result
        } catch {
            try? await self.disconnect()
            throw error
        }
    }

    // MARK: Lifecycle

    /// Whether the cache is connected.
    public var isConnected: Bool {
        self.state.withLockedValue { if case .connected = $0 { true } else { false } }
    }

    /// Connects the cache: opens each node's minimum connections (or the in-memory store).
    ///
    /// Some nodes that cannot be reached do not fail `connect`: their pools keep retrying and their calls fail with a
    /// typed error (or follow the failure policy) until they are back. When no node at all can be reached, `connect`
    /// throws and the cache stays disconnected. After ``disconnect()``, `connect` works again.
    ///
    /// - Throws: ``CacheError`` with ``CacheError/Code/alreadyConnected`` when already connected, or
    ///   ``CacheError/Code/connectFailed`` (or the node's own error, for one node) when no node can be reached.
    public func connect() async throws {
        try self.state.withLockedValue { state in
            guard case .disconnected = state else {
                throw CacheError(.alreadyConnected, "the cache is already connected")
            }
            state = .connecting
        }
        do {
            let backend = try self.makeBackend(self.activeConfiguration)
            try await backend.connect()
            self.state.withLockedValue { state in
                state = .connected(backend)
                self.connectedForNearHits.store(true, ordering: .releasing)
            }
            self.logger.debug("cache connected")
        } catch {
            self.state.withLockedValue { $0 = .disconnected }
            throw error
        }
    }

    /// Disconnects: lets in-flight commands finish (bounded by the pool's grace period), then closes every
    /// connection. Later calls throw ``CacheError/Code/notConnected`` until ``connect()`` is called again.
    ///
    /// - Throws: ``CacheError`` with ``CacheError/Code/notConnected`` when not connected.
    public func disconnect() async throws {
        let backend = try self.state.withLockedValue { state -> any CacheBackend in
            guard case .connected(let backend) = state else {
                throw CacheError(.notConnected, "the cache is not connected")
            }
            state = .disconnecting
            self.connectedForNearHits.store(false, ordering: .releasing)
            return backend
        }
        self.refreshes.cancelAll()
        await backend.disconnect()
        self.state.withLockedValue { $0 = .disconnected }
        self.logger.debug("cache disconnected")
    }

    @inline(__always)
    func backend() throws(CacheError) -> any CacheBackend {
        let backend: (any CacheBackend)? = self.state.withLockedValue { state in
            guard case .connected(let backend) = state else { return nil }
            return backend
        }
        guard let backend else {
            throw CacheError(.notConnected, "the cache is not connected: call connect() first")
        }
        return backend
    }

    /// The near cache's counters and size, or nil when it is off (see ``CacheConfiguration/nearCache``).
    public var nearCacheStatistics: CacheNearCacheStatistics? {
        self.nearCache?.statistics
    }

    // MARK: Topology

    /// The configuration in use: the one the cache was created with, or the last one ``reload(configuration:)``
    /// applied.
    public var activeConfiguration: CacheConfiguration {
        self.active.withLockedValue { $0 }
    }

    /// Applies a changed node list without a restart: the ring is rebuilt and swapped in at once.
    ///
    /// Nodes whose name, address and settings are unchanged keep their pools and connections; a weight change
    /// only rebuilds the ring. New nodes get a pool, which opens its minimum connections before the swap. Removed
    /// nodes finish their in-flight commands (bounded by the pool's grace period) and close; a call that reaches
    /// a removed node after the swap is sent to the node the new ring names instead, so no call fails because of
    /// the swap. When the cache is not connected, the next ``connect()`` uses the new configuration.
    ///
    /// Only the topology can change at run time: nodes, weights, ring, pool, timeouts, TLS and client name.
    ///
    /// On a Redis Cluster a reload builds a new set of pools: it reads the slot map from the new seeds before the
    /// swap (a map it cannot read yet is logged and read again by the next call) and closes the old pools after it,
    /// letting their in-flight calls finish; the cluster settings (``CacheConfiguration/cluster``) can change too.
    ///
    /// - Parameter configuration: The new configuration.
    /// - Throws: ``CacheError`` with ``CacheError/Code/invalidConfiguration`` when the configuration is invalid,
    ///   changes the backend or the key defaults (ttl, version, key prefix), or another reload is running.
    public func reload(configuration new: CacheConfiguration) async throws {
        try new.validate()
        let current = self.activeConfiguration
        var unchangeable: [String] = []
        if new.backend != current.backend { unchangeable.append("the backend") }
        if new.defaultTTL != current.defaultTTL { unchangeable.append("defaults.ttl") }
        if new.defaultVersion.text != current.defaultVersion.text { unchangeable.append("defaults.version") }
        if new.keyPrefix != current.keyPrefix { unchangeable.append("defaults.keyPrefix") }
        if new.nearCache != current.nearCache { unchangeable.append("nearCache") }
        if !unchangeable.isEmpty {
            throw CacheError(
                .invalidConfiguration,
                "\(unchangeable.joined(separator: ", ")) cannot change while the cache runs: restart to apply it"
            )
        }
        try self.reloading.withLockedValue { running in
            guard !running else { throw CacheError(.invalidConfiguration, "another reload is running") }
            running = true
        }
        defer { self.reloading.withLockedValue { $0 = false } }

        let connected: (any CacheBackend)? = self.state.withLockedValue { state in
            if case .connected(let backend) = state { return backend }
            return nil
        }
        guard let old = connected, let change = try old.prepareReload(to: new) else {
            // Not connected (or an embedded backend, whose topology is empty): the next connect uses it.
            self.active.withLockedValue { $0 = new }
            return
        }
        await change.start()
        let swapped = self.state.withLockedValue { state in
            guard case .connected(let backend) = state, change.replaces(backend) else { return false }
            state = .connected(change.backend)
            self.active.withLockedValue { $0 = new }
            return true
        }
        guard swapped else {
            await change.abandon()
            throw CacheError(.notConnected, "the cache disconnected during the reload")
        }
        self.logger.debug("cache topology reloaded", metadata: change.summary)
        await change.retireOld()
    }

    // MARK: Keys and ttls

    /// The stored key for a logical key: `prefix:version:key`, exactly as async-caches' `make_key`.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - version: The version; nil, `0` or `""` use the cache's default version.
    /// - Returns: The key as stored in Redis.
    public func makeKey(_ key: String, version: CacheVersion? = nil) -> String {
        Self.join(self.keyHead(version: version), key)
    }

    /// `prefix:version:` for a call's version (the cache's default version when it is not given).
    @inline(__always)
    func keyHead(version: CacheVersion?) -> String {
        guard let version, version.isSet else { return self.defaultKeyHead }
        return self.configuration.keyPrefix + ":" + version.text + ":"
    }

    /// `head + key` with one allocation at most.
    @inline(__always)
    static func join(_ head: String, _ key: String) -> String {
        var stored = head
        stored.reserveCapacity(head.utf8.count + key.utf8.count)
        stored.append(key)
        return stored
    }

    /// The ttl a write uses: the one given, else the cache's default, else none.
    ///
    /// - Parameter ttl: The ttl in whole seconds given to the call, or nil.
    /// - Returns: The effective ttl, or nil for no expiry.
    /// - Throws: ``CacheError/Code/invalidArgument`` for zero or less, before any I/O.
    public func makeTTL(_ ttl: Int? = nil) throws -> Int? {
        if let ttl {
            guard ttl > 0 else {
                throw CacheError(
                    .invalidArgument,
                    "'ttl' can't be set to \(ttl). If you want cache to never expire, set it to nil."
                )
            }
            return ttl
        }
        return self.configuration.defaultTTL
    }

    /// The name of the node that holds a key (its configured name, or `host:port`), or nil for embedded backends.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: The node's name.
    public func nodeName(for key: String, version: CacheVersion? = nil) -> String? {
        let stored = self.makeKey(key, version: version)
        if let backend = try? self.backend() { return backend.nodeName(forKey: stored) }
        // Not connected: build the ring alone (no pools, no TLS contexts).
        let configuration = self.activeConfiguration
        guard case .redis = configuration.backend, let ring = try? CacheRingRouter.makeRing(configuration) else { return nil }
        return configuration.nodes.count == 1 ? configuration.nodes[0].ketamaName : ring.nodes[ring.nodeIndex(forKey: stored)].name
    }

    // MARK: Tracing

    /// Runs the work of the public call `operation` in its span when tracing is on; without a tracer (or with the
    /// `NoOpTracer`), runs it directly: one test of ``tracer``, no allocation, no lock.
    ///
    /// - Parameters:
    ///   - operation: The call, the span's name.
    ///   - keyCount: The call's key count (`cache.key.count`); nil for calls without keys (`clear`).
    ///   - body: The call's work.
    @inline(__always)
    func traced<Result>(_ operation: CacheOperation, keyCount: Int? = 1, _ body: () async throws -> Result) async throws -> Result {
        #if Tracing
            if let tracer = self.tracer {
                return try await tracer.withSpan(operation, keyCount: keyCount, body)
            }
        #endif
        return try await body()
    }

    /// Sets `cache.hit` on the span of the running call, when tracing is on.
    @inline(__always)
    func traceHit(_ hit: Bool) {
        #if Tracing
            if self.tracer != nil { CacheTracer.annotateCurrent(hit: hit) }
        #endif
    }

    /// Whole seconds, rounded up; saturates at `Int.max` instead of trapping (the server then refuses the ttl).
    static func seconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        let (rounded, overflow) = Int(seconds).addingReportingOverflow(attoseconds > 0 ? 1 : 0)
        return overflow ? .max : rounded
    }
}

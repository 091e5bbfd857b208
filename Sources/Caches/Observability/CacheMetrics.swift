/// The names of the metrics a ``Cache`` reports through swift-metrics, for dashboards and alerts.
///
/// A cache on Redis nodes reports to the metrics backend bootstrapped with `MetricsSystem.bootstrap(_:)`, or to
/// the task-local factory of `withMetricsFactory(_:_:)` active when ``Cache/connect()`` (or ``Cache/run()``)
/// opens the nodes. The embedded backends (`memory://`, `dummy://`) report nothing. Every metric has the
/// dimension ``Dimension/node`` (the node's configured name, or `host:port`):
///
/// | Label | Kind | More dimensions | What |
/// |---|---|---|---|
/// | `caches.commands` | Counter | `command` | requests sent to the node, by their (first) Redis command |
/// | `caches.errors` | Counter | `code` | failed calls, by ``CacheError/Code``, also those never sent |
/// | `caches.absorbed` | Counter | `operation` | node failures the miss policy absorbed: reads answered as misses, writes dropped |
/// | `caches.command.duration` | Timer | `command` | the time from the call to its reply or error |
/// | `caches.hits` / `caches.misses` | Counter | | keys found or missing by `get`, `getMany`, `getOrSet` |
/// | `caches.pool.connections` | Gauge | | open connections of the node's pool |
/// | `caches.pool.in_flight` | Gauge | | requests sent and not answered yet |
/// | `caches.pool.waiting` | Gauge | | callers waiting for a usable connection |
///
/// With a near cache (``CacheConfiguration/nearCache``), seven more metrics without dimensions, fed from its
/// counters whenever the pool gauges are sampled:
///
/// | Label | Kind | What |
/// |---|---|---|
/// | `caches.near.hits` / `caches.near.misses` | Counter | reads answered from process memory, or not |
/// | `caches.near.invalidations` | Counter | entries removed by Redis' invalidation pushes |
/// | `caches.near.evictions` | Counter | entries removed for the bounds, their ttl or their maximum lifetime |
/// | `caches.near.flushes` | Counter | times entries were dropped wholesale (tracking lost, flush, topology change) |
/// | `caches.near.entries` / `caches.near.bytes` | Gauge | the near cache's size |
///
/// The pool gauges are sampled when a node opens and closes and every second while ``Cache/run()`` runs.
/// `command` is the Redis command name (`GET`, `MGET`, `SETEX`, `UNLINK`…); a `setMany` with a ttl is counted as
/// `MSET`. A key that holds JSON `null` counts as a hit (the key exists) though `get` returns nil for it.
public enum CacheMetrics {
    /// `caches.commands`: a counter of requests sent, dimensions `node` and `command`.
    public static let commands = "caches.commands"
    /// `caches.errors`: a counter of failed calls, dimensions `node` and `code`.
    public static let errors = "caches.errors"
    /// `caches.absorbed`: a counter of node failures absorbed by ``CacheFailurePolicy/miss``, dimensions `node` and
    /// `operation` (`get`, `set`, `add`, `delete`, `touch`, `ttl`, `getMany`, `setMany`, `deleteMany`).
    public static let absorbed = "caches.absorbed"
    /// `caches.command.duration`: a timer of calls, dimensions `node` and `command`.
    public static let commandDuration = "caches.command.duration"
    /// `caches.hits`: a counter of keys found by reads, dimension `node`.
    public static let hits = "caches.hits"
    /// `caches.misses`: a counter of keys not found by reads, dimension `node`.
    public static let misses = "caches.misses"
    /// `caches.pool.connections`: a gauge of open connections, dimension `node`.
    public static let poolConnections = "caches.pool.connections"
    /// `caches.pool.in_flight`: a gauge of requests in flight, dimension `node`.
    public static let poolInFlight = "caches.pool.in_flight"
    /// `caches.pool.waiting`: a gauge of callers waiting for a connection, dimension `node`.
    public static let poolWaiting = "caches.pool.waiting"

    /// `caches.near.hits`: a counter of reads the near cache answered.
    public static let nearHits = "caches.near.hits"
    /// `caches.near.misses`: a counter of reads the near cache sent to Redis.
    public static let nearMisses = "caches.near.misses"
    /// `caches.near.invalidations`: a counter of entries removed by invalidation pushes.
    public static let nearInvalidations = "caches.near.invalidations"
    /// `caches.near.evictions`: a counter of entries removed for the bounds or their lifetime.
    public static let nearEvictions = "caches.near.evictions"
    /// `caches.near.flushes`: a counter of wholesale drops (tracking lost, a flush, a topology change).
    public static let nearFlushes = "caches.near.flushes"
    /// `caches.near.entries`: a gauge of entries kept.
    public static let nearEntries = "caches.near.entries"
    /// `caches.near.bytes`: a gauge of bytes kept.
    public static let nearBytes = "caches.near.bytes"

    /// The dimension names.
    public enum Dimension {
        /// `node`: the node's name.
        public static let node = "node"
        /// `command`: the Redis command name.
        public static let command = "command"
        /// `code`: the ``CacheError/Code`` description, such as `timeout`.
        public static let code = "code"
        /// `operation`: the ``Cache`` call whose node failure was absorbed, such as `set` or `getMany`.
        public static let operation = "operation"
    }
}

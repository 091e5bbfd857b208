/// The health of one node: whether it answers `PING`, how fast, how many keys it holds, and its pool.
public struct CacheNodeStatus: Sendable, CustomStringConvertible {
    /// The node's name (its configured name, or `host:port`).
    public var name: String
    /// `host:port`, or `memory`/`dummy` for the embedded backends.
    public var address: String
    /// The ring weight.
    public var weight: UInt32
    /// The round trip of `PING` + `DBSIZE`, or nil when the node did not answer.
    public var latency: Duration?
    /// The keys in the node's database (`DBSIZE`), or nil when the node did not answer.
    public var keyCount: Int?
    /// Why the node did not answer.
    public var error: CacheError?
    /// Open connections of the node's pool.
    public var openConnections: Int
    /// Requests sent and not answered yet.
    public var inFlightRequests: Int
    /// Callers waiting for a usable connection.
    public var waitingRequests: Int
    /// With a near cache: the client-tracking flags the node reports for one of the cache's connections
    /// (`CLIENT TRACKINGINFO`, such as `on`); nil without a near cache or when the node did not answer.
    public var tracking: String?
    /// With a near cache: the entries it keeps that were read from this node; nil without a near cache.
    public var nearCacheEntries: Int?
    /// On a Redis Cluster: `primary` or `replica`, as the slot map names the node; nil on a ring.
    public var clusterRole: String?
    /// On a Redis Cluster: how many of the 16384 slots the node's shard serves; nil on a ring.
    public var clusterSlots: Int?

    /// Whether the node answered.
    public var isHealthy: Bool { self.error == nil }

    public var description: String {
        if let error = self.error {
            return "\(self.name) (\(self.address)): DOWN: \(error.message)"
        }
        let micros = self.latency.map { Double($0.components.attoseconds) / 1e12 + Double($0.components.seconds) * 1e6 } ?? 0
        let near = self.nearCacheEntries.map { ", tracking \(self.tracking ?? "unknown"), \($0) near-cache entries" } ?? ""
        let cluster = self.clusterRole.map { ", \($0) of \(self.clusterSlots ?? 0) slots" } ?? ""
        return "\(self.name) (\(self.address)): ok, \(Int(micros)) µs, \(self.keyCount ?? 0) keys, \(self.openConnections) connection(s)"
            + near + cluster
    }
}

extension Cache {
    /// Asks every node for `PING` and `DBSIZE` at once and reports each node's health and pool state.
    ///
    /// A node that is down does not make this throw: its status carries the error.
    ///
    /// - Returns: One status per node, in configuration order; on a Redis Cluster, every primary and replica of the
    ///   slot map, ordered by name, with ``CacheNodeStatus/clusterRole`` and ``CacheNodeStatus/clusterSlots``.
    /// - Throws: ``CacheError/Code/notConnected``.
    public func nodeStatus() async throws -> [CacheNodeStatus] {
        await (try self.backend()).nodeStatus()
    }
}

extension Cache {
    /// Pings every node once, for the failure policy: a node that answers is marked up (and put back into the ring
    /// if it was ejected); one that does not counts a failure. ``run()`` calls this every
    /// ``CacheConfiguration/healthCheckInterval``.
    public func checkNodeHealth() async {
        await (try? self.backend())?.checkHealth()
    }
}

extension Cache {
    /// How many node failures ``CacheFailurePolicy/miss`` has absorbed since ``connect()`` (or the last topology
    /// reload): reads answered as misses and writes dropped because their node was down. Always 0 for the other
    /// policies and the embedded backends. Each is also counted in ``CacheMetrics/absorbed`` and logged at `debug`.
    ///
    /// Compare the count before and after a call to learn whether a write was dropped.
    public var absorbedFailures: Int {
        (try? self.backend())?.absorbedFailureCount ?? 0
    }
}

/// What calls for a node's keys do while the node is down.
///
/// A node failure is a connection that cannot be opened, a closed connection or a command timeout. Server errors
/// (`WRONGTYPE`, …) and waiting for a busy pool (``CacheError/Code/poolTimeout``) are not node failures.
public enum CacheFailurePolicy: Sendable, Hashable, CustomStringConvertible {
    /// The default: calls for a down node's keys fail fast with a typed error naming the node.
    case fail
    /// Reads of a down node's keys return a miss (`get`, `getMany`, `ttl`); writes to it are dropped and reported
    /// (logged at `debug`, counted in ``CacheMetrics/absorbed`` and ``Cache/absorbedFailures``) but do not throw,
    /// and `add`/`touch` return false. `incr`, `decr` and `clear` still throw. For caches that may lose data.
    ///
    /// A node that hangs is absorbed like one that refuses connections: its calls fail at the command timeout, or
    /// at the pool's wait timeout when no connection to it can be opened; once its calls have failed and it has no
    /// open connection, calls for it return at once while its pool reconnects in the background.
    case miss
    /// twemproxy's `auto_eject_hosts`: after `afterFailures` consecutive failures the node leaves the ring for
    /// `retryAfter`, and its keys go to the other nodes, placed exactly as twemproxy places them with the survivors.
    /// After `retryAfter` (or when a health check sees the node answer) it is put back.
    ///
    /// A node may come back with its old data. So that it never serves a value older than one this cache wrote,
    /// the keys written or deleted through this cache while the node was out are journaled (up to `journalLimit`
    /// keys per node): before the node goes back into the ring, those keys are unlinked on it (and the copies the
    /// other nodes took are unlinked too, since they are no longer read). A journal that overflowed flushes the
    /// node's database instead (`FLUSHDB ASYNC`; as ``Cache/clear()`` does, this assumes the database belongs to
    /// the cache). A node that does not answer, or whose cleaning fails, stays out for another `retryAfter`.
    /// `journalLimit: 0` keeps no journal: the node goes back as soon as its retry time has come, as twemproxy's
    /// does, and may serve stale values. Writes by other processes are not journaled by this one.
    case eject(afterFailures: Int = 3, retryAfter: Duration = .seconds(30), journalLimit: Int = 10_000)

    public var description: String {
        switch self {
        case .fail: "fail"
        case .miss: "miss"
        case .eject(let failures, let retry, let journal):
            "eject(after \(failures) failures, retry after \(retry), journal of \(journal) keys)"
        }
    }

    /// The journal size of ``eject(afterFailures:retryAfter:journalLimit:)``, 0 for the other policies.
    var journalLimit: Int {
        if case .eject(_, _, let limit) = self { return limit }
        return 0
    }
}

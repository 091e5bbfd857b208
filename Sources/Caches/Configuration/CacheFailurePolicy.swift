/// What calls for a node's keys do while the node is down.
///
/// A node failure is a connection that cannot be opened, a closed connection or a command timeout. Server errors
/// (`WRONGTYPE`, …) and waiting for a busy pool (``CacheError/Code/poolTimeout``) are not node failures.
public enum CacheFailurePolicy: Sendable, Hashable, CustomStringConvertible {
    /// The default: calls for a down node's keys fail fast with a typed error naming the node.
    case fail
    /// Reads of a down node's keys return a miss; writes to it are reported (logged, counted) but do not throw, and
    /// `add`/`touch` return false. `incr`, `decr` and `clear` still throw. For caches that may lose data.
    case miss
    /// twemproxy's `auto_eject_hosts`: after `afterFailures` consecutive failures the node leaves the ring for
    /// `retryAfter`, and its keys go to the other nodes, placed exactly as twemproxy places them with the survivors.
    /// After `retryAfter` (or when a health check sees the node answer) it is put back.
    case eject(afterFailures: Int = 3, retryAfter: Duration = .seconds(30))

    public var description: String {
        switch self {
        case .fail: "fail"
        case .miss: "miss"
        case .eject(let failures, let retry): "eject(after \(failures) failures, retry after \(retry))"
        }
    }
}

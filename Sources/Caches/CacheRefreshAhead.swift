import NIOConcurrencyHelpers

/// The refresh-ahead option of ``Cache/getOrSet(_:as:ttl:version:singleFlight:lock:refreshAhead:_:)``: a hit whose
/// remaining ttl is below a fraction of the call's ttl starts one recomputation in the background, while every caller
/// keeps getting the current value; a hot key is then replaced before it expires and its readers never miss.
///
/// With the option, the hit path reads the value and its remaining ttl together (`MULTI`, `GET`, `PTTL`, `EXEC`: one
/// round trip, atomic); without it, `getOrSet` sends a plain `GET`. The stored bytes are the same JSON either way, so
/// async-caches services read and write the same keys. The ttl compared against is the call's ttl (or the cache's
/// default): Redis does not keep the ttl a key was written with, so mixing calls with different ttls on one key
/// compares each call's own.
///
/// Within one ``Cache``, a key has at most one refresh running; it runs in a task of its own (not the caller's), so a
/// caller that is cancelled does not cancel it, and ``Cache/disconnect()`` does. Across processes, pass a
/// ``CacheStampedeLock`` too: a refresh first takes the key's lock and is skipped when another process holds it. An
/// error of the refresh (from `make` or from storing) is logged at `warning` level and reaches no caller; the current
/// value keeps being served until it expires, and the next hit below the threshold tries again.
public struct CacheRefreshAhead: Sendable, Hashable {
    /// The fraction of the ttl below which a hit's remaining ttl starts a refresh, in (0, 1).
    public var fraction: Double

    /// - Parameter fraction: Refresh when less than this fraction of the ttl remains, in (0, 1): 0.2 refreshes a
    ///   60-second key in its last 12 seconds.
    public init(whenRemainingBelow fraction: Double) {
        self.fraction = fraction
    }

    /// Checks the fraction and that there is a ttl to compare with.
    ///
    /// - Throws: ``CacheError/Code/invalidArgument`` for a fraction outside (0, 1) or no ttl.
    func threshold(ttl: Int?, key: String) throws(CacheError) -> Double {
        guard self.fraction > 0, self.fraction < 1 else {
            throw CacheError(.invalidArgument, "refresh-ahead fraction must be between 0 and 1 (exclusive), not \(self.fraction)", key: key)
        }
        guard let ttl else {
            throw CacheError(
                .invalidArgument,
                "refresh-ahead needs a ttl: pass one to getOrSet or give the cache a default ttl",
                key: key
            )
        }
        return self.fraction * Double(ttl) * 1000
    }
}

/// The refreshes running in the background, one per stored key at most.
final class CacheRefreshes: Sendable {
    private let running = NIOLockedValueBox<[String: Task<Void, Never>]>([:])

    /// How many refreshes run, for tests.
    var count: Int {
        self.running.withLockedValue { $0.count }
    }

    /// Starts `body` as the refresh of `storedKey` unless one runs already.
    func start(_ storedKey: String, _ body: @escaping @Sendable () async -> Void) {
        self.running.withLockedValue { running in
            guard running[storedKey] == nil else { return }
            // A detached task: the refresh belongs to no caller (nor inherits a caller's task-local values). Its end
            // takes this lock again, after this returns.
            running[storedKey] = Task.detached { [self] in
                await body()
                _ = self.running.withLockedValue { $0.removeValue(forKey: storedKey) }
            }
        }
    }

    /// Cancels every refresh (at ``Cache/disconnect()``).
    func cancelAll() {
        let tasks = self.running.withLockedValue { running in
            defer { running.removeAll() }
            return Array(running.values)
        }
        for task in tasks { task.cancel() }
    }
}

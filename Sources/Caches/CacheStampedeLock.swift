/// The cross-process option of ``Cache/getOrSet(_:as:ttl:version:singleFlight:lock:_:)``: on a miss, one caller
/// across every process that shares the nodes computes the value while the others wait for it.
///
/// The caller that misses takes a short-lived lock on the key's own node, `SET <lock key> <token> PX <ttl> NX`,
/// computes, stores the value and releases the lock by compare-and-delete (an `EVAL` that deletes the lock only while
/// its own token holds it). The others poll the key every ``pollInterval`` and try the lock again each time, so a lock
/// whose holder died is taken over once it expires; after ``wait`` without a value they compute themselves.
///
/// The lock key is `caches-lock:` followed by the stored key (`caches-lock:prefix:version:key`); it is placed on the
/// node of the stored key, not hashed on its own. It does not collide with a key of a cache unless that cache's prefix
/// is `caches-lock`, and `clear(scope: .keyPrefix)` does not remove it (it expires on its own).
public struct CacheStampedeLock: Sendable, Hashable {
    /// How long a lock lives when its holder neither stores nor releases it (a holder that died): longer than the
    /// computation takes. Whole milliseconds, at least 1.
    public var ttl: Duration
    /// How long a caller that did not get the lock waits for the value before computing it itself.
    public var wait: Duration
    /// How often a waiting caller reads the key and tries the lock again.
    public var pollInterval: Duration

    /// - Parameters:
    ///   - ttl: The lock's expiry. Default: 10 seconds.
    ///   - wait: The longest wait for another process's value. Default: 5 seconds.
    ///   - pollInterval: The time between two reads of the key. Default: 25 milliseconds.
    public init(ttl: Duration = .seconds(10), wait: Duration = .seconds(5), pollInterval: Duration = .milliseconds(25)) {
        self.ttl = ttl
        self.wait = wait
        self.pollInterval = pollInterval
    }

    /// The lock key of a stored key.
    static func lockKey(for storedKey: String) -> String {
        "caches-lock:" + storedKey
    }

    /// A random token that tells this holder's lock from any other's.
    static func makeToken() -> String {
        String(UInt64.random(in: 0...UInt64.max), radix: 16) + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }

    /// The lock's expiry in whole milliseconds, rounded up, at least 1.
    var milliseconds: Int {
        max(1, self.ttl.wholeMillisecondsRoundedUp)
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded up (as Redis's `PX` and `PTTL` count), `Int.max` when it does not
    /// fit.
    var wholeMillisecondsRoundedUp: Int {
        let (seconds, attoseconds) = self.components
        let milliseconds = seconds.multipliedReportingOverflow(by: 1000)
        guard !milliseconds.overflow else { return .max }
        let (total, overflow) = Int(milliseconds.partialValue).addingReportingOverflow(
            Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        )
        return overflow ? .max : total
    }
}

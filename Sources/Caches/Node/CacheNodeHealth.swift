import Synchronization

/// A node's recent record: consecutive failures and whether it is considered down.
///
/// A node failure is a connection that cannot be opened, a closed connection or a command timeout; server errors
/// and a busy pool are not. Shared by every topology that keeps the node.
final class CacheNodeHealth: Sendable {
    private let failures = Atomic<Int>(0)

    /// Whether an error says the node itself is in trouble.
    static func isNodeFailure(_ error: CacheError) -> Bool {
        error.code == .connectFailed || error.code == .timeout || error.code == .connectionClosed
            || error.code == .tlsHandshake || error.code == .nodeUnavailable
    }

    /// Consecutive node failures so far.
    var consecutiveFailures: Int { self.failures.load(ordering: .relaxed) }

    /// Records a success; returns true when it ends a run of failures.
    @inline(__always)
    func recordSuccess() -> Bool {
        guard self.failures.load(ordering: .relaxed) != 0 else { return false }
        return self.failures.exchange(0, ordering: .relaxed) != 0
    }

    /// Records a failure; returns the number of consecutive failures.
    func recordFailure() -> Int {
        self.failures.wrappingAdd(1, ordering: .relaxed).newValue
    }
}

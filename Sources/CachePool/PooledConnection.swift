/// A multiplexed connection that a ``ConnectionPool`` can hand out.
///
/// A pooled connection pipelines many requests at once, so the pool never leases it exclusively: it hands
/// out the open connection with the fewest requests in flight. Every requirement must be cheap and safe to
/// call from any thread.
package protocol PooledConnection: AnyObject, Sendable {
    /// The identifier the pool passed to its connection factory when it created this connection.
    var id: Int { get }

    /// The number of requests sent on this connection that have not been answered yet.
    ///
    /// The pool reads this on every lease, so it must be cheap (an atomic counter).
    var inFlightCount: Int { get }

    /// Whether the caller runs on the thread that serves this connection (its event loop). The pool prefers such a
    /// connection while it is below the load threshold: its replies resume the caller without a thread hop.
    var isLocal: Bool { get }

    /// Registers a callback that runs once when the connection has closed.
    ///
    /// If the connection has already closed, the callback runs at once.
    ///
    /// - Parameters:
    ///   - callback: Called with `nil` after a clean close, or with the error that broke the connection.
    func onClose(_ callback: @escaping @Sendable ((any Error)?) -> Void)

    /// Closes the connection gracefully: requests in flight finish first. Calling it again does nothing.
    func close()

    /// Closes the connection at once, failing the requests still in flight. Calling it again does nothing.
    ///
    /// The pool calls this when a shutdown's grace period has elapsed. The default implementation calls
    /// ``close()``.
    func closeImmediately()

    /// Sends a keepalive request (a `PING`) without waiting for its answer.
    ///
    /// If the keepalive fails, the connection closes itself and reports it through ``onClose(_:)``.
    func sendKeepalive()
}

extension PooledConnection {
    package var isLocal: Bool { false }

    /// Closes the connection through ``close()``, for connections that cannot cut requests short.
    package func closeImmediately() {
        self.close()
    }
}

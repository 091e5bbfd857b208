/// A snapshot of a ``ConnectionPool``'s state, for health checks and metrics.
public struct ConnectionPoolStatistics: Sendable, Hashable {
    /// Connections that are open and handed out to callers.
    public var openConnections: Int
    /// Connections being opened.
    public var connectingConnections: Int
    /// Connections closing (idle, or during shutdown) that have not reported closed yet.
    public var closingConnections: Int
    /// Requests in flight over all open and closing connections.
    public var inFlightRequests: Int
    /// Callers waiting for a usable connection.
    public var waitingRequests: Int

    /// Creates a statistics snapshot.
    ///
    /// - Parameters:
    ///   - openConnections: Connections that are open and handed out.
    ///   - connectingConnections: Connections being opened.
    ///   - closingConnections: Connections closing.
    ///   - inFlightRequests: Requests in flight.
    ///   - waitingRequests: Callers waiting for a connection.
    package init(
        openConnections: Int = 0,
        connectingConnections: Int = 0,
        closingConnections: Int = 0,
        inFlightRequests: Int = 0,
        waitingRequests: Int = 0
    ) {
        self.openConnections = openConnections
        self.connectingConnections = connectingConnections
        self.closingConnections = closingConnections
        self.inFlightRequests = inFlightRequests
        self.waitingRequests = waitingRequests
    }
}

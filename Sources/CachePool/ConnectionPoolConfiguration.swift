/// How a ``ConnectionPool`` opens, shares, keeps alive and closes the connections to one node.
///
/// Every property has a default, so `ConnectionPoolConfiguration()` is a working configuration:
///
/// | Property | Type | Default |
/// |---|---|---|
/// | ``minimumConnections`` | `Int` | `1` |
/// | ``maximumConnections`` | `Int` | `10` |
/// | ``connectionWaitTimeout`` | `Duration` | 1 s |
/// | ``idleTimeout`` | `Duration` | 60 s |
/// | ``keepaliveInterval`` | `Duration?` | 30 s (`nil` turns keepalives off) |
/// | ``reconnectBackoff`` | ``ReconnectBackoff`` | 100 ms doubling to 5 s, ±20 % jitter |
/// | ``loadThreshold`` | `Int` | `32` |
/// | ``maximumInFlightPerConnection`` | `Int` | `4096` |
public struct ConnectionPoolConfiguration: Sendable, Hashable {
    /// The delays between failed connection attempts: capped exponential backoff with jitter.
    public struct ReconnectBackoff: Sendable, Hashable {
        /// The delay after the first failed attempt. Default 100 ms.
        public var initial: Duration
        /// The largest delay before jitter is applied. Default 5 s.
        public var maximum: Duration
        /// The factor by which the delay grows after each further failure. Default `2`.
        public var multiplier: Double
        /// The relative jitter: a delay is scaled by a random factor in `1 ± jitter`. Default `0.2`.
        public var jitter: Double

        /// Creates a backoff policy.
        ///
        /// - Parameters:
        ///   - initial: The delay after the first failed attempt (default 100 ms).
        ///   - maximum: The largest delay before jitter (default 5 s).
        ///   - multiplier: The growth factor per failure (default `2`).
        ///   - jitter: The relative jitter, between 0 and 1 (default `0.2`).
        public init(
            initial: Duration = .milliseconds(100),
            maximum: Duration = .seconds(5),
            multiplier: Double = 2,
            jitter: Double = 0.2
        ) {
            self.initial = initial
            self.maximum = maximum
            self.multiplier = multiplier
            self.jitter = jitter
        }

        /// The delay before the next attempt after `failures` consecutive failed attempts.
        ///
        /// - Parameters:
        ///   - failures: The number of consecutive failed attempts, at least 1.
        ///   - jitterFactor: A number in `-1...1` (random in production) that picks the jitter.
        /// - Returns: `min(initial × multiplier^(failures − 1), maximum) × (1 + jitter × jitterFactor)`.
        public func delay(afterFailures failures: Int, jitterFactor: Double) -> Duration {
            let initial = Self.seconds(self.initial)
            let maximum = Self.seconds(self.maximum)
            let exponent = Double(max(failures, 1) - 1)
            let base = min(initial * pow(self.multiplier, exponent), maximum)
            let factor = 1 + self.jitter * min(max(jitterFactor, -1), 1)
            let nanoseconds = (base * factor * 1e9).rounded()
            return .nanoseconds(Int64(min(max(nanoseconds, 0), Double(Int64.max / 2))))
        }

        private static func seconds(_ duration: Duration) -> Double {
            let components = duration.components
            return Double(components.seconds) + Double(components.attoseconds) * 1e-18
        }

        /// `x` to the power `y` for a non-negative integral `y`, without Foundation.
        private func pow(_ x: Double, _ y: Double) -> Double {
            var result = 1.0
            var remaining = Int(y)
            while remaining > 0 && result.isFinite {
                result *= x
                remaining -= 1
            }
            return result
        }
    }

    /// Connections kept open even when idle; the pool reconnects when it drops below. Default `1`.
    public var minimumConnections: Int
    /// The most connections open or being opened at once. Default `10`.
    public var maximumConnections: Int
    /// How long a caller waits for a usable connection before ``ConnectionPoolError/Code/waitTimeout``.
    /// Default 1 s.
    public var connectionWaitTimeout: Duration
    /// How long a connection above the minimum may stay idle before it is closed. Default 60 s.
    public var idleTimeout: Duration
    /// How long a connection may stay idle before it is sent a keepalive `PING`; `nil` turns keepalives off.
    /// Default 30 s.
    public var keepaliveInterval: Duration?
    /// The delays between failed connection attempts. Default 100 ms doubling to 5 s with ±20 % jitter.
    public var reconnectBackoff: ReconnectBackoff
    /// When every open connection has more requests in flight than this, the pool opens one more
    /// (up to ``maximumConnections``). Default `32`.
    public var loadThreshold: Int
    /// A connection with this many requests in flight is full; when all are full, callers wait. Default `4096`.
    public var maximumInFlightPerConnection: Int

    /// Creates a pool configuration.
    ///
    /// - Parameters:
    ///   - minimumConnections: `Int`, default `1`: connections kept open even when idle.
    ///   - maximumConnections: `Int`, default `10`: the most connections at once.
    ///   - connectionWaitTimeout: `Duration`, default 1 s: the bounded wait for a usable connection.
    ///   - idleTimeout: `Duration`, default 60 s: idle connections above the minimum are closed after this.
    ///   - keepaliveInterval: `Duration?`, default 30 s: idle connections are pinged this often; `nil` is off.
    ///   - reconnectBackoff: ``ReconnectBackoff``, default 100 ms × 2 up to 5 s, ±20 % jitter.
    ///   - loadThreshold: `Int`, default `32`: in-flight count above which another connection is opened.
    ///   - maximumInFlightPerConnection: `Int`, default `4096`: in-flight count at which a connection is full.
    public init(
        minimumConnections: Int = 1,
        maximumConnections: Int = 10,
        connectionWaitTimeout: Duration = .seconds(1),
        idleTimeout: Duration = .seconds(60),
        keepaliveInterval: Duration? = .seconds(30),
        reconnectBackoff: ReconnectBackoff = .init(),
        loadThreshold: Int = 32,
        maximumInFlightPerConnection: Int = 4096
    ) {
        self.minimumConnections = minimumConnections
        self.maximumConnections = maximumConnections
        self.connectionWaitTimeout = connectionWaitTimeout
        self.idleTimeout = idleTimeout
        self.keepaliveInterval = keepaliveInterval
        self.reconnectBackoff = reconnectBackoff
        self.loadThreshold = loadThreshold
        self.maximumInFlightPerConnection = maximumInFlightPerConnection
    }

    /// Checks that the values are consistent.
    ///
    /// - Throws: ``ConnectionPoolError`` with code ``ConnectionPoolError/Code/invalidConfiguration`` and a message
    ///   naming the first bad value.
    public func validate() throws(ConnectionPoolError) {
        func fail(_ message: String) -> ConnectionPoolError {
            ConnectionPoolError(code: .invalidConfiguration, message: message)
        }
        guard self.minimumConnections >= 0 else { throw fail("minimumConnections must not be negative") }
        guard self.maximumConnections >= 1 else { throw fail("maximumConnections must be at least 1") }
        guard self.minimumConnections <= self.maximumConnections else {
            throw fail("minimumConnections must not exceed maximumConnections")
        }
        guard self.connectionWaitTimeout > .zero else { throw fail("connectionWaitTimeout must be positive") }
        guard self.idleTimeout > .zero else { throw fail("idleTimeout must be positive") }
        if let keepaliveInterval = self.keepaliveInterval, keepaliveInterval <= .zero {
            throw fail("keepaliveInterval must be positive or nil")
        }
        let backoff = self.reconnectBackoff
        guard backoff.initial > .zero else { throw fail("reconnectBackoff.initial must be positive") }
        guard backoff.maximum >= backoff.initial else {
            throw fail("reconnectBackoff.maximum must not be below reconnectBackoff.initial")
        }
        guard backoff.multiplier >= 1, backoff.multiplier.isFinite else {
            throw fail("reconnectBackoff.multiplier must be at least 1")
        }
        guard backoff.jitter >= 0, backoff.jitter < 1 else { throw fail("reconnectBackoff.jitter must be in 0..<1") }
        guard self.loadThreshold >= 0 else { throw fail("loadThreshold must not be negative") }
        guard self.maximumInFlightPerConnection >= 1 else {
            throw fail("maximumInFlightPerConnection must be at least 1")
        }
        guard self.loadThreshold < self.maximumInFlightPerConnection else {
            throw fail("loadThreshold must be below maximumInFlightPerConnection")
        }
    }
}

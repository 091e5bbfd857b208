import NIOCore

extension ConnectionPool {
    /// The pool's logic as a value type: events in, ``Actions`` out, no I/O.
    ///
    /// The pool keeps it in a lock and carries out the returned actions after unlocking. `Waiter` is whatever
    /// the pool resumes (a continuation); tests use plain values.
    package struct StateMachine<Waiter: Sendable>: Sendable {
        /// Where the pool is in its life.
        package enum Lifecycle: Sendable, Hashable {
            case initialized, running, shuttingDown, shutdown
        }

        /// What the pool must do after an event, outside the lock.
        package struct Actions: Sendable {
            /// Start connection attempts with these identifiers.
            package var createConnections: [Int] = []
            /// Resume these waiters with a connection.
            package var succeedWaiters: [(id: Int, waiter: Waiter, connection: Connection)] = []
            /// Resume these waiters with an error.
            package var failWaiters: [(id: Int, waiter: Waiter, error: ConnectionPoolError)] = []
            /// Close these connections gracefully.
            package var closeConnections: [Connection] = []
            /// Close these connections at once.
            package var closeConnectionsImmediately: [Connection] = []
            /// Send a keepalive on these connections.
            package var sendKeepalives: [Connection] = []
            /// Schedule ``StateMachine/backoffElapsed()`` after this many consecutive failures' delay.
            package var scheduleBackoff: Int? = nil
            /// Schedule ``StateMachine/recheckWaiters()`` soon: waiters wait for a full connection to drain.
            package var scheduleRecheck = false
            /// Start the idle and keepalive timer.
            package var startTimer = false
            /// Stop the idle and keepalive timer.
            package var stopTimer = false
            /// The shutdown has finished: every connection reported closed.
            package var shutdownCompleted = false

            package init() {}
        }

        /// What ``StateMachine/leaseConnection()`` found.
        package enum LeaseResult: Sendable {
            /// Use this connection (and carry out the actions).
            case leased(Connection, Actions)
            /// Fail at once.
            case failed(ConnectionPoolError)
            /// No usable connection: register a waiter with ``StateMachine/addWaiter(id:waiter:)``.
            case mustWait
        }

        private struct Slot: Sendable {
            let id: Int
            let connection: Connection
            var lastActivity: NIODeadline
            var lastKeepalive: NIODeadline
            var leasedSinceTick = false
            var isClosing = false
        }

        package let configuration: ConnectionPoolConfiguration
        package private(set) var lifecycle: Lifecycle = .initialized
        private var slots: [Slot] = []
        private var connecting: Set<Int> = []
        private var waiters: [(id: Int, waiter: Waiter)] = []
        private var nextConnectionID = 0
        private var lastConnectError: (any Error)?
        /// Consecutive failed connection attempts since the last success.
        package private(set) var consecutiveFailures = 0
        /// A failed attempt's backoff has not elapsed yet: no new attempts until it has.
        package private(set) var isBackingOff = false
        private var isRecheckScheduled = false
        private var rotation = 0

        /// Creates a state machine.
        ///
        /// - Parameters:
        ///   - configuration: The pool configuration (assumed valid).
        package init(configuration: ConnectionPoolConfiguration) {
            self.configuration = configuration
        }

        // MARK: Statistics

        /// A snapshot of the pool's connections and waiters.
        package var statistics: ConnectionPoolStatistics {
            var statistics = ConnectionPoolStatistics(
                connectingConnections: self.connecting.count,
                waitingRequests: self.waiters.count
            )
            for slot in self.slots {
                if slot.isClosing {
                    statistics.closingConnections += 1
                } else {
                    statistics.openConnections += 1
                }
                statistics.inFlightRequests += slot.connection.inFlightCount
            }
            return statistics
        }

        /// Whether a waiter with this identifier is waiting.
        ///
        /// - Parameters:
        ///   - id: The waiter's identifier.
        /// - Returns: `true` if the waiter is registered and not resumed yet.
        package func isWaiting(_ id: Int) -> Bool {
            self.waiters.contains { $0.id == id }
        }

        private var usableCount: Int {
            var count = 0
            for slot in self.slots where !slot.isClosing {
                count += 1
            }
            return count
        }

        // MARK: Events

        /// The pool starts: open the minimum number of connections and start the timer.
        ///
        /// - Returns: The actions to carry out.
        package mutating func start() -> Actions {
            var actions = Actions()
            guard self.lifecycle == .initialized else { return actions }
            self.lifecycle = .running
            actions.startTimer = true
            self.fillToMinimum(&actions)
            if self.waiters.count > 0 && self.connecting.isEmpty {
                self.openConnection(&actions)
            }
            return actions
        }

        /// A caller wants a connection: the fast path, without registering a waiter.
        ///
        /// - Returns: The least-loaded connection, an error, or ``LeaseResult/mustWait``.
        /// - Parameter callerOnEventLoop: Whether the caller runs on an event loop (an application that runs its
        ///   tasks on them). Such a caller with no connection on its own loop gets one opened there in the
        ///   background, so that its later calls resume without a thread hop.
        package mutating func leaseConnection(callerOnEventLoop: Bool = false) -> LeaseResult {
            switch self.lifecycle {
            case .shuttingDown, .shutdown:
                return .failed(ConnectionPoolError(code: .poolShutdown))
            case .initialized:
                return .mustWait
            case .running:
                break
            }
            guard let connection = self.selectConnection() else { return .mustWait }
            var actions = Actions()
            if callerOnEventLoop && !connection.isLocal && !self.slots.contains(where: { !$0.isClosing && $0.connection.isLocal }) {
                self.openConnectionIfAllowed(&actions)
            } else {
                self.openConnectionIfLoaded(&actions)
            }
            return .leased(connection, actions)
        }

        /// A caller found no usable connection and waits: lease, fail fast, or queue it.
        ///
        /// - Parameters:
        ///   - id: A unique identifier for the waiter.
        ///   - waiter: What to resume.
        /// - Returns: The actions, which resume the waiter at once unless it has to wait
        ///   (then ``isWaiting(_:)`` is `true`).
        package mutating func addWaiter(id: Int, waiter: Waiter) -> Actions {
            var actions = Actions()
            switch self.lifecycle {
            case .shuttingDown, .shutdown:
                actions.failWaiters.append((id, waiter, ConnectionPoolError(code: .poolShutdown)))
                return actions
            case .initialized:
                self.waiters.append((id, waiter))
                return actions
            case .running:
                break
            }
            if let connection = self.selectConnection() {
                self.openConnectionIfLoaded(&actions)
                actions.succeedWaiters.append((id, waiter, connection))
                return actions
            }
            if self.usableCount == 0 && self.connecting.isEmpty {
                if self.isBackingOff {
                    let error = ConnectionPoolError(
                        code: .connectFailed,
                        message: "the node is unreachable; the next attempt waits for the reconnect backoff",
                        underlyingError: self.lastConnectError
                    )
                    actions.failWaiters.append((id, waiter, error))
                    return actions
                }
                self.openConnection(&actions)
            } else if self.usableCount > 0 {
                // Every connection is full: open one more if allowed, and poll until one drains.
                self.openConnectionIfLoaded(&actions)
                self.requestRecheck(&actions)
            }
            self.waiters.append((id, waiter))
            return actions
        }

        /// A waiter's wait timeout elapsed.
        ///
        /// A pool with open connections that were all full is busy, and the waiter fails with
        /// ``ConnectionPoolError/Code/waitTimeout``. A pool with no open connection is waiting for the node to
        /// accept one (an attempt that neither succeeds nor fails, as with a node that hangs), and the waiter fails
        /// with ``ConnectionPoolError/Code/connectFailed``: that is the node's failure, not the pool's.
        ///
        /// - Parameters:
        ///   - id: The waiter's identifier.
        /// - Returns: The waiter and its error, if it still waited.
        package mutating func waiterTimedOut(id: Int) -> (waiter: Waiter, error: ConnectionPoolError)? {
            guard let waiter = self.removeWaiter(id: id) else { return nil }
            guard self.usableCount == 0 else { return (waiter, ConnectionPoolError(code: .waitTimeout)) }
            let error = ConnectionPoolError(
                code: .connectFailed,
                message: "no connection to the node could be opened within the pool's wait timeout",
                underlyingError: self.lastConnectError
            )
            return (waiter, error)
        }

        /// A caller that must not wait for an unreachable node found no usable connection.
        ///
        /// When the pool has open connections that are all full, the node is busy and the caller waits as usual
        /// (``LeaseResult/mustWait``). When it has none, the caller fails at once with
        /// ``ConnectionPoolError/Code/connectFailed``; an attempt starts unless one is under way or the reconnect
        /// backoff has not elapsed, so the node is found again when it answers.
        ///
        /// - Returns: A connection that became usable, ``LeaseResult/mustWait``, or the failure; and the actions to
        ///   carry out (the leased case carries none of its own).
        package mutating func leaseWithoutWaitingForReconnect() -> (LeaseResult, Actions) {
            var actions = Actions()
            guard self.lifecycle == .running else { return (self.leaseConnection(), actions) }
            if let connection = self.selectConnection() {
                return (.leased(connection, Actions()), actions)
            }
            guard self.usableCount == 0 else { return (.mustWait, actions) }
            self.openConnectionIfAllowed(&actions)
            let error = ConnectionPoolError(
                code: .connectFailed,
                message: "the node has no open connection and its last calls failed; a reconnect is pending",
                underlyingError: self.lastConnectError
            )
            return (.failed(error), actions)
        }

        /// A waiter's task was cancelled.
        ///
        /// - Parameters:
        ///   - id: The waiter's identifier.
        /// - Returns: The waiter to fail with ``ConnectionPoolError/Code/cancelled``, if it still waited.
        package mutating func waiterCancelled(id: Int) -> Waiter? {
            self.removeWaiter(id: id)
        }

        /// A connection attempt succeeded.
        ///
        /// - Parameters:
        ///   - id: The identifier the attempt was started with.
        ///   - connection: The new connection.
        ///   - now: The current time on the pool's event loop.
        /// - Returns: The actions to carry out.
        package mutating func connectionEstablished(id: Int, connection: Connection, now: NIODeadline) -> Actions {
            var actions = Actions()
            self.connecting.remove(id)
            var slot = Slot(id: id, connection: connection, lastActivity: now, lastKeepalive: now)
            guard self.lifecycle == .running || self.lifecycle == .initialized else {
                // Shutting down: close it at once, and wait for it to report closed.
                slot.isClosing = true
                self.slots.append(slot)
                actions.closeConnections.append(connection)
                return actions
            }
            self.consecutiveFailures = 0
            self.lastConnectError = nil
            self.slots.append(slot)
            self.serveWaiters(&actions)
            return actions
        }

        /// A connection attempt failed.
        ///
        /// - Parameters:
        ///   - id: The identifier the attempt was started with.
        ///   - error: The factory's error.
        /// - Returns: The actions to carry out.
        package mutating func connectionFailed(id: Int, error: any Error) -> Actions {
            var actions = Actions()
            self.connecting.remove(id)
            guard self.lifecycle == .running else {
                self.completeShutdownIfDone(&actions)
                return actions
            }
            self.consecutiveFailures += 1
            self.isBackingOff = true
            actions.scheduleBackoff = self.consecutiveFailures
            if self.usableCount == 0 {
                self.lastConnectError = error
                if self.connecting.isEmpty {
                    // The node is unreachable: every waiter fails now rather than at its timeout.
                    for (waiterID, waiter) in self.waiters {
                        let poolError = ConnectionPoolError(code: .connectFailed, underlyingError: error)
                        actions.failWaiters.append((waiterID, waiter, poolError))
                    }
                    self.waiters.removeAll()
                }
            }
            return actions
        }

        /// The reconnect backoff after a failed attempt elapsed: attempts are allowed again.
        ///
        /// - Returns: The actions to carry out.
        package mutating func backoffElapsed() -> Actions {
            var actions = Actions()
            self.isBackingOff = false
            guard self.lifecycle == .running else { return actions }
            self.fillToMinimum(&actions)
            if self.waiters.count > 0 && self.connecting.isEmpty {
                self.openConnection(&actions)
            }
            return actions
        }

        /// A connection reported that it closed.
        ///
        /// - Parameters:
        ///   - id: The connection's identifier.
        ///   - error: The error that broke it, or `nil` after a clean close.
        /// - Returns: The actions to carry out.
        package mutating func connectionClosed(id: Int, error: (any Error)?) -> Actions {
            var actions = Actions()
            guard let index = self.slots.firstIndex(where: { $0.id == id }) else { return actions }
            self.slots.remove(at: index)
            switch self.lifecycle {
            case .running:
                self.fillToMinimum(&actions)
                if self.waiters.count > 0 && self.usableCount == 0 && self.connecting.isEmpty {
                    self.openConnection(&actions)
                }
            case .shuttingDown:
                self.completeShutdownIfDone(&actions)
            case .initialized, .shutdown:
                break
            }
            return actions
        }

        /// The poll for full connections fired: serve waiters that can now get a connection.
        ///
        /// - Returns: The actions to carry out.
        package mutating func recheckWaiters() -> Actions {
            var actions = Actions()
            self.isRecheckScheduled = false
            guard self.lifecycle == .running else { return actions }
            self.serveWaiters(&actions)
            if self.waiters.count > 0 && self.usableCount > 0 {
                self.openConnectionIfLoaded(&actions)
                self.requestRecheck(&actions)
            }
            return actions
        }

        /// The periodic timer fired: close idle connections above the minimum and ping idle connections.
        ///
        /// - Parameters:
        ///   - now: The current time on the pool's event loop.
        /// - Returns: The actions to carry out.
        package mutating func tick(now: NIODeadline) -> Actions {
            var actions = Actions()
            guard self.lifecycle == .running else { return actions }
            let idleTimeout = TimeAmount(self.configuration.idleTimeout)
            let keepaliveInterval = self.configuration.keepaliveInterval.map { TimeAmount($0) }
            var usable = self.usableCount
            for index in self.slots.indices where !self.slots[index].isClosing {
                let inFlight = self.slots[index].connection.inFlightCount
                if inFlight > 0 || self.slots[index].leasedSinceTick {
                    self.slots[index].lastActivity = now
                    self.slots[index].leasedSinceTick = false
                    continue
                }
                if usable > self.configuration.minimumConnections
                    && now - self.slots[index].lastActivity >= idleTimeout
                {
                    self.slots[index].isClosing = true
                    usable -= 1
                    actions.closeConnections.append(self.slots[index].connection)
                    continue
                }
                if let keepaliveInterval {
                    let quietSince = max(self.slots[index].lastActivity, self.slots[index].lastKeepalive)
                    if now - quietSince >= keepaliveInterval {
                        self.slots[index].lastKeepalive = now
                        actions.sendKeepalives.append(self.slots[index].connection)
                    }
                }
            }
            self.fillToMinimum(&actions)
            return actions
        }

        /// The pool shuts down: fail the waiters and close every connection gracefully.
        ///
        /// - Returns: The actions to carry out.
        package mutating func shutdown() -> Actions {
            var actions = Actions()
            switch self.lifecycle {
            case .initialized, .running:
                self.lifecycle = .shuttingDown
                actions.stopTimer = true
                for (waiterID, waiter) in self.waiters {
                    actions.failWaiters.append((waiterID, waiter, ConnectionPoolError(code: .poolShutdown)))
                }
                self.waiters.removeAll()
                for index in self.slots.indices where !self.slots[index].isClosing {
                    self.slots[index].isClosing = true
                    actions.closeConnections.append(self.slots[index].connection)
                }
                self.completeShutdownIfDone(&actions)
            case .shuttingDown:
                break
            case .shutdown:
                actions.shutdownCompleted = true
            }
            return actions
        }

        /// The shutdown's grace period elapsed: close whatever is still open at once.
        ///
        /// - Returns: The actions to carry out.
        package mutating func gracePeriodElapsed() -> Actions {
            var actions = Actions()
            guard self.lifecycle == .shuttingDown else { return actions }
            actions.closeConnectionsImmediately = self.slots.map(\.connection)
            return actions
        }

        // MARK: Helpers

        /// The usable connection with the fewest requests in flight, ties broken by rotation.
        private mutating func selectConnection() -> Connection? {
            let count = self.slots.count
            guard count > 0 else { return nil }
            // A connection served by the caller's own thread, while it is not loaded: no thread hop either way.
            for index in 0..<count where !self.slots[index].isClosing && self.slots[index].connection.isLocal {
                if self.slots[index].connection.inFlightCount <= self.configuration.loadThreshold {
                    self.slots[index].leasedSinceTick = true
                    return self.slots[index].connection
                }
            }
            let start = self.rotation % count
            self.rotation &+= 1
            var best: Int?
            var bestLoad = Int.max
            for offset in 0..<count {
                let index = (start + offset) % count
                guard !self.slots[index].isClosing else { continue }
                let load = self.slots[index].connection.inFlightCount
                if load < bestLoad && load < self.configuration.maximumInFlightPerConnection {
                    best = index
                    bestLoad = load
                    if load == 0 { break }
                }
            }
            guard let best else { return nil }
            self.slots[best].leasedSinceTick = true
            return self.slots[best].connection
        }

        /// Opens one more connection if every usable one is above the load threshold and the pool may grow.
        private mutating func openConnectionIfLoaded(_ actions: inout Actions) {
            for slot in self.slots where !slot.isClosing {
                if slot.connection.inFlightCount <= self.configuration.loadThreshold { return }
            }
            self.openConnectionIfAllowed(&actions)
        }

        /// Opens one more connection if the pool may grow and no attempt is under way.
        private mutating func openConnectionIfAllowed(_ actions: inout Actions) {
            guard self.lifecycle == .running, !self.isBackingOff, self.connecting.isEmpty else { return }
            guard self.usableCount + self.connecting.count < self.configuration.maximumConnections else { return }
            self.openConnection(&actions)
        }

        /// Opens connections until the minimum is reached, unless backing off.
        private mutating func fillToMinimum(_ actions: inout Actions) {
            guard self.lifecycle == .running, !self.isBackingOff else { return }
            while self.usableCount + self.connecting.count < self.configuration.minimumConnections {
                self.openConnection(&actions)
            }
        }

        private mutating func openConnection(_ actions: inout Actions) {
            guard self.usableCount + self.connecting.count < self.configuration.maximumConnections else { return }
            let id = self.nextConnectionID
            self.nextConnectionID += 1
            self.connecting.insert(id)
            actions.createConnections.append(id)
        }

        /// Hands every waiter a connection while there are usable ones.
        private mutating func serveWaiters(_ actions: inout Actions) {
            var served = 0
            while served < self.waiters.count, let connection = self.selectConnection() {
                let (waiterID, waiter) = self.waiters[served]
                actions.succeedWaiters.append((waiterID, waiter, connection))
                served += 1
            }
            self.waiters.removeFirst(served)
            if self.waiters.count > 0 && self.usableCount > 0 {
                self.requestRecheck(&actions)
            }
        }

        private mutating func requestRecheck(_ actions: inout Actions) {
            guard !self.isRecheckScheduled else { return }
            self.isRecheckScheduled = true
            actions.scheduleRecheck = true
        }

        private mutating func removeWaiter(id: Int) -> Waiter? {
            guard let index = self.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return self.waiters.remove(at: index).waiter
        }

        private mutating func completeShutdownIfDone(_ actions: inout Actions) {
            guard self.lifecycle == .shuttingDown, self.slots.isEmpty, self.connecting.isEmpty else { return }
            self.lifecycle = .shutdown
            actions.shutdownCompleted = true
        }
    }
}

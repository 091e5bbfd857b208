import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Synchronization

/// A pool of multiplexed connections to one node.
///
/// Connections pipeline many requests at once, so a lease is not exclusive: ``connection()`` returns the open
/// connection with the fewest requests in flight and opens another one in the background when all of them are
/// loaded. Timers and connection attempts run on the pool's event loop; the state lives in a lock around a
/// value-type ``StateMachine``.
///
/// Call ``start()`` once, then ``connection()`` from any task, and ``shutdown(gracePeriod:)`` at the end.
/// A pool is single-use. Calls to ``connection()`` before ``start()`` wait (bounded by the wait timeout).
///
/// The connection factory must bound its own connect time (a connect timeout): the pool waits for every attempt
/// it started, and so does ``shutdown(gracePeriod:)``. A connection that closes with an error is removed and,
/// below the minimum, replaced at once; failed attempts are retried after the configured backoff.
package final class ConnectionPool<Connection: PooledConnection>: Sendable {
    /// Creates a connection with the given identifier; the connection's ``PooledConnection/id`` must equal it.
    package typealias ConnectionFactory = @Sendable (_ id: Int) -> EventLoopFuture<Connection>

    private typealias Waiter = CheckedContinuation<Result<Connection, ConnectionPoolError>, Never>
    private typealias Machine = StateMachine<Waiter>

    private struct LockedState: Sendable {
        var machine: Machine
        var waiterTimers: [Int: Scheduled<Void>] = [:]
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
        var timer: RepeatedTask?
    }

    /// What a locked section hands to the code that runs after unlocking.
    private struct Work: Sendable {
        var actions: Machine.Actions
        var cancelledTimers: [Scheduled<Void>] = []
        var shutdownWaiters: [CheckedContinuation<Void, Never>] = []
        var timer: RepeatedTask?
    }

    /// Recheck interval while every connection is full and callers wait for one to drain.
    private static var recheckInterval: TimeAmount { .milliseconds(1) }

    package let configuration: ConnectionPoolConfiguration
    private let eventLoop: any EventLoop
    private let logger: Logger
    private let connectionFactory: ConnectionFactory
    /// A pthread mutex (not `Synchronization.Mutex`, whose futex ThreadSanitizer cannot see on Linux).
    private let state: NIOLockedValueBox<LockedState>
    private let nextWaiterID = Atomic<Int>(0)

    /// Creates a pool; it opens no connection until ``start()``.
    ///
    /// - Parameters:
    ///   - configuration: Sizes, timeouts and backoff (checked by ``start()``).
    ///   - eventLoop: The event loop that runs the pool's timers.
    ///   - logger: The logger for the pool's trace and debug messages.
    ///   - connectionFactory: Opens a connection with the given identifier.
    package init(
        configuration: ConnectionPoolConfiguration,
        eventLoop: any EventLoop,
        logger: Logger,
        connectionFactory: @escaping ConnectionFactory
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
        self.connectionFactory = connectionFactory
        self.state = NIOLockedValueBox(LockedState(machine: Machine(configuration: configuration)))
    }

    // MARK: Public interface

    /// Opens the minimum number of connections and waits for the first one; starts the idle and keepalive timer.
    ///
    /// If the first attempt fails, the pool stays usable and keeps retrying with backoff.
    ///
    /// - Throws: ``ConnectionPoolError`` with ``ConnectionPoolError/Code/invalidConfiguration``,
    ///   ``ConnectionPoolError/Code/connectFailed`` (the factory's error is `underlyingError`),
    ///   ``ConnectionPoolError/Code/poolShutdown`` or ``ConnectionPoolError/Code/cancelled``.
    package func start() async throws(ConnectionPoolError) {
        try self.configuration.validate()
        self.logger.debug(
            "starting connection pool",
            metadata: [
                "cache.pool.connections.minimum": "\(self.configuration.minimumConnections)",
                "cache.pool.connections.maximum": "\(self.configuration.maximumConnections)",
            ]
        )
        self.handle { $0.start() }
        guard self.configuration.minimumConnections > 0 else { return }
        _ = try await self.waitForConnection(timeout: nil)
    }

    /// Returns the open connection with the fewest requests in flight.
    ///
    /// Opens another connection in the background when every connection is above the load threshold. When no
    /// connection is usable, waits up to the configured wait timeout; when the node is down and its reconnect
    /// backoff has not elapsed, fails at once.
    ///
    /// - Returns: A connection to send requests on; it is shared with other callers.
    /// - Throws: ``ConnectionPoolError`` with ``ConnectionPoolError/Code/waitTimeout``,
    ///   ``ConnectionPoolError/Code/connectFailed``, ``ConnectionPoolError/Code/poolShutdown`` or
    ///   ``ConnectionPoolError/Code/cancelled``.
    ///
    /// - Parameter waitingForReconnect: When `false` and the pool has no open connection (the node's connections
    ///   broke and a reconnect is pending), fail at once with ``ConnectionPoolError/Code/connectFailed`` instead
    ///   of waiting for the attempt; a pool whose connections are merely full still waits.
    package func connection(waitingForReconnect: Bool = true) async throws(ConnectionPoolError) -> Connection {
        let onEventLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        let lease = self.state.withLockedValue { $0.machine.leaseConnection(callerOnEventLoop: onEventLoop) }
        switch lease {
        case .leased(let connection, let actions):
            self.run(Work(actions: actions))
            return connection
        case .failed(let error):
            throw error
        case .mustWait:
            if !waitingForReconnect {
                let (retry, actions) = self.state.withLockedValue { $0.machine.leaseWithoutWaitingForReconnect() }
                self.run(Work(actions: actions))
                switch retry {
                case .leased(let connection, _):
                    return connection
                case .failed(let error):
                    throw error
                case .mustWait:
                    break
                }
            }
            return try await self.waitForConnection(timeout: self.configuration.connectionWaitTimeout)
        }
    }

    /// Shuts the pool down: new and waiting requests fail, connections close once their requests finish.
    ///
    /// After `gracePeriod` every connection still open is closed at once. Returns when every connection has
    /// reported closed.
    ///
    /// - Parameters:
    ///   - gracePeriod: How long in-flight requests may take to finish.
    package func shutdown(gracePeriod: Duration) async {
        self.logger.debug("shutting down connection pool")
        let graceTimer = self.eventLoop.scheduleTask(in: TimeAmount(gracePeriod)) {
            self.handle { $0.gracePeriodElapsed() }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let work = self.process { state in
                state.shutdownWaiters.append(continuation)
                return state.machine.shutdown()
            }
            self.run(work)
        }
        graceTimer.cancel()
        self.logger.debug("connection pool shut down")
    }

    /// A snapshot of the connections and waiters, for health checks and metrics.
    package var statistics: ConnectionPoolStatistics {
        self.state.withLockedValue { $0.machine.statistics }
    }

    // MARK: Waiting

    private func waitForConnection(timeout: Duration?) async throws(ConnectionPoolError) -> Connection {
        let id = self.nextWaiterID.wrappingAdd(1, ordering: .relaxed).oldValue
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Waiter) in
                let work = self.process { state in
                    if Task.isCancelled {
                        var actions = Machine.Actions()
                        actions.failWaiters.append((id, continuation, ConnectionPoolError(code: .cancelled)))
                        return actions
                    }
                    let actions = state.machine.addWaiter(id: id, waiter: continuation)
                    if let timeout, state.machine.isWaiting(id) {
                        // Scheduling only enqueues the task; the loop never runs our code while doing so.
                        state.waiterTimers[id] = self.eventLoop.scheduleTask(in: TimeAmount(timeout)) {
                            self.waiterTimedOut(id: id)
                        }
                    }
                    return actions
                }
                self.run(work)
            }
        } onCancel: {
            self.waiterCancelled(id: id)
        }
        return try result.get()
    }

    private func waiterTimedOut(id: Int) {
        let timedOut = self.state.withLockedValue { state in
            state.waiterTimers[id] = nil
            return state.machine.waiterTimedOut(id: id)
        }
        guard let (waiter, error) = timedOut else { return }
        self.logger.trace(
            "timed out waiting for a connection",
            metadata: ["cache.pool.waiter.id": "\(id)", "cache.pool.error": "\(error.code)"]
        )
        waiter.resume(returning: .failure(error))
    }

    private func waiterCancelled(id: Int) {
        let (waiter, timer) = self.state.withLockedValue { state in
            (state.machine.waiterCancelled(id: id), state.waiterTimers.removeValue(forKey: id))
        }
        timer?.cancel()
        guard let waiter else { return }
        self.logger.trace("cancelled waiting for a connection", metadata: ["cache.pool.waiter.id": "\(id)"])
        waiter.resume(returning: .failure(ConnectionPoolError(code: .cancelled)))
    }

    // MARK: Events

    /// Runs a state machine event in the lock, then carries out its actions outside it.
    private func handle(_ event: (inout Machine) -> Machine.Actions) {
        self.run(self.process { event(&$0.machine) })
    }

    /// Runs an event in the lock and collects what must happen after unlocking, without doing it yet.
    private func process(_ event: (inout LockedState) -> Machine.Actions) -> Work {
        self.state.withLockedValue { state in
            var work = Work(actions: event(&state))
            for resumed in work.actions.succeedWaiters {
                if let timer = state.waiterTimers.removeValue(forKey: resumed.id) { work.cancelledTimers.append(timer) }
            }
            for resumed in work.actions.failWaiters {
                if let timer = state.waiterTimers.removeValue(forKey: resumed.id) { work.cancelledTimers.append(timer) }
            }
            if work.actions.shutdownCompleted {
                work.shutdownWaiters = state.shutdownWaiters
                state.shutdownWaiters.removeAll()
            }
            if work.actions.stopTimer {
                work.timer = state.timer
                state.timer = nil
            }
            return work
        }
    }

    private func run(_ work: Work) {
        let actions = work.actions
        for timer in work.cancelledTimers {
            timer.cancel()
        }
        work.timer?.cancel()
        if actions.startTimer {
            self.startTimer()
        }
        for id in actions.createConnections {
            self.createConnection(id: id)
        }
        for (_, waiter, connection) in actions.succeedWaiters {
            waiter.resume(returning: .success(connection))
        }
        for (id, waiter, error) in actions.failWaiters {
            self.logger.trace(
                "failed a waiter",
                metadata: ["cache.pool.waiter.id": "\(id)", "cache.pool.error": "\(error.code)"]
            )
            waiter.resume(returning: .failure(error))
        }
        for connection in actions.sendKeepalives {
            self.logger.trace("sending keepalive", metadata: ["cache.pool.connection.id": "\(connection.id)"])
            connection.sendKeepalive()
        }
        for connection in actions.closeConnections {
            self.logger.debug("closing connection", metadata: ["cache.pool.connection.id": "\(connection.id)"])
            connection.close()
        }
        for connection in actions.closeConnectionsImmediately {
            self.logger.debug(
                "closing connection at once after the grace period",
                metadata: ["cache.pool.connection.id": "\(connection.id)"]
            )
            connection.closeImmediately()
        }
        if let failures = actions.scheduleBackoff {
            let delay = self.configuration.reconnectBackoff.delay(
                afterFailures: failures,
                jitterFactor: Double.random(in: -1...1)
            )
            self.logger.debug(
                "backing off before the next connection attempt",
                metadata: ["cache.pool.backoff": "\(delay)", "cache.pool.failures": "\(failures)"]
            )
            self.eventLoop.scheduleTask(in: TimeAmount(delay)) {
                self.handle { $0.backoffElapsed() }
            }
        }
        if actions.scheduleRecheck {
            self.eventLoop.scheduleTask(in: Self.recheckInterval) {
                self.handle { $0.recheckWaiters() }
            }
        }
        for waiter in work.shutdownWaiters {
            waiter.resume()
        }
    }

    private func createConnection(id: Int) {
        var connectionLogger = self.logger
        connectionLogger[metadataKey: "cache.pool.connection.id"] = "\(id)"
        let logger = connectionLogger
        logger.debug("opening connection")
        self.connectionFactory(id).whenComplete { result in
            switch result {
            case .success(let connection):
                logger.debug("connection opened")
                // Register for the close before carrying out actions that may close it.
                let work = self.process {
                    $0.machine.connectionEstablished(id: id, connection: connection, now: self.eventLoop.now)
                }
                connection.onClose { error in
                    if let error {
                        logger.debug("connection closed with an error", metadata: ["cache.pool.error": "\(error)"])
                    } else {
                        logger.debug("connection closed")
                    }
                    self.handle { $0.connectionClosed(id: id, error: error) }
                }
                self.run(work)
            case .failure(let error):
                logger.debug("connection attempt failed", metadata: ["cache.pool.error": "\(error)"])
                self.handle { $0.connectionFailed(id: id, error: error) }
            }
        }
    }

    private func startTimer() {
        let interval = self.timerInterval
        let task = self.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            self.handle { $0.tick(now: self.eventLoop.now) }
        }
        let stale = self.state.withLockedValue { state -> RepeatedTask? in
            guard state.machine.lifecycle == .running else { return task }
            state.timer = task
            return nil
        }
        stale?.cancel()
    }

    /// A quarter of the shortest idle period, between 1 ms and 1 s.
    private var timerInterval: TimeAmount {
        var shortest = self.configuration.idleTimeout
        if let keepalive = self.configuration.keepaliveInterval {
            shortest = min(shortest, keepalive)
        }
        let quarter = TimeAmount(shortest).nanoseconds / 4
        return .nanoseconds(min(max(quarter, 1_000_000), 1_000_000_000))
    }
}

import CachePool
import NIOCore
import Testing

@Suite struct ConnectionPoolStateMachineTests {
    typealias Machine = ConnectionPool<MockConnection>.StateMachine<String>

    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    static func configuration(
        minimum: Int = 1,
        maximum: Int = 4,
        idleTimeout: Duration = .seconds(60),
        keepalive: Duration? = .seconds(30),
        loadThreshold: Int = 2,
        maximumInFlight: Int = 10
    ) -> ConnectionPoolConfiguration {
        ConnectionPoolConfiguration(
            minimumConnections: minimum,
            maximumConnections: maximum,
            idleTimeout: idleTimeout,
            keepaliveInterval: keepalive,
            loadThreshold: loadThreshold,
            maximumInFlightPerConnection: maximumInFlight
        )
    }

    /// Starts a machine and establishes its minimum connections.
    static func running(_ configuration: ConnectionPoolConfiguration) throws -> (Machine, [MockConnection]) {
        var machine = Machine(configuration: configuration)
        let actions = machine.start()
        #expect(actions.startTimer)
        var connections: [MockConnection] = []
        for id in actions.createConnections {
            let connection = MockConnection(id: id)
            _ = machine.connectionEstablished(id: id, connection: connection, now: Self.start)
            connections.append(connection)
        }
        try #require(connections.count == configuration.minimumConnections)
        return (machine, connections)
    }

    static func leased(_ result: Machine.LeaseResult) -> (MockConnection, Machine.Actions)? {
        if case .leased(let connection, let actions) = result { return (connection, actions) }
        return nil
    }

    @Test func startOpensTheMinimum() {
        var machine = Machine(configuration: Self.configuration(minimum: 3))
        if case .mustWait = machine.leaseConnection() {} else { Issue.record("a pool that has not started must wait") }
        let actions = machine.start()
        #expect(actions.createConnections == [0, 1, 2])
        #expect(actions.startTimer)
        #expect(machine.statistics.connectingConnections == 3)
        #expect(machine.start().createConnections.isEmpty)
    }

    @Test func leasesTheLeastLoadedConnection() throws {
        var (machine, connections) = try Self.running(Self.configuration(minimum: 3, loadThreshold: 8))
        connections[0].setInFlight(5)
        connections[1].setInFlight(1)
        connections[2].setInFlight(3)
        for _ in 0..<6 {
            let (connection, actions) = try #require(Self.leased(machine.leaseConnection()))
            #expect(connection === connections[1])
            #expect(actions.createConnections.isEmpty)
        }
        connections[1].setInFlight(7)
        #expect(Self.leased(machine.leaseConnection())?.0 === connections[2])
    }

    @Test func prefersTheCallersOwnConnectionUntilItIsLoaded() throws {
        var (machine, connections) = try Self.running(Self.configuration(minimum: 3, loadThreshold: 8))
        connections[0].setInFlight(0)
        connections[1].setInFlight(6)
        connections[2].setInFlight(2)
        connections[1].isLocal = true
        // Busier than another, but served by the caller's own thread: no hop to another thread and back.
        #expect(Self.leased(machine.leaseConnection())?.0 === connections[1])
        connections[1].setInFlight(8)
        #expect(Self.leased(machine.leaseConnection())?.0 === connections[1], "at the threshold it is still preferred")
        connections[1].setInFlight(9)
        #expect(Self.leased(machine.leaseConnection())?.0 === connections[0], "above it, the least loaded wins")
    }

    @Test func aCallerOnAnEventLoopWithoutItsOwnConnectionGetsOneOpened() throws {
        var (machine, connections) = try Self.running(Self.configuration(minimum: 1, maximum: 3, loadThreshold: 8))
        // Not loaded, but not on the caller's loop: one more is opened for the caller's loop, once.
        let first = try #require(Self.leased(machine.leaseConnection(callerOnEventLoop: true)))
        #expect(first.0 === connections[0])
        #expect(first.1.createConnections == [1])
        #expect(Self.leased(machine.leaseConnection(callerOnEventLoop: true))?.1.createConnections == [], "one attempt at a time")
        // A caller that is not on an event loop does not trigger it.
        var (plain, _) = try Self.running(Self.configuration(minimum: 1, maximum: 3, loadThreshold: 8))
        #expect(Self.leased(plain.leaseConnection())?.1.createConnections == [])
        // A caller whose loop has a connection does not either.
        var (local, localConnections) = try Self.running(Self.configuration(minimum: 1, maximum: 3, loadThreshold: 8))
        localConnections[0].isLocal = true
        #expect(Self.leased(local.leaseConnection(callerOnEventLoop: true))?.1.createConnections == [])
    }

    @Test func opensOneMoreWhenAllAreLoadedButNeverMoreThanTheMaximum() throws {
        var (machine, connections) = try Self.running(Self.configuration(minimum: 1, maximum: 2, loadThreshold: 2))
        connections[0].setInFlight(2)
        #expect(Self.leased(machine.leaseConnection())?.1.createConnections == [])
        connections[0].setInFlight(3)
        let first = try #require(Self.leased(machine.leaseConnection()))
        #expect(first.0 === connections[0])
        #expect(first.1.createConnections == [1])
        // Only one background attempt at a time, and none past the maximum.
        #expect(Self.leased(machine.leaseConnection())?.1.createConnections == [])
        let second = MockConnection(id: 1)
        _ = machine.connectionEstablished(id: 1, connection: second, now: Self.start)
        second.setInFlight(9)
        for _ in 0..<5 {
            let (connection, actions) = try #require(Self.leased(machine.leaseConnection()))
            #expect(connection === connections[0])
            #expect(actions.createConnections.isEmpty)
        }
        #expect(machine.statistics.openConnections == 2)
        #expect(machine.statistics.inFlightRequests == 12)
    }

    @Test func waitersGetTheNewConnection() throws {
        var machine = Machine(configuration: Self.configuration(minimum: 1))
        let created = machine.start().createConnections
        #expect(machine.addWaiter(id: 1, waiter: "a").succeedWaiters.isEmpty)
        #expect(machine.addWaiter(id: 2, waiter: "b").createConnections.isEmpty)
        #expect(machine.isWaiting(1) && machine.isWaiting(2))
        #expect(machine.statistics.waitingRequests == 2)
        let connection = MockConnection(id: created[0])
        let actions = machine.connectionEstablished(id: created[0], connection: connection, now: Self.start)
        #expect(actions.succeedWaiters.map(\.waiter) == ["a", "b"])
        #expect(actions.succeedWaiters.allSatisfy { $0.connection === connection })
        #expect(machine.statistics.waitingRequests == 0)
    }

    @Test func aFailedAttemptFailsAllWaitersThenFailsFastUntilTheBackoffElapses() throws {
        var machine = Machine(configuration: Self.configuration(minimum: 1))
        let created = machine.start().createConnections
        _ = machine.addWaiter(id: 1, waiter: "a")
        _ = machine.addWaiter(id: 2, waiter: "b")
        let failure = MockConnectionError(reason: "refused")
        let failed = machine.connectionFailed(id: created[0], error: failure)
        #expect(failed.failWaiters.map(\.waiter) == ["a", "b"])
        #expect(failed.failWaiters.allSatisfy { $0.error.code == .connectFailed })
        #expect(failed.failWaiters.first?.error.underlyingError as? MockConnectionError == failure)
        #expect(failed.scheduleBackoff == 1)
        #expect(machine.isBackingOff)

        // Fail fast: no new attempt while backing off.
        let fast = machine.addWaiter(id: 3, waiter: "c")
        #expect(fast.failWaiters.map(\.waiter) == ["c"])
        #expect(fast.failWaiters.first?.error.code == .connectFailed)
        #expect(fast.failWaiters.first?.error.underlyingError as? MockConnectionError == failure)
        #expect(fast.createConnections.isEmpty)
        #expect(!machine.isWaiting(3))

        // The backoff elapses: the pool reconnects to its minimum, and a caller waits for that attempt.
        let retry = machine.backoffElapsed().createConnections
        #expect(retry.count == 1)
        #expect(machine.addWaiter(id: 4, waiter: "d").failWaiters.isEmpty)
        #expect(machine.isWaiting(4))
        let again = machine.connectionFailed(id: retry[0], error: failure)
        #expect(again.scheduleBackoff == 2)
        #expect(again.failWaiters.map(\.waiter) == ["d"])

        let last = machine.backoffElapsed().createConnections
        let connection = MockConnection(id: last[0])
        _ = machine.connectionEstablished(id: last[0], connection: connection, now: Self.start)
        #expect(machine.consecutiveFailures == 0)
        #expect(Self.leased(machine.leaseConnection())?.0 === connection)
    }

    @Test func withoutAMinimumTheNextRequestTriggersTheAttempt() {
        var machine = Machine(configuration: Self.configuration(minimum: 0))
        #expect(machine.start().createConnections.isEmpty)
        let first = machine.addWaiter(id: 1, waiter: "a")
        #expect(first.createConnections == [0])
        _ = machine.connectionFailed(id: 0, error: MockConnectionError(reason: "refused"))
        #expect(machine.addWaiter(id: 2, waiter: "b").failWaiters.count == 1)
        #expect(machine.backoffElapsed().createConnections.isEmpty)
        #expect(machine.addWaiter(id: 3, waiter: "c").createConnections == [1])
    }

    @Test func fullConnectionsMakeCallersWaitAndARecheckServesThem() throws {
        var (machine, connections) = try Self.running(
            Self.configuration(minimum: 1, maximum: 1, loadThreshold: 2, maximumInFlight: 3)
        )
        connections[0].setInFlight(3)
        guard case .mustWait = machine.leaseConnection() else {
            Issue.record("a full connection must not be leased")
            return
        }
        let actions = machine.addWaiter(id: 1, waiter: "a")
        #expect(actions.scheduleRecheck)
        #expect(actions.createConnections.isEmpty)
        #expect(!machine.addWaiter(id: 2, waiter: "b").scheduleRecheck)
        let stillFull = machine.recheckWaiters()
        #expect(stillFull.succeedWaiters.isEmpty)
        #expect(stillFull.scheduleRecheck)
        connections[0].setInFlight(2)
        let drained = machine.recheckWaiters()
        #expect(drained.succeedWaiters.map(\.waiter) == ["a", "b"])
        #expect(!drained.scheduleRecheck)
        #expect(machine.waiterTimedOut(id: 1) == nil)
    }

    @Test func aWaiterThatTimesOutOnFullConnectionsSeesABusyPool() throws {
        var (machine, connections) = try Self.running(Self.configuration(minimum: 1, maximum: 1, maximumInFlight: 2))
        connections[0].setInFlight(2)
        _ = machine.addWaiter(id: 1, waiter: "a")
        let result = machine.waiterTimedOut(id: 1)
        let timedOut = try #require(result)
        #expect(timedOut.waiter == "a")
        #expect(timedOut.error.code == .waitTimeout, "full connections: the node is busy, not down")
    }

    @Test func aWaiterThatTimesOutWithNoOpenConnectionSeesTheNodeFail() throws {
        var (machine, connections) = try Self.running(Self.configuration(minimum: 1))
        _ = machine.connectionClosed(id: connections[0].id, error: MockConnectionError(reason: "reset"))
        #expect(machine.statistics.connectingConnections == 1, "the minimum is refilled")
        _ = machine.addWaiter(id: 1, waiter: "a")
        let result = machine.waiterTimedOut(id: 1)
        let timedOut = try #require(result)
        #expect(timedOut.error.code == .connectFailed, "an attempt that never completes is the node's failure")
    }

    @Test func aCallerThatMustNotWaitForAReconnectFailsAtOnceAndStartsOne() throws {
        // No connection open and none being opened (the minimum is 0).
        var machine = Machine(configuration: Self.configuration(minimum: 0))
        _ = machine.start()
        #expect(machine.statistics.connectingConnections == 0)
        let (first, actions) = machine.leaseWithoutWaitingForReconnect()
        guard case .failed(let error) = first else {
            Issue.record("no open connection: the caller fails at once, got \(first)")
            return
        }
        #expect(error.code == .connectFailed)
        #expect(actions.createConnections.count == 1, "an attempt starts, so the node is found again")
        let (second, again) = machine.leaseWithoutWaitingForReconnect()
        if case .failed = second {} else { Issue.record("still no connection: fails, got \(second)") }
        #expect(again.createConnections.isEmpty, "one attempt at a time")
        let connection = MockConnection(id: actions.createConnections[0])
        _ = machine.connectionEstablished(id: connection.id, connection: connection, now: Self.start)
        let (third, _) = machine.leaseWithoutWaitingForReconnect()
        #expect(Self.leased(third)?.0 === connection)
    }

    @Test func aCallerThatMustNotWaitForAReconnectStillWaitsForABusyPool() throws {
        var (machine, connections) = try Self.running(Self.configuration(minimum: 1, maximum: 1, maximumInFlight: 2))
        connections[0].setInFlight(2)
        let (result, actions) = machine.leaseWithoutWaitingForReconnect()
        if case .mustWait = result {} else { Issue.record("full connections: wait, got \(result)") }
        #expect(actions.createConnections.isEmpty)
    }

    @Test func timedOutAndCancelledWaitersAreRemoved() {
        var machine = Machine(configuration: Self.configuration())
        _ = machine.start()
        _ = machine.addWaiter(id: 1, waiter: "a")
        _ = machine.addWaiter(id: 2, waiter: "b")
        let timedOut = machine.waiterTimedOut(id: 1)
        #expect(timedOut?.waiter == "a")
        #expect(machine.waiterTimedOut(id: 1) == nil)
        #expect(machine.waiterCancelled(id: 2) == "b")
        #expect(machine.statistics.waitingRequests == 0)
    }

    @Test func idleConnectionsAboveTheMinimumAreClosedButNeverBelow() throws {
        var (machine, connections) = try Self.running(
            Self.configuration(minimum: 1, maximum: 3, idleTimeout: .seconds(10), keepalive: nil, loadThreshold: 0)
        )
        for id in [1, 2] {
            for connection in connections { connection.setInFlight(1) }
            let created = try #require(Self.leased(machine.leaseConnection())).1.createConnections
            #expect(created == [id])
            let connection = MockConnection(id: id)
            _ = machine.connectionEstablished(id: id, connection: connection, now: Self.start)
            connections.append(connection)
        }
        for connection in connections { connection.setInFlight(0) }
        // Leases mark activity; the first tick after them records it.
        _ = machine.tick(now: Self.start + .seconds(1))
        #expect(machine.tick(now: Self.start + .seconds(5)).closeConnections.isEmpty)
        connections[1].setInFlight(4)
        connections[2].setInFlight(4)
        let idle = machine.tick(now: Self.start + .seconds(11))
        #expect(idle.closeConnections.map(\.id) == [connections[0].id])
        #expect(machine.statistics.closingConnections == 1)
        // Busy ones stay; when they are idle too, only the one above the minimum goes.
        connections[1].setInFlight(0)
        connections[2].setInFlight(0)
        #expect(Self.leased(machine.leaseConnection())?.0 !== connections[0])
        #expect(machine.tick(now: Self.start + .seconds(12)).closeConnections.isEmpty)
        let later = machine.tick(now: Self.start + .seconds(30))
        #expect(later.closeConnections.count == 1)
        #expect(machine.tick(now: Self.start + .seconds(300)).closeConnections.isEmpty)
        #expect(machine.statistics.openConnections == 1)
        // Closed connections leave; the pool stays at its minimum without reconnecting.
        for connection in idle.closeConnections + later.closeConnections {
            #expect(machine.connectionClosed(id: connection.id, error: nil).createConnections.isEmpty)
        }
        #expect(machine.statistics == ConnectionPoolStatistics(openConnections: 1))
    }

    @Test func keepalivesGoToIdleConnectionsOnly() throws {
        var (machine, connections) = try Self.running(Self.configuration(minimum: 2, keepalive: .seconds(5)))
        connections[1].setInFlight(1)
        #expect(machine.tick(now: Self.start + .seconds(4)).sendKeepalives.isEmpty)
        let first = machine.tick(now: Self.start + .seconds(5))
        #expect(first.sendKeepalives.map(\.id) == [connections[0].id])
        #expect(machine.tick(now: Self.start + .seconds(8)).sendKeepalives.isEmpty)
        #expect(machine.tick(now: Self.start + .seconds(10)).sendKeepalives.map(\.id) == [connections[0].id])
        #expect(first.closeConnections.isEmpty)
    }

    @Test func aBrokenConnectionIsReplacedBelowTheMinimum() throws {
        var (machine, connections) = try Self.running(Self.configuration(minimum: 2))
        let actions = machine.connectionClosed(id: connections[0].id, error: MockConnectionError(reason: "reset"))
        #expect(actions.createConnections.count == 1)
        #expect(machine.statistics.openConnections == 1)
        #expect(machine.statistics.connectingConnections == 1)
        #expect(Self.leased(machine.leaseConnection())?.0 === connections[1])
    }

    @Test func shutdownFailsWaitersClosesConnectionsAndCompletesWhenAllClosed() throws {
        var (machine, connections) = try Self.running(
            Self.configuration(minimum: 1, maximum: 2, loadThreshold: 0, maximumInFlight: 1)
        )
        connections[0].setInFlight(1)
        let waiting = machine.addWaiter(id: 1, waiter: "a")
        let pending = try #require(waiting.createConnections.first)
        let actions = machine.shutdown()
        #expect(actions.failWaiters.map(\.waiter) == ["a"])
        #expect(actions.failWaiters.first?.error.code == .poolShutdown)
        #expect(actions.closeConnections.map(\.id) == [connections[0].id])
        #expect(actions.stopTimer)
        #expect(!actions.shutdownCompleted)
        guard case .failed(let error) = machine.leaseConnection() else {
            Issue.record("a lease after shutdown must fail")
            return
        }
        #expect(error.code == .poolShutdown)
        #expect(machine.addWaiter(id: 2, waiter: "b").failWaiters.first?.error.code == .poolShutdown)

        // An attempt that completes during shutdown is closed at once.
        let late = MockConnection(id: pending)
        #expect(machine.connectionEstablished(id: pending, connection: late, now: Self.start).closeConnections.map(\.id) == [pending])
        #expect(machine.gracePeriodElapsed().closeConnectionsImmediately.count == 2)
        #expect(!machine.connectionClosed(id: pending, error: nil).shutdownCompleted)
        #expect(machine.connectionClosed(id: connections[0].id, error: nil).shutdownCompleted)
        #expect(machine.lifecycle == .shutdown)
        #expect(machine.shutdown().shutdownCompleted)
    }

    @Test func shutdownBeforeStartCompletesAtOnce() {
        var machine = Machine(configuration: Self.configuration())
        _ = machine.addWaiter(id: 1, waiter: "a")
        let actions = machine.shutdown()
        #expect(actions.shutdownCompleted)
        #expect(actions.failWaiters.map(\.waiter) == ["a"])
        #expect(machine.start().createConnections.isEmpty)
    }
}

import CachePool
import NIOCore
import NIOEmbedded
import Testing

@Suite struct ConnectionPoolTests {
    static func configuration(
        minimum: Int = 1,
        maximum: Int = 4,
        waitTimeout: Duration = .seconds(1),
        idleTimeout: Duration = .seconds(60),
        keepalive: Duration? = nil,
        backoff: ConnectionPoolConfiguration.ReconnectBackoff = .init(jitter: 0),
        loadThreshold: Int = 2,
        maximumInFlight: Int = 10
    ) -> ConnectionPoolConfiguration {
        ConnectionPoolConfiguration(
            minimumConnections: minimum,
            maximumConnections: maximum,
            connectionWaitTimeout: waitTimeout,
            idleTimeout: idleTimeout,
            keepaliveInterval: keepalive,
            reconnectBackoff: backoff,
            loadThreshold: loadThreshold,
            maximumInFlightPerConnection: maximumInFlight
        )
    }

    @Test func startOpensTheMinimumAndWaitsForTheFirstConnection() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 2)) { harness in
            let first = try await harness.start()
            // start() returned after the first connection; the second is still being opened.
            #expect(harness.factory.attempts == 2)
            #expect(harness.pool.statistics.openConnections == 1)
            #expect(harness.pool.statistics.connectingConnections == 1)
            #expect(try await harness.pool.connection() === first)
            let second = try harness.factory.succeedNext()
            try await harness.eventually("two open connections") { harness.pool.statistics.openConnections == 2 }
            first.setInFlight(1)
            #expect(try await harness.pool.connection() === second)
        }
    }

    @Test func startRejectsAnInvalidConfiguration() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 5, maximum: 4)) { harness in
            let error = await #expect(throws: ConnectionPoolError.self) { try await harness.pool.start() }
            #expect(error?.code == .invalidConfiguration)
            #expect(harness.factory.attempts == 0)
        }
    }

    @Test func handsOutTheLeastLoadedConnection() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 3, loadThreshold: 8)) { harness in
            try await harness.start()
            try harness.factory.succeedNext()
            try harness.factory.succeedNext()
            try await harness.eventually("three open connections") { harness.pool.statistics.openConnections == 3 }
            let connections = harness.factory.connections
            connections[0].setInFlight(4)
            connections[1].setInFlight(2)
            connections[2].setInFlight(6)
            for _ in 0..<10 {
                #expect(try await harness.pool.connection() === connections[1])
            }
            connections[1].setInFlight(5)
            #expect(try await harness.pool.connection() === connections[0])
            #expect(harness.pool.statistics.inFlightRequests == 15)
        }
    }

    @Test func opensConnectionsUnderLoadButNeverMoreThanTheMaximum() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 1, maximum: 3, loadThreshold: 2)) { harness in
            let first = try await harness.start()
            first.setInFlight(2)
            _ = try await harness.pool.connection()
            #expect(harness.factory.attempts == 1)

            first.setInFlight(3)
            #expect(try await harness.pool.connection() === first)
            #expect(harness.factory.attempts == 2)
            // One background attempt at a time.
            _ = try await harness.pool.connection()
            #expect(harness.factory.attempts == 2)
            let second = try harness.factory.succeedNext()
            try await harness.eventually("two open connections") { harness.pool.statistics.openConnections == 2 }
            #expect(try await harness.pool.connection() === second)
            second.setInFlight(3)
            _ = try await harness.pool.connection()
            let third = try harness.factory.succeedNext()
            try await harness.eventually("three open connections") { harness.pool.statistics.openConnections == 3 }
            third.setInFlight(50)
            for _ in 0..<20 {
                _ = try await harness.pool.connection()
            }
            #expect(harness.factory.attempts == 3)
            #expect(harness.pool.statistics.openConnections + harness.pool.statistics.connectingConnections == 3)
        }
    }

    @Test func aBoundedWaitEndsInWaitTimeout() async throws {
        let configuration = Self.configuration(minimum: 1, maximum: 1, loadThreshold: 0, maximumInFlight: 1)
        try await PoolHarness.with(configuration) { harness in
            let connection = try await harness.start()
            connection.setInFlight(1)
            let outcome = LockedBox<ConnectionPoolError?>(nil)
            try await withThrowingTaskGroup { group in
                group.addTask {
                    do {
                        _ = try await harness.pool.connection()
                    } catch {
                        outcome.withLock { $0 = error as? ConnectionPoolError }
                    }
                }
                try await harness.eventually("a waiting caller") { harness.pool.statistics.waitingRequests == 1 }
                await harness.loop.advanceTime(by: .milliseconds(999))
                #expect(harness.pool.statistics.waitingRequests == 1)
                #expect(outcome.withLock { $0 } == nil)
                await harness.loop.advanceTime(by: .milliseconds(1))
                try await group.waitForAll()
            }
            #expect(outcome.withLock { $0?.code } == .waitTimeout)
            #expect(harness.pool.statistics.waitingRequests == 0)
            // Waiting for a slot is not a node failure: no reconnect, and the connection serves again once drained.
            #expect(harness.factory.attempts == 1)
            connection.setInFlight(0)
            #expect(try await harness.pool.connection() === connection)
        }
    }

    @Test func aWaiterIsServedWhenAFullConnectionDrains() async throws {
        let configuration = Self.configuration(minimum: 1, maximum: 1, loadThreshold: 0, maximumInFlight: 1)
        try await PoolHarness.with(configuration) { harness in
            let connection = try await harness.start()
            connection.setInFlight(1)
            async let leased = harness.pool.connection()
            try await harness.eventually("a waiting caller") { harness.pool.statistics.waitingRequests == 1 }
            connection.setInFlight(0)
            await harness.loop.advanceTime(by: .milliseconds(1))
            #expect(try await leased === connection)
        }
    }

    @Test func cancellingAWaiterRemovesIt() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 1)) { harness in
            let pool = harness.pool
            async let started: Void = pool.start()
            try await harness.eventually("the first attempt") { harness.factory.pendingCount == 1 }
            let waiter = Task { () async throws(ConnectionPoolError) -> MockConnection in
                try await pool.connection()
            }
            try await harness.eventually("two waiters") { pool.statistics.waitingRequests == 2 }
            waiter.cancel()
            let error = await #expect(throws: ConnectionPoolError.self) { try await waiter.value }
            #expect(error?.code == .cancelled)
            #expect(pool.statistics.waitingRequests == 1)
            // The cancelled waiter's timeout no longer matters; the other waiter still gets the connection.
            await harness.loop.advanceTime(by: .seconds(2))
            let connection = try harness.factory.succeedNext()
            try await started
            #expect(try await pool.connection() === connection)
            #expect(pool.statistics.waitingRequests == 0)
        }
    }

    @Test func anAlreadyCancelledTaskDoesNotWait() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 0)) { harness in
            let pool = harness.pool
            try await pool.start()
            let waiter = Task { () async throws(ConnectionPoolError) -> MockConnection in
                withUnsafeCurrentTask { $0?.cancel() }
                return try await pool.connection()
            }
            let error = await #expect(throws: ConnectionPoolError.self) { try await waiter.value }
            #expect(error?.code == .cancelled)
            #expect(pool.statistics.waitingRequests == 0)
        }
    }

    @Test func startFailsButThePoolKeepsRetryingAndRecovers() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 1)) { harness in
            async let started: Void = harness.pool.start()
            try await harness.eventually("the first attempt") { harness.factory.pendingCount == 1 }
            try harness.factory.failNext(MockConnectionError(reason: "refused"))
            do {
                try await started
                Issue.record("start must fail when the first attempt fails")
            } catch {
                #expect((error as? ConnectionPoolError)?.code == .connectFailed)
                #expect((error as? ConnectionPoolError)?.underlyingError as? MockConnectionError == MockConnectionError(reason: "refused"))
            }
            // Fail fast while backing off: no new attempt.
            let fast = await #expect(throws: ConnectionPoolError.self) { try await harness.pool.connection() }
            #expect(fast?.code == .connectFailed)
            #expect(harness.factory.attempts == 1)

            await harness.loop.advanceTime(by: .milliseconds(99))
            #expect(harness.factory.attempts == 1)
            await harness.loop.advanceTime(by: .milliseconds(1))
            #expect(harness.factory.attempts == 2)
            // The retry is under way: a caller waits for it.
            async let leased = harness.pool.connection()
            try await harness.eventually("a waiting caller") { harness.pool.statistics.waitingRequests == 1 }
            let connection = try harness.factory.succeedNext()
            #expect(try await leased === connection)
            #expect(try await harness.pool.connection() === connection)
        }
    }

    @Test func anAttemptThatFailsFailsAllWaitersAtOnce() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 0)) { harness in
            try await harness.pool.start()
            let failures = LockedBox<[ConnectionPoolError.Code?]>([])
            try await withThrowingTaskGroup { group in
                for _ in 0..<3 {
                    group.addTask {
                        do {
                            _ = try await harness.pool.connection()
                        } catch {
                            failures.withLock { $0.append((error as? ConnectionPoolError)?.code) }
                        }
                    }
                }
                try await harness.eventually("three waiters") { harness.pool.statistics.waitingRequests == 3 }
                #expect(harness.factory.attempts == 1)
                try harness.factory.failNext()
                try await group.waitForAll()
            }
            #expect(failures.withLock { $0 } == [.connectFailed, .connectFailed, .connectFailed])
            // Without a minimum, the next request after the backoff starts a new attempt.
            await harness.loop.advanceTime(by: .milliseconds(100))
            #expect(harness.factory.attempts == 1)
            async let leased = harness.pool.connection()
            try await harness.eventually("a second attempt") { harness.factory.pendingCount == 1 }
            let connection = try harness.factory.succeedNext()
            #expect(try await leased === connection)
        }
    }

    @Test func reconnectBackoffGrowsAndIsCapped() async throws {
        let backoff = ConnectionPoolConfiguration.ReconnectBackoff(
            initial: .milliseconds(100),
            maximum: .milliseconds(400),
            multiplier: 2,
            jitter: 0
        )
        try await PoolHarness.with(Self.configuration(minimum: 1, backoff: backoff)) { harness in
            async let started: Void = harness.pool.start()
            try await harness.eventually("the first attempt") { harness.factory.pendingCount == 1 }
            try harness.factory.failNext()
            _ = try? await started
            var delays: [Int64] = []
            for _ in 0..<5 {
                let failedAt = harness.loop.now
                let before = harness.factory.attempts
                while harness.factory.attempts == before {
                    await harness.loop.advanceTime(by: .milliseconds(10))
                }
                delays.append((harness.loop.now - failedAt).nanoseconds / 1_000_000)
                try harness.factory.failNext()
                await harness.loop.run()
            }
            #expect(delays == [100, 200, 400, 400, 400])
        }
    }

    @Test func reconnectBackoffJitterStaysInBounds() async throws {
        let backoff = ConnectionPoolConfiguration.ReconnectBackoff(initial: .seconds(1), maximum: .seconds(1), jitter: 0.2)
        try await PoolHarness.with(Self.configuration(minimum: 1, backoff: backoff)) { harness in
            async let started: Void = harness.pool.start()
            try await harness.eventually("the first attempt") { harness.factory.pendingCount == 1 }
            try harness.factory.failNext()
            _ = try? await started
            for _ in 0..<5 {
                await harness.loop.advanceTime(by: .milliseconds(799))
                #expect(harness.factory.pendingCount == 0)
                await harness.loop.advanceTime(by: .milliseconds(402))
                #expect(harness.factory.pendingCount == 1)
                try harness.factory.failNext()
                await harness.loop.run()
            }
        }
    }

    @Test func aBrokenConnectionIsReplaced() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 1)) { harness in
            let first = try await harness.start()
            first.fail(MockConnectionError(reason: "reset by peer"))
            try await harness.eventually("a reconnect attempt") { harness.factory.pendingCount == 1 }
            #expect(harness.pool.statistics.openConnections == 0)
            async let leased = harness.pool.connection()
            try await harness.eventually("a waiting caller") { harness.pool.statistics.waitingRequests == 1 }
            let second = try harness.factory.succeedNext()
            #expect(try await leased === second)
        }
    }

    @Test func idleConnectionsAboveTheMinimumAreClosedNeverBelow() async throws {
        let configuration = Self.configuration(minimum: 1, maximum: 3, idleTimeout: .seconds(10), loadThreshold: 0)
        try await PoolHarness.with(configuration) { harness in
            let first = try await harness.start()
            first.setInFlight(1)
            _ = try await harness.pool.connection()
            let second = try harness.factory.succeedNext()
            try await harness.eventually("two open connections") { harness.pool.statistics.openConnections == 2 }
            second.setInFlight(1)
            _ = try await harness.pool.connection()
            let third = try harness.factory.succeedNext()
            try await harness.eventually("three open connections") { harness.pool.statistics.openConnections == 3 }
            first.setInFlight(0)
            second.setInFlight(0)
            third.setInFlight(1)

            await harness.loop.advanceTime(by: .seconds(8))
            #expect(harness.pool.statistics.openConnections == 3)
            await harness.loop.advanceTime(by: .seconds(5))
            #expect(harness.pool.statistics.openConnections == 1)
            #expect(first.isClosed && second.isClosed)
            #expect(!third.isCloseRequested)

            third.setInFlight(0)
            await harness.loop.advanceTime(by: .seconds(120))
            #expect(harness.pool.statistics.openConnections == 1)
            #expect(!third.isCloseRequested)
            #expect(harness.factory.attempts == 3)
        }
    }

    @Test func keepalivesAreSentToIdleConnections() async throws {
        let configuration = Self.configuration(minimum: 2, keepalive: .seconds(5))
        try await PoolHarness.with(configuration) { harness in
            let idle = try await harness.start()
            let busy = try harness.factory.succeedNext()
            try await harness.eventually("two open connections") { harness.pool.statistics.openConnections == 2 }
            busy.setInFlight(3)
            await harness.loop.advanceTime(by: .seconds(4))
            #expect(idle.keepaliveCount == 0)
            await harness.loop.advanceTime(by: .seconds(2))
            #expect(idle.keepaliveCount == 1)
            await harness.loop.advanceTime(by: .seconds(5))
            #expect(idle.keepaliveCount == 2)
            #expect(busy.keepaliveCount == 0)
        }
    }

    @Test func shutdownWaitsForInFlightRequestsThenCloses() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 1)) { harness in
            let connection = try await harness.start()
            connection.setInFlight(3)
            let finished = LockedBox(false)
            try await withThrowingTaskGroup { group in
                group.addTask {
                    await harness.pool.shutdown(gracePeriod: .seconds(30))
                    finished.withLock { $0 = true }
                }
                try await harness.eventually("a graceful close") { connection.isCloseRequested }
                let error = await #expect(throws: ConnectionPoolError.self) { try await harness.pool.connection() }
                #expect(error?.code == .poolShutdown)
                await harness.loop.advanceTime(by: .seconds(10))
                #expect(!finished.withLock { $0 })
                #expect(!connection.isClosed)
                #expect(harness.pool.statistics.closingConnections == 1)
                connection.setInFlight(0)
                try await group.waitForAll()
            }
            #expect(finished.withLock { $0 })
            #expect(connection.isClosed && !connection.isClosedImmediately)
            #expect(harness.pool.statistics == ConnectionPoolStatistics())
        }
    }

    @Test func shutdownClosesEverythingAfterTheGracePeriod() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 1)) { harness in
            let connection = try await harness.start()
            connection.setInFlight(3)
            try await withThrowingTaskGroup { group in
                group.addTask { await harness.pool.shutdown(gracePeriod: .seconds(2)) }
                try await harness.eventually("a graceful close") { connection.isCloseRequested }
                await harness.loop.advanceTime(by: .milliseconds(1_999))
                #expect(!connection.isClosed)
                await harness.loop.advanceTime(by: .milliseconds(1))
                try await group.waitForAll()
            }
            #expect(connection.isClosedImmediately)
        }
    }

    @Test func shutdownFailsWaitingCallersAndLaterRequests() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 1)) { harness in
            async let started: Void = harness.pool.start()
            try await harness.eventually("the first attempt") { harness.factory.pendingCount == 1 }
            async let leased = harness.pool.connection()
            try await harness.eventually("two waiters") { harness.pool.statistics.waitingRequests == 2 }
            async let shutdown: Void = harness.pool.shutdown(gracePeriod: .seconds(1))
            do {
                _ = try await leased
                Issue.record("a waiting caller must fail at shutdown")
            } catch {
                #expect((error as? ConnectionPoolError)?.code == .poolShutdown)
            }
            do {
                try await started
                Issue.record("start must fail at shutdown")
            } catch {
                #expect((error as? ConnectionPoolError)?.code == .poolShutdown)
            }
            // The attempt still under way is closed when it completes; then the shutdown finishes.
            let late = try harness.factory.succeedNext()
            await shutdown
            #expect(late.isClosed)
            let error = await #expect(throws: ConnectionPoolError.self) { try await harness.pool.connection() }
            #expect(error?.code == .poolShutdown)
        }
    }

    @Test func aThousandConcurrentCallersOnAPoolOfTwoAllGetAConnection() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 2, maximum: 2, loadThreshold: 2)) { harness in
            try await harness.start()
            try harness.factory.succeedNext()
            try await harness.eventually("two open connections") { harness.pool.statistics.openConnections == 2 }
            let ids = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<1_000 {
                    group.addTask { try await harness.pool.connection().id }
                }
                var ids: [Int] = []
                for try await id in group {
                    ids.append(id)
                }
                return ids
            }
            #expect(ids.count == 1_000)
            #expect(Set(ids) == [0, 1])
            #expect(harness.factory.attempts == 2)
        }
    }

    @Test func aThousandConcurrentCallersWaitingForTheFirstConnectionAllGetIt() async throws {
        try await PoolHarness.with(Self.configuration(minimum: 2, maximum: 2, waitTimeout: .seconds(60))) { harness in
            async let started: Void = harness.pool.start()
            try await harness.eventually("two attempts") { harness.factory.pendingCount == 2 }
            try await withThrowingTaskGroup { group in
                for _ in 0..<1_000 {
                    group.addTask { _ = try await harness.pool.connection() }
                }
                try await harness.eventually("1,001 waiters") { harness.pool.statistics.waitingRequests == 1_001 }
                try harness.factory.succeedNext()
                try await group.waitForAll()
            }
            try await started
            #expect(harness.pool.statistics.waitingRequests == 0)
        }
    }
}

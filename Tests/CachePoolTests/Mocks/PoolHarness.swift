import CachePool
import Logging
import NIOCore
import NIOEmbedded
import Testing

/// A pool on a `NIOAsyncTestingEventLoop`, whose virtual clock the tests advance, with a mock factory.
struct PoolHarness: Sendable {
    let loop: NIOAsyncTestingEventLoop
    let factory: MockConnectionFactory
    let pool: ConnectionPool<MockConnection>

    /// Runs `body` with a fresh pool, then resolves pending attempts, shuts the pool and the loop down.
    static func with(
        _ configuration: ConnectionPoolConfiguration,
        _ body: (PoolHarness) async throws -> Void
    ) async throws {
        let loop = NIOAsyncTestingEventLoop()
        let factory = MockConnectionFactory(eventLoop: loop)
        var logger = Logger(label: "CachePoolTests")
        logger.logLevel = .critical
        let pool = ConnectionPool<MockConnection>(
            configuration: configuration,
            eventLoop: loop,
            logger: logger,
            connectionFactory: { factory.makeConnection(id: $0) }
        )
        let harness = PoolHarness(loop: loop, factory: factory, pool: pool)
        var failure: (any Error)?
        do {
            try await body(harness)
        } catch {
            failure = error
        }
        // Shut down, resolving whatever the test left pending, so no promise leaks.
        async let shutdown: Void = pool.shutdown(gracePeriod: .seconds(3600))
        do {
            try await harness.eventually("the pool to empty") {
                factory.failAllPending()
                for connection in factory.connections {
                    connection.closeImmediately()
                }
                return pool.statistics == ConnectionPoolStatistics()
            }
        } catch {
            failure = failure ?? error
        }
        await shutdown
        // Drain the loop's queue first: work submitted while it shuts down would be dropped.
        await loop.run()
        await loop.shutdownGracefully()
        if let failure { throw failure }
    }

    /// Starts the pool, succeeding its first connection attempt.
    @discardableResult
    func start() async throws -> MockConnection {
        async let started: Void = self.pool.start()
        try await self.eventually("the first connection attempt") { self.factory.pendingCount > 0 }
        let connection = try self.factory.succeedNext()
        try await started
        return connection
    }

    /// Waits, without sleeping, until `condition` holds; records an issue after five seconds.
    func eventually(
        _ what: String,
        sourceLocation: SourceLocation = #_sourceLocation,
        _ condition: () -> Bool
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("timed out waiting for \(what)", sourceLocation: sourceLocation)
                throw MockConnectionError(reason: "timed out waiting for \(what)")
            }
            await self.loop.run()
            await Task.yield()
        }
    }
}

import CachePool
import NIOConcurrencyHelpers
import NIOCore

/// A connection factory whose attempts stay pending until a test succeeds or fails them.
final class MockConnectionFactory: Sendable {
    private struct State {
        var pending: [(id: Int, promise: EventLoopPromise<MockConnection>)] = []
        var attempts = 0
        var connections: [MockConnection] = []
    }

    let eventLoop: any EventLoop
    private let state = NIOLockedValueBox(State())

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// The factory closure to hand to the pool.
    func makeConnection(id: Int) -> EventLoopFuture<MockConnection> {
        let promise = self.eventLoop.makePromise(of: MockConnection.self)
        self.state.withLockedValue { state in
            state.attempts += 1
            state.pending.append((id, promise))
        }
        return promise.futureResult
    }

    /// How many attempts the pool started.
    var attempts: Int {
        self.state.withLockedValue { $0.attempts }
    }

    /// How many attempts are neither succeeded nor failed yet.
    var pendingCount: Int {
        self.state.withLockedValue { $0.pending.count }
    }

    /// Every connection the factory handed out.
    var connections: [MockConnection] {
        self.state.withLockedValue { $0.connections }
    }

    /// Succeeds the oldest pending attempt.
    @discardableResult
    func succeedNext() throws -> MockConnection {
        let (id, promise) = try self.popPending()
        let connection = MockConnection(id: id)
        self.state.withLockedValue { $0.connections.append(connection) }
        promise.succeed(connection)
        return connection
    }

    /// Fails the oldest pending attempt.
    func failNext(_ error: any Error = MockConnectionError(reason: "connection refused")) throws {
        try self.popPending().promise.fail(error)
    }

    /// Fails every pending attempt, so no promise leaks at the end of a test.
    func failAllPending() {
        let pending = self.state.withLockedValue { state in
            defer { state.pending.removeAll() }
            return state.pending
        }
        for attempt in pending {
            attempt.promise.fail(MockConnectionError(reason: "test finished"))
        }
    }

    private func popPending() throws -> (id: Int, promise: EventLoopPromise<MockConnection>) {
        let next = self.state.withLockedValue { state in state.pending.isEmpty ? nil : state.pending.removeFirst() }
        guard let next else { throw MockConnectionError(reason: "no pending connection attempt") }
        return next
    }
}

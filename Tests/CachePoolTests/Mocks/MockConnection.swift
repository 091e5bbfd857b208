import CachePool
import NIOConcurrencyHelpers

/// A pooled connection whose load, keepalives and closing the tests drive by hand.
final class MockConnection: PooledConnection {
    private struct State {
        var inFlight = 0
        var isLocal = false
        var keepalives = 0
        var closeRequested = false
        var closedImmediately = false
        var closed = false
        var closeError: (any Error)?
        var callbacks: [@Sendable ((any Error)?) -> Void] = []
    }

    let id: Int
    private let state = NIOLockedValueBox(State())

    init(id: Int) {
        self.id = id
    }

    var inFlightCount: Int {
        self.state.withLockedValue { $0.inFlight }
    }

    /// Whether the pool should see this connection as served by the caller's thread.
    var isLocal: Bool {
        get { self.state.withLockedValue { $0.isLocal } }
        set { self.state.withLockedValue { $0.isLocal = newValue } }
    }

    /// How many keepalives the pool sent.
    var keepaliveCount: Int {
        self.state.withLockedValue { $0.keepalives }
    }

    /// Whether the pool asked for a graceful close.
    var isCloseRequested: Bool {
        self.state.withLockedValue { $0.closeRequested }
    }

    /// Whether the pool asked for an immediate close.
    var isClosedImmediately: Bool {
        self.state.withLockedValue { $0.closedImmediately }
    }

    /// Whether the connection has reported closed.
    var isClosed: Bool {
        self.state.withLockedValue { $0.closed }
    }

    /// Sets the number of requests in flight; a graceful close completes when it reaches zero.
    func setInFlight(_ count: Int) {
        let callbacks = self.state.withLockedValue { state -> [@Sendable ((any Error)?) -> Void] in
            state.inFlight = count
            guard state.closeRequested, count == 0 else { return [] }
            return Self.markClosed(&state, error: nil)
        }
        callbacks.forEach { $0(nil) }
    }

    /// Breaks the connection with an error.
    func fail(_ error: any Error) {
        let callbacks = self.state.withLockedValue { state in
            state.inFlight = 0
            return Self.markClosed(&state, error: error)
        }
        callbacks.forEach { $0(error) }
    }

    func onClose(_ callback: @escaping @Sendable ((any Error)?) -> Void) {
        let closed = self.state.withLockedValue { state -> (Bool, (any Error)?) in
            if state.closed { return (true, state.closeError) }
            state.callbacks.append(callback)
            return (false, nil)
        }
        if closed.0 { callback(closed.1) }
    }

    func close() {
        let callbacks = self.state.withLockedValue { state -> [@Sendable ((any Error)?) -> Void] in
            state.closeRequested = true
            guard state.inFlight == 0 else { return [] }
            return Self.markClosed(&state, error: nil)
        }
        callbacks.forEach { $0(nil) }
    }

    func closeImmediately() {
        let callbacks = self.state.withLockedValue { state in
            state.closedImmediately = true
            state.inFlight = 0
            return Self.markClosed(&state, error: nil)
        }
        callbacks.forEach { $0(nil) }
    }

    func sendKeepalive() {
        self.state.withLockedValue { $0.keepalives += 1 }
    }

    private static func markClosed(_ state: inout State, error: (any Error)?) -> [@Sendable ((any Error)?) -> Void] {
        guard !state.closed else { return [] }
        state.closed = true
        state.closeError = error
        defer { state.callbacks.removeAll() }
        return state.callbacks
    }
}

/// An error a mock connection attempt or connection fails with.
struct MockConnectionError: Error, Equatable {
    var reason: String
}

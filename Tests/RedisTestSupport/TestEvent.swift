import NIOConcurrencyHelpers

/// A one-shot event a test awaits: ``wait()`` returns once ``signal()`` was called (before or after the wait), so
/// tests sequence concurrent work on events instead of sleeps.
public final class TestEvent: Sendable {
    private let state = NIOLockedValueBox<(signalled: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    /// Whether ``signal()`` was called.
    public var isSignalled: Bool { self.state.withLockedValue { $0.signalled } }

    /// Signals the event: every waiter, present and future, goes on.
    public func signal() {
        let waiters = self.state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            guard !state.signalled else { return [] }
            state.signalled = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Waits until the event is signalled (not cancellable: signal it to end the wait).
    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let signalled = self.state.withLockedValue { state in
                if !state.signalled { state.waiters.append(continuation) }
                return state.signalled
            }
            if signalled { continuation.resume() }
        }
    }
}

/// A counter shared by concurrent closures.
public final class TestCounter: Sendable {
    private let value = NIOLockedValueBox(0)

    public init() {}

    /// The current count.
    public var count: Int { self.value.withLockedValue { $0 } }

    /// Adds one and returns the new count.
    @discardableResult
    public func increment() -> Int {
        self.value.withLockedValue { value in
            value += 1
            return value
        }
    }
}

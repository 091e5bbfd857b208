/// Polls `condition` until it holds, or throws once `timeout` has passed.
///
/// For states that have no event to await from outside the code under test (requests queued on a connection, a
/// pool reconnected, a node back in the ring): each round checks the real state, every 5 ms. The timeout only
/// bounds a failing test; a passing one never waits for it.
///
/// - Parameters:
///   - timeout: How long to wait before failing. Defaults to 10 seconds.
///   - what: What is awaited, for the error.
///   - condition: The check; an error it throws ends the wait.
/// - Throws: ``RedisServerError`` `.timedOut` naming `what`, or the error of `condition`.
public func waitUntil(
    timeout: Duration = .seconds(10),
    _ what: String,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while !(try await condition()) {
        guard clock.now < deadline else {
            throw RedisServerError(.timedOut, "timed out after \(timeout) waiting for \(what)")
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// ``waitUntil(timeout:_:_:)`` for a test whose tasks are blocked on `release` until the condition holds: when the
/// wait fails, `release` is signalled before the error is thrown, so the blocked tasks end with the test instead of
/// being left suspended.
public func waitUntil(
    timeout: Duration = .seconds(10),
    _ what: String,
    releasingOnFailure release: TestEvent,
    _ condition: () async throws -> Bool
) async throws {
    do {
        try await waitUntil(timeout: timeout, what, condition)
    } catch {
        release.signal()
        throw error
    }
}

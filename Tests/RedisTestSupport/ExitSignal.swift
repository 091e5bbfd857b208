import NIOConcurrencyHelpers

/// A one-shot event ("the process exited") that any number of tasks can await, with an optional deadline.
final class ExitSignal: Sendable {
    private struct State {
        var fired = false
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var gaveUp: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    private let state = NIOLockedValueBox(State())

    /// Whether the event has fired.
    var hasFired: Bool { self.state.withLockedValue { $0.fired } }

    /// Fires the event and wakes every waiter; later calls do nothing.
    func signal() {
        let waiters = self.state.withLockedValue { state -> [CheckedContinuation<Bool, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.resume(returning: true)
        }
    }

    /// Waits until the event fires.
    func wait() async {
        _ = await self.waitUnlessGivenUp(id: self.makeID())
    }

    /// Waits until the event fires or the timeout passes.
    ///
    /// - Parameter timeout: The longest wait.
    /// - Returns: `true` if the event fired, `false` at the deadline.
    func wait(timeout: Duration) async -> Bool {
        let id = self.makeID()
        let fired = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.waitUnlessGivenUp(id: id) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.giveUp(id: id)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            // Ends the other child: the sleep is cancelled, or the waiter is resumed with `false`.
            self.giveUp(id: id)
            await group.waitForAll()
            return first
        }
        return fired || self.hasFired
    }

    private func makeID() -> UInt64 {
        self.state.withLockedValue { state in
            state.nextID += 1
            return state.nextID
        }
    }

    private func waitUnlessGivenUp(id: UInt64) async -> Bool {
        await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let resumeNow = self.state.withLockedValue { state -> Bool? in
                if state.fired { return true }
                if state.gaveUp.remove(id) != nil { return false }
                state.waiters[id] = continuation
                return nil
            }
            if let resumeNow {
                continuation.resume(returning: resumeNow)
            }
        }
    }

    private func giveUp(id: UInt64) {
        let waiter = self.state.withLockedValue { state -> CheckedContinuation<Bool, Never>? in
            if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
            if !state.fired { state.gaveUp.insert(id) }
            return nil
        }
        waiter?.resume(returning: false)
    }
}

import NIOConcurrencyHelpers

/// The computations of `getOrSet` misses that are running, one per stored key and value type, each shared by every
/// caller that missed on that key meanwhile (single flight).
///
/// A computation runs in a task of its own, so the callers are waiters: each one that is cancelled stops waiting
/// at once (with `CancellationError`) while the others keep waiting; the computation itself is cancelled only when
/// its last waiter leaves. Its value, or its error, reaches every waiter. A computation is removed from the table as
/// soon as it ends or its last waiter leaves, so a later miss starts a new one.
///
/// The table is one lock-protected dictionary: only the miss path of `getOrSet` takes the lock.
final class CacheSingleFlight: Sendable {
    /// A computation's identity: the stored key and the type of its value (two calls that read the same key as
    /// different types do not share).
    struct Key: Hashable, Sendable {
        let storedKey: String
        let type: ObjectIdentifier
    }

    private typealias Waiter = CheckedContinuation<any Sendable, any Error>

    private struct Flight {
        /// Tells this flight from a later one for the same key.
        let id: UInt64
        var waiters: [UInt64: Waiter]
        var task: Task<Void, Never>?
    }

    private struct Table {
        var flights: [Key: Flight] = [:]
        /// The next flight or waiter id.
        var nextID: UInt64 = 0

        mutating func makeID() -> UInt64 {
            self.nextID &+= 1
            return self.nextID
        }
    }

    private let table = NIOLockedValueBox(Table())

    /// How many computations are running (waited for), for tests.
    var count: Int {
        self.table.withLockedValue { $0.flights.count }
    }

    /// How many callers wait for a computation, for tests.
    var waiterCount: Int {
        self.table.withLockedValue { $0.flights.values.reduce(0) { $0 + $1.waiters.count } }
    }

    /// Joins the computation running for `key`, or starts `operation` as that computation, and waits for its value.
    ///
    /// - Throws: What `operation` throws, or `CancellationError` when the calling task is cancelled while waiting.
    func value<Value: Sendable>(for key: Key, _ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
        let waiterID = self.table.withLockedValue { $0.makeID() }
        let value = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: Waiter) in
                let cancelled = self.table.withLockedValue { table -> Bool in
                    // A cancellation before this point found no waiter to remove: it is seen here instead.
                    if Task.isCancelled { return true }
                    if table.flights[key] != nil {
                        table.flights[key]!.waiters[waiterID] = continuation
                        return false
                    }
                    let flightID = table.makeID()
                    var flight = Flight(id: flightID, waiters: [waiterID: continuation], task: nil)
                    // Creating a task does not wait for it; its end takes this lock again, after this returns.
                    flight.task = Task { [self] in
                        let result: Result<any Sendable, any Error>
                        do {
                            result = .success(try await operation())
                        } catch {
                            result = .failure(error)
                        }
                        self.finish(key, flightID: flightID, with: result)
                    }
                    table.flights[key] = flight
                    return false
                }
                if cancelled { continuation.resume(throwing: CancellationError()) }
            }
        } onCancel: {
            self.leave(key, waiterID: waiterID)
        }
        // The table is keyed by the value's type: every value of this flight is a `Value`.
        return value as! Value
    }

    /// Ends a flight: removes it from the table (unless its last waiter left already) and resumes its waiters.
    private func finish(_ key: Key, flightID: UInt64, with result: Result<any Sendable, any Error>) {
        let waiters: [Waiter] = self.table.withLockedValue { table in
            guard let flight = table.flights[key], flight.id == flightID else { return [] }
            table.flights[key] = nil
            return Array(flight.waiters.values)
        }
        for waiter in waiters { waiter.resume(with: result) }
    }

    /// A waiter was cancelled: it stops waiting; the computation is cancelled when it was the last waiter.
    private func leave(_ key: Key, waiterID: UInt64) {
        let (waiter, abandoned): (Waiter?, Task<Void, Never>?) = self.table.withLockedValue { table in
            guard let waiter = table.flights[key]?.waiters.removeValue(forKey: waiterID) else { return (nil, nil) }
            guard table.flights[key]!.waiters.isEmpty else { return (waiter, nil) }
            let task = table.flights[key]!.task
            table.flights[key] = nil
            return (waiter, task)
        }
        waiter?.resume(throwing: CancellationError())
        abandoned?.cancel()
    }
}

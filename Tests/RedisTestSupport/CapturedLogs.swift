import Logging
import NIOConcurrencyHelpers

/// Log entries captured by a log handler, with a way to await one: the one log capturer of the tests.
public final class CapturedLogs: Sendable {
    /// One captured log line.
    public struct Entry: Sendable {
        public var level: Logger.Level
        public var message: String
        public var metadata: Logger.Metadata

        /// The message and every metadata value, for searching.
        public var text: String { ([self.message] + self.metadata.map { "\($0.key)=\($0.value)" }).joined(separator: " ") }
    }

    private typealias Predicate = @Sendable (Entry) -> Bool

    private struct State {
        var entries: [Entry] = []
        var waiters: [Int: (predicate: Predicate, continuation: CheckedContinuation<Bool, Never>)] = [:]
        var nextWaiter = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Every entry so far, in order.
    public var entries: [Entry] { self.state.withLockedValue { $0.entries } }

    /// A logger whose lines at `level` and above are captured here.
    public func logger(level: Logger.Level) -> Logger {
        var logger = Logger(label: "captured") { _ in Handler(logs: self) }
        logger.logLevel = level
        return logger
    }

    func append(_ entry: Entry) {
        let matched = self.state.withLockedValue { state in
            state.entries.append(entry)
            let ids = state.waiters.filter { $0.value.predicate(entry) }.map(\.key)
            return ids.compactMap { state.waiters.removeValue(forKey: $0)?.continuation }
        }
        for continuation in matched { continuation.resume(returning: true) }
    }

    /// Returns once an entry matching `predicate` was logged (at once if one was).
    ///
    /// - Parameters:
    ///   - timeout: Bounds a failing test only; a passing one returns at the entry.
    ///   - predicate: What the entry must satisfy.
    /// - Throws: ``RedisServerError`` `.timedOut` when no entry matched within `timeout`.
    public func waitFor(timeout: Duration = .seconds(10), _ predicate: @escaping @Sendable (Entry) -> Bool) async throws {
        let found = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await self.wait(for: predicate) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !found {
            throw RedisServerError(.timedOut, "no log entry matched within \(timeout)")
        }
    }

    /// True once a matching entry is logged, false when cancelled first.
    private func wait(for predicate: @escaping Predicate) async -> Bool {
        let id = self.state.withLockedValue { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now: Bool? = self.state.withLockedValue { state in
                    if state.entries.contains(where: predicate) { return true }
                    // Cancelled before registering: the cancellation handler has run and found nothing.
                    if Task.isCancelled { return false }
                    state.waiters[id] = (predicate, continuation)
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = self.state.withLockedValue { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(returning: false)
        }
    }

    private struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { self.metadata[key] }
            set { self.metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let metadata = self.metadata.merging(event.metadata ?? [:]) { $1 }
            self.logs.append(Entry(level: event.level, message: "\(event.message)", metadata: metadata))
        }
    }
}

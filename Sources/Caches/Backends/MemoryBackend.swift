import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// A process-wide in-memory store shared by every cache that uses the same name (`memory://NAME`).
///
/// Expiry uses the monotonic clock; an expired entry is missing for every call (`add` and `touch` included).
/// The store lives while at least one cache using it is connected.
final class MemoryBackend: CacheBackend {
    let name: String
    private let store: NIOLockedValueBox<MemoryStore?> = NIOLockedValueBox(nil)

    init(name: String) {
        self.name = name
    }

    func connect() async throws {
        let store = MemoryStore.retain(name: self.name)
        self.store.withLockedValue { $0 = store }
    }

    func disconnect() async {
        let released: Bool = self.store.withLockedValue { store in
            defer { store = nil }
            return store != nil
        }
        if released { MemoryStore.release(name: self.name) }
    }

    private func withEntries<R>(_ body: (inout [String: MemoryStore.Entry], ContinuousClock.Instant) throws -> R) throws -> R {
        guard let store = self.store.withLockedValue({ $0 }) else {
            throw CacheError(.notConnected, "the cache is not connected: call connect() first")
        }
        let now = ContinuousClock.now
        return try store.entries.withLockedValue { try body(&$0, now) }
    }

    private static func deadline(_ ttl: Int?, now: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        ttl.map { now.advanced(by: .seconds($0)) }
    }

    func get(_ key: String) async throws -> ByteBuffer? {
        try self.withEntries { entries, now in entries.live(key, now: now)?.value }
    }

    func set(_ key: String, value: ByteBuffer, ttl: Int?) async throws {
        try self.withEntries { entries, now in
            entries[key] = .init(value: value, expiresAt: Self.deadline(ttl, now: now))
        }
    }

    func add(_ key: String, value: ByteBuffer, ttl: Int?) async throws -> Bool {
        try self.withEntries { entries, now in
            guard entries.live(key, now: now) == nil else { return false }
            entries[key] = .init(value: value, expiresAt: Self.deadline(ttl, now: now))
            return true
        }
    }

    func getMany(_ keys: CacheKeys, _ body: (Int, ByteBuffer?) throws -> Void) async throws -> [CacheBackendFailure] {
        let values = try self.withEntries { entries, now in (0..<keys.count).map { entries.live(keys[$0], now: now)?.value } }
        for (index, value) in values.enumerated() { try body(index, value) }
        return []
    }

    func setMany(_ pairs: [(key: String, value: ByteBuffer)], ttl: Int?) async throws -> [CacheBackendFailure] {
        try self.withEntries { entries, now in
            let expiry = Self.deadline(ttl, now: now)
            for pair in pairs { entries[pair.key] = .init(value: pair.value, expiresAt: expiry) }
        }
        return []
    }

    func delete(_ key: String) async throws {
        try self.withEntries { entries, _ in _ = entries.removeValue(forKey: key) }
    }

    func deleteMany(_ keys: [String]) async throws -> [CacheBackendFailure] {
        try self.withEntries { entries, _ in for key in keys { entries.removeValue(forKey: key) } }
        return []
    }

    func clear() async throws {
        try self.withEntries { entries, _ in entries.removeAll() }
    }

    func clearCounting() async throws -> Int {
        try self.withEntries { entries, now in
            let live = entries.values.count(where: { entry in entry.expiresAt.map { $0 > now } ?? true })
            entries.removeAll()
            return live
        }
    }

    func clear(keyPrefix prefix: String) async throws -> Int {
        let head = prefix + ":"
        return try self.withEntries { entries, now in
            let keys = entries.keys.filter { $0.hasPrefix(head) }
            // As on Redis, an expired key is not counted.
            return keys.count(where: { entries.live($0, now: now) != nil && entries.removeValue(forKey: $0) != nil })
        }
    }

    func lock(_ lockKey: String, nodeOf key: String, token: String, milliseconds: Int) async throws -> Bool {
        try self.withEntries { entries, now in
            guard entries.live(lockKey, now: now) == nil else { return false }
            entries[lockKey] = .init(value: ByteBuffer(string: token), expiresAt: now.advanced(by: .milliseconds(milliseconds)))
            return true
        }
    }

    func unlock(_ lockKey: String, nodeOf key: String, token: String) async throws {
        try self.withEntries { entries, now in
            if let entry = entries.live(lockKey, now: now), entry.value == ByteBuffer(string: token) {
                entries.removeValue(forKey: lockKey)
            }
        }
    }

    func touch(_ key: String, ttl: Int?) async throws -> Bool {
        try self.withEntries { entries, now in
            guard var entry = entries.live(key, now: now) else { return false }
            // As Redis's PERSIST: making a key that never expires persistent changes nothing and answers false.
            if ttl == nil && entry.expiresAt == nil { return false }
            entry.expiresAt = Self.deadline(ttl, now: now)
            entries[key] = entry
            return true
        }
    }

    func remainingTTL(_ key: String) async throws -> Int {
        try self.withEntries { entries, now in
            guard let entry = entries.live(key, now: now) else { return -2 }
            guard let deadline = entry.expiresAt else { return -1 }
            // Rounded to the nearest second, as Redis's TTL does.
            let (seconds, attoseconds) = (deadline - now).components
            return Int(seconds) + (attoseconds >= 500_000_000_000_000_000 ? 1 : 0)
        }
    }

    func getWithRemainingTTL(_ key: String) async throws -> (value: ByteBuffer?, milliseconds: Int) {
        try self.withEntries { entries, now in
            guard let entry = entries.live(key, now: now) else { return (nil, -2) }
            guard let deadline = entry.expiresAt else { return (entry.value, -1) }
            return (entry.value, (deadline - now).wholeMillisecondsRoundedUp)
        }
    }

    func increment(_ key: String, by delta: Int) async throws -> Int {
        try self.withEntries { entries, now in
            var entry = entries.live(key, now: now) ?? .init(value: ByteBuffer(string: "0"), expiresAt: nil)
            guard let current = Int(String(buffer: entry.value)) else {
                throw CacheError(.notNumeric, "the stored value is not an integer")
            }
            let (sum, overflow) = current.addingReportingOverflow(delta)
            if overflow { throw CacheError(.notNumeric, "increment or decrement would overflow a 64-bit integer") }
            entry.value = ByteBuffer(string: String(sum))
            entries[key] = entry
            return sum
        }
    }

    func increment(_ key: String, byFloat delta: Double) async throws -> Double {
        try self.withEntries { entries, now in
            var entry = entries.live(key, now: now) ?? .init(value: ByteBuffer(string: "0"), expiresAt: nil)
            guard let current = Double(String(buffer: entry.value)), current.isFinite else {
                throw CacheError(.notNumeric, "the stored value is not a number")
            }
            let sum = current + delta
            guard sum.isFinite else { throw CacheError(.notNumeric, "increment would produce NaN or infinity") }
            entry.value = ByteBuffer(string: RedisFloatFormat.format(sum))
            entries[key] = entry
            return sum
        }
    }
}

/// A named store and its entries.
final class MemoryStore: Sendable {
    struct Entry {
        var value: ByteBuffer
        var expiresAt: ContinuousClock.Instant?
    }

    let entries = NIOLockedValueBox<[String: Entry]>([:])

    private static let registry = NIOLockedValueBox<[String: (store: MemoryStore, users: Int)]>([:])

    static func retain(name: String) -> MemoryStore {
        self.registry.withLockedValue { registry in
            if let existing = registry[name] {
                registry[name] = (existing.store, existing.users + 1)
                return existing.store
            }
            let store = MemoryStore()
            registry[name] = (store, 1)
            return store
        }
    }

    static func release(name: String) {
        self.registry.withLockedValue { registry in
            guard let existing = registry[name] else { return }
            registry[name] = existing.users > 1 ? (existing.store, existing.users - 1) : nil
        }
    }
}

extension Dictionary where Key == String, Value == MemoryStore.Entry {
    /// The entry if present and not expired; an expired entry is removed.
    fileprivate mutating func live(_ key: String, now: ContinuousClock.Instant) -> MemoryStore.Entry? {
        guard let entry = self[key] else { return nil }
        if let deadline = entry.expiresAt, deadline <= now {
            self.removeValue(forKey: key)
            return nil
        }
        return entry
    }
}

/// Formats a float the way Redis' `INCRBYFLOAT` stores it: no exponent, no trailing zeros, no trailing dot.
enum RedisFloatFormat {
    static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e17 {
            return String(Int64(value))
        }
        return "\(value)"
    }
}

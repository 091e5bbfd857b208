import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Copies of values read from Redis, kept in process memory and kept coherent by Redis' own invalidations
/// (server-assisted client-side caching: `HELLO 3`, `CLIENT TRACKING ON`, `invalidate` pushes).
///
/// Entries are keyed by stored key (`prefix:version:key`) and hold the value's JSON bytes, copied out of the reply
/// so that an entry never keeps a whole read buffer alive. An entry is served until the first of: an invalidation
/// of its key, the key's ttl in Redis (read with the value), the configured maximum lifetime, or the loss of the
/// node's tracking (a tracked connection closed, the node flushed, the topology changed).
///
/// **Reads that race with invalidations.** A read that misses first *claims* the key: it puts a *pending* entry
/// with a fresh token, then asks Redis. An invalidation, a flush or a local write removes pending entries like any
/// other, so when the reply comes back its value is stored only if the pending entry with that token is still
/// there: a value that an invalidation overtook is returned to its caller but never stored.
///
/// **One read per key in flight.** A read that finds a pending entry waits for it (at most as long as that read
/// takes, which its command timeout bounds) and gets its value, instead of sending its own: a hot key that misses
/// costs one round trip, not one per caller. It also orders the reads of a key: each starts after the last one
/// ended, so a value stored is never older than one already returned, even though the node's connections deliver
/// their replies and invalidations independently. When the awaited read fails or is invalidated, the waiters claim
/// the key again.
///
/// **Bounds.** At most ``Limits/maxEntries`` entries (pending ones included) and ``Limits/maxBytes`` bytes (keys,
/// values and a fixed ``entryOverhead`` per entry); the CLOCK policy (one reference bit per entry, set by a hit)
/// picks what to evict in O(1) amortised time.
final class CacheNearCache: Sendable {
    /// The bounds of a near cache.
    struct Limits: Sendable, Hashable {
        var maxEntries: Int
        var maxBytes: Int
        var maxLifetime: Duration
    }

    typealias Statistics = CacheNearCacheStatistics

    /// What an entry costs besides its key and value: the slot, the index entry, the value's buffer and the
    /// allocator's share. Measured: 156,000 entries of 100-byte values and 20-byte keys under a 32 MiB bound
    /// (accounted at 96 bytes each) grew the process by 76 MiB, about 290 bytes each beyond key and value.
    static let entryOverhead = 256

    private struct Entry {
        var key: String
        /// The value; nil while the read that will fill it is pending.
        var value: ByteBuffer?
        /// Nonzero while pending: the token of the read that may fill it.
        var token: UInt64
        /// The node it was read from (``CacheNodeClient/nearCacheID``).
        var node: Int
        /// Uptime in nanoseconds after which it is not served (the key's ttl or the maximum lifetime, whichever is
        /// first).
        var servedUntil: UInt64
        /// Uptime in nanoseconds when the key expires in Redis; 0 when it has no ttl.
        var expiresInRedis: UInt64
        var bytes: Int
        var referenced: Bool
        var used: Bool
        /// Set on a pending entry when another read of its key returned to its caller first (one that did not
        /// claim the key): that read may have seen a newer value than this entry's read will bring.
        var overtaken = false
        /// Reads waiting for this pending entry's read.
        var waiters: [UnsafeContinuation<Waited, Never>] = []
    }

    /// What a read that waited for another read of its key gets.
    enum Waited: Sendable {
        /// That read's value (nil: the key is missing) and the milliseconds it has left (-1: no expiry).
        case value(ByteBuffer?, milliseconds: Int)
        /// That read failed or was invalidated: claim the key again.
        case retry
    }

    /// What a read that missed does next (``claim(_:)``).
    enum Claim {
        /// A valid entry after all, and its remaining ttl in milliseconds (-1: none).
        case hit(ByteBuffer, milliseconds: Int)
        /// Read the key and ``complete(_:token:value:milliseconds:node:sentAt:)`` with this token.
        case fill(UInt64)
        /// Another read of the key is in flight: ``wait(for:)`` for it.
        case wait
    }

    private struct Storage {
        var index: [String: Int] = [:]
        var entries: [Entry] = []
        var free: [Int] = []
        var hand = 0
        var nextToken: UInt64 = 0
        var statistics = Statistics()
    }

    let limits: Limits
    /// Its metrics, fed from ``statistics`` when the pools' gauges are sampled.
    let metrics = CacheNearCacheMetrics()
    private let maxLifetimeNanoseconds: UInt64
    /// The entries, in shards by key, each with its own lock and its own share of the bounds: a hot-key load on
    /// every core contends for one shard's lock only when the keys fall in the same shard.
    private let shards: [Shard]
    /// The same shards, unretained: a hit reaches its shard through these without touching the shard's reference
    /// count, which both cores would otherwise write on every read (``shards`` keeps them alive).
    private let shardReferences: [Unmanaged<Shard>]
    /// Each shard's share of ``Limits/maxEntries`` and ``Limits/maxBytes``.
    private let shardMaxEntries: Int
    private let shardMaxBytes: Int
    /// Wholesale drops (``CacheNearCacheStatistics/flushes``), counted once for all shards.
    private let flushes = Atomic<Int>(0)

    init(limits: Limits) {
        self.limits = limits
        // One shard per 256 entries, up to 16: a small near cache keeps its exact bounds in one shard.
        let count = max(1, min(16, limits.maxEntries / 256))
        self.shards = (0..<count).map { _ in Shard() }
        self.shardReferences = self.shards.map { Unmanaged.passUnretained($0) }
        self.shardMaxEntries = max(1, limits.maxEntries / count)
        self.shardMaxBytes = max(1, limits.maxBytes / count)
        let lifetime = limits.maxLifetime.components
        self.maxLifetimeNanoseconds = UInt64(max(0, lifetime.seconds)) * 1_000_000_000 + UInt64(max(0, lifetime.attoseconds / 1_000_000_000))
    }

    /// One shard: its entries behind its own lock.
    private final class Shard: Sendable {
        let storage = Mutex(Storage())

        func withLockedValue<Result: Sendable>(_ body: (inout Storage) -> Result) -> Result {
            self.storage.withLock { body(&$0) }
        }
    }

    /// Runs `body` on the shard of `key` (FNV-1a over its last eight bytes: the end of a stored key is what
    /// differs most), under the shard's lock.
    @inline(__always)
    private func withShard<Result: Sendable>(_ key: String, _ body: (inout Storage) -> Result) -> Result {
        var index = 0
        if self.shardReferences.count > 1 {
            let hash =
                key.utf8.withContiguousStorageIfAvailable { Self.tailHash($0[max(0, $0.count - 8)...]) }
                ?? Self.tailHash(Array(key.utf8.suffix(8))[...])
            index = Int(hash % UInt32(self.shardReferences.count))
        }
        return self.shardReferences[index]._withUnsafeGuaranteedRef { $0.withLockedValue(body) }
    }

    /// FNV-1a of a key's last bytes, read from contiguous memory (the generic walk of a reversed UTF-8 view cost more
    /// than the rest of a hit's lookup).
    @inline(__always)
    private static func tailHash<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in bytes {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        return hash
    }

    @inline(__always)
    static func now() -> UInt64 {
        UInt64(NIODeadline.now().uptimeNanoseconds)
    }

    // MARK: Reading

    /// The value of `key` if an entry is there and valid, counted as a hit; nil otherwise (then ``claim(_:)``
    /// counts the miss).
    func value(for key: String) -> ByteBuffer? {
        let now = Self.now()
        return self.withShard(key) { storage in
            guard let slot = storage.index[key], let value = storage.entries[slot].value,
                storage.entries[slot].servedUntil > now
            else { return nil }
            storage.entries[slot].referenced = true
            storage.statistics.hits += 1
            return value
        }
    }

    /// What a read of `key` that found no valid entry does: use a valid entry after all, wait for the read in
    /// flight, or claim the key (a pending entry) and read it. Counts a hit or a miss.
    func claim(_ key: String) -> Claim {
        let now = Self.now()
        return self.withShard(key) { storage in
            if let slot = storage.index[key] {
                let entry = storage.entries[slot]
                if let value = entry.value {
                    if entry.servedUntil > now {
                        storage.entries[slot].referenced = true
                        storage.statistics.hits += 1
                        return .hit(value, milliseconds: Self.remaining(entry, now: now))
                    }
                    Self.remove(slot, from: &storage)
                    storage.statistics.evictions += 1
                } else {
                    storage.statistics.misses += 1
                    return .wait
                }
            }
            storage.statistics.misses += 1
            return .fill(self.begin(key, in: &storage))
        }
    }

    /// Waits for the read in flight of `key` (after ``claim(_:)`` said ``Claim/wait``).
    func wait(for key: String) async -> Waited {
        await withUnsafeContinuation { continuation in
            let waiting = self.withShard(key) { storage in
                guard let slot = storage.index[key], storage.entries[slot].token != 0 else { return false }
                storage.entries[slot].waiters.append(continuation)
                return true
            }
            // It ended meanwhile: claim again (a hit now, most likely).
            if !waiting { continuation.resume(returning: .retry) }
        }
    }

    private static func remaining(_ entry: Entry, now: UInt64) -> Int {
        entry.expiresInRedis == 0 ? -1 : Int((entry.expiresInRedis - min(now, entry.expiresInRedis) + 999_999) / 1_000_000)
    }

    // MARK: Filling

    /// Puts a pending entry for `key` (replacing any entry) and returns its token, before the read is sent.
    func begin(_ key: String) -> UInt64 {
        self.withShard(key) { storage in self.begin(key, in: &storage) }
    }

    private func begin(_ key: String, in storage: inout Storage) -> UInt64 {
        storage.nextToken += 1
        let token = storage.nextToken
        if let slot = storage.index[key] {
            Self.remove(slot, from: &storage)
        }
        let bytes = key.utf8.count + Self.entryOverhead
        self.makeRoom(for: bytes, in: &storage)
        let entry = Entry(
            key: key,
            value: nil,
            token: token,
            node: -1,
            servedUntil: 0,
            expiresInRedis: 0,
            bytes: bytes,
            referenced: false,
            used: true
        )
        Self.insert(entry, into: &storage)
        return token
    }

    /// Stores the value a read returned, if the pending entry of `token` is still there (nothing invalidated it
    /// meanwhile), and hands it to the reads waiting for it; removes that entry when the key is missing or expires
    /// at once.
    ///
    /// A read that did not claim the key (`token` 0: a backend a reload replaced), or whose claim an invalidation
    /// removed, also ends here before its caller sees its value: a pending read of the key is then marked
    /// overtaken and not stored, and a stored value is removed, since either may be older than that value (the
    /// node's connections do not order their replies and invalidations with each other).
    ///
    /// - Parameters:
    ///   - value: The bytes read; copied.
    ///   - milliseconds: The key's remaining ttl as `PTTL` gave it (-1: none, -2: missing).
    ///   - node: The node it was read from.
    ///   - now: The uptime in nanoseconds when the read was sent (the ttl counts from there).
    func complete(_ key: String, token: UInt64, value: ByteBuffer?, milliseconds: Int, node: Int, sentAt now: UInt64) {
        // The copy is made outside the lock.
        let copy = value.map { value -> ByteBuffer in
            var copy = ByteBufferAllocator().buffer(capacity: value.readableBytes)
            copy.writeImmutableBuffer(value)
            return copy
        }
        self.withShard(key) { storage in
            guard let slot = storage.index[key] else { return }
            guard token != 0, storage.entries[slot].token == token, !storage.entries[slot].overtaken else {
                // A read that did not claim the key, or whose claim was invalidated, returned to its caller: a
                // pending read of the key may bring an older value, and a stored one may be older.
                if storage.entries[slot].token == 0 || storage.entries[slot].token == token {
                    Self.remove(slot, from: &storage)
                } else {
                    storage.entries[slot].overtaken = true
                }
                return
            }
            let waiters = storage.entries[slot].waiters
            storage.entries[slot].waiters = []
            for waiter in waiters { waiter.resume(returning: .value(value, milliseconds: milliseconds)) }
            guard let copy, milliseconds != -2, milliseconds != 0 else {
                Self.remove(slot, from: &storage)
                return
            }
            let bytes = key.utf8.count + copy.readableBytes + Self.entryOverhead
            if bytes > self.shardMaxBytes {
                Self.remove(slot, from: &storage)
                return
            }
            let expiresInRedis = milliseconds > 0 ? now + UInt64(milliseconds) * 1_000_000 : 0
            let lifetimeEnd = now + self.maxLifetimeNanoseconds
            storage.entries[slot].value = copy
            storage.entries[slot].token = 0
            storage.entries[slot].node = node
            storage.entries[slot].expiresInRedis = expiresInRedis
            storage.entries[slot].servedUntil = expiresInRedis == 0 ? lifetimeEnd : min(expiresInRedis, lifetimeEnd)
            storage.entries[slot].referenced = true
            storage.statistics.bytes += bytes - storage.entries[slot].bytes
            storage.entries[slot].bytes = bytes
            if storage.statistics.bytes > self.shardMaxBytes {
                // Evict others first: the new entry's reference bit is set, so the hand passes it once.
                self.makeRoom(for: 0, in: &storage)
            }
        }
    }

    /// Removes the pending entry of `token` (its read failed).
    func abandon(_ key: String, token: UInt64) {
        self.withShard(key) { storage in
            guard let slot = storage.index[key], storage.entries[slot].token == token else { return }
            Self.remove(slot, from: &storage)
        }
    }

    // MARK: Invalidation

    /// Removes the entries of `keys` (a write through this cache, or an invalidation push when `pushed`).
    func invalidate(_ keys: some Sequence<String>, pushed: Bool = false) {
        for key in keys {
            self.withShard(key) { storage in
                guard let slot = storage.index[key] else { return }
                Self.remove(slot, from: &storage)
                if pushed { storage.statistics.invalidations += 1 }
            }
        }
    }

    /// Removes the entry of `key`.
    func invalidate(_ key: String) {
        self.withShard(key) { storage in
            guard let slot = storage.index[key] else { return }
            Self.remove(slot, from: &storage)
        }
    }

    /// Removes every entry read from `node`, and every pending entry (their node is not known yet): the node's
    /// invalidations can no longer be trusted to arrive (its tracked connection closed) or it was flushed.
    func removeAll(ofNode node: Int) {
        var emptied = false
        for shard in self.shards {
            shard.withLockedValue { storage in
                guard !storage.index.isEmpty else { return }
                emptied = true
                for slot in storage.entries.indices where storage.entries[slot].used {
                    let entry = storage.entries[slot]
                    if entry.node == node || entry.token != 0 {
                        Self.remove(slot, from: &storage)
                    }
                }
            }
        }
        if emptied { self.flushes.add(1, ordering: .relaxed) }
    }

    /// Removes every entry (a topology change, an ejection, `clear()`).
    func removeAll() {
        var emptied = false
        for shard in self.shards {
            shard.withLockedValue { storage in
                guard !storage.index.isEmpty else { return }
                emptied = true
                for entry in storage.entries where !entry.waiters.isEmpty {
                    for waiter in entry.waiters { waiter.resume(returning: .retry) }
                }
                let statistics = storage.statistics
                storage = Storage()
                storage.statistics = statistics
                storage.statistics.entries = 0
                storage.statistics.bytes = 0
            }
        }
        if emptied { self.flushes.add(1, ordering: .relaxed) }
    }

    /// How many entries were read from each node (pending ones left out).
    func entriesByNode() -> [Int: Int] {
        var counts: [Int: Int] = [:]
        for shard in self.shards {
            shard.withLockedValue { storage in
                for entry in storage.entries where entry.used && entry.token == 0 { counts[entry.node, default: 0] += 1 }
            }
        }
        return counts
    }

    /// The counters and the size now.
    var statistics: Statistics {
        var total = Statistics()
        for shard in self.shards {
            let statistics = shard.withLockedValue { $0.statistics }
            total.hits += statistics.hits
            total.misses += statistics.misses
            total.invalidations += statistics.invalidations
            total.evictions += statistics.evictions
            total.entries += statistics.entries
            total.bytes += statistics.bytes
        }
        total.flushes = self.flushes.load(ordering: .relaxed)
        return total
    }

    // MARK: Slots

    private static func insert(_ entry: Entry, into storage: inout Storage) {
        let slot: Int
        if let reused = storage.free.popLast() {
            slot = reused
            storage.entries[slot] = entry
        } else {
            slot = storage.entries.count
            storage.entries.append(entry)
        }
        storage.index[entry.key] = slot
        storage.statistics.entries += 1
        storage.statistics.bytes += entry.bytes
    }

    /// Frees a slot; reads waiting for it claim the key again.
    private static func remove(_ slot: Int, from storage: inout Storage) {
        let entry = storage.entries[slot]
        for waiter in entry.waiters { waiter.resume(returning: .retry) }
        storage.index.removeValue(forKey: entry.key)
        storage.statistics.entries -= 1
        storage.statistics.bytes -= entry.bytes
        storage.entries[slot] = Entry(
            key: "",
            value: nil,
            token: 0,
            node: -1,
            servedUntil: 0,
            expiresInRedis: 0,
            bytes: 0,
            referenced: false,
            used: false
        )
        storage.free.append(slot)
    }

    /// Evicts entries (CLOCK: the hand clears reference bits and evicts the first entry without one) until one more
    /// entry of `bytes` fits.
    private func makeRoom(for bytes: Int, in storage: inout Storage) {
        while storage.statistics.entries > 0
            && (storage.statistics.entries + (bytes > 0 ? 1 : 0) > self.shardMaxEntries
                || storage.statistics.bytes + bytes > self.shardMaxBytes)
        {
            if storage.hand >= storage.entries.count { storage.hand = 0 }
            let slot = storage.hand
            storage.hand += 1
            guard storage.entries[slot].used else { continue }
            if storage.entries[slot].referenced {
                storage.entries[slot].referenced = false
                continue
            }
            Self.remove(slot, from: &storage)
            storage.statistics.evictions += 1
        }
    }
}

/// What a near cache did since the cache was created, and its size now (``Cache/nearCacheStatistics``).
public struct CacheNearCacheStatistics: Sendable, Hashable {
    /// Reads answered from process memory.
    public var hits = 0
    /// Reads that found no valid entry and went to Redis.
    public var misses = 0
    /// Entries removed because Redis said their key changed (an `invalidate` push).
    public var invalidations = 0
    /// Entries removed to stay within the bounds, or because their ttl or maximum lifetime ran out.
    public var evictions = 0
    /// Times entries were dropped wholesale: a node's tracked connection closed or its database was flushed, a
    /// node was ejected or re-admitted, the topology was reloaded, `clear` ran.
    public var flushes = 0
    /// Entries kept now (reads in flight included).
    public var entries = 0
    /// Bytes kept now: keys, values and a fixed overhead per entry.
    public var bytes = 0

    /// Hits ÷ (hits + misses); 0 before the first read.
    public var hitRatio: Double {
        self.hits + self.misses == 0 ? 0 : Double(self.hits) / Double(self.hits + self.misses)
    }
}

import NIOConcurrencyHelpers
import NIOCore

/// Copies of values read from Redis, kept in process memory and kept coherent by Redis' own invalidations
/// (server-assisted client-side caching: `HELLO 3`, `CLIENT TRACKING ON`, `invalidate` pushes).
///
/// Entries are keyed by stored key (`prefix:version:key`) and hold the value's JSON bytes, copied out of the reply
/// so that an entry never keeps a whole read buffer alive. An entry is served until the first of: an invalidation
/// of its key, the key's ttl in Redis (read with the value), the configured maximum lifetime, or the loss of the
/// node's tracking (a tracked connection closed, the node flushed, the topology changed).
///
/// **Reads that race with invalidations.** A read first puts a *pending* entry with a fresh token, then asks Redis.
/// An invalidation, a flush or a local write removes pending entries like any other, so when the reply comes back
/// its value is stored only if the pending entry with that token is still there: a value that an invalidation
/// overtook is returned to its caller but never stored.
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

    /// What an entry costs besides its key and value: the slot, the index entry and the buffer headers.
    static let entryOverhead = 96

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
        /// Set on a pending entry when another read of its key returned to its caller first: that read may have
        /// seen a newer value than this entry's read will bring, so this one is not stored.
        var overtaken = false
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
    private let maxLifetimeNanoseconds: UInt64
    private let storage = NIOLockedValueBox(Storage())

    init(limits: Limits) {
        self.limits = limits
        let lifetime = limits.maxLifetime.components
        self.maxLifetimeNanoseconds = UInt64(max(0, lifetime.seconds)) * 1_000_000_000 + UInt64(max(0, lifetime.attoseconds / 1_000_000_000))
    }

    @inline(__always)
    static func now() -> UInt64 {
        UInt64(NIODeadline.now().uptimeNanoseconds)
    }

    // MARK: Reading

    /// The value of `key` if an entry is there and valid; counts a hit or a miss.
    func value(for key: String) -> ByteBuffer? {
        let now = Self.now()
        return self.storage.withLockedValue { storage in
            guard let slot = storage.index[key], let value = storage.entries[slot].value else {
                storage.statistics.misses += 1
                return nil
            }
            if storage.entries[slot].servedUntil <= now {
                Self.remove(slot, from: &storage)
                storage.statistics.evictions += 1
                storage.statistics.misses += 1
                return nil
            }
            storage.entries[slot].referenced = true
            storage.statistics.hits += 1
            return value
        }
    }

    /// The value of `key` and the milliseconds it has left in Redis (-1: no expiry), if an entry is valid.
    func valueWithRemainingTTL(for key: String) -> (value: ByteBuffer, milliseconds: Int)? {
        let now = Self.now()
        return self.storage.withLockedValue { storage in
            guard let slot = storage.index[key], let value = storage.entries[slot].value else {
                storage.statistics.misses += 1
                return nil
            }
            let entry = storage.entries[slot]
            if entry.servedUntil <= now {
                Self.remove(slot, from: &storage)
                storage.statistics.evictions += 1
                storage.statistics.misses += 1
                return nil
            }
            storage.entries[slot].referenced = true
            storage.statistics.hits += 1
            let milliseconds = entry.expiresInRedis == 0 ? -1 : Int((entry.expiresInRedis - now + 999_999) / 1_000_000)
            return (value, milliseconds)
        }
    }

    // MARK: Filling

    /// Puts a pending entry for `key` (replacing any entry) and returns its token, before the read is sent.
    func begin(_ key: String) -> UInt64 {
        self.storage.withLockedValue { storage in
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
    }

    /// Stores the value a read returned, if the pending entry of `token` is still there (nothing invalidated it
    /// meanwhile) and no other read of the key returned first; removes that entry otherwise (a missing key, a key
    /// that expires at once).
    ///
    /// Every read of a near-cached key ends here before its caller sees the value, filling or not (`token` 0):
    /// reads on different connections of a node are not ordered with each other's invalidations, so an older
    /// value read on one connection could otherwise be stored after a newer one, read on another, was returned.
    /// A read that returns while another read of the key is pending marks that one overtaken, and one that finds a
    /// stored value that it did not store removes it. So no caller reads a value older than one any caller had
    /// already been given.
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
        self.storage.withLockedValue { storage in
            guard let slot = storage.index[key] else { return }
            guard token != 0, storage.entries[slot].token == token, !storage.entries[slot].overtaken else {
                // Another read of the key reached its caller first (this one), or the entry's own read finds it
                // overtaken: their values may be older than what this read's caller now holds.
                if storage.entries[slot].token == 0 {
                    Self.remove(slot, from: &storage)
                } else if storage.entries[slot].token != token {
                    storage.entries[slot].overtaken = true
                } else {
                    Self.remove(slot, from: &storage)
                }
                return
            }
            guard let copy, milliseconds != -2, milliseconds != 0 else {
                Self.remove(slot, from: &storage)
                return
            }
            let bytes = key.utf8.count + copy.readableBytes + Self.entryOverhead
            if bytes > self.limits.maxBytes {
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
            if storage.statistics.bytes > self.limits.maxBytes {
                // Evict others first: the new entry's reference bit is set, so the hand passes it once.
                self.makeRoom(for: 0, in: &storage)
            }
        }
    }

    /// Removes the pending entry of `token` (its read failed).
    func abandon(_ key: String, token: UInt64) {
        self.storage.withLockedValue { storage in
            guard let slot = storage.index[key], storage.entries[slot].token == token else { return }
            Self.remove(slot, from: &storage)
        }
    }

    // MARK: Invalidation

    /// Removes the entries of `keys` (a write through this cache, or an invalidation push when `pushed`).
    func invalidate(_ keys: some Sequence<String>, pushed: Bool = false) {
        self.storage.withLockedValue { storage in
            for key in keys {
                guard let slot = storage.index[key] else { continue }
                Self.remove(slot, from: &storage)
                if pushed { storage.statistics.invalidations += 1 }
            }
        }
    }

    /// Removes the entry of `key`.
    func invalidate(_ key: String) {
        self.storage.withLockedValue { storage in
            guard let slot = storage.index[key] else { return }
            Self.remove(slot, from: &storage)
        }
    }

    /// Removes every entry read from `node`, and every pending entry (their node is not known yet): the node's
    /// invalidations can no longer be trusted to arrive (its tracked connection closed) or it was flushed.
    func removeAll(ofNode node: Int) {
        self.storage.withLockedValue { storage in
            guard !storage.index.isEmpty else { return }
            storage.statistics.flushes += 1
            for slot in storage.entries.indices where storage.entries[slot].used {
                let entry = storage.entries[slot]
                if entry.node == node || entry.token != 0 {
                    Self.remove(slot, from: &storage)
                }
            }
        }
    }

    /// Removes every entry (a topology change, an ejection, `clear()`).
    func removeAll() {
        self.storage.withLockedValue { storage in
            guard !storage.index.isEmpty else { return }
            storage.statistics.flushes += 1
            let statistics = storage.statistics
            storage = Storage()
            storage.statistics = statistics
            storage.statistics.entries = 0
            storage.statistics.bytes = 0
        }
    }

    /// The counters and the size now.
    var statistics: Statistics {
        self.storage.withLockedValue { $0.statistics }
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

    private static func remove(_ slot: Int, from storage: inout Storage) {
        let entry = storage.entries[slot]
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
            && (storage.statistics.entries + (bytes > 0 ? 1 : 0) > self.limits.maxEntries
                || storage.statistics.bytes + bytes > self.limits.maxBytes)
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

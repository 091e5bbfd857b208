import Foundation
import NIOCore
import RESP
import Testing

@testable import Caches

/// The near cache's store on its own: the race rules, the bounds, the ttl, and the invalidation pushes.
@Suite("Near cache store")
struct NearCacheStoreTests {
    static func store(entries: Int = 100, bytes: Int = 1 << 20, lifetime: Duration = .seconds(60)) -> CacheNearCache {
        CacheNearCache(limits: .init(maxEntries: entries, maxBytes: bytes, maxLifetime: lifetime))
    }

    static func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    static func fill(_ store: CacheNearCache, _ key: String, _ value: String, milliseconds: Int = -1, node: Int = 1) {
        let token = store.begin(key)
        store.complete(key, token: token, value: Self.bytes(value), milliseconds: milliseconds, node: node, sentAt: CacheNearCache.now())
    }

    @Test("a filled entry is a hit; a missing key or an expired one is not kept")
    func fillAndHit() {
        let store = Self.store()
        #expect(store.value(for: "k") == nil)
        Self.fill(store, "k", "v")
        #expect(store.value(for: "k") == Self.bytes("v"))
        guard case .fill(let token) = store.claim("gone") else {
            Issue.record("a missing key is not claimed")
            return
        }
        store.complete("gone", token: token, value: nil, milliseconds: -2, node: 1, sentAt: CacheNearCache.now())
        #expect(store.statistics.entries == 1)
        let statistics = store.statistics
        #expect(statistics.hits == 1)
        #expect(statistics.misses == 1)
    }

    @Test("an invalidation or a write during the read keeps its value out")
    func invalidatedWhilePending() {
        let store = Self.store()
        let token = store.begin("k")
        store.invalidate("k")
        store.complete("k", token: token, value: Self.bytes("old"), milliseconds: -1, node: 1, sentAt: CacheNearCache.now())
        #expect(store.value(for: "k") == nil)

        let second = store.begin("k")
        store.removeAll(ofNode: 2)  // pending entries go with any node's flush: their node is not known yet
        store.complete("k", token: second, value: Self.bytes("old"), milliseconds: -1, node: 2, sentAt: CacheNearCache.now())
        #expect(store.value(for: "k") == nil)
    }

    @Test("a read that returned first keeps an older read's value out, in either order")
    func overtaken() {
        let store = Self.store()
        // Two reads of one key: the second begin replaces the first; the first returns (newer) first.
        let first = store.begin("k")
        let second = store.begin("k")
        store.complete("k", token: first, value: Self.bytes("new"), milliseconds: -1, node: 1, sentAt: CacheNearCache.now())
        store.complete("k", token: second, value: Self.bytes("old"), milliseconds: -1, node: 1, sentAt: CacheNearCache.now())
        #expect(store.value(for: "k") == nil)
        // The stored one returns first, then another read returns: the stored value goes.
        let third = store.begin("k")
        store.complete("k", token: third, value: Self.bytes("old"), milliseconds: -1, node: 1, sentAt: CacheNearCache.now())
        store.complete("k", token: 0, value: Self.bytes("new"), milliseconds: -1, node: 1, sentAt: CacheNearCache.now())
        #expect(store.value(for: "k") == nil)
    }

    @Test("a read that finds another in flight waits for its value; a failed or invalidated one sends it back")
    func waiting() async {
        let store = Self.store()
        guard case .fill(let token) = store.claim("k") else {
            Issue.record("the first claim does not fill")
            return
        }
        guard case .wait = store.claim("k") else {
            Issue.record("the second claim does not wait")
            return
        }
        async let waited = store.wait(for: "k")
        // The waiter registers before the fill completes or after: either way it gets the value (or a hit).
        store.complete("k", token: token, value: Self.bytes("v"), milliseconds: -1, node: 1, sentAt: CacheNearCache.now())
        switch await waited {
        case .value(let value, _): #expect(value == Self.bytes("v"))
        case .retry: #expect(store.value(for: "k") == Self.bytes("v"))
        }

        store.invalidate("k")
        guard case .fill(let second) = store.claim("k") else {
            Issue.record("a claim after the invalidation does not fill")
            return
        }
        async let retried = store.wait(for: "k")
        store.abandon("k", token: second)
        guard case .retry = await retried else {
            Issue.record("a waiter of a failed read is not sent back")
            return
        }
        #expect(store.statistics.entries == 0)
    }

    @Test("the key's ttl and the maximum lifetime bound an entry")
    func lifetimes() async throws {
        let store = Self.store(lifetime: .seconds(3600))
        let token = store.begin("k")
        // Read 10 s ago with 5 s left: expired now.
        let sentAt = CacheNearCache.now() - 10_000_000_000
        store.complete("k", token: token, value: Self.bytes("v"), milliseconds: 5000, node: 1, sentAt: sentAt)
        #expect(store.value(for: "k") == nil)
        Self.fill(store, "k2", "v", milliseconds: 60_000)
        guard case .hit(_, let milliseconds) = store.claim("k2") else {
            Issue.record("k2 is not a hit")
            return
        }
        #expect(milliseconds > 59_000 && milliseconds <= 60_000)

        let short = Self.store(lifetime: .milliseconds(1))
        let old = short.begin("k")
        short.complete("k", token: old, value: Self.bytes("v"), milliseconds: -1, node: 1, sentAt: CacheNearCache.now() - 2_000_000)
        #expect(short.value(for: "k") == nil)
    }

    @Test("entries and bytes stay within their bounds; recently hit entries survive eviction")
    func bounds() {
        let store = Self.store(entries: 10, bytes: 10 * (CacheNearCache.entryOverhead + 20))
        for index in 0..<10 { Self.fill(store, "key-\(index)", "0123456789") }
        #expect(store.statistics.entries == 10)
        for index in 10..<1000 {
            Self.fill(store, "key-\(index)", "0123456789")
            _ = store.value(for: "key-999")
            let statistics = store.statistics
            #expect(statistics.entries <= 10)
            #expect(statistics.bytes <= 10 * (CacheNearCache.entryOverhead + 20))
        }
        #expect(store.statistics.evictions >= 990)
        // The entry hit after every fill was never the one evicted.
        #expect(store.value(for: "key-999") != nil)
        // A value larger than the whole budget is never kept.
        Self.fill(store, "huge", String(repeating: "x", count: 10_000))
        #expect(store.value(for: "huge") == nil)
    }

    @Test("a sharded store keeps the whole bounds, and flushes reach every shard")
    func shards() {
        let store = Self.store(entries: 4096, bytes: 1 << 30)
        for index in 0..<10_000 { Self.fill(store, "::key:\(index)", "v", node: index % 2) }
        let statistics = store.statistics
        #expect(statistics.entries <= 4096)
        #expect(statistics.entries > 3000)
        #expect(statistics.evictions >= 10_000 - 4096)
        let byNode = store.entriesByNode()
        #expect(byNode[0, default: 0] + byNode[1, default: 0] == statistics.entries)
        store.removeAll(ofNode: 0)
        #expect(store.entriesByNode()[0] == nil)
        #expect(store.statistics.entries == byNode[1, default: 0])
        #expect(store.statistics.flushes == 1)
    }

    @Test("a node's flush drops its entries and keeps the others'")
    func nodeFlush() {
        let store = Self.store()
        Self.fill(store, "a", "1", node: 1)
        Self.fill(store, "b", "2", node: 2)
        store.removeAll(ofNode: 1)
        #expect(store.value(for: "a") == nil)
        #expect(store.value(for: "b") == Self.bytes("2"))
        store.removeAll()
        #expect(store.value(for: "b") == nil)
        #expect(store.statistics.entries == 0)
        #expect(store.statistics.bytes == 0)
    }

    @Test("invalidation pushes: keys evict, a null one flushes the node, other pushes change nothing")
    func pushes() {
        let store = Self.store()
        let tracking = CacheTracking(nearCache: store, node: 7)
        Self.fill(store, "a", "1", node: 7)
        Self.fill(store, "b", "2", node: 7)
        Self.fill(store, "c", "3", node: 8)
        tracking.receive(push: RESPReply(.push([.bulkString(Self.bytes("message")), .array([.bulkString(Self.bytes("c"))])])))
        #expect(store.value(for: "c") != nil)
        tracking.receive(push: RESPReply(.push([.bulkString(Self.bytes("invalidate")), .array([.bulkString(Self.bytes("a"))])])))
        #expect(store.value(for: "a") == nil)
        #expect(store.value(for: "b") != nil)
        #expect(store.statistics.invalidations == 1)
        tracking.receive(push: RESPReply(.push([.bulkString(Self.bytes("invalidate")), .null])))
        #expect(store.value(for: "b") == nil)
        #expect(store.value(for: "c") != nil)
        tracking.trackingLost()
        #expect(store.value(for: "c") != nil)  // node 8's entry: node 7 lost its tracking
    }

    @Test("the set-up asks for RESP3 and tracking only for a near cache, after AUTH")
    func setUpCommand() {
        var encoder = RESPCommandEncoder()
        let setUp = ConnectionSetUpCommand(username: nil, password: "secret", database: nil, clientName: nil, tracking: true)
        setUp.encode(into: &encoder)
        let text = String(buffer: encoder.buffer)
        #expect(setUp.replyCount == 4)
        let auth = text.range(of: "AUTH")!.lowerBound
        let hello = text.range(of: "HELLO")!.lowerBound
        #expect(auth < hello)
        #expect(text.contains("$8\r\nTRACKING\r\n$2\r\nON\r\n"))
        let plain = ConnectionSetUpCommand(username: nil, password: nil, database: nil, clientName: nil)
        var plainEncoder = RESPCommandEncoder()
        plain.encode(into: &plainEncoder)
        #expect(!String(buffer: plainEncoder.buffer).contains("HELLO"))
        #expect(plain.replyCount == 1)
    }
}

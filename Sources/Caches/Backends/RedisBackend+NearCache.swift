import NIOConcurrencyHelpers
import NIOCore
import RESP

// MARK: The near cache

extension RedisBackend {
    /// Whether reads may fill the near cache: not once a reload replaced this backend (its ring may place a key on
    /// another node than the one the new backend reads and writes).
    var fillsNearCache: Bool {
        self.successor.withLockedValue { $0 == nil }
    }

    /// Runs a write of `key` with its near-cache entry removed before it is sent and again after it returns, so a
    /// read that raced with the write cannot leave the old value behind, and the caller reads its own write.
    @inline(__always)
    func nearWrite<T>(_ key: String, _ body: () async throws -> T) async throws -> T {
        guard let nearCache = self.nearCache else { return try await body() }
        nearCache.invalidate(key)
        defer { nearCache.invalidate(key) }
        return try await body()
    }

    /// `get` through the near cache: a valid entry is the answer; otherwise the key is read with its ttl and kept.
    func nearGet(_ key: String, _ nearCache: CacheNearCache) async throws -> ByteBuffer? {
        if let value = nearCache.value(for: key) { return value }
        return try await self.nearRead(key, nearCache).value
    }

    /// `getWithRemainingTTL` through the near cache (for refresh-ahead).
    func nearGetWithRemainingTTL(_ key: String, _ nearCache: CacheNearCache) async throws -> (value: ByteBuffer?, milliseconds: Int) {
        try await self.nearRead(key, nearCache)
    }

    /// A read that found no valid entry: claims the key and reads it with its remaining ttl in one round trip
    /// (`MULTI`, `GET`, `PTTL`, `EXEC`), or waits for the read of it already in flight (see ``CacheNearCache``).
    func nearRead(_ key: String, _ nearCache: CacheNearCache) async throws -> (value: ByteBuffer?, milliseconds: Int) {
        guard self.fillsNearCache else {
            let read = try await self.absorbing((nil, -2), "get") { () throws(CacheError) in
                try await self.execute(GetWithTTLCommand(storedKey: key), forKey: key)
            }
            nearCache.complete(key, token: 0, value: nil, milliseconds: -2, node: -1, sentAt: 0)
            return read
        }
        while true {
            switch nearCache.claim(key) {
            case .hit(let value, let milliseconds):
                return (value, milliseconds)
            case .wait:
                if case .value(let value, let milliseconds) = await nearCache.wait(for: key) { return (value, milliseconds) }
            case .fill(let token):
                // The pending entry went in before the key is routed: an ejection or a lost connection after this
                // point removes it, and one before it is already seen by the routing.
                defer { nearCache.abandon(key, token: token) }
                let sentAt = CacheNearCache.now()
                return try await self.absorbing((nil, -2), "get") { () throws(CacheError) in
                    let (reply, node) = try await self.executeOnNode(GetWithTTLCommand(storedKey: key), forKey: key)
                    nearCache.complete(
                        key,
                        token: token,
                        value: reply.value,
                        milliseconds: reply.milliseconds,
                        node: node.nearCacheID,
                        sentAt: sentAt
                    )
                    return reply
                }
            }
        }
    }

    /// `getMany` through the near cache: hits are answered from memory, keys another read is fetching wait for it,
    /// and the rest is read as usual (one request per node, all nodes at once), each with its ttl, and kept.
    func nearGetMany(
        _ keys: CacheKeys,
        _ nearCache: CacheNearCache,
        _ body: (Int, ByteBuffer?) throws -> Void
    ) async throws -> [CacheBackendFailure] {
        let fills = self.fillsNearCache
        var missing: [Int] = []
        var missingKeys: [String] = []
        var tokens: [UInt64] = []
        var waiting: [(position: Int, key: String)] = []
        // Every claim is given back however the call ends (a claimed key left pending would hold its waiters).
        defer {
            for (key, token) in zip(missingKeys, tokens) { nearCache.abandon(key, token: token) }
        }
        for position in 0..<keys.count {
            let stored = keys[position]
            if let value = nearCache.value(for: stored) {
                try body(position, value)
                continue
            }
            guard fills else {
                missing.append(position)
                missingKeys.append(stored)
                continue
            }
            switch nearCache.claim(stored) {
            case .hit(let value, _):
                try body(position, value)
            case .wait:
                waiting.append((position, stored))
            case .fill(let token):
                missing.append(position)
                missingKeys.append(stored)
                tokens.append(token)
            }
        }
        var failures: [CacheBackendFailure] = []
        if !missing.isEmpty {
            let sentAt = CacheNearCache.now()
            let result = try await self.manyKeys(
                "getMany",
                count: missing.count,
                nodeIndex: { [missing] ring, offset in keys.nodeIndex(missing[offset], on: ring) }
            ) { [missingKeys] node, selection throws(CacheError) in
                (try await node.execute(GetManyWithTTLCommand(keys: missingKeys, selection: selection)), node.nearCacheID)
            }
            for (selection, reply) in result.replies {
                let (values, node) = reply
                for (offset, (value, milliseconds)) in values.enumerated() {
                    let index = selection[offset]
                    nearCache.complete(
                        missingKeys[index],
                        token: fills ? tokens[index] : 0,
                        value: value,
                        milliseconds: milliseconds,
                        node: node,
                        sentAt: sentAt
                    )
                    try body(missing[index], value)
                }
            }
            for selection in result.absorbed {
                for offset in 0..<selection.count { try body(missing[selection[offset]], nil) }
            }
            failures = result.failures.map { failure in (failure.node, failure.indices.map { missing[$0] }, failure.error) }
        }
        // Give back the claims of keys whose node failed before waiting for other reads: two calls that each wait
        // for a key the other claimed would otherwise wait for each other.
        for (key, token) in zip(missingKeys, tokens) { nearCache.abandon(key, token: token) }
        // Keys whose read was already in flight: their values, or (that read failed) a read of their own.
        for (position, key) in waiting {
            if case .value(let value, _) = await nearCache.wait(for: key) {
                try body(position, value)
                continue
            }
            do {
                try body(position, try await self.nearRead(key, nearCache).value)
            } catch let error as CacheError where error.node != nil {
                failures.append((error.node ?? "?", [position], error))
            }
        }
        return failures
    }
}

/// `MULTI`, `MGET key…`, `PTTL key` for each key, `EXEC`: each value (or nil) and the milliseconds it has left, read
/// atomically in one round trip. Sent by `getMany` with a near cache, for the keys it did not have.
struct GetManyWithTTLCommand: CacheCommand {
    let keys: [String]
    let selection: CacheKeySelection

    var name: CacheCommandName { .mget }
    var key: String? { self.selection.count == 0 ? nil : self.keys[self.selection[0]] }
    var replyCount: Int { self.selection.count + 3 }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("MULTI")
        encoder.writeCommand("MGET", arguments: (0..<self.selection.count).lazy.map { self.keys[self.selection[$0]] })
        for offset in 0..<self.selection.count {
            encoder.writeCommand("PTTL", self.keys[self.selection[offset]])
        }
        encoder.writeCommand("EXEC")
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> [(value: ByteBuffer?, milliseconds: Int)] {
        guard case .array(let results)? = try? reply.value(), results.count == self.selection.count + 1,
            case .array(let values) = results[0], values.count == self.selection.count
        else {
            throw self.unexpected(reply, expected: "the results of MGET and \(self.selection.count) PTTL")
        }
        var decoded: [(value: ByteBuffer?, milliseconds: Int)] = []
        decoded.reserveCapacity(values.count)
        for (offset, value) in values.enumerated() {
            guard case .integer(let milliseconds) = results[offset + 1] else {
                throw self.unexpected(reply, expected: "an integer from PTTL")
            }
            switch value {
            case .bulkString(let bytes): decoded.append((bytes, Int(milliseconds)))
            case .null: decoded.append((nil, Int(milliseconds)))
            default: throw self.unexpected(reply, expected: "bulk strings from MGET")
            }
        }
        return decoded
    }

    func lookups(in reply: [(value: ByteBuffer?, milliseconds: Int)]) -> (hits: Int, misses: Int)? {
        let misses = reply.count { $0.value == nil }
        return (reply.count - misses, misses)
    }
}

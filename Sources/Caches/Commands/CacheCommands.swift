import NIOCore
import RESP

// Every request the cache sends, one type each. Keys are stored keys (`prefix:version:key`). Many-key commands take
// the call's whole key list and the positions of the keys that go to one node (nil: all of them, in order), so
// grouping by node copies no keys.

// MARK: Single keys

/// `GET key`: the stored bytes, or nil.
struct GetCommand: CacheCommand {
    let storedKey: String

    var name: CacheCommandName { .get }
    var key: String? { self.storedKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("GET", self.storedKey)
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> ByteBuffer? {
        guard let value = reply.bulkStringOrNull else { throw self.unexpected(reply, expected: "a bulk string") }
        return value
    }

    func lookups(in reply: ByteBuffer?) -> (hits: Int, misses: Int)? {
        reply == nil ? (0, 1) : (1, 0)
    }
}

/// `MULTI`, `GET key`, `PTTL key`, `EXEC`: the stored bytes (or nil) and the milliseconds they have left (-1 for no
/// expiry, -2 for a missing key), read atomically in one round trip. Only `getOrSet` with refresh-ahead sends it.
struct GetWithTTLCommand: CacheCommand {
    let storedKey: String

    var name: CacheCommandName { .get }
    var key: String? { self.storedKey }
    var replyCount: Int { 4 }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("MULTI")
        encoder.writeCommand("GET", self.storedKey)
        encoder.writeCommand("PTTL", self.storedKey)
        encoder.writeCommand("EXEC")
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> (value: ByteBuffer?, milliseconds: Int) {
        // EXEC: the GET's reply, then the PTTL's.
        guard case .array(let results)? = try? reply.value(), results.count == 2 else {
            throw self.unexpected(reply, expected: "the results of GET and PTTL")
        }
        let value: ByteBuffer?
        switch results[0] {
        case .bulkString(let bytes): value = bytes
        case .null: value = nil
        case .simpleError(let message): throw CacheNodeClient.serverError(String(buffer: message), node: nil)
        default: throw self.unexpected(reply, expected: "a bulk string from GET")
        }
        guard case .integer(let milliseconds) = results[1] else {
            throw self.unexpected(reply, expected: "an integer from PTTL")
        }
        return (value, Int(milliseconds))
    }

    func lookups(in reply: (value: ByteBuffer?, milliseconds: Int)) -> (hits: Int, misses: Int)? {
        reply.value == nil ? (0, 1) : (1, 0)
    }
}

/// `SET key value`, or `SETEX key ttl value` with a ttl.
struct SetCommand: CacheCommand {
    let storedKey: String
    let value: ByteBuffer
    let ttl: Int?

    var name: CacheCommandName { self.ttl == nil ? .set : .setex }
    var key: String? { self.storedKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        if let ttl = self.ttl {
            encoder.writeCommand("SETEX", self.storedKey, ttl, self.value)
        } else {
            encoder.writeCommand("SET", self.storedKey, self.value)
        }
    }

    func decode(_ reply: RESPReply) throws(CacheError) {
        guard reply.isOK else { throw self.unexpected(reply, expected: "OK") }
    }
}

/// `SET key value [EX ttl] NX`: whether the value was stored (the key was missing).
struct AddCommand: CacheCommand {
    let storedKey: String
    let value: ByteBuffer
    let ttl: Int?

    var name: CacheCommandName { .set }
    var key: String? { self.storedKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        if let ttl = self.ttl {
            encoder.writeCommand("SET", self.storedKey, self.value, "EX", ttl, "NX")
        } else {
            encoder.writeCommand("SET", self.storedKey, self.value, "NX")
        }
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Bool {
        if reply.isOK { return true }
        guard case .some(.none) = reply.bulkStringOrNull else { throw self.unexpected(reply, expected: "OK or null") }
        return false
    }
}

/// `SET lockKey token PX milliseconds NX`: whether the lock was taken.
struct LockCommand: CacheCommand {
    let lockKey: String
    let token: String
    let milliseconds: Int

    var name: CacheCommandName { .set }
    var key: String? { self.lockKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("SET", self.lockKey, self.token, "PX", self.milliseconds, "NX")
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Bool {
        if reply.isOK { return true }
        guard case .some(.none) = reply.bulkStringOrNull else { throw self.unexpected(reply, expected: "OK or null") }
        return false
    }
}

/// `EVAL <compare-and-delete> 1 lockKey token`: deletes the lock only while `token` holds it; whether it did.
struct UnlockCommand: CacheCommand {
    static let script = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"

    let lockKey: String
    let token: String

    var name: CacheCommandName { .eval }
    var key: String? { self.lockKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("EVAL", Self.script, 1, self.lockKey, self.token)
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Bool {
        guard let deleted = reply.integer else { throw self.unexpected(reply, expected: "an integer") }
        return deleted == 1
    }
}

/// `EXPIRE key ttl`, or `PERSIST key` without a ttl: whether the key's expiry changed.
struct ExpireCommand: CacheCommand {
    let storedKey: String
    let ttl: Int?

    var name: CacheCommandName { self.ttl == nil ? .persist : .expire }
    var key: String? { self.storedKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        if let ttl = self.ttl {
            encoder.writeCommand("EXPIRE", self.storedKey, ttl)
        } else {
            encoder.writeCommand("PERSIST", self.storedKey)
        }
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Bool {
        guard let value = reply.integer else { throw self.unexpected(reply, expected: "an integer") }
        return value == 1
    }
}

/// `TTL key`: seconds left, -1 for no expiry, -2 for a missing key.
struct TTLCommand: CacheCommand {
    let storedKey: String

    var name: CacheCommandName { .ttl }
    var key: String? { self.storedKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("TTL", self.storedKey)
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Int {
        guard let value = reply.integer else { throw self.unexpected(reply, expected: "an integer") }
        return Int(value)
    }
}

/// `INCRBY key delta`: the new value.
struct IncrementCommand: CacheCommand {
    let storedKey: String
    let delta: Int

    var name: CacheCommandName { .incrby }
    var key: String? { self.storedKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("INCRBY", self.storedKey, self.delta)
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Int {
        guard let value = reply.integer else { throw self.unexpected(reply, expected: "an integer") }
        return Int(value)
    }
}

/// `INCRBYFLOAT key delta`: the new value.
struct IncrementFloatCommand: CacheCommand {
    let storedKey: String
    let delta: Double

    var name: CacheCommandName { .incrbyfloat }
    var key: String? { self.storedKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("INCRBYFLOAT", self.storedKey, self.delta)
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Double {
        guard case .some(.some(let bytes)) = reply.bulkStringOrNull, let value = Double(String(buffer: bytes)) else {
            throw self.unexpected(reply, expected: "a number")
        }
        return value
    }
}

/// `UNLINK key`, for one key.
struct DeleteCommand: CacheCommand {
    let storedKey: String

    var name: CacheCommandName { .unlink }
    var key: String? { self.storedKey }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("UNLINK", self.storedKey)
    }

    func decode(_ reply: RESPReply) throws(CacheError) {
        guard reply.integer != nil else { throw self.unexpected(reply, expected: "an integer") }
    }
}

// MARK: Many keys

/// The keys of a many-key call that go to one node: positions in the call's list, or all of them.
struct CacheKeySelection: Sendable {
    /// Positions in the call's key list, in order; nil selects every key.
    let indices: ArraySlice<Int>?
    /// How many keys are selected.
    let count: Int

    static func all(_ count: Int) -> Self { Self(indices: nil, count: count) }
    static func some(_ indices: [Int]) -> Self { Self(indices: indices[...], count: indices.count) }
    /// Part of a shared array of positions (a cluster's slot groups), without a copy.
    static func some(_ indices: ArraySlice<Int>) -> Self { Self(indices: indices, count: indices.count) }

    /// The position in the call's key list of the `offset`-th selected key.
    @inline(__always)
    subscript(offset: Int) -> Int {
        guard let indices = self.indices else { return offset }
        return indices[indices.startIndex + offset]
    }

    /// Calls `body` with every selected position, in order.
    @inline(__always)
    func forEachPosition(_ body: (Int) -> Void) {
        if let indices = self.indices {
            for position in indices { body(position) }
        } else {
            for position in 0..<self.count { body(position) }
        }
    }

    /// Every selected position, in order.
    var positions: [Int] { self.indices.map(Array.init) ?? Array(0..<self.count) }
}

/// `MGET key…`: the reply, checked to hold one bulk string or null per key, read in place by the caller. For keys of
/// several slots of one cluster node, which `MGET` refuses (`CROSSSLOT`), one `GET` per key written at once
/// (``Form/gets``) or `EVAL` of ``crossSlotScript`` (``Form/script``) instead.
struct GetManyCommand: CacheManyKeyCommand {
    /// How the keys are asked for.
    enum Form: Sendable {
        /// `MGET`: the keys lie in one slot (or on a node of a ring).
        case mget
        /// One `GET` per key, written in one flush; the replies are read as one run, as `MGET`'s elements are.
        case gets
        /// `EVAL` of ``GetManyCommand/crossSlotScript`` with the keys as arguments; the reply is `MGET`'s.
        case script
    }

    let keys: CacheKeys
    let selection: CacheKeySelection
    var form = Form.mget

    /// A read-only script that `GET`s every key given as an argument and answers as `MGET` does (Redis 7 or later).
    ///
    /// `allow-cross-slot-keys` lets it read keys of several slots; each `GET` is still checked to be served by the
    /// node, and the script fails on the first key that is not (or that holds another type), so a caller falls back
    /// to one `MGET` per slot. The keys are arguments, not declared keys, because Redis refuses declared keys of
    /// several slots before any script runs. `no-writes` lets it run on a replica (after `READONLY`).
    static let crossSlotScript = """
        #!lua flags=no-writes,allow-cross-slot-keys
        local values = {}
        for i = 1, #ARGV do values[i] = redis.call('GET', ARGV[i]) end
        return values
        """

    /// The values read, their shape checked: an `MGET` (or script) reply, or the replies to one `GET` per key.
    struct Values {
        fileprivate enum Source {
            /// An `MGET` (or script) reply: an array of bulk strings.
            case array(RESPReply)
            /// The replies to one `GET` per key.
            case run(RESPReplies)
        }

        fileprivate let source: Source
        let misses: Int

        /// Calls `body` with each value (nil when missing), in the order of the selection.
        @inline(__always)
        func forEach(_ body: (Int, ByteBuffer?) throws -> Void) rethrows {
            switch self.source {
            case .array(let reply): try reply.forEachBulkString(body)
            case .run(let replies): try replies.forEachBulkString(body)
            }
        }
    }

    var name: CacheCommandName {
        switch self.form {
        case .mget: .mget
        case .gets: .get
        case .script: .eval
        }
    }

    var key: String? { self.selection.count == 0 ? nil : self.keys[self.selection[0]] }
    var replyCount: Int { self.form == .gets ? self.selection.count : 1 }
    var readsEveryReply: Bool { self.form == .gets }

    func encode(into encoder: inout RESPCommandEncoder) {
        switch self.form {
        case .gets:
            let head = self.keys.head
            self.keys.names.withUnsafeBufferPointer { names in
                self.selection.forEachPosition { position in
                    encoder.buffer.writeRESPBulkString(head, names[position], after: "*2\r\n$3\r\nGET\r\n")
                }
            }
        case .script:
            encoder.writeArrayHeader(count: self.selection.count + 3)
            encoder.writeBulkString("EVAL")
            encoder.writeBulkString(Self.crossSlotScript)
            encoder.writeBulkString("0")
            for offset in 0..<self.selection.count {
                self.keys.argument(self.selection[offset]).writeRESPBulkString(into: &encoder.buffer)
            }
        case .mget:
            if let indices = self.selection.indices {
                encoder.writeCommand("MGET", arguments: indices.lazy.map { self.keys.argument($0) })
            } else {
                encoder.writeCommand("MGET", arguments: (0..<self.keys.count).lazy.map { self.keys.argument($0) })
            }
        }
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Values {
        guard let shape = reply.bulkStringArrayShape, shape.count == self.selection.count else {
            throw self.unexpected(reply, expected: "an array of \(self.selection.count) bulk strings")
        }
        return Values(source: .array(reply), misses: shape.nulls)
    }

    func decode(replies: RESPReplies) throws(CacheError) -> Values {
        guard replies.count == self.selection.count, let nulls = replies.bulkStringNulls else {
            throw CacheError(.protocolViolation, "\(self.name) replied with other than \(self.selection.count) bulk strings")
        }
        return Values(source: .run(replies), misses: nulls)
    }

    func lookups(in reply: Values) -> (hits: Int, misses: Int)? {
        (self.selection.count - reply.misses, reply.misses)
    }
}

/// `MSET key value…`; with a ttl `MULTI`, `MSET`, one `EXPIRE` per key, `EXEC`, written at once, so no key is ever
/// stored without its ttl.
struct SetManyCommand: CacheManyKeyCommand {
    let entries: [(key: String, value: ByteBuffer)]
    let selection: CacheKeySelection
    let ttl: Int?

    var name: CacheCommandName { .mset }
    var key: String? { self.entries.isEmpty ? nil : self.entries[self.selection[0]].key }
    var replyCount: Int { self.ttl == nil ? 1 : self.selection.count + 3 }

    func encode(into encoder: inout RESPCommandEncoder) {
        if self.ttl != nil {
            encoder.writeCommand("MULTI")
        }
        if let indices = self.selection.indices {
            encoder.writeCommand("MSET", pairs: indices.lazy.map { (self.entries[$0].key, self.entries[$0].value) })
        } else {
            encoder.writeCommand("MSET", pairs: self.entries.lazy.map { ($0.key, $0.value) })
        }
        if let ttl = self.ttl {
            for offset in 0..<self.selection.count {
                encoder.writeCommand("EXPIRE", self.entries[self.selection[offset]].key, ttl)
            }
            encoder.writeCommand("EXEC")
        }
    }

    func decode(_ reply: RESPReply) throws(CacheError) {
        if self.ttl == nil {
            guard reply.isOK else { throw self.unexpected(reply, expected: "OK") }
            return
        }
        // EXEC: one reply per queued command; an error among them fails the call.
        guard case .array(let results)? = try? reply.value(), results.count == self.selection.count + 1 else {
            throw self.unexpected(reply, expected: "the results of \(self.selection.count + 1) commands")
        }
        if let failed = results.first(where: \.isError), let message = failed.errorMessage {
            throw CacheNodeClient.serverError(message, node: nil)
        }
    }
}

/// `UNLINK key…`: how many of the keys existed (and were removed).
struct DeleteManyCommand: CacheManyKeyCommand {
    let keys: [String]
    let selection: CacheKeySelection

    var name: CacheCommandName { .unlink }
    var key: String? { self.keys.isEmpty ? nil : self.keys[self.selection[0]] }

    func encode(into encoder: inout RESPCommandEncoder) {
        if let indices = self.selection.indices {
            encoder.writeCommand("UNLINK", arguments: indices.lazy.map { self.keys[$0] })
        } else {
            encoder.writeCommand("UNLINK", arguments: self.keys)
        }
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Int {
        guard let removed = reply.integer else { throw self.unexpected(reply, expected: "an integer") }
        return Int(removed)
    }
}

// MARK: Nodes

/// `FLUSHDB ASYNC`.
struct FlushCommand: CacheCommand {
    var name: CacheCommandName { .flushdb }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("FLUSHDB", "ASYNC")
    }

    func decode(_ reply: RESPReply) throws(CacheError) {
        guard reply.isOK else { throw self.unexpected(reply, expected: "OK") }
    }
}

/// `MULTI`, `DBSIZE`, `FLUSHDB ASYNC`, `EXEC`: how many keys the database held when it was emptied.
struct CountingFlushCommand: CacheCommand {
    var name: CacheCommandName { .flushdb }
    var replyCount: Int { 4 }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("MULTI")
        encoder.writeCommand("DBSIZE")
        encoder.writeCommand("FLUSHDB", "ASYNC")
        encoder.writeCommand("EXEC")
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Int {
        guard case .array(let results)? = try? reply.value(), results.count == 2, case .integer(let count) = results[0] else {
            throw self.unexpected(reply, expected: "the results of DBSIZE and FLUSHDB")
        }
        if case .simpleError(let message) = results[1] {
            throw CacheNodeClient.serverError(String(buffer: message), node: nil)
        }
        return Int(count)
    }
}

/// `SCAN cursor MATCH pattern COUNT count`: the next cursor (`0` when the scan is complete) and a batch of keys,
/// possibly empty, possibly repeating keys of an earlier batch.
struct ScanCommand: CacheCommand {
    let cursor: String
    let pattern: String
    let count: Int

    var name: CacheCommandName { .scan }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("SCAN", self.cursor, "MATCH", self.pattern, "COUNT", self.count)
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> (cursor: String, keys: [String]) {
        guard case .array(let parts)? = try? reply.value(), parts.count == 2,
            case .bulkString(let cursor) = parts[0], case .array(let batch) = parts[1]
        else { throw self.unexpected(reply, expected: "a cursor and an array of keys") }
        var keys: [String] = []
        keys.reserveCapacity(batch.count)
        for key in batch {
            guard case .bulkString(let bytes) = key else { throw self.unexpected(reply, expected: "an array of keys") }
            keys.append(String(buffer: bytes))
        }
        return (String(buffer: cursor), keys)
    }

    /// The `MATCH` pattern of every key that starts with `prefix:` (the glob characters `*?[]\` of `prefix`
    /// escaped, so they match only themselves).
    static func pattern(forKeysOf prefix: String) -> String {
        var pattern = ""
        pattern.reserveCapacity(prefix.utf8.count + 2)
        for character in prefix {
            if "*?[]\\".contains(character) { pattern.append("\\") }
            pattern.append(character)
        }
        pattern.append(":*")
        return pattern
    }
}

/// `PING`, for health checks and keepalives.
struct PingCommand: CacheCommand {
    var name: CacheCommandName { .ping }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("PING")
    }

    func decode(_ reply: RESPReply) throws(CacheError) {}
}

/// `PING` then `DBSIZE`: the node's key count, for ``CacheNodeStatus`` (the round trip is the latency).
struct StatusCommand: CacheCommand {
    var name: CacheCommandName { .ping }
    var replyCount: Int { 2 }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("PING")
        encoder.writeCommand("DBSIZE")
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Int {
        guard let count = reply.integer else { throw self.unexpected(reply, expected: "an integer") }
        return Int(count)
    }
}

/// `CLIENT TRACKINGINFO`: the tracking flags of the connection that sends it (`on`, `off`, `bcast`, …), joined
/// by commas, for ``CacheNodeStatus/tracking``.
struct TrackingInfoCommand: CacheCommand {
    var name: CacheCommandName { .ping }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("CLIENT", "TRACKINGINFO")
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> String {
        // A map in RESP3 (`flags`, `redirect`, `prefixes`), a flat array in RESP2.
        let pairs: [(key: RESPValue, value: RESPValue)]
        switch try? reply.value() {
        case .map(let map)?: pairs = map
        case .array(let items)? where items.count % 2 == 0:
            pairs = stride(from: 0, to: items.count, by: 2).map { (items[$0], items[$0 + 1]) }
        default: throw self.unexpected(reply, expected: "the tracking information")
        }
        for (key, value) in pairs {
            guard case .bulkString(let name) = key, String(buffer: name) == "flags" else { continue }
            let flags: [RESPValue]
            switch value {
            case .array(let items), .set(let items): flags = items
            default: flags = [value]
            }
            return flags.compactMap { flag -> String? in
                switch flag {
                case .bulkString(let text), .simpleString(let text): String(buffer: text)
                default: nil
                }
            }.joined(separator: ",")
        }
        throw self.unexpected(reply, expected: "the tracking flags")
    }
}

/// What every new connection sends before it carries requests: `AUTH`, `SELECT`, `CLIENT SETNAME` (each when
/// configured), for a near cache `HELLO 3` and `CLIENT TRACKING ON`, and `PING`, in one write.
struct ConnectionSetUpCommand: CacheCommand {
    let username: String?
    let password: String?
    let database: Int?
    let clientName: String?
    /// Whether the connection serves a near cache: it speaks RESP3 and Redis tracks the keys it reads.
    var tracking = false
    /// Whether a cluster replica may answer reads on this connection (`READONLY`).
    var readOnly = false

    var name: CacheCommandName { .ping }
    var replyCount: Int {
        1 + (self.password == nil ? 0 : 1) + (self.database == nil ? 0 : 1) + (self.clientName == nil ? 0 : 1)
            + (self.tracking ? 2 : 0) + (self.readOnly ? 1 : 0)
    }

    func encode(into encoder: inout RESPCommandEncoder) {
        if let password = self.password {
            if let username = self.username {
                encoder.writeCommand("AUTH", username, password)
            } else {
                encoder.writeCommand("AUTH", password)
            }
        }
        if let database = self.database {
            encoder.writeCommand("SELECT", database)
        }
        if let clientName = self.clientName {
            encoder.writeCommand("CLIENT", "SETNAME", clientName)
        }
        if self.tracking {
            // After AUTH: a server with a password refuses HELLO from a client that has not authenticated.
            // Default tracking mode: the server remembers the keys this connection read and sends their
            // invalidations to it (see CacheNearCache for why not OPTIN or BCAST).
            encoder.writeCommand("HELLO", 3)
            encoder.writeCommand("CLIENT", "TRACKING", "ON")
        }
        if self.readOnly {
            encoder.writeCommand("READONLY")
        }
        encoder.writeCommand("PING")
    }

    func decode(_ reply: RESPReply) throws(CacheError) {}
}

import NIOCore
import RESP

/// One request the cache sends to a node: a small value that knows its name, its key, how to encode itself into the
/// connection's outbound buffer and how to read its reply.
///
/// ``CacheNodeClient/execute(_:)`` sends it, turns error replies into ``CacheError``s, counts it under ``name`` and
/// logs it with ``key``. Adding a command (say `GETEX`) takes one type here and one backend method.
protocol CacheCommand {
    /// What the reply decodes to.
    associatedtype Reply

    /// The name the request is counted and logged under.
    var name: CacheCommandName { get }

    /// How many replies the encoded commands produce (a `MULTI`…`EXEC` batch produces several); the last one is
    /// decoded, unless an earlier one is an error.
    var replyCount: Int { get }

    /// Whether every reply is read (``decode(replies:)``) instead of the last: a pipeline of one command per key.
    var readsEveryReply: Bool { get }

    /// The first key, for trace logs; nil for commands without one.
    var key: String? { get }

    /// Writes the command(s) into the outbound buffer. Runs under the connection's lock: only encoding here.
    func encode(into encoder: inout RESPCommandEncoder)

    /// Reads a reply that is not an error reply.
    ///
    /// - Throws: ``CacheError`` with ``CacheError/Code/protocolViolation`` for a reply of an unexpected shape.
    func decode(_ reply: RESPReply) throws(CacheError) -> Reply

    /// Reads the replies of a command that ``readsEveryReply``, none of them an error reply.
    ///
    /// - Throws: ``CacheError`` with ``CacheError/Code/protocolViolation`` for replies of an unexpected shape.
    func decode(replies: RESPReplies) throws(CacheError) -> Reply

    /// Keys found and missing in a reply, for the `caches.hits` and `caches.misses` metrics; nil for commands that
    /// are not lookups.
    func lookups(in reply: Reply) -> (hits: Int, misses: Int)?
}

/// A command over some of a many-key call's keys (`MGET`, `MSET`, `UNLINK`): a cluster sends one per slot.
protocol CacheManyKeyCommand: CacheCommand {
    /// The call's positions this command covers.
    var selection: CacheKeySelection { get }
}

extension CacheCommand {
    var replyCount: Int { 1 }
    var readsEveryReply: Bool { false }
    var key: String? { nil }

    func decode(replies: RESPReplies) throws(CacheError) -> Reply {
        try self.decode(replies[replies.count - 1])
    }
    func lookups(in reply: Reply) -> (hits: Int, misses: Int)? { nil }

    /// The error for a reply of a shape this command does not expect.
    func unexpected(_ reply: RESPReply, expected: String) -> CacheError {
        let shown = (try? reply.value()).map { "\($0)" } ?? "\(reply.bytes.readableBytes) undecodable bytes"
        return CacheError(.protocolViolation, "\(self.name) replied with \(shown), not \(expected)")
    }
}

/// The name a request is counted under (`caches.commands` and `caches.command.duration`, dimension `command`) and
/// logged under (`cache.command`). Requests name themselves: ``CacheCommand/name``.
enum CacheCommandName: Int, CaseIterable, Sendable, CustomStringConvertible {
    case get, mget, set, setex, mset, unlink, expire, persist, ttl, incrby, incrbyfloat, flushdb, ping, dbsize, scan, eval, cluster

    var description: String {
        switch self {
        case .get: "GET"
        case .mget: "MGET"
        case .set: "SET"
        case .setex: "SETEX"
        case .mset: "MSET"
        case .unlink: "UNLINK"
        case .expire: "EXPIRE"
        case .persist: "PERSIST"
        case .ttl: "TTL"
        case .incrby: "INCRBY"
        case .incrbyfloat: "INCRBYFLOAT"
        case .flushdb: "FLUSHDB"
        case .ping: "PING"
        case .dbsize: "DBSIZE"
        case .scan: "SCAN"
        case .eval: "EVAL"
        case .cluster: "CLUSTER"
        }
    }
}

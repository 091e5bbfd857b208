import NIOCore
import RESP

/// What a connection of a near-cached node needs: where invalidations go, and which node it serves.
///
/// Every connection of such a node speaks RESP3 and has `CLIENT TRACKING ON` (default mode) from its set-up on, so
/// Redis remembers the keys each connection read and sends the connection an `invalidate` push when one of them
/// changes, expires or is evicted, or a null one when the database is flushed.
///
/// Default mode rather than the others, because:
/// - `BCAST PREFIX` would send every connection an invalidation for every write under the prefix, by any client,
///   whether this process ever read the key or not: on a write-heavy cache shared by many instances that is more
///   traffic than the reads it saves.
/// - `OPTIN` needs `CLIENT CACHING YES` before each tracked read, one more command and reply per read, to leave out
///   reads that the near cache does not keep; every `GET` and `MGET` of a near-cached cache is kept.
/// The cost of default mode is the server's tracking table (one entry per key and client, bounded by
/// `tracking-table-max-keys`; a key dropped from it is invalidated, so correctness does not depend on its size).
struct CacheTracking: Sendable {
    let nearCache: CacheNearCache
    /// The node's ``CacheNodeClient/nearCacheID``.
    let node: Int

    /// Applies one push frame: an `invalidate` with keys evicts them, a null one empties the node's entries. Other
    /// pushes are ignored.
    func receive(push reply: RESPReply) {
        guard case .push(let items)? = try? reply.value(), items.count == 2, Self.text(items[0]) == "invalidate" else { return }
        switch items[1] {
        case .null:
            self.nearCache.removeAll(ofNode: self.node)
        case .array(let keys), .set(let keys):
            self.nearCache.invalidate(keys.lazy.compactMap(Self.text), pushed: true)
        default:
            // Unknown shape: trust nothing of this node.
            self.nearCache.removeAll(ofNode: self.node)
        }
    }

    /// The connection closed: Redis dropped what it tracked for it, so its invalidations can no longer arrive.
    func trackingLost() {
        self.nearCache.removeAll(ofNode: self.node)
    }

    private static func text(_ value: RESPValue) -> String? {
        switch value {
        case .bulkString(let bytes), .simpleString(let bytes), .verbatimString(let bytes): String(buffer: bytes)
        default: nil
        }
    }
}

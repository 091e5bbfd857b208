import CacheRing
import NIOCore
import RESP

/// A Redis Cluster's slot map: its shards (a primary, its replicas, the slot ranges it serves) and, for each of the
/// 16384 slots, the shard that serves it. Built from the reply of `CLUSTER SHARDS` (Redis 7+) or of the older
/// `CLUSTER SLOTS`; both describe the same map (`Tests/IntegrationTests/ClusterTopologyTests.swift` checks that on a
/// real cluster).
struct ClusterTopology: Sendable, Equatable {
    /// Where a cluster node listens.
    struct Endpoint: Sendable, Hashable, CustomStringConvertible {
        /// The host to connect to: the node's preferred endpoint (by default its IP address).
        var host: String
        var port: Int
        /// The node's cluster ID (40 hexadecimal characters), when the reply gave one.
        var id: String?

        var description: String { "\(self.host):\(self.port)" }
    }

    /// One shard: a primary and its replicas, serving the same slots.
    struct Shard: Sendable, Equatable {
        /// The primary; nil when the shard has none that is online (a failover in progress).
        var primary: Endpoint?
        /// The replicas that are online.
        var replicas: [Endpoint]
        /// The slot ranges, in ascending order.
        var slots: [ClosedRange<Int>]
    }

    /// The shards, ordered by their first slot.
    let shards: [Shard]
    /// For each slot, the index into ``shards`` of the shard serving it, or -1.
    private let owners: [Int16]

    /// Builds the map from shards, checking that no slot is claimed twice and every range lies within 0...16383.
    ///
    /// - Throws: ``CacheError`` with ``CacheError/Code/protocolViolation`` naming the slot or range at fault.
    init(shards: [Shard]) throws(CacheError) {
        let shards = shards.filter { !$0.slots.isEmpty }.sorted { $0.slots[0].lowerBound < $1.slots[0].lowerBound }
        var owners = [Int16](repeating: -1, count: ClusterSlot.count)
        for (index, shard) in shards.enumerated() {
            for range in shard.slots {
                guard range.lowerBound >= 0, range.upperBound < ClusterSlot.count else {
                    throw CacheError(.protocolViolation, "the cluster map has slots \(range), outside 0...16383")
                }
                for slot in range {
                    guard owners[slot] == -1 else {
                        throw CacheError(.protocolViolation, "the cluster map gives slot \(slot) to two shards")
                    }
                    owners[slot] = Int16(index)
                }
            }
        }
        self.shards = shards
        self.owners = owners
    }

    /// The shard serving `slot`, or nil when no shard serves it.
    func shard(forSlot slot: Int) -> Shard? {
        let owner = self.owners[slot]
        return owner < 0 ? nil : self.shards[Int(owner)]
    }

    /// The index into ``shards`` of the shard serving `slot`, or nil.
    func shardIndex(forSlot slot: Int) -> Int? {
        let owner = self.owners[slot]
        return owner < 0 ? nil : Int(owner)
    }

    /// How many slots no shard with a primary serves.
    var uncoveredSlots: Int {
        self.owners.count { $0 < 0 || self.shards[Int($0)].primary == nil }
    }

    // MARK: CLUSTER SHARDS

    /// Parses the reply to `CLUSTER SHARDS`: an array of shards, each a map (RESP3) or flat key-value array (RESP2)
    /// with `slots` (a flat list of range bounds) and `nodes` (each a map with `id`, `endpoint`, `ip`, `port`,
    /// `tls-port`, `role` and `health`).
    ///
    /// A node's host is its `endpoint`, else its `ip`; a node that does not know its own address (a cluster of one
    /// node, or one not yet joined) gives an empty one, and then it is `askedHost`, as the Cluster spec says.
    ///
    /// - Parameters:
    ///   - reply: The reply.
    ///   - tls: Whether connections use TLS: then a node's `tls-port` is used where it has one.
    ///   - askedHost: The host the command was sent to.
    /// - Throws: ``CacheError`` with ``CacheError/Code/protocolViolation`` for a reply of another shape.
    static func parse(shards reply: RESPValue, tls: Bool, askedHost: String) throws(CacheError) -> ClusterTopology {
        guard let items = reply.listItems else { throw Self.malformed("CLUSTER SHARDS", "an array of shards", reply) }
        var shards: [Shard] = []
        for item in items {
            guard let fields = item.fields else { throw Self.malformed("CLUSTER SHARDS", "a shard's fields", item) }
            guard let bounds = fields["slots"]?.listItems, bounds.count % 2 == 0 else {
                throw Self.malformed("CLUSTER SHARDS", "a shard's slot bounds", item)
            }
            var slots: [ClosedRange<Int>] = []
            for pair in stride(from: 0, to: bounds.count, by: 2) {
                guard let low = bounds[pair].integerValue, let high = bounds[pair + 1].integerValue, low <= high else {
                    throw Self.malformed("CLUSTER SHARDS", "a slot range", item)
                }
                slots.append(low...high)
            }
            guard let nodes = fields["nodes"]?.listItems else { throw Self.malformed("CLUSTER SHARDS", "a shard's nodes", item) }
            var shard = Shard(primary: nil, replicas: [], slots: slots.sorted { $0.lowerBound < $1.lowerBound })
            for node in nodes {
                guard let node = node.fields else { throw Self.malformed("CLUSTER SHARDS", "a node's fields", item) }
                guard node["health"]?.text.map({ $0 == "online" }) ?? true else { continue }
                let port = (tls ? node["tls-port"]?.integerValue : nil) ?? node["port"]?.integerValue
                // An endpoint of "?" (a hostname asked for, none announced) gives way to the IP address; an empty
                // one (the node does not know its address) means the asked host.
                let preferred = node["endpoint"]?.text
                let ip = node["ip"]?.text
                let host = [preferred, ip].compactMap { $0 }.first { !$0.isEmpty && $0 != "?" } ?? (preferred == "" || ip == "" ? askedHost : nil)
                guard let host, let port, port > 0 else { throw Self.malformed("CLUSTER SHARDS", "a node's address", item) }
                let endpoint = Endpoint(host: host, port: port, id: node["id"]?.text)
                if node["role"]?.text == "master" || node["role"]?.text == "primary" {
                    shard.primary = endpoint
                } else {
                    shard.replicas.append(endpoint)
                }
            }
            shards.append(shard)
        }
        return try ClusterTopology(shards: shards)
    }

    // MARK: CLUSTER SLOTS

    /// Parses the reply to `CLUSTER SLOTS` (servers before Redis 7): an array of ranges, each `[low, high,
    /// primary, replica…]` with each node as `[host, port, id, …]`. Ranges with the same primary form one shard.
    /// A null or empty host (a node that does not know its own address) is `askedHost`.
    ///
    /// - Parameters:
    ///   - reply: The reply.
    ///   - askedHost: The host the command was sent to.
    /// - Throws: ``CacheError`` with ``CacheError/Code/protocolViolation`` for a reply of another shape.
    static func parse(slots reply: RESPValue, askedHost: String) throws(CacheError) -> ClusterTopology {
        guard let ranges = reply.listItems else { throw Self.malformed("CLUSTER SLOTS", "an array of slot ranges", reply) }
        var shards: [Shard] = []
        var shardOfPrimary: [String: Int] = [:]
        for range in ranges {
            guard let parts = range.listItems, parts.count >= 3, let low = parts[0].integerValue,
                let high = parts[1].integerValue, low <= high
            else { throw Self.malformed("CLUSTER SLOTS", "a slot range", range) }
            var endpoints: [Endpoint] = []
            for node in parts[2...] {
                guard let fields = node.listItems, fields.count >= 2, let port = fields[1].integerValue, port > 0,
                    let host = fields[0].isNull ? askedHost : fields[0].text.map({ $0.isEmpty ? askedHost : $0 })
                else { throw Self.malformed("CLUSTER SLOTS", "a node's address", range) }
                endpoints.append(Endpoint(host: host, port: port, id: fields.count > 2 ? fields[2].text : nil))
            }
            let primary = endpoints[0]
            let identity = primary.id ?? primary.description
            if let index = shardOfPrimary[identity] {
                shards[index].slots.append(low...high)
                shards[index].slots.sort { $0.lowerBound < $1.lowerBound }
            } else {
                shardOfPrimary[identity] = shards.count
                shards.append(Shard(primary: primary, replicas: Array(endpoints.dropFirst()), slots: [low...high]))
            }
        }
        return try ClusterTopology(shards: shards)
    }

    private static func malformed(_ command: String, _ expected: String, _ value: RESPValue) -> CacheError {
        CacheError(.protocolViolation, "\(command) replied with \(value) where \(expected) was expected")
    }
}

extension RESPValue {
    /// The items of an array or a set.
    fileprivate var listItems: [RESPValue]? {
        switch self {
        case .array(let items), .set(let items): items
        default: nil
        }
    }

    /// The fields of a map (RESP3) or of a flat key-value array (RESP2), by name.
    fileprivate var fields: [String: RESPValue]? {
        var fields: [String: RESPValue] = [:]
        switch self {
        case .map(let pairs):
            for (key, value) in pairs {
                guard let name = key.text else { return nil }
                fields[name] = value
            }
        case .array(let items) where items.count % 2 == 0:
            for index in stride(from: 0, to: items.count, by: 2) {
                guard let name = items[index].text else { return nil }
                fields[name] = items[index + 1]
            }
        default:
            return nil
        }
        return fields
    }

    /// The text of a simple, bulk or verbatim string.
    fileprivate var text: String? {
        self.bytes.map { String(buffer: $0) }
    }

    /// An integer, or a string holding one.
    fileprivate var integerValue: Int? {
        if case .integer(let value) = self { return Int(exactly: value) }
        return self.text.flatMap { Int($0) }
    }
}

// MARK: Commands

/// `CLUSTER SHARDS` (Redis 7+) or `CLUSTER SLOTS`: the reply as it came, for ``ClusterTopology/parse(shards:tls:)``
/// or ``ClusterTopology/parse(slots:)``.
struct ClusterMapCommand: CacheCommand {
    enum Source { case shards, slots }
    let source: Source

    init(_ source: Source) { self.source = source }

    var name: CacheCommandName { .cluster }

    func encode(into encoder: inout RESPCommandEncoder) {
        switch self.source {
        case .shards: encoder.writeCommand("CLUSTER", "SHARDS")
        case .slots: encoder.writeCommand("CLUSTER", "SLOTS")
        }
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> RESPValue {
        guard let value = try? reply.value() else { throw self.unexpected(reply, expected: "the cluster's slot map") }
        return value
    }
}

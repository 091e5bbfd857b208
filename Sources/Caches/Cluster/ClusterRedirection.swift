import CacheRing
import RESP

/// What a cluster node's error reply asks of the client: a slot that moved, one being migrated, or a pause.
enum ClusterRedirection: Sendable, Equatable {
    /// `MOVED <slot> <host>:<port>`: the slot is served elsewhere for good; refresh the map and resend there.
    case moved(slot: Int, to: ClusterTopology.Endpoint)
    /// `ASK <slot> <host>:<port>`: the slot is being migrated and this key is already on the target; send `ASKING`
    /// and the command to the target, once, without changing the map.
    case ask(slot: Int, to: ClusterTopology.Endpoint)
    /// `TRYAGAIN`: a multi-key command whose keys are split by a migration in progress; retry after a pause.
    case tryAgain
    /// `CLUSTERDOWN`: the cluster cannot serve the slot now (a failover in progress); retry after a pause.
    case clusterDown

    /// The redirection a server error names, or nil for any other error.
    ///
    /// - Parameter error: An error from a node.
    init?(_ error: CacheError) {
        guard error.code == .server else { return nil }
        self.init(message: error.message)
    }

    /// The redirection an error reply's text names (`MOVED 3999 127.0.0.1:6381`), or nil.
    init?(message: String) {
        let words = message.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = words.first else { return nil }
        switch first {
        case "MOVED", "ASK":
            guard words.count >= 3, let slot = Int(words[1]), (0..<ClusterSlot.count).contains(slot),
                let endpoint = Self.endpoint(words[2])
            else { return nil }
            self = first == "MOVED" ? .moved(slot: slot, to: endpoint) : .ask(slot: slot, to: endpoint)
        case "TRYAGAIN":
            self = .tryAgain
        case "CLUSTERDOWN":
            self = .clusterDown
        default:
            return nil
        }
    }

    /// `host:port`, `[v6]:port` or `:port` (a node that does not know its own address: the caller uses the host it
    /// sent the command to, so the host is left empty here).
    private static func endpoint(_ text: Substring) -> ClusterTopology.Endpoint? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65_535).contains(port)
        else { return nil }
        var host = text[..<colon]
        if host.hasPrefix("["), host.hasSuffix("]") { host = host.dropFirst().dropLast() }
        return ClusterTopology.Endpoint(host: String(host), port: port)
    }
}

/// `ASKING` followed by a command, in one write on one connection: how a command reaches the target of a slot being
/// migrated (after an ``ClusterRedirection/ask(slot:to:)``). The reply is the command's.
struct AskingCommand<Inner: CacheCommand>: CacheCommand {
    let inner: Inner

    var name: CacheCommandName { self.inner.name }
    var replyCount: Int { self.inner.replyCount + 1 }
    var key: String? { self.inner.key }

    func encode(into encoder: inout RESPCommandEncoder) {
        encoder.writeCommand("ASKING")
        self.inner.encode(into: &encoder)
    }

    func decode(_ reply: RESPReply) throws(CacheError) -> Inner.Reply {
        try self.inner.decode(reply)
    }

    func lookups(in reply: Inner.Reply) -> (hits: Int, misses: Int)? {
        self.inner.lookups(in: reply)
    }
}

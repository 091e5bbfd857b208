import CacheRing
import NIOConcurrencyHelpers
import Synchronization

/// Which node holds a key: the ketama ring of the configured nodes, with nodes ejected by the failure policy taken
/// out (their keys go to the survivors, placed as twemproxy's `auto_eject_hosts` places them).
///
/// Knows nothing of connections or commands; ``RedisBackend`` asks it for one key's node or for a many-key call's
/// keys grouped by node. A Redis Cluster slot map would be a second router beside this one.
final class CacheRingRouter: Sendable {
    /// One node's part of a many-key call.
    struct Group: Sendable {
        /// The node's index in the configuration.
        let node: Int
        /// The keys that go to it.
        let selection: CacheKeySelection
    }

    /// The ring of every configured node.
    let ring: HashRing
    /// Ejected nodes and the ring of the others. `hasEjections` keeps the lookup lock-free while nothing is ejected.
    private let ejection = NIOLockedValueBox(Ejection())
    private let hasEjections = Atomic<Bool>(false)

    private struct Ejection {
        /// The ring of the live nodes; nil when every node is ejected.
        var ring: HashRing?
        /// Ejected node indices and when they go back into the ring.
        var until: [Int: ContinuousClock.Instant] = [:]
    }

    /// Each node's failure record; a node whose retry time has come starts again from zero failures.
    private let health: [CacheNodeHealth]

    init(ring: HashRing, health: [CacheNodeHealth]) {
        precondition(ring.nodes.count == health.count, "one health record per node")
        self.ring = ring
        self.health = health
    }

    /// The ring of a configuration's nodes.
    ///
    /// - Throws: ``CacheError/Code/invalidConfiguration`` when the nodes cannot form a ring.
    static func makeRing(_ configuration: CacheConfiguration) throws(CacheError) -> HashRing {
        do {
            return try HashRing(
                nodes: configuration.nodes.map { HashRing.Node(name: $0.ketamaName, weight: $0.weight) },
                hash: HashRing.HashFunction(rawValue: configuration.ring.hash.rawValue) ?? .fnv1a_64,
                hashTag: configuration.ring.hashTag
            )
        } catch {
            throw CacheError(.invalidConfiguration, "cannot build the ring: \(error)", underlyingError: error)
        }
    }

    var nodeCount: Int { self.ring.nodes.count }

    /// Every node, each with no keys: for calls that go to all nodes (`FLUSHDB`, health checks).
    var everyNode: [Group] {
        self.ring.nodes.indices.map { Group(node: $0, selection: .all(0)) }
    }

    // MARK: Lookups

    /// The index of the node that holds `key` now.
    ///
    /// - Throws: ``CacheError/Code/nodeUnavailable`` when every node is ejected.
    @inline(__always)
    func nodeIndex(forKey key: String) throws(CacheError) -> Int {
        if self.nodeCount == 1 { return 0 }
        return try self.currentRing().nodeIndex(forKey: key)
    }

    /// The positions of `count` keys grouped by node, in the order of each node's first key; `nodeIndex` places the
    /// key at a position on a ring.
    ///
    /// - Throws: ``CacheError/Code/nodeUnavailable`` when every node is ejected.
    func group(count: Int, nodeIndex: (HashRing, Int) -> Int) throws(CacheError) -> [Group] {
        if self.nodeCount == 1 { return [Group(node: 0, selection: .all(count))] }
        let ring = try self.currentRing()
        var positions = [Int](repeating: -1, count: self.nodeCount)
        var nodes: [Int] = []
        var indices: [[Int]] = []
        for offset in 0..<count {
            let node = nodeIndex(ring, offset)
            if positions[node] < 0 {
                positions[node] = nodes.count
                nodes.append(node)
                indices.append([])
                indices[indices.count - 1].reserveCapacity(count / self.nodeCount + 4)
            }
            indices[positions[node]].append(offset)
        }
        if nodes.count == 1 { return [Group(node: nodes[0], selection: .all(count))] }
        return zip(nodes, indices).map { Group(node: $0, selection: .some($1)) }
    }

    /// The ring calls use now: the full ring, or the ring of the live nodes while some are ejected.
    @inline(__always)
    private func currentRing() throws(CacheError) -> HashRing {
        guard self.hasEjections.load(ordering: .relaxed) else { return self.ring }
        guard let ring = self.restoreDueNodes() else {
            throw CacheError(.nodeUnavailable, "every node is ejected from the ring")
        }
        return ring
    }

    // MARK: Ejection

    /// Takes node `index` out of the ring until `retry` has passed; returns false when it was out already.
    func eject(_ index: Int, for retry: Duration) -> Bool {
        self.ejection.withLockedValue { state in
            guard state.until[index] == nil else { return false }
            state.until[index] = ContinuousClock.now + retry
            state.ring = self.ring.withLiveNodes(self.ring.nodes.indices.filter { state.until[$0] == nil })
            self.hasEjections.store(true, ordering: .relaxed)
            return true
        }
    }

    /// Puts node `index` back into the ring now; returns false when it was not ejected.
    func restore(_ index: Int) -> Bool {
        guard self.hasEjections.load(ordering: .relaxed) else { return false }
        return self.ejection.withLockedValue { state in
            guard state.until.removeValue(forKey: index) != nil else { return false }
            self.rebuild(&state)
            return true
        }
    }

    /// The ring of live nodes after putting back every node whose retry time has come.
    private func restoreDueNodes() -> HashRing? {
        self.ejection.withLockedValue { state in
            let now = ContinuousClock.now
            if state.until.values.contains(where: { $0 <= now }) {
                for (index, deadline) in state.until where deadline <= now {
                    state.until[index] = nil
                    // The failure count restarts, so the node is ejected again only after as many failures.
                    _ = self.health[index].recordSuccess()
                }
                self.rebuild(&state)
            }
            return state.ring
        }
    }

    private func rebuild(_ state: inout Ejection) {
        if state.until.isEmpty {
            state.ring = self.ring
            self.hasEjections.store(false, ordering: .relaxed)
        } else {
            state.ring = self.ring.withLiveNodes(self.ring.nodes.indices.filter { state.until[$0] == nil })
        }
    }
}

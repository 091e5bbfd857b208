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
        /// Ejected node indices and when they are due to go back into the ring.
        var until: [Int: ContinuousClock.Instant] = [:]
        /// Ejected nodes being re-admitted: their journals are being cleaned on the nodes.
        var readmitting: Set<Int> = []
        /// What was written through the cache for each ejected node's keys while it was out.
        var journals: [Int: EjectionJournal] = [:]
    }

    /// The keys of an ejected node that were written or deleted (on another node) while it was out; they must not
    /// be read from it when it returns with its old data. Each key maps to the node that took the write.
    struct EjectionJournal: Sendable {
        var keys: [String: Int] = [:]
        /// More keys than the limit were written: the node's database must be flushed instead.
        var overflowed = false
    }

    /// Each node's failure record; a node whose retry time has come starts again from zero failures.
    private let health: [CacheNodeHealth]
    /// How many keys each ejected node's journal holds before it overflows; 0 keeps no journal (a node goes back
    /// into the ring as soon as its retry time has come, as twemproxy's does).
    let journalLimit: Int
    /// Called, outside the lock, for a node whose retry time has come, already marked as being re-admitted
    /// (journals only).
    let onReadmissionDue: NIOLockedValueBox<(@Sendable (Int) -> Void)?> = NIOLockedValueBox(nil)

    init(ring: HashRing, health: [CacheNodeHealth], journalLimit: Int = 0) {
        precondition(ring.nodes.count == health.count, "one health record per node")
        self.ring = ring
        self.health = health
        self.journalLimit = journalLimit
    }

    /// The ring of a configuration's nodes.
    ///
    /// - Throws: ``CacheError/Code/invalidConfiguration`` when the nodes cannot form a ring.
    static func makeRing(_ configuration: CacheConfiguration) throws(CacheError) -> HashRing {
        do {
            return try HashRing(
                nodes: configuration.nodes.map { HashRing.Node(name: $0.ketamaName, weight: $0.weight) },
                hash: configuration.ring.hash.ringHash,
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
    /// - Parameters:
    ///   - key: The stored key.
    ///   - writing: Whether the call writes or deletes the key: while the key's own node is ejected, the key is
    ///     recorded in that node's journal, in the same step that picks the node that takes the write.
    /// - Throws: ``CacheError/Code/nodeUnavailable`` when every node is ejected.
    @inline(__always)
    func nodeIndex(forKey key: String, writing: Bool = false) throws(CacheError) -> Int {
        if self.nodeCount == 1 { return 0 }
        if writing && self.journalLimit > 0 && self.hasEjections.load(ordering: .relaxed) {
            return try self.journaledNodeIndices(count: 1, key: { _ in key })[0]
        }
        return try self.currentRing().nodeIndex(forKey: key)
    }

    /// The positions of `count` keys grouped by node, in the order of each node's first key; `nodeIndex` places the
    /// key at a position on a ring.
    ///
    /// - Throws: ``CacheError/Code/nodeUnavailable`` when every node is ejected.
    ///
    /// - Parameters:
    ///   - count: How many keys the call has.
    ///   - nodeIndex: Places the key at a position on a ring.
    ///   - writtenKey: For a call that writes or deletes, the stored key at a position: while a key's own node is
    ///     ejected, the key is recorded in that node's journal.
    func group(count: Int, nodeIndex: (HashRing, Int) -> Int, writtenKey: ((Int) -> String)? = nil) throws(CacheError) -> [Group] {
        if self.nodeCount == 1 { return [Group(node: 0, selection: .all(count))] }
        var journaled: [Int]?
        if let writtenKey, self.journalLimit > 0, self.hasEjections.load(ordering: .relaxed) {
            journaled = try self.journaledNodeIndices(count: count, key: writtenKey)
        }
        let ring = journaled == nil ? try self.currentRing() : self.ring
        var positions = [Int](repeating: -1, count: self.nodeCount)
        var nodes: [Int] = []
        var indices: [[Int]] = []
        for offset in 0..<count {
            let node = journaled?[offset] ?? nodeIndex(ring, offset)
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
            if self.journalLimit > 0 { state.journals[index] = EjectionJournal() }
            state.ring = self.ring.withLiveNodes(self.ring.nodes.indices.filter { state.until[$0] == nil })
            self.hasEjections.store(true, ordering: .relaxed)
            return true
        }
    }

    /// Puts node `index` back into the ring now, dropping its journal; returns false when it was not ejected.
    func restore(_ index: Int) -> Bool {
        guard self.hasEjections.load(ordering: .relaxed) else { return false }
        return self.ejection.withLockedValue { state in
            guard state.until.removeValue(forKey: index) != nil else { return false }
            state.readmitting.remove(index)
            state.journals[index] = nil
            self.rebuild(&state)
            return true
        }
    }

    /// Whether node `index` is out of the ring.
    func isEjected(_ index: Int) -> Bool {
        guard self.hasEjections.load(ordering: .relaxed) else { return false }
        return self.ejection.withLockedValue { $0.until[index] != nil }
    }

    // MARK: Re-admission with a journal

    /// Marks ejected node `index` as being re-admitted; false when it is not ejected or already being re-admitted.
    func beginReadmission(_ index: Int) -> Bool {
        self.ejection.withLockedValue { state in
            guard state.until[index] != nil, !state.readmitting.contains(index) else { return false }
            state.readmitting.insert(index)
            return true
        }
    }

    /// Takes what node `index`'s journal holds, to be cleaned on the nodes; when it holds nothing, puts the node
    /// back into the ring in the same step (so no write can be journaled between the last cleaning and the return)
    /// and returns nil.
    func takeJournalOrRestore(_ index: Int) -> EjectionJournal? {
        self.ejection.withLockedValue { state in
            if let journal = state.journals[index], journal.overflowed || !journal.keys.isEmpty {
                state.journals[index] = EjectionJournal()
                return journal
            }
            state.until[index] = nil
            state.readmitting.remove(index)
            state.journals[index] = nil
            // The failure count restarts, so the node is ejected again only after as many failures.
            _ = self.health[index].recordSuccess()
            self.rebuild(&state)
            return nil
        }
    }

    /// Re-admission failed (the node does not answer, or cleaning failed): the node stays out for another `retry`,
    /// and what was taken from its journal goes back into it.
    func abortReadmission(_ index: Int, retry: Duration, returning taken: EjectionJournal?) {
        self.ejection.withLockedValue { state in
            guard state.until[index] != nil else { return }
            state.readmitting.remove(index)
            state.until[index] = ContinuousClock.now + retry
            guard let taken else { return }
            var journal = state.journals[index] ?? EjectionJournal()
            journal.overflowed = journal.overflowed || taken.overflowed
            for (key, node) in taken.keys where journal.keys[key] == nil {
                journal.keys[key] = node
            }
            if journal.keys.count > self.journalLimit {
                journal.keys.removeAll()
                journal.overflowed = true
            }
            state.journals[index] = journal
        }
    }

    /// The node of each key for a write while some node is ejected, journaling keys whose own node is out.
    private func journaledNodeIndices(count: Int, key: (Int) -> String) throws(CacheError) -> [Int] {
        var due: [Int] = []
        let indices = self.ejection.withLockedValue { state -> [Int]? in
            due = self.takeDueNodes(&state)
            guard let live = state.ring else { return nil }
            var indices = [Int](repeating: 0, count: count)
            for offset in 0..<count {
                let storedKey = key(offset)
                let home = self.ring.nodeIndex(forKey: storedKey)
                let node = live.nodeIndex(forKey: storedKey)
                indices[offset] = node
                guard home != node, var journal = state.journals[home] else { continue }
                if !journal.overflowed {
                    journal.keys[storedKey] = node
                    if journal.keys.count > self.journalLimit {
                        journal.keys.removeAll()
                        journal.overflowed = true
                    }
                }
                state.journals[home] = journal
            }
            return indices
        }
        self.announce(due)
        guard let indices else { throw CacheError(.nodeUnavailable, "every node is ejected from the ring") }
        return indices
    }

    /// The ring of live nodes after putting back every node whose retry time has come (or, with journals,
    /// announcing it for re-admission).
    private func restoreDueNodes() -> HashRing? {
        var due: [Int] = []
        let ring = self.ejection.withLockedValue { state in
            due = self.takeDueNodes(&state)
            return state.ring
        }
        self.announce(due)
        return ring
    }

    /// Without journals, puts back the nodes whose retry time has come; with them, marks those nodes as being
    /// re-admitted and returns them: they stay out until their journal has been cleaned.
    private func takeDueNodes(_ state: inout Ejection) -> [Int] {
        let now = ContinuousClock.now
        guard state.until.values.contains(where: { $0 <= now }) else { return [] }
        var due: [Int] = []
        for (index, deadline) in state.until where deadline <= now && !state.readmitting.contains(index) {
            if self.journalLimit > 0 {
                state.readmitting.insert(index)
                due.append(index)
                continue
            }
            state.until[index] = nil
            // The failure count restarts, so the node is ejected again only after as many failures.
            _ = self.health[index].recordSuccess()
        }
        if self.journalLimit == 0 { self.rebuild(&state) }
        return due
    }

    private func announce(_ due: [Int]) {
        guard !due.isEmpty, let readmit = self.onReadmissionDue.withLockedValue({ $0 }) else { return }
        for index in due { readmit(index) }
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

extension CacheHashFunction {
    /// The ring's hash function of the same name. Exhaustive, so a name added to one enum and not the other does
    /// not compile rather than falling back to another hash.
    var ringHash: HashRing.HashFunction {
        switch self {
        case .one_at_a_time: .one_at_a_time
        case .md5: .md5
        case .crc16: .crc16
        case .crc32: .crc32
        case .crc32a: .crc32a
        case .fnv1_64: .fnv1_64
        case .fnv1a_64: .fnv1a_64
        case .fnv1_32: .fnv1_32
        case .fnv1a_32: .fnv1a_32
        case .hsieh: .hsieh
        case .murmur: .murmur
        case .jenkins: .jenkins
        }
    }
}

extension CacheConfiguration {
    /// The ketama ring the Redis backend builds for this configuration (same nodes, names, weights, hash and tag),
    /// for tools in this package (the `caches` command) that place keys without connecting.
    ///
    /// - Throws: ``CacheError/Code/invalidConfiguration`` when the configuration has no Redis nodes or they cannot
    ///   form a ring.
    package func makeRing() throws(CacheError) -> HashRing {
        guard !self.nodes.isEmpty else {
            throw CacheError(.invalidConfiguration, "the configuration has no Redis nodes, so there is no ring")
        }
        return try CacheRingRouter.makeRing(self)
    }
}

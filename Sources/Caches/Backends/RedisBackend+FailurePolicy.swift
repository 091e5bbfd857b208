import Logging
import Synchronization

// MARK: Failure policies and ejection

extension RedisBackend {
    /// Runs a single-key call under the failure policy: with ``CacheFailurePolicy/miss``, a node failure becomes
    /// `fallback`; anything else is thrown.
    @inline(__always)
    func absorbing<T>(_ fallback: T, _ operation: String, _ body: () async throws(CacheError) -> T) async throws(CacheError) -> T {
        do {
            return try await body()
        } catch {
            guard self.policy == .miss, CacheNodeHealth.isNodeFailure(error) else { throw error }
            self.recordAbsorbed(error, operation: operation)
            return fallback
        }
    }

    /// Logs and counts a node failure that the miss policy absorbed (``CacheMetrics/absorbed``).
    func recordAbsorbed(_ error: CacheError, operation: String) {
        self.absorbedFailures.add(1, ordering: .relaxed)
        if let name = error.node, let node = self.nodes.first(where: { $0.name == name }) {
            node.metrics.recordAbsorbed(operation: operation)
        }
        self.logger.debug(
            "node failure absorbed by the miss policy",
            metadata: ["cache.node": "\(error.node ?? "?")", "cache.operation": "\(operation)", "cache.error": "\(error.code)"]
        )
    }

    @inline(__always)
    func recordSuccess(_ node: CacheNodeClient) {
        if node.health.recordSuccess() {
            node.logger.info("node answers again")
        }
    }

    func recordFailure(_ node: CacheNodeClient, _ error: CacheError) {
        guard CacheNodeHealth.isNodeFailure(error) else { return }
        let failures = node.health.recordFailure()
        if failures == 1 {
            node.logger.info("node failed", metadata: ["cache.error": "\(error.code): \(error.message)"])
        }
        if case .eject(let limit, let retry, _) = self.policy, failures >= limit,
            let index = self.nodes.firstIndex(where: { $0 === node }), self.router.eject(index, for: retry)
        {
            // Its keys are read from other nodes now: what was read from it may differ from what they hold.
            self.nearCache?.removeAll(ofNode: node.nearCacheID)
            node.logger.info("node ejected from the ring", metadata: ["cache.retry": "\(retry)"])
        }
    }

    /// Pings every node once: a node that answers is marked up (and put back into the ring if it was ejected), a
    /// node that does not counts a failure (and may be ejected).
    func checkHealth() async {
        _ = await self.fanOut(self.router.everyNode) { node, _ throws(CacheError) in
            try await node.execute(PingCommand())
            guard let index = self.nodes.firstIndex(where: { $0 === node }) else { return }
            if self.router.journalLimit > 0 {
                if self.router.isEjected(index) { await self.readmit(index, marked: false) }
            } else if self.router.restore(index) {
                node.logger.info("node restored to the ring")
                self.nearCache?.removeAll()
            }
        }
    }

    /// Puts ejected node `index` back into the ring once it answers and its journal is cleaned: the keys written or
    /// deleted through this cache while it was out are unlinked on it (its database is flushed when the journal
    /// overflowed), and the copies other nodes took are unlinked too. A node that does not answer, or whose
    /// cleaning fails, stays out for another retry time.
    ///
    /// - Parameters:
    ///   - index: The node.
    ///   - marked: Whether the router already marked the node as being re-admitted (its retry time came).
    func readmit(_ index: Int, marked: Bool) async {
        guard case .eject(_, let retry, _) = self.policy, marked || self.router.beginReadmission(index) else { return }
        let node = self.nodes[index]
        var taken: CacheRingRouter.EjectionJournal?
        var unlinked = 0
        var flushed = false
        do throws(CacheError) {
            try await node.execute(PingCommand())
            while let journal = self.router.takeJournalOrRestore(index) {
                taken = journal
                if journal.overflowed {
                    try await node.execute(FlushCommand())
                    flushed = true
                } else {
                    try await self.unlink(Array(journal.keys.keys), on: node)
                    unlinked += journal.keys.count
                }
                taken = nil
                // The copies the other nodes took are read no more once the node is back; if one of those nodes
                // is down, its copies stay (until their ttl) and would only be read if this node left again.
                var bySurvivor: [Int: [String]] = [:]
                for (key, survivor) in journal.keys { bySurvivor[survivor, default: []].append(key) }
                for (survivor, keys) in bySurvivor {
                    do {
                        try await self.unlink(keys, on: self.nodes[survivor])
                    } catch {
                        self.nodes[survivor].logger.debug(
                            "could not unlink copies of a re-admitted node's keys",
                            metadata: ["cache.error": "\(error.code)"]
                        )
                    }
                }
            }
            // Its keys are read from it again: entries read from the nodes that stood in for it are stale.
            self.nearCache?.removeAll()
            node.logger.info(
                "node re-admitted to the ring",
                metadata: ["cache.journal.unlinked": "\(unlinked)", "cache.journal.flushed": "\(flushed)"]
            )
        } catch {
            self.router.abortReadmission(index, retry: retry, returning: taken)
            node.logger.info(
                "node stays ejected: re-admission failed",
                metadata: ["cache.error": "\(error.code): \(error.message)", "cache.retry": "\(retry)"]
            )
        }
    }

    /// Unlinks stored keys on one node, a thousand per request.
    private func unlink(_ keys: [String], on node: CacheNodeClient) async throws(CacheError) {
        var start = 0
        while start < keys.count {
            let chunk = Array(keys[start..<min(start + 1000, keys.count)])
            _ = try await node.execute(DeleteManyCommand(keys: chunk, selection: .all(chunk.count)))
            start += chunk.count
        }
    }
}

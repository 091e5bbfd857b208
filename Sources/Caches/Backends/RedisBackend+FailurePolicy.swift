import NIOConcurrencyHelpers
import CacheRing
import Logging
import RESP
import Synchronization

// MARK: Failure policies and ejection

extension RedisBackend {
    /// Applies the ``CacheFailurePolicy/miss`` policy: a node failure becomes `fallback`; anything else is thrown.
    func absorb<T>(_ error: CacheError, as fallback: T, operation: String) throws(CacheError) -> T {
        guard self.policy == .miss, CacheNodeHealth.isNodeFailure(error) else { throw error }
        self.logAbsorbed(error, operation: operation)
        return fallback
    }

    func logAbsorbed(_ error: CacheError, operation: String) {
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
        if case .eject(let limit, let retry) = self.policy, failures >= limit,
            let index = self.nodes.firstIndex(where: { $0 === node })
        {
            self.eject(index, for: retry)
        }
    }

    /// Takes node `index` out of the ring for `retry`: its keys go to the other nodes, placed as twemproxy places
    /// them with the survivors (their point counts recomputed).
    func eject(_ index: Int, for retry: Duration) {
        let ejected: Bool = self.ejection.withLockedValue { state in
            guard state.until[index] == nil else { return false }
            state.until[index] = ContinuousClock.now + retry
            state.ring = self.ring.withLiveNodes(self.nodes.indices.filter { state.until[$0] == nil })
            self.hasEjections.store(true, ordering: .relaxed)
            return true
        }
        if ejected {
            self.nodes[index].logger.info("node ejected from the ring", metadata: ["cache.retry": "\(retry)"])
        }
    }

    /// Puts node `index` back into the ring now (a health check saw it answer).
    func restore(_ index: Int) {
        let restored: Bool = self.ejection.withLockedValue { state in
            guard state.until.removeValue(forKey: index) != nil else { return false }
            self.rebuild(&state)
            return true
        }
        if restored {
            self.nodes[index].logger.info("node restored to the ring")
        }
    }

    /// The ring of live nodes after putting back every node whose retry time has come.
    func restoreDueNodes() -> HashRing? {
        self.ejection.withLockedValue { state in
            let now = ContinuousClock.now
            if state.until.values.contains(where: { $0 <= now }) {
                for (index, deadline) in state.until where deadline <= now {
                    state.until[index] = nil
                    // The node's failure count restarts, so it is ejected again only after `afterFailures` more.
                    _ = self.nodes[index].health.recordSuccess()
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
            state.ring = self.ring.withLiveNodes(self.nodes.indices.filter { state.until[$0] == nil })
        }
    }

    /// Pings every node once: a node that answers is marked up (and put back into the ring if it was ejected), a
    /// node that does not counts a failure (and may be ejected).
    func checkHealth() async {
        await withTaskGroup(of: Void.self) { group in
            for (index, node) in self.nodes.enumerated() {
                group.addTask {
                    do throws(CacheError) {
                        _ = try await node.execute { encoder in
                            encoder.writeArrayHeader(count: 1)
                            encoder.writeBulkString("PING")
                        }
                        self.recordSuccess(node)
                        if self.hasEjections.load(ordering: .relaxed) { self.restore(index) }
                    } catch {
                        self.recordFailure(node, error)
                    }
                }
            }
        }
    }
}

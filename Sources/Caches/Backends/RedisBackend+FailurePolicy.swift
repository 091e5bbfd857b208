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
        if case .eject(let limit, let retry) = self.policy, failures >= limit,
            let index = self.nodes.firstIndex(where: { $0 === node }), self.router.eject(index, for: retry)
        {
            node.logger.info("node ejected from the ring", metadata: ["cache.retry": "\(retry)"])
        }
    }

    /// Pings every node once: a node that answers is marked up (and put back into the ring if it was ejected), a
    /// node that does not counts a failure (and may be ejected).
    func checkHealth() async {
        _ = await self.fanOut(self.router.everyNode) { node, _ throws(CacheError) in
            try await node.execute(PingCommand())
            if let index = self.nodes.firstIndex(where: { $0 === node }), self.router.restore(index) {
                node.logger.info("node restored to the ring")
            }
        }
    }
}

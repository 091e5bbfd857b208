import Logging
import NIOConcurrencyHelpers

// MARK: Topology changes

/// A backend built from a reloaded configuration, and how its nodes differ from the backend it replaces.
struct RedisTopologyChange: CacheBackendReload {
    /// The backend in use until the swap.
    let old: RedisBackend
    /// The new backend.
    let new: RedisBackend
    /// Nodes with a new pool (new nodes, or nodes whose address or settings changed).
    let added: [CacheNodeClient]
    /// Nodes of the old backend that the new one does not use.
    let removed: [CacheNodeClient]
    /// How many nodes kept their pools.
    let kept: Int

    var backend: any CacheBackend { self.new }

    var summary: Logger.Metadata {
        [
            "cache.nodes.added": "\(self.added.map(\.name))",
            "cache.nodes.removed": "\(self.removed.map(\.name))",
            "cache.nodes.kept": "\(self.kept)",
        ]
    }

    func replaces(_ backend: any CacheBackend) -> Bool {
        (backend as? RedisBackend) === self.old
    }

    /// Opens the new nodes' minimum connections; a node that cannot be reached keeps retrying in its pool.
    func start() async {
        self.new.attachHooks()
        await withTaskGroup(of: Void.self) { group in
            for node in self.added {
                group.addTask {
                    if let error = await node.start() {
                        node.logger.debug("new node unreachable at reload", metadata: ["cache.error": "\(error.message)"])
                    }
                }
            }
        }
    }

    /// Closes the new nodes of a change that was not applied.
    func abandon() async {
        self.new.detachHooks()
        await withTaskGroup(of: Void.self) { group in
            for node in self.added {
                group.addTask { await node.shutdown(gracePeriod: .zero) }
            }
        }
    }

    func retireOld() async {
        await self.old.retire(self)
    }
}

extension RedisBackend {
    func prepareReload(to configuration: CacheConfiguration) throws -> (any CacheBackendReload)? {
        try self.successor(for: configuration)
    }

    /// Builds the backend of a reloaded configuration: nodes with an unchanged key keep their clients (and so
    /// their pools and connections), the others get new ones.
    ///
    /// - Throws: ``CacheError`` when the ring or a TLS context cannot be built.
    func successor(for configuration: CacheConfiguration) throws -> RedisTopologyChange {
        var existing: [NodeKey: CacheNodeClient] = [:]
        for (key, node) in zip(self.nodeKeys, self.nodes) { existing[key] = node }
        let backend = try RedisBackend(
            configuration: configuration,
            logger: self.logger,
            tracer: self.tracer,
            nearCache: self.nearCache,
            reusing: existing
        )
        let old = Set(self.nodes.map(ObjectIdentifier.init))
        let new = Set(backend.nodes.map(ObjectIdentifier.init))
        return RedisTopologyChange(
            old: self,
            new: backend,
            added: backend.nodes.filter { !old.contains(ObjectIdentifier($0)) },
            removed: self.nodes.filter { !new.contains(ObjectIdentifier($0)) },
            kept: backend.nodes.count { old.contains(ObjectIdentifier($0)) }
        )
    }

    /// Marks this backend as replaced by `change`, then lets the removed nodes finish their in-flight commands
    /// (bounded by the grace period) and closes them.
    func retire(_ change: RedisTopologyChange) async {
        self.successor.withLockedValue { $0 = change.new }
        self.detachHooks()
        // After the swap and after this backend stops filling it: keys may live on other nodes now, and an entry
        // read from its old node would not see the new node's invalidations.
        self.nearCache?.removeAll()
        await withTaskGroup(of: Void.self) { group in
            for node in change.removed {
                group.addTask { await node.shutdown(gracePeriod: self.gracePeriod) }
            }
        }
    }

    /// The backend to resend a call to when it failed on `node` because a reload removed that node: its pool is
    /// shut down (nothing was sent) or its connection closed.
    func rerouted(after error: CacheError, on node: CacheNodeClient) -> RedisBackend? {
        guard error.code == .poolShutdown || error.code == .connectionClosed else { return nil }
        guard let next = self.successor.withLockedValue({ $0 }) else { return nil }
        return next.nodes.contains(where: { $0 === node }) ? nil : next
    }

    /// The backend to resend a many-key call to, when one of its nodes failed because a reload removed it.
    func rerouted<Value: Sendable>(_ results: [NodeResult<Value>]) -> RedisBackend? {
        for result in results {
            if case .failure(let error) = result.result, let next = self.rerouted(after: error, on: result.node) {
                return next
            }
        }
        return nil
    }
}

/// A local Redis Cluster for tests: `redis-server --cluster-enabled yes` processes on loopback, joined by
/// `redis-cli --cluster create … --cluster-replicas N --cluster-yes`.
public struct RedisCluster: Sendable {
    /// Every node, in start order (`redis-cli` makes the first `primaries` of them primaries).
    public let nodes: [RedisServer]

    /// Starts `primaries × (1 + replicasPerPrimary)` nodes, creates the cluster and waits until every node reports
    /// `cluster_state:ok` with all slots assigned and every node known. A cluster of one primary without replicas
    /// is one node given every slot (`CLUSTER ADDSLOTSRANGE`): it never meets a peer, so it does not know its own
    /// address.
    ///
    /// - Parameters:
    ///   - primaries: How many primaries: 1 without replicas, else at least 3 (as `redis-cli --cluster create`
    ///     requires).
    ///   - replicasPerPrimary: How many replicas each primary gets.
    /// - Returns: The running cluster.
    /// - Throws: ``RedisServerError`` `.toolNotFound` without `redis-server` or `redis-cli` (run `make deps`),
    ///   `.processFailed` when the cluster cannot be created, `.timedOut` when it does not settle.
    public static func start(primaries: Int = 3, replicasPerPrimary: Int = 1) async throws -> RedisCluster {
        let alone = primaries == 1 && replicasPerPrimary == 0
        precondition(alone || primaries >= 3, "redis-cli --cluster create needs at least 3 primaries")
        var nodes: [RedisServer] = []
        do {
            for _ in 0..<(primaries * (1 + replicasPerPrimary)) {
                // The cluster bus gets a port of its own: the default (port + 10000) may be taken or out of range.
                let busPort = try Loopback.freePort()
                nodes.append(
                    try await RedisServer.start(
                        extraArguments: [
                            "--cluster-enabled", "yes", "--cluster-port", String(busPort),
                            "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
                            // A dead primary leaves the other slots served (the default stops the whole cluster).
                            "--cluster-require-full-coverage", "no",
                        ],
                        allowExternal: false
                    )
                )
            }
            let cluster = RedisCluster(nodes: nodes)
            if alone {
                _ = try await nodes[0].cli("CLUSTER", "ADDSLOTSRANGE", "0", "16383")
            } else {
                _ = try await nodes[0].cli(
                    arguments: ["--cluster", "create"] + nodes.map(\.address)
                        + ["--cluster-replicas", String(replicasPerPrimary), "--cluster-yes"],
                    timeout: .seconds(60)
                )
            }
            try await cluster.waitUntilSettled()
            return cluster
        } catch {
            for node in nodes { await node.stop() }
            throw error
        }
    }

    /// Waits until every running node reports `cluster_state:ok`, all 16384 slots assigned and every node known.
    ///
    /// - Parameter timeout: How long to wait.
    /// - Throws: ``RedisServerError`` `.timedOut` with the last `CLUSTER INFO` that was not settled.
    public func waitUntilSettled(timeout: Duration = .seconds(30)) async throws {
        let running = self.nodes.filter(\.isRunning)
        var last = ""
        do {
            try await waitUntil(timeout: timeout, "the cluster to settle") {
                for node in running {
                    let info = try await node.cli("CLUSTER", "INFO")
                    guard info.contains("cluster_state:ok"), info.contains("cluster_slots_assigned:16384"),
                        info.contains("cluster_known_nodes:\(self.nodes.count)")
                    else {
                        last = "\(node.address): \(info)"
                        return false
                    }
                }
                return true
            }
        } catch {
            throw RedisServerError(.timedOut, "the cluster did not settle within \(timeout); last CLUSTER INFO: \(last)")
        }
    }

    /// Stops every node.
    public func stop() async {
        for node in self.nodes { await node.stop() }
    }

    /// Starts a cluster, runs `body` with it and stops it afterwards, also when `body` throws.
    ///
    /// - Parameters:
    ///   - primaries: How many primaries.
    ///   - replicasPerPrimary: How many replicas each primary gets.
    ///   - isolation: The caller's actor isolation.
    ///   - body: The work to do with the cluster.
    /// - Returns: What `body` returns.
    /// - Throws: The error of ``start(primaries:replicasPerPrimary:)`` or of `body`.
    public static func withCluster<T>(
        primaries: Int = 3,
        replicasPerPrimary: Int = 1,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisCluster) async throws -> T
    ) async throws -> T {
        let cluster = try await Self.start(primaries: primaries, replicasPerPrimary: replicasPerPrimary)
        do {
            let result = try await body(cluster)
            await cluster.stop()
            return result
        } catch {
            await cluster.stop()
            throw error
        }
    }
}

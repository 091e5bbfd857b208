import ArgumentParser
import Caches

/// `caches health`: each node's PING latency, key count and pool state.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Check every node: PING latency, keys, pool state. Exits 3 when a node is down.",
        discussion: "Examples:\n  caches health\n  caches health --config config/tls.yaml --json"
    )

    @OptionGroup var options: CacheOptions

    /// On a Redis Cluster every primary and replica of the slot map is checked, and a last line counts the slots
    /// that a primary that answered serves.
    func run() async throws {
        let cache = try await self.options.makeCache()
        do {
            try await cache.connect()
        } catch let error as CacheError where CLIExitCode.code(for: error) == CLIExitCode.node {
            // No node status without a connected cache: report every node with the connect error.
            self.printUnreachable(cache.configuration.nodes, error)
            throw CLIExitCode.node
        }
        let statuses = try await cache.nodeStatus()
        try await cache.disconnect()
        if self.options.json {
            CLIJSON.print(
                .array(
                    statuses.map { status in
                        [
                            "node": .string(status.name), "address": .string(status.address), "weight": .int(Int(status.weight)),
                            "healthy": .bool(status.isHealthy),
                            "latencyMicroseconds": status.latency.map { CLIJSON.number(microseconds($0)) } ?? .null,
                            "keys": status.keyCount.map { .int($0) } ?? .null,
                            "openConnections": .int(status.openConnections), "inFlightRequests": .int(status.inFlightRequests),
                            "waitingRequests": .int(status.waitingRequests),
                            "tracking": status.tracking.map { .string($0) } ?? .null,
                            "nearCacheEntries": status.nearCacheEntries.map { .int($0) } ?? .null,
                            "clusterRole": status.clusterRole.map { .string($0) } ?? .null,
                            "clusterSlots": status.clusterSlots.map { .int($0) } ?? .null,
                            "error": status.error.map { .string("\($0.code): \($0.message)") } ?? .null,
                        ]
                    }
                )
            )
        } else {
            for status in statuses { print(status) }
            if statuses.contains(where: { $0.clusterRole != nil }) {
                let primaries = statuses.filter { $0.clusterRole == "primary" }
                let covered = primaries.filter(\.isHealthy).reduce(0) { $0 + ($1.clusterSlots ?? 0) }
                print(
                    "cluster: \(primaries.count) primaries, \(statuses.count - primaries.count) replicas, "
                        + "\(covered) of 16384 slots served by a primary that answered"
                )
            }
        }
        if statuses.contains(where: { !$0.isHealthy }) { throw CLIExitCode.node }
    }

    private func printUnreachable(_ nodes: [CacheNodeConfiguration], _ error: CacheError) {
        if self.options.json {
            CLIJSON.print(
                .array(
                    nodes.map { node in
                        [
                            "node": .string(node.ketamaName), "address": .string("\(node.host):\(node.port)"),
                            "weight": .int(Int(node.weight)), "healthy": false, "latencyMicroseconds": .null, "keys": .null,
                            "openConnections": 0, "inFlightRequests": 0, "waitingRequests": 0,
                            "error": .string("\(error.code): \(error.message)"),
                        ]
                    }
                )
            )
        } else {
            for node in nodes { print("\(node.ketamaName) (\(node.host):\(node.port)): DOWN: \(error.message)") }
        }
    }
}

/// A duration in microseconds.
func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
}

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

    func run() async throws {
        let statuses = try await self.options.withCache { cache in try await cache.nodeStatus() }
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
                            "error": status.error.map { .string("\($0.code): \($0.message)") } ?? .null,
                        ]
                    }
                )
            )
        } else {
            for status in statuses { print(status) }
        }
        if statuses.contains(where: { !$0.isHealthy }) { throw CLIExitCode.node }
    }
}

/// A duration in microseconds.
func microseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
}

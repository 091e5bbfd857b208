import ArgumentParser
import Caches

/// `caches health`: each node's PING latency, key count and pool state.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Check every node: PING latency, keys, pool state. Exits 1 when a node is down."
    )

    @OptionGroup var options: CacheOptions

    func run() async throws {
        let cache = try self.options.makeCache()
        try await cache.connect()
        let statuses = try await cache.nodeStatus()
        try await cache.disconnect()
        for status in statuses { print(status) }
        if statuses.contains(where: { !$0.isHealthy }) { throw ExitCode(1) }
    }
}

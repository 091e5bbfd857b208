import Foundation
import Synchronization

/// The nodes named by `CACHE_TEST_NODES` (comma-separated `host:port`), handed out round-robin.
struct ExternalNodes: Sendable {
    /// The environment variable that names servers which already run.
    static let variable = "CACHE_TEST_NODES"

    private static let cursor = Atomic<Int>(0)

    /// The configured nodes, in order.
    let nodes: [RedisServer]

    /// Reads `CACHE_TEST_NODES`.
    ///
    /// - Returns: The nodes, or `nil` if the variable is unset or empty.
    /// - Throws: ``RedisServerError`` `.invalidConfiguration` if an entry is not `host:port`.
    static func configured() throws -> ExternalNodes? {
        guard let value = ProcessInfo.processInfo.environment[Self.variable] else { return nil }
        return try Self.parse(value)
    }

    /// Parses a `host:port,host:port` list.
    ///
    /// - Parameter value: The list.
    /// - Returns: The nodes, or `nil` if the list is blank.
    /// - Throws: ``RedisServerError`` `.invalidConfiguration` if an entry is not `host:port`.
    static func parse(_ value: String) throws -> ExternalNodes? {
        let entries = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !entries.isEmpty else { return nil }
        let nodes = try entries.map { entry -> RedisServer in
            guard let colon = entry.lastIndex(of: ":"),
                let port = Int(entry[entry.index(after: colon)...]), (1...65535).contains(port),
                colon != entry.startIndex
            else {
                throw RedisServerError(.invalidConfiguration, "\(Self.variable) entry '\(entry)' is not host:port")
            }
            return RedisServer.external(host: String(entry[..<colon]), port: port)
        }
        return ExternalNodes(nodes: nodes)
    }

    /// The next node, round-robin across calls.
    func next() -> RedisServer {
        let index = Self.cursor.wrappingAdd(1, ordering: .relaxed).oldValue
        return self.nodes[index % self.nodes.count]
    }
}

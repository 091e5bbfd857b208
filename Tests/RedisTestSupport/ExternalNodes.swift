import Foundation
import Synchronization

/// The nodes named by `CACHE_TEST_NODES` (comma-separated `host:port`), handed out round-robin.
struct ExternalNodes: Sendable {
    /// The environment variable that names servers which already run.
    static let variable = "CACHE_TEST_NODES"

    /// The round-robin position, shared by the copies of one parsed list.
    private final class Cursor: Sendable {
        let position = Atomic<Int>(0)
    }

    /// `CACHE_TEST_NODES`, parsed once per process so round-robin spans every ``RedisServer/start(password:aclUser:tls:extraArguments:allowExternal:)``.
    private static let fromEnvironment: Result<ExternalNodes?, any Error> = Result {
        guard let value = ProcessInfo.processInfo.environment[Self.variable] else { return nil }
        return try Self.parse(value)
    }

    /// The configured nodes, in order.
    let nodes: [RedisServer]
    private let cursor = Cursor()

    /// Reads `CACHE_TEST_NODES`.
    ///
    /// - Returns: The nodes, or `nil` if the variable is unset or empty.
    /// - Throws: ``RedisServerError`` `.invalidConfiguration` if an entry is not `host:port`.
    static func configured() throws -> ExternalNodes? {
        try Self.fromEnvironment.get()
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
        let index = self.cursor.position.wrappingAdd(1, ordering: .relaxed).oldValue
        return self.nodes[index % self.nodes.count]
    }
}

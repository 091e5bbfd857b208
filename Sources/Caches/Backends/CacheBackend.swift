import NIOCore

/// What ``Cache`` needs from a store. Keys are full stored keys (`prefix:version:key`); values are JSON bytes.
///
/// Backends throw ``CacheError`` only, with the node filled in where there is one; ``Cache`` adds the logical key.
/// One node's part of a many-key call that failed: the node, the indices of its keys in the call, the error.
typealias CacheBackendFailure = (node: String, indices: [Int], error: CacheError)

protocol CacheBackend: Sendable {
    /// Opens connections (or the in-memory store).
    func connect() async throws
    /// Lets in-flight work finish (bounded), then closes everything.
    func disconnect() async
    /// The stored bytes, or nil when the key is missing or expired.
    func get(_ key: String) async throws -> ByteBuffer?
    /// Stores bytes, with a ttl in whole seconds or none.
    func set(_ key: String, value: ByteBuffer, ttl: Int?) async throws
    /// Stores bytes only if the key is missing; returns whether it stored them.
    func add(_ key: String, value: ByteBuffer, ttl: Int?) async throws -> Bool
    /// The stored bytes of every key, in the order given (nil for missing), and the nodes that failed.
    /// `keys` has no duplicates.
    func getMany(_ keys: [String]) async throws -> (values: [ByteBuffer?], failures: [CacheBackendFailure])
    /// Stores every pair; with a ttl, every key gets it. Returns the nodes that failed.
    func setMany(_ entries: [(key: String, value: ByteBuffer)], ttl: Int?) async throws -> [CacheBackendFailure]
    /// Removes a key; a missing key is fine.
    func delete(_ key: String) async throws
    /// Removes keys; missing keys are fine. Returns the nodes that failed.
    func deleteMany(_ keys: [String]) async throws -> [CacheBackendFailure]
    /// Removes every key of the store (the whole Redis database of every node).
    func clear() async throws
    /// Sets the ttl (nil: no expiry); returns false when the key is missing.
    func touch(_ key: String, ttl: Int?) async throws -> Bool
    /// The remaining ttl in whole seconds, as Redis's `TTL`: -2 when the key is missing, -1 when it never expires.
    func remainingTTL(_ key: String) async throws -> Int
    /// Adds an integer; a missing key starts at 0. Keeps the ttl.
    func increment(_ key: String, by delta: Int) async throws -> Int
    /// Adds a float; a missing key starts at 0. Keeps the ttl.
    func increment(_ key: String, byFloat delta: Double) async throws -> Double
    /// The name of the node that holds the key, or nil for embedded backends.
    func nodeName(forKey key: String) -> String?
    /// Each node's health.
    func nodeStatus() async -> [CacheNodeStatus]
}

extension CacheBackend {
    func nodeName(forKey key: String) -> String? { nil }

    func nodeStatus() async -> [CacheNodeStatus] {
        [CacheNodeStatus(name: "local", address: "embedded", weight: 1, latency: .zero, keyCount: nil, error: nil, openConnections: 0, inFlightRequests: 0, waitingRequests: 0)]
    }
}

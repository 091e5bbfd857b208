import Logging
import NIOCore

/// One node's part of a many-key call that failed: the node, the positions of its keys in the call, the error.
typealias CacheBackendFailure = (node: String, indices: [Int], error: CacheError)

/// What ``Cache`` needs from a store. Keys are full stored keys (`prefix:version:key`); values are JSON bytes.
///
/// Backends throw ``CacheError`` only, with the node filled in where there is one; ``Cache`` adds the logical key.
/// Many-key calls accept duplicate keys (a duplicate costs one more key in the request, nothing more).
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
    /// Reads every key and calls `body` with each key's position in `keys` and its bytes (nil when missing), for
    /// every key whose node answered, straight from the node's reply. Returns the nodes that failed.
    func getMany(_ keys: CacheKeys, _ body: (Int, ByteBuffer?) throws -> Void) async throws -> [CacheBackendFailure]
    /// Stores every pair (a later pair for the same key wins); with a ttl, every key gets it. Returns the nodes that
    /// failed.
    func setMany(_ entries: [(key: String, value: ByteBuffer)], ttl: Int?) async throws -> [CacheBackendFailure]
    /// Removes a key; a missing key is fine.
    func delete(_ key: String) async throws
    /// Removes keys; missing keys are fine. Returns the nodes that failed.
    func deleteMany(_ keys: [String]) async throws -> [CacheBackendFailure]
    /// Removes every key of the store (the whole Redis database of every node).
    func clear() async throws
    /// Removes every key of the store and returns how many there were (on Redis, `DBSIZE` and `FLUSHDB ASYNC` in
    /// one `MULTI`/`EXEC` per node).
    func clearCounting() async throws -> Int
    /// Removes the keys that start with `prefix:` on every node (`SCAN MATCH`, `UNLINK` in batches) and returns how
    /// many it removed. `prefix` is not empty.
    func clear(keyPrefix prefix: String) async throws -> Int
    /// Takes a short-lived lock on the node of `key`: stores `token` under `lockKey` if it is missing, expiring after
    /// `milliseconds` (`SET lockKey token PX ms NX`). Returns whether it took the lock.
    func lock(_ lockKey: String, nodeOf key: String, token: String, milliseconds: Int) async throws -> Bool
    /// Releases a lock taken with `token`, only while `token` still holds it (compare-and-delete).
    func unlock(_ lockKey: String, nodeOf key: String, token: String) async throws
    /// Sets the ttl (nil: no expiry); returns false when the key is missing.
    func touch(_ key: String, ttl: Int?) async throws -> Bool
    /// The remaining ttl in whole seconds, as Redis's `TTL`: -2 when the key is missing, -1 when it never expires.
    func remainingTTL(_ key: String) async throws -> Int
    /// The stored bytes (nil when missing) and their remaining ttl in milliseconds, as Redis's `PTTL` (-2 missing,
    /// -1 no expiry), read together (atomically on Redis, in one round trip).
    func getWithRemainingTTL(_ key: String) async throws -> (value: ByteBuffer?, milliseconds: Int)
    /// Adds an integer; a missing key starts at 0. Keeps the ttl.
    func increment(_ key: String, by delta: Int) async throws -> Int
    /// Adds a float; a missing key starts at 0. Keeps the ttl.
    func increment(_ key: String, byFloat delta: Double) async throws -> Double
    /// The name of the node that holds the key, or nil for embedded backends.
    func nodeName(forKey key: String) -> String?
    /// Each node's health.
    func nodeStatus() async -> [CacheNodeStatus]
    /// Pings every node once, for the failure policy (a node that answers is put back into the ring).
    func checkHealth() async
    /// Records every node's pool gauges.
    func recordPoolMetrics()
    /// Node failures the miss policy absorbed since this backend was made.
    var absorbedFailureCount: Int { get }
    /// Prepares the switch to a changed configuration without applying it; nil when the backend has no topology
    /// (the embedded backends), so the configuration takes effect at the next ``connect()``.
    ///
    /// - Throws: ``CacheError`` when the new ring or a TLS context cannot be built.
    func prepareReload(to configuration: CacheConfiguration) throws -> (any CacheBackendReload)?
}

/// A prepared topology change (``CacheBackend/prepareReload(to:)``): the new backend, and what to do around the
/// swap.
protocol CacheBackendReload: Sendable {
    /// The backend to swap in.
    var backend: any CacheBackend { get }
    /// What the change adds, removes and keeps, for the log.
    var summary: Logger.Metadata { get }
    /// Whether `backend` is the one this change replaces (it is still the one in use).
    func replaces(_ backend: any CacheBackend) -> Bool
    /// Opens what the new backend adds, before the swap.
    func start() async
    /// Closes what the new backend added, when the swap did not happen.
    func abandon() async
    /// After the swap: sends calls that still reach the old backend to the new one, then closes what the new one
    /// does not use (in-flight work finishes first, bounded by the grace period).
    func retireOld() async
}

extension CacheBackend {
    func nodeName(forKey key: String) -> String? { nil }

    func nodeStatus() async -> [CacheNodeStatus] {
        [
            CacheNodeStatus(
                name: "local",
                address: "embedded",
                weight: 1,
                latency: .zero,
                keyCount: nil,
                error: nil,
                openConnections: 0,
                inFlightRequests: 0,
                waitingRequests: 0
            )
        ]
    }

    func checkHealth() async {}

    func recordPoolMetrics() {}

    var absorbedFailureCount: Int { 0 }

    func prepareReload(to configuration: CacheConfiguration) throws -> (any CacheBackendReload)? { nil }
}

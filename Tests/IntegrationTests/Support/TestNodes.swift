import Caches
import Foundation
import RedisTestSupport
import Synchronization

/// The backends the shared suite runs against.
enum BackendKind: String, CaseIterable, Sendable, CustomStringConvertible {
    /// The in-memory store.
    case memory
    /// One real Redis node.
    case redis
    /// Three real Redis nodes behind the ketama ring, weights 1, 2, 1.
    case ring
    /// Three TLS-only Redis nodes behind the ketama ring, weights 1, 2, 1, verified against the test CA.
    case tlsRing
    /// The plaintext ring with a near cache (RESP3, client tracking) in front of it.
    case nearRing
    /// A Redis Cluster of three primaries (`redis-cluster://`); it has one database, so its tests share it (the
    /// integration tests run one at a time, and each clears what it wrote).
    case cluster

    /// Every backend that stores values (all but dummy).
    static let storing: [BackendKind] = [.memory, .redis, .ring, .tlsRing, .nearRing, .cluster]

    var description: String { self.rawValue }
}

/// Real loopback Redis nodes shared by the whole test process. Each test gets a database of its own, so tests
/// that run in parallel (and `clear()`) never see each other's keys.
actor TestNodes {
    static let shared = TestNodes()

    private var plain: Task<[RedisServer], any Error>?
    private var tls: Task<(TestCertificates, [RedisServer]), any Error>?
    private var cluster: Task<RedisCluster, any Error>?
    private var nextDatabase = 0
    static let databases = 2048

    /// The three plaintext nodes, started on first use.
    func plainNodes() async throws -> [RedisServer] {
        if let plain = self.plain { return try await plain.value }
        // One start for all callers: the actor is re-entered while the servers start.
        let starting = Task {
            var servers: [RedisServer] = []
            for _ in 0..<3 {
                servers.append(try await RedisServer.start(extraArguments: ["--databases", "\(Self.databases)"]))
            }
            return servers
        }
        self.plain = starting
        return try await starting.value
    }

    /// The certificates of the TLS nodes (made on first use, kept until the process exits).
    func certificates() async throws -> TestCertificates {
        try await self.tlsSetup().0
    }

    /// The three TLS-only nodes (no plaintext port; `--tls-auth-clients no`), started on first use. Their server
    /// certificate is ``TestCertificates/serverCertificate`` (`localhost`, `127.0.0.1`), signed by the test CA.
    func tlsNodes() async throws -> [RedisServer] {
        try await self.tlsSetup().1
    }

    private func tlsSetup() async throws -> (TestCertificates, [RedisServer]) {
        if let tls = self.tls { return try await tls.value }
        // One start for all callers, as for the plaintext nodes.
        let starting = Task {
            let certificates = try await TestCertificates.generate()
            let files = RedisServer.TLSFiles(
                certFile: certificates.serverCertificate,
                keyFile: certificates.serverKey,
                caFile: certificates.caCertificate
            )
            var servers: [RedisServer] = []
            for _ in 0..<3 {
                servers.append(try await RedisServer.start(tls: files, extraArguments: ["--databases", "\(Self.databases)"]))
            }
            return (certificates, servers)
        }
        self.tls = starting
        return try await starting.value
    }

    /// The cluster of three primaries (no replicas), created on first use.
    func clusterNodes() async throws -> RedisCluster {
        if let cluster = self.cluster { return try await cluster.value }
        let starting = Task { try await RedisCluster.start(primaries: 3, replicasPerPrimary: 0) }
        self.cluster = starting
        return try await starting.value
    }

    /// A database number no other test uses.
    func database() -> Int {
        self.nextDatabase += 1
        precondition(self.nextDatabase < Self.databases, "more tests than databases: raise TestNodes.databases")
        return self.nextDatabase
    }

    /// The URL of a fresh cache of `kind` (its own database, or its own memory store).
    func url(for kind: BackendKind) async throws -> String {
        switch kind {
        case .memory:
            return "memory://test-\(UUID().uuidString)"
        case .redis:
            let node = try await self.plainNodes()[0]
            return "redis://\(node.host):\(node.port)/\(self.database())"
        case .ring:
            let nodes = try await self.plainNodes()
            return RedisServer.cacheURL(nodes, database: self.database(), options: ["weights=1,2,1", "names=node-a,node-b,node-c"])
        case .nearRing:
            let nodes = try await self.plainNodes()
            return RedisServer.cacheURL(
                nodes,
                database: self.database(),
                options: ["weights=1,2,1", "names=node-a,node-b,node-c", "near_cache=1000"]
            )
        case .cluster:
            let nodes = try await self.clusterNodes().nodes
            return "redis-cluster://" + nodes.map(\.address).joined(separator: ",")
        case .tlsRing:
            let (certificates, nodes) = try await self.tlsSetup()
            return RedisServer.cacheURL(
                nodes,
                database: self.database(),
                tls: true,
                options: ["tls_ca_file=\(certificates.caCertificate)", "weights=1,2,1"]
            )
        }
    }
}

/// Creates a connected cache of `kind`, runs `body`, then clears and disconnects it.
func withCache(
    _ kind: BackendKind,
    ttl: Int? = nil,
    version: CacheVersion? = nil,
    keyPrefix: String? = nil,
    _ body: (Cache) async throws -> Void
) async throws {
    let url = try await TestNodes.shared.url(for: kind)
    let cache = try Cache(url: url, ttl: ttl, version: version, keyPrefix: keyPrefix)
    try await cache.connect()
    do {
        try await body(cache)
    } catch {
        try? await cache.clear()
        try? await cache.disconnect()
        throw error
    }
    try await cache.clear()
    try await cache.disconnect()
}

/// Waits until every key in `keys` has expired: polls ``Cache/remainingTTL(_:version:)`` (Redis's `TTL`) until
/// the key is gone, so the test goes on as soon as the backend expires it, and a key that never expires fails the
/// test (the wait is bounded by a few times the ttl).
func waitUntilExpired(_ keys: String..., in cache: Cache, ttlSeconds: Int = 1) async throws {
    try await waitUntil(timeout: .seconds(ttlSeconds * 5 + 5), "\(keys) to expire") {
        for key in keys {
            if try await cache.remainingTTL(key) != -2 { return false }
        }
        return true
    }
}

/// Waits until a ttl of `seconds` has certainly run out, for the tests that check that a key did NOT expire: only
/// time can show that.
func waitForExpiry(ofSeconds seconds: Int) async throws {
    try await Task.sleep(for: .milliseconds(seconds * 1000 + 300))
}

import NIOCore

/// Stores nothing: every read misses, `add` and `touch` return false, `incr` returns the delta.
struct DummyBackend: CacheBackend {
    func connect() async throws {}
    func disconnect() async {}
    func get(_ key: String) async throws -> ByteBuffer? { nil }
    func set(_ key: String, value: ByteBuffer, ttl: Int?) async throws {}
    func add(_ key: String, value: ByteBuffer, ttl: Int?) async throws -> Bool { false }
    func getMany(_ keys: CacheKeys, _ body: (Int, ByteBuffer?) throws -> Void) async throws -> [CacheBackendFailure] {
        for index in 0..<keys.count { try body(index, nil) }
        return []
    }
    func setMany(_ entries: [(key: String, value: ByteBuffer)], ttl: Int?) async throws -> [CacheBackendFailure] { [] }
    func delete(_ key: String) async throws {}
    func deleteMany(_ keys: [String]) async throws -> [CacheBackendFailure] { [] }
    func clear() async throws {}
    func clearCounting() async throws -> Int { 0 }
    func clear(keyPrefix prefix: String) async throws -> Int { 0 }
    func lock(_ lockKey: String, nodeOf key: String, token: String, milliseconds: Int) async throws -> Bool { true }
    func unlock(_ lockKey: String, nodeOf key: String, token: String) async throws {}
    func touch(_ key: String, ttl: Int?) async throws -> Bool { false }
    func remainingTTL(_ key: String) async throws -> Int { -2 }
    func getWithRemainingTTL(_ key: String) async throws -> (value: ByteBuffer?, milliseconds: Int) { (nil, -2) }
    func increment(_ key: String, by delta: Int) async throws -> Int { delta }
    func increment(_ key: String, byFloat delta: Double) async throws -> Double { delta }
}

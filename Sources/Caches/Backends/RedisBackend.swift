import Logging
import NIOCore

/// Redis nodes behind a ketama ring. (Being written.)
struct RedisBackend: CacheBackend {
    init(configuration: CacheConfiguration, logger: Logger) throws {
        throw CacheError(.invalidConfiguration, "redis backend not built yet")
    }
    func connect() async throws {}
    func disconnect() async {}
    func get(_ key: String) async throws -> ByteBuffer? { nil }
    func set(_ key: String, value: ByteBuffer, ttl: Int?) async throws {}
    func add(_ key: String, value: ByteBuffer, ttl: Int?) async throws -> Bool { false }
    func getMany(_ keys: [String]) async throws -> [ByteBuffer?] { [] }
    func setMany(_ entries: [(key: String, value: ByteBuffer)], ttl: Int?) async throws {}
    func delete(_ key: String) async throws {}
    func deleteMany(_ keys: [String]) async throws {}
    func clear() async throws {}
    func touch(_ key: String, ttl: Int?) async throws -> Bool { false }
    func increment(_ key: String, by delta: Int) async throws -> Int { 0 }
    func increment(_ key: String, byFloat delta: Double) async throws -> Double { 0 }
}

import Caches
import Testing

/// The seed's `tests/test_cache.py` (keys, ttls, URL options against arguments) and construction rules.
@Suite struct CacheTests {
    @Test func keyIncludesPrefixVersionAndKey() throws {
        let cache = try Cache(url: "dummy://null")
        #expect(cache.makeKey("test") == "::test")
        #expect(try Cache(url: "dummy://", keyPrefix: "prod").makeKey("test") == "prod::test")
        #expect(try Cache(url: "dummy://", version: "beta").makeKey("test") == ":beta:test")
        #expect(try Cache(url: "dummy://", version: "beta").makeKey("test", version: "custom") == ":custom:test")
        #expect(try Cache(url: "dummy://", version: "2019", keyPrefix: "prod").makeKey("test") == "prod:2019:test")
        #expect(try Cache(url: "dummy://", version: 7).makeKey("k") == ":7:k")
    }

    @Test func versionTruthinessFollowsTheSeed() throws {
        let cache = try Cache(url: "dummy://", version: 5)
        #expect(cache.makeKey("k", version: 0) == ":5:k", "integer 0 falls back to the default")
        #expect(cache.makeKey("k", version: "") == ":5:k", "empty string falls back to the default")
        #expect(cache.makeKey("k", version: "0") == ":0:k", "the string \"0\" is a version")
        #expect(try Cache(url: "dummy://", version: 0).makeKey("k") == "::k")
    }

    @Test func urlOptionsAndArgumentsBeatThem() throws {
        #expect(try Cache(url: "dummy://?key_prefix=prod").makeKey("test") == "prod::test")
        #expect(try Cache(url: "dummy://?key_prefix=prod", keyPrefix: "beta").makeKey("test") == "beta::test")
        #expect(try Cache(url: "dummy://?version=2019").makeKey("test") == ":2019:test")
        #expect(try Cache(url: "dummy://?version=2019", version: "2020").makeKey("test") == ":2020:test")
        #expect(try Cache(url: "dummy://?version=2019", version: 0).makeKey("test") == ":2019:test")
    }

    @Test func ttlDefaults() throws {
        #expect(try Cache(url: "dummy://").makeTTL() == nil)
        #expect(try Cache(url: "dummy://").makeTTL(100) == 100)
        #expect(try Cache(url: "dummy://", ttl: 600).makeTTL() == 600)
        #expect(try Cache(url: "dummy://?ttl=600").makeTTL() == 600)
        #expect(try Cache(url: "dummy://?ttl=600", ttl: 30).makeTTL() == 30)
        #expect(try Cache(url: "dummy://", ttl: 600).makeTTL(120) == 120)
    }

    @Test(arguments: ["dummy://?ttl=0", "dummy://?ttl=-5"])
    func zeroOrNegativeDefaultTTLIsAnError(url: String) throws {
        let error = #expect(throws: CacheError.self) { try Cache(url: url) }
        #expect(error?.code == .invalidArgument)
        let argument = #expect(throws: CacheError.self) { try Cache(url: "dummy://", ttl: 0) }
        #expect(argument?.code == .invalidArgument)
    }

    @Test func zeroPerCallTTLIsAnError() throws {
        let cache = try Cache(url: "dummy://")
        for ttl in [0, -1] {
            let error = #expect(throws: CacheError.self) { try cache.makeTTL(ttl) }
            #expect(error?.code == .invalidArgument)
        }
    }

    @Test(arguments: ["ftp://x", "unix:///tmp/redis.sock", "redis://h?ttl=abc", "redis://h?bogus=1", "nonsense"])
    func badURLsAreRejected(url: String) {
        let error = #expect(throws: CacheError.self) { try Cache(url: url) }
        #expect(error?.code == .invalidURL || error?.code == .invalidArgument)
    }

    @Test func redisURLBecomesNodes() throws {
        let configuration = try CacheConfiguration(url: CacheURL("redis://:pw@a:7001,b/3?weights=1,2&names=x,y&minsize=2&maxsize=4&timeout=0.5"))
        #expect(configuration.nodes.map(\.ketamaName) == ["x", "y"])
        #expect(configuration.nodes.map(\.weight) == [1, 2])
        #expect(configuration.nodes.map(\.port) == [7001, 6379])
        #expect(configuration.nodes.allSatisfy { $0.database == 3 && $0.password == "pw" })
        #expect(configuration.pool.minimumConnections == 2)
        #expect(configuration.pool.maximumConnections == 4)
        #expect(configuration.commandTimeout == .milliseconds(500))
        #expect(!configuration.nodes[0].description.contains("pw"))
    }

    @Test func poolSizesCanBeSetInURLOrArguments() throws {
        #expect(try Cache(url: "redis://h?minsize=2").configuration.pool.minimumConnections == 2)
        #expect(try Cache(url: "redis://h", minConnections: 2).configuration.pool.minimumConnections == 2)
        #expect(try Cache(url: "redis://h?minsize=2", minConnections: 3).configuration.pool.minimumConnections == 3)
        #expect(try Cache(url: "redis://h?maxsize=2").configuration.pool.maximumConnections == 2)
        #expect(try Cache(url: "redis://h?maxsize=2", maxConnections: 3).configuration.pool.maximumConnections == 3)
        let error = #expect(throws: CacheError.self) { try Cache(url: "redis://h?minsize=5&maxsize=2") }
        #expect(error?.code == .invalidConfiguration)
    }

    @Test func rediSSTurnsTLSOnAndVerificationIsOnByDefault() throws {
        let configuration = try CacheConfiguration(url: CacheURL("rediss://h:6380"))
        #expect(configuration.tls?.verification == .full)
        let off = try CacheConfiguration(url: CacheURL("rediss://h?tls_verify=none&tls_ca_file=/ca.pem"))
        #expect(off.tls?.verification == CacheTLSConfiguration.Verification.none)
        #expect(off.tls?.trust == .caFile("/ca.pem"))
        let error = #expect(throws: CacheError.self) { try CacheConfiguration(url: CacheURL("redis://h?tls_ca_file=/ca.pem")) }
        #expect(error?.code == .invalidURL)
    }

    @Test func scopedCacheConnectsAndDisconnects() async throws {
        let value = try await Cache.with(url: "memory://scoped") { cache async throws in
            #expect(cache.isConnected)
            try await cache.set("test", "Ok!")
            return try await cache.get("test", as: String.self)
        }
        #expect(value == "Ok!")
    }

    @Test func memoryStoresWithDifferentNamesAreIsolated() async throws {
        let first = try Cache(url: "memory://isolation-a")
        let second = try Cache(url: "memory://isolation-b")
        let shared = try Cache(url: "locmem://isolation-a")
        try await first.connect()
        try await second.connect()
        try await shared.connect()
        try await first.set("test", "Ok!")
        #expect(try await second.get("test", as: String.self) == nil)
        #expect(try await first.get("test", as: String.self) == "Ok!")
        #expect(try await shared.get("test", as: String.self) == "Ok!", "the same name is the same store")
        try await first.disconnect()
        try await second.disconnect()
        try await shared.disconnect()
    }
}

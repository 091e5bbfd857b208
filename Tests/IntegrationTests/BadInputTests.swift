import Caches
import Foundation
import RedisTestSupport
import Testing

/// Issue 8, bad input: foreign bytes under our keys, Redis type errors, awkward keys, values over the server's limit.
/// Each case gives a typed error (or works), loses nothing, and leaves the connection usable.
///
/// The servers may be shared ones from `CACHE_TEST_NODES`: every test writes under its own random key prefix and
/// removes what it wrote, so the suite can run again (or beside another run) against the same nodes.
@Suite("Bad input")
struct BadInputTests {
    /// A key prefix no other test or run uses.
    static func uniquePrefix() -> String { "bad-input-\(UUID().uuidString)" }

    @Test func nonJSONBytesUnderOurKeyAreATypedDecodeError() async throws {
        try await RedisServer.withServer { server in
            let prefix = Self.uniquePrefix()
            let cache = try Cache(url: "redis://\(server.host):\(server.port)", keyPrefix: prefix)
            try await cache.connect()
            #expect(try await server.cli("SET", "\(prefix)::broken", "not json {") == "OK")
            let error = await #expect(throws: CacheError.self) { try await cache.get("broken", as: String.self) }
            #expect(error?.code == .decodingFailed)
            #expect(error?.key == "broken")
            let many = await #expect(throws: CacheError.self) { try await cache.getMany(["broken", "other"], as: String.self) }
            #expect(many?.code == .decodingFailed)
            #expect(try await server.cli("GET", "\(prefix)::broken") == "not json {", "nothing is lost")
            try await cache.set("fine", "ok")
            #expect(try await cache.get("fine", as: String.self) == "ok", "the connection is still usable")
            try await cache.deleteMany(["broken", "fine"])
            #expect(try await server.cli("EXISTS", "\(prefix)::broken", "\(prefix)::fine") == "0")
            try await cache.disconnect()
        }
    }

    @Test func wrongRedisTypeIsATypedError() async throws {
        try await RedisServer.withServer { server in
            let prefix = Self.uniquePrefix()
            let cache = try Cache(url: "redis://\(server.host):\(server.port)", keyPrefix: prefix)
            try await cache.connect()
            #expect(try await server.cli("LPUSH", "\(prefix)::list", "a") == "1")
            let get = await #expect(throws: CacheError.self) { try await cache.get("list", as: String.self) }
            #expect(get?.code == .wrongType)
            #expect(get?.key == "list")
            #expect(get?.node == "\(server.host):\(server.port)")
            let incr = await #expect(throws: CacheError.self) { try await cache.incr("list") }
            #expect(incr?.code == .wrongType)
            #expect(try await server.cli("LLEN", "\(prefix)::list") == "1", "nothing is lost")
            try await cache.delete("list")
            #expect(try await server.cli("EXISTS", "\(prefix)::list") == "0")
            try await cache.disconnect()
        }
    }

    @Test func awkwardKeysRoundTrip() async throws {
        try await RedisServer.withServer { server in
            let cache = try Cache(url: "redis://\(server.host):\(server.port)", keyPrefix: Self.uniquePrefix())
            try await cache.connect()
            let keys = [
                "with space", "new\nline", "cr\r\nlf", "tab\there", "nul\u{0}byte", "ünïcödé 😀", "colon:in:key",
                "{tag}", "", String(repeating: "k", count: 8 * 1024), "*1\r\n$4\r\nPING\r\n",
            ]
            for (index, key) in keys.enumerated() {
                try await cache.set(key, index)
            }
            for (index, key) in keys.enumerated() {
                #expect(try await cache.get(key, as: Int.self) == index, "key \(key.prefix(20).debugDescription)")
            }
            let values = try await cache.getMany(keys, as: Int.self)
            #expect(values.count == keys.count)
            for (index, key) in keys.enumerated() { #expect(values[key] == .some(index)) }
            try await cache.deleteMany(keys)
            #expect(try await cache.getMany(keys, as: Int.self).values.allSatisfy { $0 == nil })
            try await cache.disconnect()
        }
    }

    @Test func valueOverTheServersBulkLimitIsATypedErrorAndTheConnectionSurvives() async throws {
        try await RedisServer.withServer(extraArguments: ["--proto-max-bulk-len", "1mb"]) { server in
            let cache = try Cache(url: "redis://\(server.host):\(server.port)?timeout=5")
            try await cache.connect()
            try await cache.set("before", "kept")
            let big = String(repeating: "x", count: 2 * 1024 * 1024)
            let error = await #expect(throws: CacheError.self) { try await cache.set("big", big) }
            #expect(error.map { [.server, .connectionClosed, .protocolViolation].contains($0.code) } == true)
            #expect(error?.key == "big")
            // The server closes a connection after a protocol error; the pool replaces it.
            try await waitUntil("the cache answering again after the connection closed") {
                (try? await cache.get("before", as: String.self)) != nil
            }
            #expect(try await cache.get("before", as: String.self) == "kept", "nothing else is lost and the cache recovers")
            try await cache.disconnect()
        }
    }
}

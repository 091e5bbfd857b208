import Caches
import Testing

/// The seed's `tests/dummy/test_impl.py` and `test_initialization.py`.
@Suite struct DummyBackendTests {
    func withDummy(_ body: (Cache) async throws -> Void) async throws {
        let cache = try Cache(url: "dummy://primary", ttl: 600, version: 20, keyPrefix: "test")
        try await cache.connect()
        try await body(cache)
        try await cache.disconnect()
    }

    @Test func writesAreNoOpsAndReadsMiss() async throws {
        try await self.withDummy { cache async throws in
            try await cache.set("test", "Ok!")
            #expect(try await cache.get("test", as: String.self) == nil)
            try await cache.set("test", "Ok!", version: 1)
            #expect(try await cache.get("test", as: String.self, version: 1) == nil)
            #expect(try await cache.get("text", default: "default") == "default")
            #expect(try await cache.add("test", "Ok!") == false)
            #expect(try await cache.get("test", as: String.self) == nil)
            try await cache.setMany(["a": 1, "b": 2])
            #expect(try await cache.getMany(["a", "b"], as: Int.self) == ["a": nil, "b": nil])
            try await cache.delete("test")
            try await cache.deleteMany(["a", "b"])
            try await cache.clear()
        }
    }

    @Test func getOrSetReturnsTheDefaultAndStoresNothing() async throws {
        try await self.withDummy { cache async throws in
            #expect(try await cache.getOrSet("test", default: "Ok!") == "Ok!")
            let computed = try await cache.getOrSet("test", as: String.self) {
                try await Task.sleep(for: .milliseconds(1))
                return "Ok!"
            }
            #expect(computed == "Ok!")
            #expect(try await cache.get("test", as: String.self) == nil)
        }
    }

    @Test func touchIsFalseAndIncrReturnsTheDelta() async throws {
        try await self.withDummy { cache async throws in
            try await cache.set("test", "Ok!", ttl: 10)
            #expect(try await cache.touch("test") == false)
            #expect(try await cache.touch("undefined", ttl: 10) == false)
            try await cache.set("counter", 10)
            #expect(try await cache.incr("counter") == 1, "a dummy key is always missing, so incr stores and returns delta")
            #expect(try await cache.decr("counter", by: 2) == -2)
        }
    }

    @Test func badValuesStillFail() async throws {
        try await self.withDummy { cache async throws in
            let error = await #expect(throws: CacheError.self) { try await cache.set("nan", Double.nan) }
            #expect(error?.code == .encodingFailed)
        }
    }
}

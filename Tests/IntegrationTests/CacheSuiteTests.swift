import Caches
import RedisTestSupport
import Testing

/// The seed's `tests/locmem/test_impl.py` and `tests/redis/test_impl.py` (identical bodies), written once and run
/// against every storing backend, plus the gaps docs/SEMANTICS.md lists.
@Suite("Shared cache suite")
struct CacheSuiteTests {
    struct Point: Codable, Equatable {
        var x: Int
        var y: Double
        var label: String?
    }

    // MARK: get / set

    @Test(arguments: BackendKind.storing)
    func setKeyCanBeGet(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Ok!")
            #expect(try await cache.get("test", as: String.self) == "Ok!")
        }
    }

    @Test(arguments: BackendKind.storing)
    func setKeyCanBeDict(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", ["hello": "world"])
            #expect(try await cache.get("test", as: [String: String].self) == ["hello": "world"])
        }
    }

    @Test(arguments: BackendKind.storing)
    func setKeyCanBeList(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", ["hello", "world"])
            #expect(try await cache.get("test", as: [String].self) == ["hello", "world"])
        }
    }

    @Test(arguments: BackendKind.storing)
    func setKeyCanBeUnicodeString(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "łóć")
            #expect(try await cache.get("test", as: String.self) == "łóć")
        }
    }

    @Test(arguments: BackendKind.storing)
    func setKeyCanBeCodableStructAndJSONValue(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            let point = Point(x: 3, y: 1.0, label: nil)
            try await cache.set("point", point)
            #expect(try await cache.get("point", as: Point.self) == point)
            let dynamic: JSONValue = ["name": "Zoë", "tags": ["a", 1, 2.5, true, nil]]
            try await cache.set("dynamic", dynamic)
            #expect(try await cache.get("dynamic", as: JSONValue.self) == dynamic)
        }
    }

    @Test(arguments: BackendKind.storing)
    func keyCanBeVersioned(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Ok!", version: 1)
            try await cache.set("test", "Nope!", version: 2)
            #expect(try await cache.get("test", as: String.self, version: 1) == "Ok!")
            #expect(try await cache.get("test", as: String.self, version: 2) == "Nope!")
        }
    }

    @Test(arguments: BackendKind.storing)
    func nilIsReturnedForExpiredKey(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Ok!", ttl: 1)
            #expect(try await cache.get("test", as: String.self) == "Ok!")
            try await waitUntilExpired("test", in: cache)
            #expect(try await cache.get("test", as: String.self) == nil)
            #expect(try await cache.get("test", default: "default") == "default")
        }
    }

    @Test(arguments: BackendKind.storing)
    func nilOrDefaultIsReturnedForMissingKeyOrVersion(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            #expect(try await cache.get("missing", as: String.self) == nil)
            #expect(try await cache.get("missing", default: "default") == "default")
            try await cache.set("test", "Ok!")
            #expect(try await cache.get("test", as: String.self, version: 2) == nil)
            #expect(try await cache.get("test", default: "default", version: 2) == "default")
        }
    }

    @Test(arguments: BackendKind.storing)
    func storedNullReadsAsMissing(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("null", JSONValue.null)
            #expect(try await cache.get("null", as: JSONValue.self) == nil)
            #expect(try await cache.get("null", default: "default") == "default")
            #expect(try await cache.getOrSet("null", default: "computed") == "computed")
            #expect(try await cache.get("null", as: String.self) == "computed")
        }
    }

    // MARK: add

    @Test(arguments: BackendKind.storing)
    func keyCanBeAdded(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            #expect(try await cache.add("test", "Ok!") == true)
            #expect(try await cache.get("test", as: String.self) == "Ok!")
        }
    }

    @Test(arguments: BackendKind.storing)
    func keyCanBeAddedWithTTL(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            #expect(try await cache.add("test", "Ok!", ttl: 1))
            #expect(try await cache.get("test", as: String.self) == "Ok!")
            try await waitUntilExpired("test", in: cache)
            #expect(try await cache.get("test", as: String.self) == nil)
            #expect(try await cache.add("test", "Again", ttl: 1), "an expired key can be added again")
        }
    }

    @Test(arguments: BackendKind.storing)
    func keyIsNotAddedIfAlreadySet(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Initial")
            #expect(try await cache.add("test", "Ok!") == false)
            #expect(try await cache.get("test", as: String.self) == "Initial")
        }
    }

    // MARK: getOrSet

    @Test(arguments: BackendKind.storing)
    func getOrSetSetsValueIfKeyIsUndefined(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            #expect(try await cache.getOrSet("test", default: "Ok!") == "Ok!")
            #expect(try await cache.get("test", as: String.self) == "Ok!")
        }
    }

    @Test(arguments: BackendKind.storing)
    func getOrSetReturnsAndKeepsPreviousValue(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Ok!")
            #expect(try await cache.getOrSet("test", default: "New") == "Ok!")
            #expect(try await cache.get("test", as: String.self) == "Ok!")
        }
    }

    @Test(arguments: BackendKind.storing)
    func getOrSetOverwritesExpiredKey(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Ok!", ttl: 1)
            try await waitUntilExpired("test", in: cache)
            #expect(try await cache.getOrSet("test", default: "New") == "New")
            #expect(try await cache.get("test", as: String.self) == "New")
        }
    }

    @Test(arguments: BackendKind.storing)
    func getOrSetClosureRunsOnlyOnMiss(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            let calls = TestCounter()
            let first = try await cache.getOrSet("test", as: String.self) {
                calls.increment()
                try await Task.sleep(for: .milliseconds(1))
                return "Ok!"
            }
            let second = try await cache.getOrSet("test", as: String.self) {
                calls.increment()
                return "Other"
            }
            #expect(first == "Ok!")
            #expect(second == "Ok!")
            #expect(calls.count == 1)
        }
    }

    // MARK: many keys

    @Test(arguments: BackendKind.storing)
    func manyKeysCanBeGet(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("key", "Ok!")
            try await cache.set("key2", "Ok2!")
            let values = try await cache.getMany(["key", "key2", "undefined"], as: String.self)
            #expect(values.count == 3)
            #expect(values["key"] == .some("Ok!"))
            #expect(values["key2"] == .some("Ok2!"))
            #expect(values["undefined"] == .some(nil))
        }
    }

    @Test(arguments: BackendKind.storing)
    func manyExpiredKeysAreReturnedAsNil(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("key", "Ok!", ttl: 1)
            try await cache.set("key2", "Ok2!")
            try await waitUntilExpired("key", in: cache)
            let values = try await cache.getMany(["key", "key2"], as: String.self)
            #expect(values["key"] == .some(nil))
            #expect(values["key2"] == .some("Ok2!"))
        }
    }

    @Test(arguments: BackendKind.storing)
    func manyKeysCanBeSetWithAndWithoutTTL(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.setMany(["key": "Ok!", "key2": "Ok2!"])
            #expect(try await cache.get("key", as: String.self) == "Ok!")
            #expect(try await cache.get("key2", as: String.self) == "Ok2!")
            try await cache.setMany(["t1": 1, "t2": 2, "t3": 3], ttl: 1)
            #expect(try await cache.getMany(["t1", "t2", "t3"], as: Int.self) == ["t1": 1, "t2": 2, "t3": 3])
            try await waitUntilExpired("t1", "t2", "t3", in: cache)
            #expect(try await cache.getMany(["t1", "t2", "t3"], as: Int.self) == ["t1": nil, "t2": nil, "t3": nil])
            #expect(try await cache.get("key", as: String.self) == "Ok!", "keys set without ttl stay")
        }
    }

    @Test(arguments: BackendKind.storing)
    func manyKeysCallsWithNoKeysDoNothing(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            #expect(try await cache.getMany([String](), as: String.self).isEmpty)
            try await cache.setMany([String: String]())
            try await cache.deleteMany([String]())
        }
    }

    @Test(arguments: BackendKind.storing)
    func manyKeysCanBeDeleted(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("key", "Ok!")
            try await cache.set("key2", "Ok2!")
            try await cache.deleteMany(["key", "key2", "undefined"])
            #expect(try await cache.get("key", as: String.self) == nil)
            #expect(try await cache.get("key2", as: String.self) == nil)
        }
    }

    @Test(arguments: BackendKind.storing)
    func manyKeysAcrossVersionsAndDuplicates(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            let keys = (0..<200).map { "many-\($0)" }
            try await cache.setMany(Dictionary(uniqueKeysWithValues: keys.map { ($0, $0.uppercased()) }), version: 3)
            let values = try await cache.getMany(keys + keys.prefix(10), as: String.self, version: 3)
            #expect(values.count == keys.count)
            for key in keys { #expect(values[key] == .some(key.uppercased())) }
            #expect(try await cache.get("many-1", as: String.self) == nil, "another version is another key")
        }
    }

    // MARK: delete / clear

    @Test(arguments: BackendKind.storing)
    func setKeyCanBeDeletedAndMissingKeyDeleteIsFine(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Ok!")
            try await cache.delete("test")
            #expect(try await cache.get("test", as: String.self) == nil)
            try await cache.delete("undefined")
        }
    }

    @Test(arguments: BackendKind.storing)
    func setKeysAreCleared(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("key", "Ok!")
            try await cache.set("key2", "Ok2!")
            try await cache.clear()
            #expect(try await cache.get("key", as: String.self) == nil)
            #expect(try await cache.get("key2", as: String.self) == nil)
        }
    }

    // MARK: touch

    @Test(arguments: BackendKind.storing)
    func touchRemovesExpiredKeyTTL(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Ok!", ttl: 1)
            #expect(try await cache.touch("test") == true)
            try await waitForExpiry(ofSeconds: 1)
            #expect(try await cache.get("test", as: String.self) == "Ok!")
        }
    }

    @Test(arguments: BackendKind.storing)
    func touchUpdatesKeyTTL(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Ok!", ttl: 1)
            #expect(try await cache.touch("test", ttl: 10) == true)
            try await waitForExpiry(ofSeconds: 1)
            #expect(try await cache.get("test", as: String.self) == "Ok!")
        }
    }

    /// README: `touch` with no ttl on a key that is already persistent returns false (`PERSIST` replies 0), as the
    /// seed does on Redis; the memory backend answers the same.
    @Test(arguments: BackendKind.storing)
    func touchWithoutTTLOnAPersistentKeyReturnsFalse(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("persistent", "Ok!")
            #expect(try await cache.touch("persistent") == false)
            #expect(try await cache.ttl("persistent") == nil)
            #expect(try await cache.get("persistent", as: String.self) == "Ok!")
            try await cache.set("expiring", "Ok!", ttl: 100)
            #expect(try await cache.touch("expiring") == true, "an expiry was removed")
            #expect(try await cache.ttl("expiring") == nil)
        }
    }

    @Test(arguments: BackendKind.storing)
    func touchDoesNothingForMissingKey(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            #expect(try await cache.touch("undefined", ttl: 10) == false)
            #expect(try await cache.get("undefined", as: String.self) == nil)
        }
    }

    @Test(arguments: [BackendKind.redis, .ring])
    func touchOnPersistentKeyReturnsFalseOnRedis(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", "Ok!")
            #expect(try await cache.touch("test") == false, "PERSIST on a persistent key replies 0, as in the seed")
        }
    }

    // MARK: incr / decr

    @Test(arguments: BackendKind.storing)
    func setKeyCanBeIncreasedAndDecreased(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", 10)
            #expect(try await cache.incr("test") == 11)
            #expect(try await cache.incr("test", by: 2) == 13)
            #expect(try await cache.decr("test") == 12)
            #expect(try await cache.decr("test", by: 2) == 10)
            #expect(try await cache.get("test", as: Int.self) == 10)
        }
    }

    @Test(arguments: BackendKind.storing)
    func setKeyCanBeIncreasedAndDecreasedByFloat(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", 10.0)
            #expect(try await cache.incr("test", by: 2.5) == 12.5)
            #expect(try await cache.decr("test", by: 2.5) == 10.0)
            #expect(try await cache.get("test", as: Double.self) == 10.0)
        }
    }

    @Test(arguments: BackendKind.storing)
    func incrementingMissingKeyStoresDelta(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            #expect(try await cache.incr("counter", by: 5) == 5)
            #expect(try await cache.decr("other", by: 3) == -3)
            #expect(try await cache.incr("float", by: 0.5) == 0.5)
            #expect(try await cache.get("counter", as: Int.self) == 5)
        }
    }

    @Test(arguments: BackendKind.storing)
    func incrementKeepsTTL(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("test", 1, ttl: 1)
            #expect(try await cache.incr("test") == 2)
            try await waitUntilExpired("test", in: cache)
            #expect(try await cache.get("test", as: Int.self) == nil)
        }
    }

    @Test(arguments: BackendKind.storing)
    func incrementingNonNumericValueIsTypedError(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            try await cache.set("text", "hello")
            let error = await #expect(throws: CacheError.self) { try await cache.incr("text") }
            #expect(error?.code == .notNumeric)
            #expect(error?.key == "text")
            try await cache.set("float", 10.5)
            let intOnFloat = await #expect(throws: CacheError.self) { try await cache.incr("float", by: 1) }
            #expect(intOnFloat?.code == .notNumeric, "an int delta on a float fails, as on Redis")
            #expect(try await cache.get("text", as: String.self) == "hello", "nothing is lost")
        }
    }

    // MARK: defaults, keys, errors

    @Test(arguments: BackendKind.storing)
    func defaultTTLAppliesToEveryWrite(kind: BackendKind) async throws {
        try await withCache(kind, ttl: 1) { cache async throws in
            try await cache.set("set", 1)
            #expect(try await cache.add("add", 2))
            _ = try await cache.getOrSet("getOrSet", default: 3)
            try await cache.setMany(["many": 4])
            try await cache.set("touched", 5, ttl: 100)
            #expect(try await cache.touch("touched"))
            try await cache.set("long", 6, ttl: 100)
            try await waitForExpiry(ofSeconds: 1)
            let values = try await cache.getMany(["set", "add", "getOrSet", "many", "touched", "long"], as: Int.self)
            #expect(values == ["set": nil, "add": nil, "getOrSet": nil, "many": nil, "touched": nil, "long": 6])
        }
    }

    @Test(arguments: BackendKind.storing)
    func prefixAndVersionShapeTheKeys(kind: BackendKind) async throws {
        try await withCache(kind, version: 7, keyPrefix: "p") { cache async throws in
            #expect(cache.makeKey("k") == "p:7:k")
            #expect(cache.makeKey("k", version: "v1") == "p:v1:k")
            #expect(cache.makeKey("k", version: 0) == "p:7:k")
            try await cache.set("k", "seven")
            #expect(try await cache.get("k", as: String.self, version: 7) == "seven")
            #expect(try await cache.get("k", as: String.self, version: 8) == nil)
        }
    }

    @Test(arguments: BackendKind.storing)
    func badInputIsRejectedBeforeAnyIO(kind: BackendKind) async throws {
        try await withCache(kind) { cache async throws in
            for ttl in [0, -1] {
                let error = await #expect(throws: CacheError.self) { try await cache.set("k", "v", ttl: ttl) }
                #expect(error?.code == .invalidArgument)
            }
            let nan = await #expect(throws: CacheError.self) { try await cache.set("nan", Double.nan) }
            #expect(nan?.code == .encodingFailed)
            #expect(nan?.key == "nan")
            let inf = await #expect(throws: CacheError.self) { try await cache.setMany(["a": 1.0, "b": .infinity]) }
            #expect(inf?.code == .encodingFailed)
            #expect(try await cache.get("a", as: Double.self) == nil, "nothing of a failed setMany was written")
            try await cache.set("text", "hello")
            let wrongType = await #expect(throws: CacheError.self) { try await cache.get("text", as: Int.self) }
            #expect(wrongType?.code == .decodingFailed)
            #expect(wrongType?.key == "text")
        }
    }

    @Test(arguments: BackendKind.storing)
    func cacheReconnectsAfterDisconnect(kind: BackendKind) async throws {
        let url = try await TestNodes.shared.url(for: kind)
        let cache = try Cache(url: url)
        let before = await #expect(throws: CacheError.self) { try await cache.get("k", as: String.self) }
        #expect(before?.code == .notConnected)
        try await cache.connect()
        let twice = await #expect(throws: CacheError.self) { try await cache.connect() }
        #expect(twice?.code == .alreadyConnected)
        try await cache.set("k", "v")
        try await cache.disconnect()
        let after = await #expect(throws: CacheError.self) { try await cache.get("k", as: String.self) }
        #expect(after?.code == .notConnected)
        try await cache.connect()
        if kind != .memory {
            #expect(try await cache.get("k", as: String.self) == "v")
        }
        try await cache.clear()
        try await cache.disconnect()
    }
}

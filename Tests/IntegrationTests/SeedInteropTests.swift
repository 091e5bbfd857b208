import Caches
import Foundation
import RedisTestSupport
import Testing

/// The real Python async-caches 0.3.0 (`scripts/seed_interop.py`) and `Cache` share one Redis server: each writes
/// every case of the wire vectors and the other reads every one back; the bytes Swift writes equal the bytes
/// Python writes, key by key.
///
/// Documented differences the vectors never touch: `incr` on a missing key stores the delta (Python raises), and a
/// stored JSON `null` reads as missing in Swift.
@Suite("Interop with the real async-caches", .timeLimit(.minutes(3)))
struct SeedInteropTests {
    /// The database Python writes into.
    static let pythonDB = 1
    /// The database Swift writes into.
    static let swiftDB = 2

    // MARK: Python writes, Swift reads

    @Test func swiftReadsEveryCasePythonWrote() async throws {
        let script = try SeedInteropScript()
        let vectors = try WireVectorCase.all()
        try await RedisServer.withServer(allowExternal: false) { server in
            try await script.write(to: server, db: Self.pythonDB)
            let caches = try await Self.openCaches(server, db: Self.pythonDB)
            do {
                for vector in vectors {
                    let cache = try #require(caches[vector.config], "no cache for config \(vector.config)")
                    let version = vector.version.map { CacheVersion($0) }
                    #expect(cache.makeKey(vector.key, version: version) == vector.rawKey.utf8, "\(vector.case): key")
                    let read = try await cache.get(vector.key, as: JSONValue.self, version: version)
                    guard vector.rawValue != nil else {
                        #expect(read == nil, "\(vector.case): \(vector.key) should be deleted, read \(String(describing: read))")
                        continue
                    }
                    let expected = try #require(SwiftSide.values[vector.case]?[vector.key], "\(vector.case): no Swift value")
                    if expected == .null {
                        // A stored JSON null reads as missing (README); the bytes themselves are checked below.
                        #expect(read == nil, "\(vector.case): JSON null read as \(String(describing: read))")
                    } else {
                        #expect(read == expected, "\(vector.case): read \(String(describing: read)), expected \(expected)")
                    }
                }
            } catch {
                await Self.closeCaches(caches)
                throw error
            }
            await Self.closeCaches(caches)
        }
    }

    // MARK: Swift writes, Python reads

    @Test func pythonReadsEveryCaseSwiftWroteAndTheBytesAreThePythonBytes() async throws {
        let script = try SeedInteropScript()
        let vectors = try WireVectorCase.all()
        try await RedisServer.withServer(allowExternal: false) { server in
            // Swift performs every case once (set_many and delete_many appear once per key).
            let caches = try await Self.openCaches(server, db: Self.swiftDB)
            do {
                var done = Set<String>()
                for vector in vectors where done.insert(vector.case).inserted {
                    let cache = try #require(caches[vector.config])
                    let operations = try #require(SwiftSide.operations[vector.case], "\(vector.case): no Swift translation of \(vector.ops)")
                    try await operations(cache)
                }
            } catch {
                await Self.closeCaches(caches)
                throw error
            }
            await Self.closeCaches(caches)

            // Python reads every case back with the same value and type.
            let withValue = vectors.filter { $0.rawValue != nil }
            let records = try await script.read(from: server, db: Self.swiftDB)
            #expect(records.count == withValue.count)
            for (vector, record) in zip(withValue, records) {
                #expect(record.case == vector.case && record.key == vector.key)
                #expect(record.rawKeyHex == vector.rawKey.hex, "\(vector.case): Python read another key")
                let text = try #require(vector.rawValue?.utf8)
                let expected = try JSONDecoder().decode(SeedValue.self, from: Data(text.utf8))
                #expect(record.value == expected, "\(vector.case): Python read \(record.value), the vector holds \(text)")
                #expect(record.type == Self.pythonType(ofJSON: text), "\(vector.case): Python read a \(record.type) from \(text)")
            }

            // The bytes: what Swift wrote equals what Python writes, key by key.
            try await script.write(to: server, db: Self.pythonDB)
            let swiftDump = Dictionary(uniqueKeysWithValues: try await script.dump(from: server, db: Self.swiftDB).map { ($0.rawKeyHex, $0) })
            let pythonDump = Dictionary(uniqueKeysWithValues: try await script.dump(from: server, db: Self.pythonDB).map { ($0.rawKeyHex, $0) })
            #expect(Set(swiftDump.keys) == Set(pythonDump.keys), "Swift and Python wrote different keys")
            #expect(Set(swiftDump.keys) == Set(withValue.map(\.rawKey.hex)), "Swift wrote keys that no vector names, or missed some")
            for vector in vectors {
                let swift = swiftDump[vector.rawKey.hex]
                guard let rawValue = vector.rawValue else {
                    #expect(swift == nil, "\(vector.case): \(vector.rawKey.utf8) should have been deleted")
                    continue
                }
                guard let swift, let python = pythonDump[vector.rawKey.hex] else {
                    Issue.record("\(vector.case): \(vector.rawKey.utf8) is missing")
                    continue
                }
                #expect(swift.rawValueHex == python.rawValueHex, "\(vector.case): Swift and Python bytes differ")
                #expect(swift.rawValueHex == rawValue.hex, "\(vector.case): Swift wrote other bytes than recorded")
                switch vector.ttl {
                case .persistent:
                    #expect(swift.ttl == -1, "\(vector.case): Swift TTL \(swift.ttl), \(vector.ttlRule)")
                    #expect(python.ttl == -1, "\(vector.case): Python TTL \(python.ttl), \(vector.ttlRule)")
                case .expires(let limit):
                    #expect(swift.ttl > 0 && swift.ttl <= limit, "\(vector.case): Swift TTL \(swift.ttl), \(vector.ttlRule)")
                    #expect(python.ttl > 0 && python.ttl <= limit, "\(vector.case): Python TTL \(python.ttl), \(vector.ttlRule)")
                case nil:
                    Issue.record("\(vector.case): unknown TTL rule '\(vector.ttlRule)'")
                }
            }
        }
    }

    // MARK: Configurations

    /// One connected `Cache` per config name of `scripts/seed_interop.py` (`CONFIGS`), on database `db`.
    static func openCaches(_ server: RedisServer, db: Int) async throws -> [String: Cache] {
        let base = "redis://\(server.host):\(server.port)/\(db)"
        let caches: [String: Cache] = [
            "plain": try Cache(url: base),
            "prefixed": try Cache(url: base, keyPrefix: "interop"),
            "prefix_v2": try Cache(url: base, version: 2, keyPrefix: "interop"),
            "version_str": try Cache(url: base, version: "v1"),
            "url_opts": try Cache(url: base + "?key_prefix=urlp&version=9&ttl=300"),
            "kwarg_ttl": try Cache(url: base, ttl: 450, keyPrefix: "interop"),
        ]
        var connected: [String: Cache] = [:]
        do {
            for (name, cache) in caches {
                try await cache.connect()
                connected[name] = cache
            }
        } catch {
            await Self.closeCaches(connected)
            throw error
        }
        return connected
    }

    static func closeCaches(_ caches: [String: Cache]) async {
        for cache in caches.values {
            try? await cache.disconnect()
        }
    }

    /// The Python type `json.loads` gives a JSON text (docs/WIRE.md: `1` is int, `1.0` is float).
    static func pythonType(ofJSON text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch trimmed.first {
        case "\"": return "str"
        case "[": return "list"
        case "{": return "dict"
        case "t", "f": return "bool"
        case "n": return "null"
        default: return trimmed.contains(where: { ".eE".contains($0) }) ? "float" : "int"
        }
    }
}

// MARK: - The vectors' ops in Swift

/// Each case's `ops` as `Cache` calls, and the values a case leaves behind, by case name and logical key.
private enum SwiftSide {
    static let nested: JSONValue = [
        "zeta": "insertion order is kept, keys are not sorted",
        "name": "Zoë",
        "tags": ["a", "b"],
        "count": 3,
        "ratio": 0.5,
        "ok": true,
        "none": nil,
        "nested": ["list": [1, [2, ["deep": "ü"]]], "empty": [:]],
    ]

    /// What each case stores, as Swift reads it back.
    static let values: [String: [String: JSONValue]] = [
        "str_ascii": ["seedio_str": "Ok!"],
        "str_unicode": ["seedio_unicode": "Zażółć gęślą jaźń"],
        "str_astral": ["seedio_emoji": "😀 ok"],
        "str_escapes": ["seedio_escapes": "q\" bs\\ nl\n cr\r tab\t b\u{08} f\u{0C} c1\u{01} c1f\u{1F} slash/ del\u{7F}"],
        "str_empty": ["seedio_empty_str": ""],
        "int_pos": ["seedio_int": .int(42)],
        "int_neg": ["seedio_int_neg": .int(-7)],
        "int_2p53p1": ["seedio_int_big": .int(9_007_199_254_740_993)],
        "int64_max": ["seedio_int64max": .int(Int.max)],
        "float_half": ["seedio_float": .double(2.5)],
        "float_whole": ["seedio_float_whole": .double(1.0)],
        "float_tenth": ["seedio_float_tenth": .double(0.1)],
        "float_1e15": ["seedio_float_1e15": .double(1e15)],
        "float_1e20": ["seedio_float_1e20": .double(1e20)],
        "float_1em7": ["seedio_float_1em7": .double(1e-7)],
        "bool_true": ["seedio_true": .bool(true)],
        "bool_false": ["seedio_false": .bool(false)],
        "null": ["seedio_null": .null],
        "list_mixed": ["seedio_list": [1, "two", 3.0, true, nil, [], [:]]],
        "dict_nested": ["seedio_dict": Self.nested],
        "list_empty": ["seedio_list_empty": []],
        "dict_empty": ["seedio_dict_empty": [:]],
        "key_prefix": ["seedio_pfx": "prefixed"],
        "version_int_default": ["seedio_ver": "v2 value"],
        "version_per_call": ["seedio_ver": "v5 value"],
        "version_str_default": ["seedio_vstr": ["v": "v1"]],
        "key_unicode": ["seedio_klucz_żółw": "unicode key"],
        "key_with_colon": ["seedio_a:b": "colon in key"],
        "ttl_per_call": ["seedio_ttl": "expiring"],
        "ttl_default_url": ["seedio_urlttl": "url defaults"],
        "ttl_default_kwarg": ["seedio_cfgttl": "kwarg default ttl"],
        "add_twice": ["seedio_add": "first"],
        "add_ttl": ["seedio_add_ttl": "x"],
        "get_or_set": ["seedio_gos": ["computed": true]],
        "set_many": ["seedio_m1": .int(1), "seedio_m2": "two"],
        "set_many_ttl": ["seedio_mt1": [1], "seedio_mt2": ["k": "v"]],
        "incr_int": ["seedio_counter": .int(13)],
        "incr_float": ["seedio_fcounter": .double(12.25)],
        "touch_persist": ["seedio_touch_persist": "t"],
        "touch_expire": ["seedio_touch_ttl": "t"],
    ]

    /// Stores the one value of a single-key case.
    static func set(_ name: String, ttl: Int? = nil, version: CacheVersion? = nil) -> @Sendable (Cache) async throws -> Void {
        { cache async throws in
            let (key, value) = try #require(Self.values[name]?.first)
            try await cache.set(key, value, ttl: ttl, version: version)
        }
    }

    /// Each case's `ops`, translated call by call.
    static let operations: [String: @Sendable (Cache) async throws -> Void] = [
        "str_ascii": Self.set("str_ascii"),
        "str_unicode": Self.set("str_unicode"),
        "str_astral": Self.set("str_astral"),
        "str_escapes": Self.set("str_escapes"),
        "str_empty": Self.set("str_empty"),
        "int_pos": Self.set("int_pos"),
        "int_neg": Self.set("int_neg"),
        "int_2p53p1": Self.set("int_2p53p1"),
        "int64_max": Self.set("int64_max"),
        "float_half": Self.set("float_half"),
        "float_whole": Self.set("float_whole"),
        "float_tenth": Self.set("float_tenth"),
        "float_1e15": Self.set("float_1e15"),
        "float_1e20": Self.set("float_1e20"),
        "float_1em7": Self.set("float_1em7"),
        "bool_true": Self.set("bool_true"),
        "bool_false": Self.set("bool_false"),
        "null": Self.set("null"),
        "list_mixed": Self.set("list_mixed"),
        "dict_nested": Self.set("dict_nested"),
        "list_empty": Self.set("list_empty"),
        "dict_empty": Self.set("dict_empty"),
        "key_prefix": Self.set("key_prefix"),
        "version_int_default": Self.set("version_int_default"),
        "version_per_call": Self.set("version_per_call", version: 5),
        "version_str_default": Self.set("version_str_default"),
        "key_unicode": Self.set("key_unicode"),
        "key_with_colon": Self.set("key_with_colon"),
        "ttl_per_call": Self.set("ttl_per_call", ttl: 600),
        "ttl_default_url": Self.set("ttl_default_url"),
        "ttl_default_kwarg": Self.set("ttl_default_kwarg"),
        "add_twice": { cache async throws in
            #expect(try await cache.add("seedio_add", "first" as JSONValue))
            #expect(try await cache.add("seedio_add", "second" as JSONValue) == false)
        },
        "add_ttl": { cache async throws in
            #expect(try await cache.add("seedio_add_ttl", "x" as JSONValue, ttl: 500))
        },
        "get_or_set": { cache async throws in
            #expect(try await cache.getOrSet("seedio_gos", default: ["computed": true] as JSONValue) == ["computed": true])
            #expect(try await cache.getOrSet("seedio_gos", default: ["computed": false] as JSONValue) == ["computed": true])
        },
        "set_many": { cache async throws in
            try await cache.setMany(["seedio_m1": 1, "seedio_m2": "two"] as [String: JSONValue])
        },
        "set_many_ttl": { cache async throws in
            try await cache.setMany(["seedio_mt1": [1], "seedio_mt2": ["k": "v"]] as [String: JSONValue], ttl: 700)
        },
        "incr_int": { cache async throws in
            try await cache.set("seedio_counter", 10)
            #expect(try await cache.incr("seedio_counter") == 11)
            #expect(try await cache.incr("seedio_counter", by: 5) == 16)
            #expect(try await cache.decr("seedio_counter", by: 3) == 13)
        },
        "incr_float": { cache async throws in
            try await cache.set("seedio_fcounter", 10.0)
            #expect(try await cache.incr("seedio_fcounter", by: 2.5) == 12.5)
            #expect(try await cache.decr("seedio_fcounter", by: 0.25) == 12.25)
        },
        "delete": { cache async throws in
            try await cache.set("seedio_deleted", "x")
            try await cache.delete("seedio_deleted")
        },
        "delete_many": { cache async throws in
            try await cache.set("seedio_dm1", 1)
            try await cache.set("seedio_dm2", 2)
            try await cache.deleteMany(["seedio_dm1", "seedio_dm2"])
        },
        "touch_persist": { cache async throws in
            try await cache.set("seedio_touch_persist", "t", ttl: 60)
            #expect(try await cache.touch("seedio_touch_persist"))
        },
        "touch_expire": { cache async throws in
            try await cache.set("seedio_touch_ttl", "t")
            #expect(try await cache.touch("seedio_touch_ttl", ttl: 800))
        },
    ]
}

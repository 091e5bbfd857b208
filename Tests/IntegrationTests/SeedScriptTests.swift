import Foundation
import RedisTestSupport
import Testing

/// `scripts/seed_interop.py` drives the real async-caches 0.3.0: what it writes must be the wire vectors' bytes,
/// which proves the Python side of the interop test is the seed itself.
@Suite struct SeedScriptTests {
    @Test func seedWritesTheVectorBytesAndReadsEveryCaseBack() async throws {
        let script = try SeedInteropScript()
        let vectors = try WireVectorCase.all()
        let withValue = vectors.filter { $0.rawValue != nil }
        try #require(!withValue.isEmpty)

        // Its own server: `write` flushes the db, which must not touch nodes shared through CACHE_TEST_NODES.
        try await RedisServer.withServer(allowExternal: false) { server in
            try await script.write(to: server, db: 1)

            let dump = try await script.dump(from: server, db: 1)
            var dumped: [String: SeedDumpRecord] = [:]
            for record in dump {
                #expect(dumped.updateValue(record, forKey: record.rawKeyHex) == nil, "key \(record.rawKeyHex) dumped twice")
            }
            for vector in vectors {
                let record = dumped[vector.rawKey.hex]
                guard let rawValue = vector.rawValue else {
                    #expect(record == nil, "\(vector.case): \(vector.rawKey.utf8) should have been deleted")
                    continue
                }
                guard let record else {
                    Issue.record("\(vector.case): key \(vector.rawKey.utf8) is missing")
                    continue
                }
                #expect(record.rawValueHex == rawValue.hex, "\(vector.case): value bytes of \(vector.rawKey.utf8)")
                switch vector.ttl {
                case .persistent:
                    #expect(record.ttl == -1, "\(vector.case): \(vector.ttlRule)")
                case .expires(let limit):
                    #expect(record.ttl > 0 && record.ttl <= limit, "\(vector.case): TTL \(record.ttl), \(vector.ttlRule)")
                case nil:
                    Issue.record("\(vector.case): unknown TTL rule '\(vector.ttlRule)'")
                }
            }
            let expectedKeys = Set(withValue.map(\.rawKey.hex))
            #expect(Set(dumped.keys) == expectedKeys, "the seed wrote keys that no vector names")

            // Cross-checked without the script: the keys are in db 1 and nowhere else.
            let sizeOfDB1 = try await server.cli("-n", "1", "DBSIZE")
            #expect(sizeOfDB1 == String(expectedKeys.count))
            let sizeOfDB0 = try await server.cli("DBSIZE")
            #expect(sizeOfDB0 == "0")

            let records = try await script.read(from: server, db: 1)
            #expect(records.count == withValue.count)
            for (vector, record) in zip(withValue, records) {
                #expect(record.case == vector.case)
                #expect(record.key == vector.key)
                #expect(record.rawKeyHex == vector.rawKey.hex, "\(vector.case): read used another key")
                let text = try #require(vector.rawValue?.utf8)
                let expected = try JSONDecoder().decode(SeedValue.self, from: Data(text.utf8))
                #expect(record.value == expected, "\(vector.case): read \(record.value), stored \(text)")
                #expect(record.type == pythonType(ofJSON: text), "\(vector.case): \(text) read as \(record.type)")
            }
        }
    }

    @Test func readFailsWithAClearMessageWhenAKeyIsMissing() async throws {
        let script = try SeedInteropScript()
        try await RedisServer.withServer(allowExternal: false) { server in
            let error = await #expect(throws: RedisServerError.self) {
                try await script.read(from: server, db: 2)
            }
            #expect(error?.code == .processFailed)
            #expect(error?.message.contains("is not in the cache") == true, "\(String(describing: error))")
        }
    }

    /// The Python type `json.loads` gives a JSON text, from its first character and number syntax (docs/WIRE.md:
    /// `1` is int, `1.0` is float).
    private func pythonType(ofJSON text: String) -> String {
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

import NIOCore
import RESP
import Testing

@testable import Caches

/// `clear(scope:)`: the typed `SCAN` and counting `FLUSHDB` commands, the glob escaping of the prefix, and the
/// in-memory and dummy backends (IntegrationTests/ClearKeyPrefixTests.swift runs it against real nodes).
@Suite struct ClearScopeTests {
    @Test func scanWritesCursorPatternAndCountAndReadsTheBatch() throws {
        let scan = ScanCommand(cursor: "17", pattern: "p:*", count: 1000)
        #expect(CacheCommandTests.encoded(scan) == CacheCommandTests.command("SCAN", "17", "MATCH", "p:*", "COUNT", "1000"))
        #expect(scan.name.description == "SCAN")
        let reply = try CacheCommandTests.reply("*2\r\n$2\r\n42\r\n*2\r\n$5\r\np:1:a\r\n$5\r\np:2:b\r\n")
        let batch = try scan.decode(reply)
        #expect(batch.cursor == "42")
        #expect(batch.keys == ["p:1:a", "p:2:b"])
        let done = try scan.decode(try CacheCommandTests.reply("*2\r\n$1\r\n0\r\n*0\r\n"))
        #expect(done.cursor == "0" && done.keys.isEmpty)
        #expect(throws: CacheError.self) { try scan.decode(try CacheCommandTests.reply(":1\r\n")) }
    }

    @Test func theCountingFlushIsOneTransaction() throws {
        let flush = CountingFlushCommand()
        #expect(
            CacheCommandTests.encoded(flush)
                == CacheCommandTests.command("MULTI") + CacheCommandTests.command("DBSIZE")
                + CacheCommandTests.command("FLUSHDB", "ASYNC") + CacheCommandTests.command("EXEC")
        )
        #expect(flush.replyCount == 4)
        #expect(try flush.decode(try CacheCommandTests.reply("*2\r\n:12\r\n+OK\r\n")) == 12)
    }

    @Test func unlinkReportsHowManyKeysItRemoved() throws {
        let unlink = DeleteManyCommand(keys: ["a", "b"], selection: .all(2))
        #expect(try unlink.decode(try CacheCommandTests.reply(":1\r\n")) == 1)
    }

    @Test func theGlobCharactersOfThePrefixAreEscaped() {
        #expect(ScanCommand.pattern(forKeysOf: "forum") == "forum:*")
        #expect(ScanCommand.pattern(forKeysOf: "a*b?") == #"a\*b\?:*"#)
        #expect(ScanCommand.pattern(forKeysOf: "x[1-2]") == #"x\[1-2\]:*"#)
        #expect(ScanCommand.pattern(forKeysOf: #"back\slash"#) == #"back\\slash:*"#)
        #expect(ScanCommand.pattern(forKeysOf: "zoë:") == "zoë::*")
    }

    @Test func theMemoryBackendRemovesOnlyThePrefixesKeys() async throws {
        let store = "memory://clear-\(UInt64.random(in: 0...UInt64.max))"
        let a = try Cache(url: store, keyPrefix: "A")
        let b = try Cache(url: store, keyPrefix: "B")
        let lookalike = try Cache(url: store, keyPrefix: "AB")
        for cache in [a, b, lookalike] { try await cache.connect() }
        try await a.setMany((0..<100).map { ("k\($0)", $0) })
        try await a.set("other-version", 1, version: 7)
        try await b.set("k", 1)
        try await lookalike.set("k", 1)

        #expect(try await a.clear(scope: .keyPrefix) == 101)
        #expect(try await a.get("k1", as: Int.self) == nil)
        #expect(try await a.get("other-version", as: Int.self, version: 7) == nil)
        #expect(try await b.get("k", as: Int.self) == 1)
        #expect(try await lookalike.get("k", as: Int.self) == 1)
        #expect(try await a.clear(scope: .keyPrefix) == 0)
        #expect(try await b.clear(scope: .database) == 2)
        #expect(try await lookalike.get("k", as: Int.self) == nil)
        for cache in [a, b, lookalike] { try await cache.disconnect() }
    }

    @Test func anEmptyPrefixIsRefused() async throws {
        try await Cache.with(url: "memory://clear-no-prefix-\(UInt64.random(in: 0...UInt64.max))") { cache in
            try await cache.set("k", 1)
            let error = await #expect(throws: CacheError.self) { try await cache.clear(scope: .keyPrefix) }
            #expect(error?.code == .invalidArgument)
            #expect(try await cache.get("k", as: Int.self) == 1)
        }
    }

    @Test func theDummyBackendRemovesNothing() async throws {
        try await Cache.with(url: "dummy://", keyPrefix: "p") { cache async throws in
            #expect(try await cache.clear(scope: .keyPrefix) == 0)
            #expect(try await cache.clear(scope: .database) == 0)
        }
    }
}

/// The stampede lock's commands: `SET … PX … NX` and the compare-and-delete `EVAL`.
@Suite struct StampedeLockCommandTests {
    @Test func lockAndUnlockWriteTheirBytes() throws {
        let lock = LockCommand(lockKey: "caches-lock:p::k", token: "t1", milliseconds: 1500)
        #expect(CacheCommandTests.encoded(lock) == CacheCommandTests.command("SET", "caches-lock:p::k", "t1", "PX", "1500", "NX"))
        #expect(try lock.decode(try CacheCommandTests.reply("+OK\r\n")))
        #expect(try !lock.decode(try CacheCommandTests.reply("$-1\r\n")))
        let unlock = UnlockCommand(lockKey: "caches-lock:p::k", token: "t1")
        #expect(CacheCommandTests.encoded(unlock) == CacheCommandTests.command("EVAL", UnlockCommand.script, "1", "caches-lock:p::k", "t1"))
        #expect(unlock.name.description == "EVAL")
        #expect(try unlock.decode(try CacheCommandTests.reply(":1\r\n")))
    }

    @Test func theLockTtlIsWholeMillisecondsRoundedUp() {
        #expect(CacheStampedeLock(ttl: .seconds(10)).milliseconds == 10_000)
        #expect(CacheStampedeLock(ttl: .microseconds(1500)).milliseconds == 2)
        #expect(CacheStampedeLock(ttl: .zero).milliseconds == 1)
        #expect(CacheStampedeLock.lockKey(for: "p:2:k") == "caches-lock:p:2:k")
    }
}

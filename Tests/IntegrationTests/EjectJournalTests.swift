import Caches
import Foundation
import RedisTestSupport
import Testing

/// Issue 13: with `failure_policy=eject`, a node that comes back with its old data never serves a value older than
/// one this cache wrote. Pause node B → B is ejected → its keys are rewritten (on the survivors) → B resumes and is
/// re-admitted → every read returns the rewritten value (or misses), never B's old one.
@Suite("Eject: re-admission never serves stale values", .serialized)
struct EjectJournalTests {
    /// A ring of three named nodes under `eject` with `options`. Timeouts of 2 s: long enough that a loaded
    /// machine does not time out (and eject) a healthy node, short enough that the paused node is ejected soon.
    static func url(_ servers: [RedisServer], _ options: String) -> String {
        RedisServer.cacheURL(
            servers,
            options: ["names=node-a,node-b,node-c", "hash=md5", "timeout=2", "connect_timeout=2", "failure_policy=eject", options]
        )
    }

    struct Outcome {
        var stale = 0
        var rewritten = 0
        var missing = 0
        var deletedButRead = 0
        var nodeBKeysLeft = 0
    }

    /// Runs pause → rewrite → resume with `options` and reads everything back.
    static func pauseRewriteResume(_ options: String) async throws -> Outcome {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.url(servers, "eject_after=1&eject_retry=1" + (options.isEmpty ? "" : "&" + options)))
            try await cache.connect()
            let keys = (0..<300).map { "journal-\($0)" }
            let onB = keys.filter { cache.nodeName(for: $0) == "node-b" }
            try #require(onB.count > 40, "the ring puts some keys on node-b")
            try await cache.setMany(Dictionary(uniqueKeysWithValues: keys.map { ($0, "old") }))

            servers[1].pause()
            await #expect(throws: CacheError.self) { try await cache.get(onB[0], as: String.self) }
            #expect(cache.nodeName(for: onB[0]) != "node-b", "ejected at its first failure")
            // Rewrite every key while B is out: B's keys land on the survivors. Some are deleted instead, one by
            // one and in a batch, and some go through the single-key calls.
            let deleted = Array(onB.suffix(10))
            let singles = Array(onB.prefix(10))
            let rest = keys.filter { !deleted.contains($0) && !singles.contains($0) }
            try await cache.setMany(Dictionary(uniqueKeysWithValues: rest.map { ($0, "new") }))
            for key in singles { try await cache.set(key, "new") }
            try await cache.delete(deleted[0])
            try await cache.deleteMany(Array(deleted.dropFirst()))
            servers[1].resume()

            // B's retry time passes, it answers, its journal is cleaned and it takes its keys back.
            try await waitUntil("node-b back in the ring") { cache.nodeName(for: onB[0]) == "node-b" }
            var outcome = Outcome()
            for key in keys {
                switch try await cache.get(key, as: String.self) {
                case "old"?: outcome.stale += 1
                case "new"?: outcome.rewritten += 1
                case nil where deleted.contains(key): break
                case nil: outcome.missing += 1
                case let other?: Issue.record("unexpected value \(other) for \(key)")
                }
            }
            for key in deleted where try await cache.get(key, as: String.self) != nil {
                outcome.deletedButRead += 1
            }
            outcome.nodeBKeysLeft = Int(try await servers[1].cli("DBSIZE")) ?? -1
            try await cache.disconnect()
            return outcome
        }
    }

    @Test func journaledKeysAreUnlinkedBeforeTheNodeReturns() async throws {
        let outcome = try await Self.pauseRewriteResume("")
        #expect(outcome.stale == 0, "no read returned node-b's old value")
        #expect(outcome.deletedButRead == 0, "a key deleted while node-b was out stays deleted")
        #expect(outcome.rewritten > 0, "the keys of the other nodes kept their new values")
        #expect(outcome.missing > 0, "node-b's rewritten keys read as misses: their copies elsewhere were unlinked")
    }

    @Test func anOverflowingJournalFlushesTheNode() async throws {
        let outcome = try await Self.pauseRewriteResume("eject_journal=5")
        #expect(outcome.stale == 0)
        #expect(outcome.deletedButRead == 0)
        #expect(outcome.nodeBKeysLeft == 0, "more keys than the journal holds: node-b's database was flushed")
    }

    @Test func withoutAJournalTheNodeServesStaleValuesAsTwemproxyDoes() async throws {
        // The behaviour the journal exists to prevent, and what `eject_journal=0` documents: this is what makes
        // the two tests above able to fail.
        let outcome = try await Self.pauseRewriteResume("eject_journal=0")
        #expect(outcome.stale > 0)
    }

    @Test func aNodeThatStillDoesNotAnswerStaysOut() async throws {
        try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
            let cache = try Cache(url: Self.url(servers, "eject_after=1&eject_retry=0.2"))
            try await cache.connect()
            let onB = FailurePolicyTests.keys(on: "node-b", in: cache)
            servers[1].pause()
            await #expect(throws: CacheError.self) { try await cache.get(onB[0], as: String.self) }
            // Several retry times pass; each re-admission attempt pings the paused node and fails, so calls never
            // reach it and never fail.
            for round in 0..<20 {
                try await cache.set(onB[round % onB.count], "v\(round)")
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(cache.nodeName(for: onB[0]) != "node-b", "still out while it does not answer")
            servers[1].resume()
            try await waitUntil("node-b back once it answers") { cache.nodeName(for: onB[0]) == "node-b" }
            try await cache.disconnect()
        }
    }
}

import Caches
import Foundation
import RedisTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The cross-process stampede lock across real OS processes: `caches get-or-set --lock` run four times at once, each
/// with fifty callers, every computation a shell command that records itself in a file and waits for a gate file.
@Suite("Cross-process stampede lock across OS processes")
struct StampedeLockProcessTests {
    /// A scratch directory with the computation's record (`runs`, one line per run: the computing `caches` pid) and
    /// the gate it waits for.
    struct Scratch {
        let directory = NSTemporaryDirectory() + "caches-lock-\(UUID().uuidString)"
        var runs: String { self.directory + "/runs" }
        var gate: String { self.directory + "/gate" }

        init() throws {
            try FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        }

        /// The shell command of a computation: records its `caches` process, waits for the gate (when `waits`),
        /// then prints that process's value, `"from-PID"`. It also stops waiting once the scratch directory is gone,
        /// so a computation whose `caches` was killed does not outlive the test (the gate is removed with it).
        func computation(waits: Bool) -> [String] {
            let wait = waits ? "while [ ! -e '\(self.gate)' ] && [ -d '\(self.directory)' ]; do sleep 0.01; done; " : ""
            return ["sh", "-c", "echo $PPID >> '\(self.runs)'; \(wait)echo \"\\\"from-$PPID\\\"\""]
        }

        func lines(_ path: String) -> [String] {
            ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        /// Opens the gate, so every waiting computation (also one whose `caches` was killed) finishes.
        func openGate() { FileManager.default.createFile(atPath: self.gate, contents: nil) }

        func remove() { try? FileManager.default.removeItem(atPath: self.directory) }
    }

    func object(_ output: CLIProcess.Output) throws -> [String: Any] {
        let json = try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8))
        return try #require(json as? [String: Any], "not a JSON object: \(output.standardOutput) \(output.standardError)")
    }

    @Test func fourProcessesOfFiftyCallersComputeOnce() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the CLI first: swift build --build-tests")
        let scratch = try Scratch()
        defer {
            scratch.openGate()
            scratch.remove()
        }
        let url = try await TestNodes.shared.url(for: .ring)
        let key = "hot-\(UUID().uuidString)"
        // The lock and the wait outlast the slowest start of four processes on a loaded machine: had either run out,
        // a second process would compute, and the test would fail.
        let arguments = [
            "get-or-set", key, "--url", url, "--ttl", "60", "--lock", "--lock-expiry", "600", "--lock-wait", "600",
            "--callers", "50", "--json", "--",
        ]
        let errors = (0..<4).map { scratch.directory + "/stderr-\($0)" }
        let outputs = try await withThrowingTaskGroup(of: CLIProcess.Output.self) { group in
            for index in 0..<4 {
                group.addTask {
                    try await CLIProcess.run(
                        CLITests.binary,
                        arguments: arguments + scratch.computation(waits: true),
                        standardErrorPath: errors[index]
                    )
                }
            }
            do {
                // One process computes; the three others wait for its lock (each says so once).
                try await waitUntil(timeout: .seconds(300), "one process computing, three waiting for its lock") {
                    let waiting = errors.filter { scratch.lines($0).contains("caches: get-or-set: waiting for another process's lock") }
                    return waiting.count == 3 && !scratch.lines(scratch.runs).isEmpty
                }
            } catch {
                scratch.openGate()
                throw error
            }
            scratch.openGate()
            return try await group.reduce(into: [CLIProcess.Output]()) { $0.append($1) }
        }

        let runs = scratch.lines(scratch.runs)
        #expect(runs.count == 1, "one computation across the four processes: \(runs)")
        var computed = 0
        for output in outputs {
            #expect(output.status == 0, "\(output.standardError)")
            let object = try self.object(output)
            computed += try #require(object["computed"] as? Int)
            // Every one of the process's fifty callers got the one computed value.
            #expect(object["distinctValues"] as? [String] == ["from-\(runs.first ?? "?")"], "\(object)")
        }
        #expect(computed == 1)
        _ = try await CLIProcess.run(CLITests.binary, arguments: ["delete", key, "--url", url])
    }

    @Test func aKilledHolderBlocksOtherProcessesOnlyUntilItsLockExpires() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: CLITests.binary), "build the CLI first: swift build --build-tests")
        try await RedisServer.withServers(count: 1, allowExternal: false) { servers in
            let scratch = try Scratch()
            defer {
                scratch.openGate()
                scratch.remove()
            }
            let url = RedisServer.cacheURL(servers)
            let cache = try Cache(url: url)
            let lockKey = "caches-lock:" + cache.makeKey("hot")

            // A holds the lock (10 minutes: only the test ends it) and computes until it is killed.
            async let holder = CLIProcess.run(
                CLITests.binary,
                arguments: ["get-or-set", "hot", "--url", url, "--lock", "--lock-expiry", "600", "--json", "--"]
                    + scratch.computation(waits: true)
            )
            try await waitUntil(timeout: .seconds(120), "the holder computing") { !scratch.lines(scratch.runs).isEmpty }
            let holderPID = try #require(pid_t(scratch.lines(scratch.runs)[0]))
            kill(holderPID, SIGKILL)
            let killed = try await holder
            #expect(killed.status == 128 + SIGKILL)

            // B's ten callers find the dead holder's lock and wait.
            let takerErrors = scratch.directory + "/stderr-taker"
            async let taking = CLIProcess.run(
                CLITests.binary,
                arguments: [
                    "get-or-set", "hot", "--url", url, "--lock", "--lock-expiry", "600", "--lock-wait", "600", "--callers", "10",
                    "--json", "--",
                ] + scratch.computation(waits: false),
                standardErrorPath: takerErrors
            )
            try await waitUntil(timeout: .seconds(120), "B waiting for the dead holder's lock") {
                scratch.lines(takerErrors).contains("caches: get-or-set: waiting for another process's lock")
            }
            #expect(scratch.lines(scratch.runs).count == 1, "B does not compute while the dead holder's lock is there")
            // The lock expires (sooner than its 600 s, so the test need not wait for them): B takes over.
            let clock = ContinuousClock()
            let start = clock.now
            #expect(try await servers[0].cli("PEXPIRE", lockKey, "300").contains("1"))
            let taker = try await taking
            #expect(clock.now - start >= .milliseconds(280), "B finished before the dead holder's lock expired")
            #expect(taker.status == 0, "\(taker.standardError)")
            let object = try self.object(taker)
            let runs = scratch.lines(scratch.runs)
            #expect(runs.count == 2, "\(runs)")
            #expect(object["computed"] as? Int == 1)
            #expect(object["distinctValues"] as? [String] == ["from-\(runs.last ?? "?")"])
            #expect(try await servers[0].cli("EXISTS", lockKey).contains("0"), "B released its lock")
            #expect(try await cache.withConnection { try await $0.get("hot", as: String.self) } == "from-\(runs.last ?? "?")")
        }
    }
}

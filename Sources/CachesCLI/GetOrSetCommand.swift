import ArgumentParser
import Caches
import Foundation
import NIOConcurrencyHelpers

/// `caches get-or-set KEY -- COMMAND…`: a cached value, computed by a shell command on a miss.
///
/// Memoises an expensive command across hosts: every caller of every process gets the stored value, and on a miss
/// one run of the command (per process by single flight; across processes with `--lock`) computes it.
struct GetOrSetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get-or-set",
        abstract: "Print a key's value; on a miss, run a command, store its output and print that.",
        discussion: """
            The command's standard output is the value: JSON text, or any text with --string. A command that exits
            non-zero stores nothing and fails the call (exit code 5). With --lock, one caller across all processes
            runs the command while the others wait up to --lock-wait seconds for its value (the lock key expires
            after --lock-expiry seconds, so a holder that dies does not block the others longer); --callers runs
            that many concurrent callers in this process (single flight: the command runs once for all of them).

            Examples:
              caches get-or-set report:daily --ttl 3600 --lock --string -- ./make-report.sh
              caches get-or-set hot --ttl 60 --lock --callers 50 --json -- sh -c 'echo 42'
            """
    )

    @OptionGroup var key: KeyOptions

    @Option(help: "Time to live in whole seconds; default: the configuration's (none if it has none).")
    var ttl: Int?

    @Flag(help: "Store the command's output as a JSON string instead of parsing it as JSON text.")
    var string = false

    @Flag(help: "Take the key's cross-process lock before running the command (CacheStampedeLock).")
    var lock = false

    @Option(help: "Seconds before a held lock expires (with --lock).")
    var lockExpiry: Double = 10

    @Option(help: "Seconds a caller waits for another process's value before computing itself (with --lock).")
    var lockWait: Double = 5

    @Option(help: "Concurrent callers in this process (they share one run of the command).")
    var callers: Int = 1

    @OptionGroup var options: CacheOptions

    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        guard !self.command.isEmpty else { throw ValidationError("give the command after --") }
        guard (1...10_000).contains(self.callers) else { throw ValidationError("--callers must be between 1 and 10000") }
        for (name, seconds) in [("--lock-expiry", self.lockExpiry), ("--lock-wait", self.lockWait)] {
            guard seconds > 0, seconds <= 86_400 else { throw ValidationError("\(name) must be between 0 and 86400 seconds") }
        }
        if !self.lock, self.lockExpiry != 10 || self.lockWait != 5 {
            throw ValidationError("--lock-expiry and --lock-wait need --lock")
        }
    }

    func run() async throws {
        let command = self.command
        let asString = self.string
        let lock =
            self.lock
            ? CacheStampedeLock(ttl: .milliseconds(Int64(self.lockExpiry * 1000)), wait: .milliseconds(Int64(self.lockWait * 1000)))
            : nil
        let runs = NIOLockedValueBox(0)
        let callers = self.callers
        let (values, node) = try await self.options.withCache { cache in
            // Said once when a caller waits for another holder's lock, for scripts (and tests) that coordinate processes.
            let monitor =
                lock == nil
                ? nil
                : Task {
                    while !Task.isCancelled {
                        if cache.lockWaitCount > 0 {
                            printError("caches: get-or-set: waiting for another process's lock")
                            return
                        }
                        try? await Task.sleep(for: .milliseconds(10))
                    }
                }
            defer { monitor?.cancel() }
            let values = try await withThrowingTaskGroup(of: JSONValue.self) { group in
                for _ in 0..<callers {
                    group.addTask {
                        return try await cache.getOrSet(
                            self.key.key,
                            as: JSONValue.self,
                            ttl: self.ttl,
                            version: self.key.cacheVersion,
                            lock: lock
                        ) {
                            runs.withLockedValue { $0 += 1 }
                            return try await Self.compute(command, asString: asString)
                        }
                    }
                }
                return try await group.reduce(into: [JSONValue]()) { $0.append($1) }
            }
            return (values, cache.nodeName(for: self.key.key, version: self.key.cacheVersion))
        }
        let distinct = Array(Set(values)).sorted { CLIJSON.text($0) < CLIJSON.text($1) }
        if self.options.json {
            CLIJSON.print([
                "key": .string(self.key.key), "value": values[0], "computed": .int(runs.withLockedValue { $0 }),
                "callers": .int(callers), "distinctValues": .array(distinct), "node": node.map { .string($0) } ?? .null,
            ])
        } else {
            for value in distinct { print(CLIJSON.text(value)) }
        }
    }

    /// Runs the command and returns its standard output as a value.
    static func compute(_ command: [String], asString: Bool) async throws -> JSONValue {
        let output = try await Task.detached { try Self.runProcess(command) }.value
        var text = output
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        if asString { return .string(text) }
        return try CLIJSON.parse(text, argument: "the output of \(command[0])")
    }

    /// Runs a process to completion (found on PATH), returning its standard output; standard error passes through.
    private static func runProcess(_ command: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        let pipe = Pipe()
        process.standardOutput = pipe
        do {
            try process.run()
        } catch {
            throw CacheError(.invalidArgument, "cannot run \(command[0]): \(error)")
        }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            printError("caches: \(command[0]) exited with status \(process.terminationStatus); nothing stored")
            throw CLIExitCode.commandFailed
        }
        return String(decoding: data, as: UTF8.self)
    }
}

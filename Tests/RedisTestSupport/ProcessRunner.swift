import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What a finished helper process printed and how it exited.
public struct ProcessOutput: Sendable {
    /// The exit status (or the signal number when ``wasSignalled``).
    public let status: Int32
    /// Whether a signal ended the process.
    public let wasSignalled: Bool
    /// Everything the process wrote to standard output.
    public let standardOutput: String
    /// Everything the process wrote to standard error.
    public let standardError: String

    /// Whether the process exited normally with status 0.
    public var succeeded: Bool { !self.wasSignalled && self.status == 0 }
}

/// Runs short-lived helper processes (`redis-cli`, the Python seed script) with a deadline.
public enum ProcessRunner {
    /// Runs an executable to completion and collects its output.
    ///
    /// Output goes to temporary files, so a chatty process never blocks on a full pipe. A process still running at
    /// the deadline is killed with `SIGKILL`.
    ///
    /// - Parameters:
    ///   - executable: The absolute path of the executable.
    ///   - arguments: The arguments, without the executable itself.
    ///   - environment: Variables added to (or replacing those of) this process's environment.
    ///   - unsetting: Variables of this process's environment that the child must not see.
    ///   - timeout: How long the process may run.
    /// - Returns: The exit status and the captured output, whatever the status.
    /// - Throws: ``RedisServerError`` `.startFailed` if it cannot be launched, `.timedOut` at the deadline.
    public static func run(
        _ executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        unsetting: [String] = [],
        timeout: Duration = .seconds(30)
    ) async throws -> ProcessOutput {
        let directory = try TemporaryDirectory.make(prefix: "swift-caches-process")
        defer { TemporaryDirectory.remove(directory) }
        let stdoutPath = directory + "/stdout"
        let stderrPath = directory + "/stderr"
        guard FileManager.default.createFile(atPath: stdoutPath, contents: nil),
            FileManager.default.createFile(atPath: stderrPath, contents: nil),
            let stdoutHandle = FileHandle(forWritingAtPath: stdoutPath),
            let stderrHandle = FileHandle(forWritingAtPath: stderrPath)
        else {
            throw RedisServerError(.startFailed, "cannot create output files in \(directory)")
        }

        var childEnvironment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        for name in unsetting {
            childEnvironment[name] = nil
        }
        try? stdoutHandle.close()
        try? stderrHandle.close()
        let (pid, exited, status) = try ChildProcess.spawn(
            executable: executable,
            arguments: arguments,
            environment: childEnvironment,
            stdoutFile: stdoutPath,
            stderrFile: stderrPath
        )
        let finished = await exited.wait(timeout: timeout)
        if !finished {
            kill(pid, SIGKILL)
            await exited.wait()
        }
        let output = ProcessOutput(
            status: status.exitCode ?? -1,
            wasSignalled: status.wasSignalled,
            standardOutput: Self.readText(stdoutPath),
            standardError: Self.readText(stderrPath)
        )
        guard finished else {
            let command = ([executable] + arguments).joined(separator: " ")
            throw RedisServerError(
                .timedOut,
                "`\(command)` did not finish within \(timeout); stdout: \(output.standardOutput) stderr: \(output.standardError)"
            )
        }
        return output
    }

    /// Finds an executable by name in `PATH`, then in `/usr/local/bin`, `/usr/bin`, `/usr/sbin`, `/bin` and `/sbin`.
    ///
    /// - Parameter name: The executable's file name, such as `redis-server`.
    /// - Returns: Its absolute path, or `nil` if no directory has it.
    public static func locate(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories =
            path.split(separator: ":").map(String.init)
            + ["/usr/local/bin", "/usr/bin", "/usr/sbin", "/bin", "/sbin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }

    private static func readText(_ path: String) -> String {
        guard let data = FileManager.default.contents(atPath: path) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }
}

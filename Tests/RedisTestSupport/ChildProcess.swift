import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Spawns long-running server processes with `posix_spawn`, with a clean signal mask.
///
/// `Foundation.Process` passes on the spawning thread's blocked-signal mask, and in a test process that blocks
/// `SIGTERM`, so a server started through it ignores a polite stop. This spawner resets the mask and the signal
/// dispositions, and reaps the child on a dedicated thread that blocks in `waitpid` (Foundation only reaps the
/// processes it started itself, so the two never race).
enum ChildProcess {
    /// Starts `executable` with `arguments`, standard input from `/dev/null`, standard output and error appended
    /// to `outputFile`, and this process's environment.
    ///
    /// - Parameters:
    ///   - executable: The absolute path of the executable.
    ///   - arguments: The arguments, without the executable itself.
    ///   - outputFile: The file that receives standard output and error (created or truncated).
    /// - Returns: The child's process id and the event that fires once it has exited and been reaped.
    /// - Throws: ``RedisServerError`` `.startFailed` if `posix_spawn` fails.
    static func spawn(executable: String, arguments: [String], outputFile: String) throws -> (pid: Int32, exit: ExitSignal) {
        let (pid, exit, _) = try Self.spawn(executable: executable, arguments: arguments, environment: nil, stdoutFile: outputFile, stderrFile: nil)
        return (pid, exit)
    }

    /// Spawns a process with its own output files and environment; its wait status is recorded when it is reaped.
    ///
    /// Foundation's `Process` reaps through a dispatch source that can starve when many tests run processes at once
    /// (a child left a zombie and its termination handler never ran), so every test process goes through here.
    ///
    /// - Parameters:
    ///   - executable: The absolute path of the executable.
    ///   - arguments: The arguments, without the executable itself.
    ///   - environment: The child's environment, or nil for this process's.
    ///   - stdoutFile: The file that receives standard output (created or truncated).
    ///   - stderrFile: The file that receives standard error, or nil for the same file as standard output.
    /// - Returns: The process id, the exit event and the box that holds the wait status once it has fired.
    /// - Throws: ``RedisServerError`` `.startFailed` if `posix_spawn` fails.
    static func spawn(
        executable: String,
        arguments: [String],
        environment: [String: String]?,
        stdoutFile: String,
        stderrFile: String?
    ) throws -> (pid: Int32, exit: ExitSignal, status: WaitStatus) {
        #if canImport(Darwin)
            var actions: posix_spawn_file_actions_t? = nil
            var attributes: posix_spawnattr_t? = nil
        #else
            var actions = posix_spawn_file_actions_t()
            var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdoutFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        if let stderrFile {
            posix_spawn_file_actions_addopen(&actions, 2, stderrFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        #if os(Linux)
            // Close every other inherited descriptor. Without this, a server started while a Foundation.Process runs
            // elsewhere in the test process inherits that process's pipe, and the pipe's reader (for example
            // TestCertificates reading openssl's stderr to EOF) waits for as long as the server lives.
            // glibc 2.34+ has posix_spawn_file_actions_addclosefrom_np, but Swift's Glibc module does not declare it.
            typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
            if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
                _ = unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, 3)
            }
        #endif

        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
        }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer {
            for pointer in envp ?? [] { free(pointer) }
        }
        var pid: pid_t = 0
        let result = argv.withUnsafeBufferPointer { buffer in
            if let envp {
                return envp.withUnsafeBufferPointer { env in
                    posix_spawn(&pid, executable, &actions, &attributes, buffer.baseAddress!, env.baseAddress!)
                }
            }
            return posix_spawn(&pid, executable, &actions, &attributes, buffer.baseAddress!, environ)
        }
        guard result == 0 else {
            throw RedisServerError(.startFailed, "posix_spawn \(executable) failed: \(String(cString: strerror(result)))")
        }

        let exit = ExitSignal()
        let waitStatus = WaitStatus()
        let reaper = Thread { [pid] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            waitStatus.value.withLockedValue { $0 = status }
            exit.signal()
        }
        reaper.name = "reaper \(pid)"
        reaper.start()
        return (pid, exit, waitStatus)
    }

    /// A child's raw wait status, set when it is reaped.
    final class WaitStatus: Sendable {
        let value = NIOLockedValueBox<Int32?>(nil)

        /// The exit code, or nil if the child was killed by a signal (or is not reaped yet).
        var exitCode: Int32? {
            guard let status = self.value.withLockedValue({ $0 }) else { return nil }
            return status & 0x7f == 0 ? (status >> 8) & 0xff : nil
        }

        /// Whether a signal ended the child.
        var wasSignalled: Bool {
            guard let status = self.value.withLockedValue({ $0 }) else { return false }
            let signal = status & 0x7f
            return signal != 0 && signal != 0x7f
        }
    }
}

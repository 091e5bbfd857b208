import Foundation

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
        posix_spawn_file_actions_addopen(&actions, 1, outputFile, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
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
        var pid: pid_t = 0
        let result = argv.withUnsafeBufferPointer { buffer in
            posix_spawn(&pid, executable, &actions, &attributes, buffer.baseAddress!, environ)
        }
        guard result == 0 else {
            throw RedisServerError(.startFailed, "posix_spawn \(executable) failed: \(String(cString: strerror(result)))")
        }

        let exit = ExitSignal()
        let reaper = Thread { [pid] in
            var status: Int32 = 0
            while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
            exit.signal()
        }
        reaper.name = "redis-server reaper \(pid)"
        reaper.start()
        return (pid, exit)
    }
}

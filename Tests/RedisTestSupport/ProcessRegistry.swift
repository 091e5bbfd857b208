import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The `redis-server` processes (and their working directories) this test process started and has not yet
/// cleaned up.
///
/// An `atexit` handler sends `SIGKILL` to every process still listed and removes the directories, so a test run
/// that ends early (a failed `#require`, a server started with ``RedisServer/start(password:aclUser:tls:extraArguments:allowExternal:)``
/// and never stopped) leaves no server behind. A crash by signal skips `atexit` handlers; nothing can help then.
enum ProcessRegistry {
    private struct Entries {
        var pids: Set<Int32> = []
        var directories: Set<String> = []
    }

    private static let entries = NIOLockedValueBox(Entries())
    private static let installHandler: Void = {
        atexit {
            ProcessRegistry.cleanUpAll()
        }
    }()

    /// Records a started process.
    ///
    /// - Parameter pid: Its process id.
    static func register(pid: Int32) {
        _ = self.installHandler
        self.entries.withLockedValue { _ = $0.pids.insert(pid) }
    }

    /// Forgets a process that has exited.
    ///
    /// - Parameter pid: Its process id.
    static func unregister(pid: Int32) {
        self.entries.withLockedValue { _ = $0.pids.remove(pid) }
    }

    /// Records a server's working directory.
    ///
    /// - Parameter directory: Its path.
    static func register(directory: String) {
        _ = self.installHandler
        self.entries.withLockedValue { _ = $0.directories.insert(directory) }
    }

    /// Forgets a working directory that has been removed.
    ///
    /// - Parameter directory: Its path.
    static func unregister(directory: String) {
        self.entries.withLockedValue { _ = $0.directories.remove(directory) }
    }

    /// Kills every process still listed and removes every directory still listed.
    static func cleanUpAll() {
        let entries = self.entries.withLockedValue { entries in
            defer { entries = Entries() }
            return entries
        }
        for pid in entries.pids {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
        }
        for directory in entries.directories {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}

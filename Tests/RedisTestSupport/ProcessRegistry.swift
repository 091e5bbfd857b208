import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `redis-server` processes this test process started and has not yet reaped.
///
/// An `atexit` handler sends `SIGKILL` to every one still listed, so a test run that ends early (a failed
/// `#require`, a thrown error outside ``RedisServer/withServer(password:aclUser:tls:extraArguments:allowExternal:isolation:_:)``)
/// leaves no server behind.
enum ProcessRegistry {
    private static let live = Mutex<Set<Int32>>([])
    private static let installHandler: Void = {
        atexit {
            ProcessRegistry.killAll()
        }
    }()

    /// Records a started process.
    ///
    /// - Parameter pid: Its process id.
    static func register(_ pid: Int32) {
        _ = self.installHandler
        self.live.withLock { _ = $0.insert(pid) }
    }

    /// Forgets a process that has exited.
    ///
    /// - Parameter pid: Its process id.
    static func unregister(_ pid: Int32) {
        self.live.withLock { _ = $0.remove(pid) }
    }

    /// Kills every process still listed.
    static func killAll() {
        let pids = self.live.withLock { pids in
            defer { pids = [] }
            return pids
        }
        for pid in pids {
            kill(pid, SIGCONT)
            kill(pid, SIGKILL)
        }
    }
}

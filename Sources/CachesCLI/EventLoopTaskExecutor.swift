import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs tasks on one SwiftNIO event loop: a `TaskExecutor` for `withTaskExecutorPreference`.
///
/// `caches` runs its commands with this preference, and `caches bench` spreads its callers over every loop of
/// SwiftNIO's singleton group. A caller's pool opens a connection on the caller's own loop and prefers it, so a
/// reply resumes its caller on the thread that read it, and a command is written on the thread it was encoded on:
/// no hop to Swift's global executor and back per call.
final class EventLoopTaskExecutor: TaskExecutor, @unchecked Sendable {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        self.eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}

extension EventLoopTaskExecutor {
    /// One executor per loop of the singleton group; nil when `CACHES_EVENT_LOOP_EXECUTOR=0` keeps Swift's global
    /// executor (for comparison).
    static let everyLoop: [EventLoopTaskExecutor]? = {
        if let setting = getenv("CACHES_EVENT_LOOP_EXECUTOR"), String(cString: setting) == "0" {
            return nil
        }
        return MultiThreadedEventLoopGroup.singleton.makeIterator().map(EventLoopTaskExecutor.init)
    }()
}

import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A loopback port whose listen queue is full: the kernel drops new connection attempts (their SYNs), so a client's
/// connect neither succeeds nor fails until its own timeout. A node whose listen backlog overflowed looks like this.
///
/// The listener never accepts; sockets connected to it fill its queue (backlog 0 holds one). ``close()`` releases
/// everything, after which a connect is refused.
public final class BlackHoleListener: Sendable {
    /// The port on 127.0.0.1.
    public let port: Int
    /// The listener and the queued clients, closed once by ``close()`` (from any task) or at deinit.
    private let descriptors: NIOLockedValueBox<[Int32]>

    /// Opens the listener and fills its queue.
    ///
    /// - Throws: ``RedisServerError`` `.startFailed` if a socket cannot be made, bound or connected.
    public init() throws {
        let listener = Loopback.makeSocket()
        guard listener >= 0 else { throw RedisServerError(.startFailed, "socket() failed: errno \(errno)") }
        var address = Loopback.loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(listener, 0) == 0 else {
            _ = systemClose(listener)
            throw RedisServerError(.startFailed, "cannot listen on a loopback port: errno \(errno)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        var descriptors = [listener]
        // Fill the accept queue: connections that complete stay queued because nobody accepts them. Non-blocking,
        // so the attempts beyond the queue's size (dropped SYNs) do not block this thread.
        for _ in 0..<4 {
            let client = Loopback.makeSocket()
            guard client >= 0 else { continue }
            _ = fcntl(client, F_SETFL, fcntl(client, F_GETFL) | O_NONBLOCK)
            var target = Loopback.loopbackAddress(port: self.port)
            _ = withUnsafePointer(to: &target) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            descriptors.append(client)
        }
        self.descriptors = NIOLockedValueBox(descriptors)
    }

    /// The address as `host:port`.
    public var address: String { "127.0.0.1:\(self.port)" }

    /// Closes the listener and the sockets that filled its queue.
    public func close() {
        let descriptors = self.descriptors.withLockedValue { descriptors in
            defer { descriptors.removeAll() }
            return descriptors
        }
        for fd in descriptors { _ = systemClose(fd) }
    }

    deinit { self.close() }
}

private func systemClose(_ fd: Int32) -> Int32 {
    close(fd)
}

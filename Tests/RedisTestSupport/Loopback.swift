import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Loopback socket helpers: free ports and a RESP `PING` probe. Everything binds or connects to 127.0.0.1 only.
enum Loopback {
    /// The ports this process has already handed out, so two servers started at once never get the same one.
    private static let handedOut = NIOLockedValueBox<Set<Int>>([])

    /// Picks a TCP port on 127.0.0.1 that is free right now.
    ///
    /// It prefers a random port below the kernel's ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`), so
    /// a client's outgoing connection cannot take the port while a test has the server down for a restart; it
    /// falls back to binding port 0. Another process may still take the port before the server binds it: callers
    /// retry on "address in use".
    ///
    /// - Returns: The port.
    /// - Throws: ``RedisServerError`` `.startFailed` if no socket can be bound.
    static func freePort() throws -> Int {
        let ephemeralStart = self.ephemeralRangeStart()
        if ephemeralStart > 12_000 {
            for _ in 0..<64 {
                let port = Int.random(in: 10_000..<ephemeralStart)
                if self.reserve(port), (try? self.bind(port: port)) == port {
                    return port
                }
            }
        }
        for _ in 0..<32 {
            let port = try self.bind(port: 0)
            if self.reserve(port) {
                return port
            }
        }
        throw RedisServerError(.startFailed, "no free loopback port found")
    }

    /// Marks a port as handed out; `false` if it already was.
    private static func reserve(_ port: Int) -> Bool {
        self.handedOut.withLockedValue { ports in ports.insert(port).inserted }
    }

    /// The first port of the kernel's ephemeral range, or 0 if it cannot be read.
    private static func ephemeralRangeStart() -> Int {
        guard let text = try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8),
            let first = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first,
            let low = Int(first)
        else { return 0 }
        return low
    }

    /// Sends `PING` to 127.0.0.1:`port` and reports whether any RESP reply (`+PONG`, `-NOAUTH …`) came back.
    ///
    /// - Parameters:
    ///   - port: The TCP port.
    ///   - timeoutMilliseconds: The limit for connecting, sending and receiving, each.
    /// - Returns: `true` if a server answered.
    static func answersPing(port: Int, timeoutMilliseconds: Int = 500) -> Bool {
        let fd = self.makeSocket()
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: .init((timeoutMilliseconds % 1000) * 1000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = self.loopbackAddress(port: port)
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        let request = Array("PING\r\n".utf8)
        let sent = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        guard sent == request.count else { return false }
        var reply = [UInt8](repeating: 0, count: 64)
        let received = reply.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        return received > 0 && (reply[0] == UInt8(ascii: "+") || reply[0] == UInt8(ascii: "-"))
    }

    /// Binds a socket to 127.0.0.1:`port` (0 for any) and closes it.
    ///
    /// - Returns: The port that was bound.
    private static func bind(port: Int) throws -> Int {
        let fd = self.makeSocket()
        guard fd >= 0 else { throw RedisServerError(.startFailed, "socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = self.loopbackAddress(port: port)
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                systemBind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw RedisServerError(.startFailed, "bind(127.0.0.1:\(port)) failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw RedisServerError(.startFailed, "getsockname failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func makeSocket() -> Int32 {
        #if canImport(Glibc)
            socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            socket(AF_INET, SOCK_STREAM, 0)
        #endif
    }

    static func loopbackAddress(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        return address
    }
}

/// `bind(2)`, reachable under another name because ``Loopback`` has its own `bind(port:)`.
private func systemBind(_ fd: Int32, _ address: UnsafePointer<sockaddr>, _ length: socklen_t) -> Int32 {
    bind(fd, address, length)
}

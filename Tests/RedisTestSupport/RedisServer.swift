import Foundation
import NIOConcurrencyHelpers

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A real `redis-server` process on a free loopback port, owned by the test that started it.
///
/// Each server binds 127.0.0.1 only, runs in its own temporary directory with `--save ''`, `--appendonly no` and
/// `--daemonize no`, and is stopped by its process id. Prefer the scoped
/// ``withServer(password:aclUser:tls:extraArguments:allowExternal:isolation:_:)`` and
/// ``withServers(count:password:aclUser:tls:extraArguments:allowExternal:isolation:_:)``, which always stop their
/// servers; any server still running when the test process exits is killed by an `atexit` handler.
///
/// If `redis-server` is not installed, ``start(password:aclUser:tls:extraArguments:allowExternal:)`` throws
/// ``RedisServerError`` `.toolNotFound` ("redis-server not found: run `make deps`"), so the tests fail instead of
/// skipping.
///
/// ## Servers that already run: `CACHE_TEST_NODES`
///
/// When the environment variable `CACHE_TEST_NODES` holds comma-separated `host:port` pairs
/// (`127.0.0.1:7000,127.0.0.1:7001`), a plain `start()` (no password, ACL user, TLS or extra arguments, and
/// `allowExternal` left `true`) hands out those nodes round-robin instead of starting a process, and
/// `withServers(count:)` uses the first `count` of them when there are enough. Such nodes are not owned:
/// ``stop()`` leaves them running, ``restart()`` throws `.notOwned`, and ``kill()``, ``pause()`` and ``resume()``
/// stop the test with a precondition failure. Tests that control the process pass `allowExternal: false`.
public final class RedisServer: Sendable {
    /// The TLS files and options of a server started with `--tls-port`.
    public struct TLSFiles: Sendable {
        /// The server's certificate (PEM), `--tls-cert-file`.
        public var certFile: String
        /// The server's private key (PEM), `--tls-key-file`.
        public var keyFile: String
        /// The CA certificate (PEM) that signed the server's (and clients') certificates, `--tls-ca-cert-file`.
        public var caFile: String
        /// Whether the server requires client certificates, `--tls-auth-clients yes|no`.
        public var authClients: Bool
        /// Whether the server also listens on a plaintext port; if not, it runs with `--port 0`.
        public var keepPlaintextPort: Bool
        /// The client certificate ``RedisServer/cli(timeout:authenticate:_:)`` presents when ``authClients`` is
        /// set; `nil` uses ``certFile``.
        public var clientCertFile: String?
        /// The key of ``clientCertFile``; `nil` uses ``keyFile``.
        public var clientKeyFile: String?

        /// Creates a TLS setup.
        ///
        /// - Parameters:
        ///   - certFile: The server's certificate (PEM).
        ///   - keyFile: The server's private key (PEM).
        ///   - caFile: The CA certificate (PEM).
        ///   - authClients: Whether clients must present a certificate. Defaults to `false`.
        ///   - keepPlaintextPort: Whether a plaintext port stays open too. Defaults to `false`.
        ///   - clientCertFile: The client certificate `cli` presents; `nil` uses `certFile`.
        ///   - clientKeyFile: The key of `clientCertFile`; `nil` uses `keyFile`.
        public init(
            certFile: String,
            keyFile: String,
            caFile: String,
            authClients: Bool = false,
            keepPlaintextPort: Bool = false,
            clientCertFile: String? = nil,
            clientKeyFile: String? = nil
        ) {
            self.certFile = certFile
            self.keyFile = keyFile
            self.caFile = caFile
            self.authClients = authClients
            self.keepPlaintextPort = keepPlaintextPort
            self.clientCertFile = clientCertFile
            self.clientKeyFile = clientKeyFile
        }
    }

    /// The address the server listens on: always `"127.0.0.1"` for servers this harness starts.
    public let host: String
    /// The plaintext port, or 0 if the server listens on TLS only.
    public let port: Int
    /// The TLS port (`--tls-port`), or `nil` without TLS.
    public let tlsPort: Int?
    /// The default user's password (`--requirepass`), if any.
    public let password: String?
    /// The extra ACL user's name, if any.
    public let aclUserName: String?
    /// The extra ACL user's password, if any.
    public let aclUserPassword: String?
    /// The TLS setup, if any.
    public let tls: TLSFiles?
    /// Whether this node came from `CACHE_TEST_NODES` rather than from a process this harness started.
    public let isExternal: Bool
    /// The server's private working directory (empty for external nodes).
    public let directory: String

    private let executable: String
    private let arguments: [String]
    private let state: NIOLockedValueBox<ProcessState>

    /// How long ``start(password:aclUser:tls:extraArguments:allowExternal:)`` and ``restart()`` wait for readiness.
    static let readinessTimeout: Duration = .seconds(10)
    /// How long ``stop()`` waits after `SIGTERM` before it sends `SIGKILL`.
    static let stopTimeout: Duration = .seconds(5)

    /// The process id of the running server, or 0 if it is not running (or the node is external).
    public var pid: Int32 { self.state.withLockedValue { $0.pid } }

    /// Whether the server process is running (stopped by ``pause()`` counts as running).
    public var isRunning: Bool { self.state.withLockedValue { $0.pid != 0 } }

    /// `host:port` of the plaintext port, or of the TLS port if there is no plaintext one.
    public var address: String { "\(self.host):\(self.port != 0 ? self.port : (self.tlsPort ?? 0))" }

    /// The server's log file (empty for external nodes).
    public var logFile: String { self.directory.isEmpty ? "" : self.directory + "/redis.log" }

    private init(
        host: String,
        port: Int,
        tlsPort: Int?,
        password: String?,
        aclUser: (name: String, password: String)?,
        tls: TLSFiles?,
        isExternal: Bool,
        directory: String,
        executable: String,
        arguments: [String]
    ) {
        self.host = host
        self.port = port
        self.tlsPort = tlsPort
        self.password = password
        self.aclUserName = aclUser?.name
        self.aclUserPassword = aclUser?.password
        self.tls = tls
        self.isExternal = isExternal
        self.directory = directory
        self.executable = executable
        self.arguments = arguments
        self.state = NIOLockedValueBox(ProcessState())
    }

    deinit {
        let (pid, _) = self.state.withLockedValue { state in (state.pid, state.exit) }
        if pid != 0 {
            signalProcess(pid, SIGCONT)
            signalProcess(pid, SIGKILL)
            ProcessRegistry.unregister(pid: pid)
        }
        if !self.directory.isEmpty {
            TemporaryDirectory.remove(self.directory)
            ProcessRegistry.unregister(directory: self.directory)
        }
    }

    // MARK: Starting

    /// Starts a `redis-server` on free loopback port(s) and waits until it answers.
    ///
    /// - Parameters:
    ///   - password: The default user's password (`--requirepass`).
    ///   - aclUser: An extra ACL user with all permissions (`--user NAME on >PASSWORD ~* &* +@all`).
    ///   - tls: TLS files; the server then listens on ``tlsPort`` (and on ``port`` only if
    ///     ``TLSFiles/keepPlaintextPort``).
    ///   - extraArguments: More `redis-server` arguments, appended last (`["--maxmemory", "1mb"]`).
    ///   - allowExternal: Whether a node from `CACHE_TEST_NODES` may be returned instead (see the type's
    ///     documentation). Pass `false` when the test kills, pauses or restarts the server.
    /// - Returns: The running server.
    /// - Throws: ``RedisServerError`` `.toolNotFound` if `redis-server` is not installed, `.startFailed` or
    ///   `.notReady` (with the log's tail) if it does not come up.
    public static func start(
        password: String? = nil,
        aclUser: (name: String, password: String)? = nil,
        tls: TLSFiles? = nil,
        extraArguments: [String] = [],
        allowExternal: Bool = true
    ) async throws -> RedisServer {
        let plain = password == nil && aclUser == nil && tls == nil && extraArguments.isEmpty
        if allowExternal && plain, let nodes = try ExternalNodes.configured() {
            return nodes.next()
        }
        guard let executable = ProcessRunner.locate("redis-server") else {
            throw RedisServerError(.toolNotFound, "redis-server not found: run `make deps`")
        }
        var lastError: (any Error)?
        for _ in 0..<5 {
            let directory = try TemporaryDirectory.make(prefix: "swift-caches-redis")
            ProcessRegistry.register(directory: directory)
            let port = tls.map(\.keepPlaintextPort) ?? true ? try Loopback.freePort() : 0
            let tlsPort = tls == nil ? nil : try Loopback.freePort()
            let server = RedisServer(
                host: "127.0.0.1",
                port: port,
                tlsPort: tlsPort,
                password: password,
                aclUser: aclUser,
                tls: tls,
                isExternal: false,
                directory: directory,
                executable: executable,
                arguments: Self.arguments(
                    port: port,
                    tlsPort: tlsPort,
                    directory: directory,
                    password: password,
                    aclUser: aclUser,
                    tls: tls,
                    extraArguments: extraArguments
                )
            )
            do {
                try await server.launchAndAwaitReadiness()
                return server
            } catch let error as PortInUse {
                // Someone took the port between our probe and the server's bind: try new ports.
                lastError = error
                continue
            }
        }
        throw RedisServerError(.startFailed, "redis-server could not bind a free port in 5 attempts: \(lastError.map { "\($0)" } ?? "")")
    }

    /// Starts the server again after ``kill()`` or ``stop()``, on the same port(s) with the same options and an
    /// empty data set. A server still running is killed first.
    ///
    /// - Throws: ``RedisServerError`` `.notOwned` for an external node, `.startFailed` or `.notReady` if the server
    ///   does not come up (for example because another process took the port meanwhile).
    public func restart() async throws {
        guard !self.isExternal else {
            throw RedisServerError(.notOwned, "\(self.address) comes from CACHE_TEST_NODES and cannot be restarted")
        }
        if self.isRunning {
            await self.kill()
        }
        do {
            try await self.launchAndAwaitReadiness()
        } catch let error as PortInUse {
            throw RedisServerError(.startFailed, "restart on \(self.address) failed: \(error.logTail)")
        }
    }

    // MARK: Stopping, pausing

    /// Stops the server: `SIGTERM`, a bounded wait for it to exit, then `SIGKILL`. Does nothing if it is not
    /// running or the node is external.
    public func stop() async {
        guard let (pid, exit) = self.runningProcess() else { return }
        signalProcess(pid, SIGTERM)
        signalProcess(pid, SIGCONT)  // a paused server handles SIGTERM only once it runs again
        if !(await exit.wait(timeout: Self.stopTimeout)) {
            signalProcess(pid, SIGKILL)
            await exit.wait()
        }
        self.markExited(pid: pid)
    }

    /// Kills the server with `SIGKILL` and waits until the process is reaped. Does nothing if it is not running.
    public func kill() async {
        precondition(!self.isExternal, "cannot kill \(self.address): it comes from CACHE_TEST_NODES (use allowExternal: false)")
        guard let (pid, exit) = self.runningProcess() else { return }
        signalProcess(pid, SIGKILL)
        await exit.wait()
        self.markExited(pid: pid)
    }

    /// Freezes the server with `SIGSTOP`: connections stay open (and new ones are accepted by the kernel) but
    /// nothing is answered until ``resume()``.
    public func pause() {
        precondition(!self.isExternal, "cannot pause \(self.address): it comes from CACHE_TEST_NODES (use allowExternal: false)")
        let pid = self.pid
        precondition(pid != 0, "cannot pause \(self.address): the server is not running")
        signalProcess(pid, SIGSTOP)
    }

    /// Lets a server frozen by ``pause()`` run again (`SIGCONT`).
    public func resume() {
        precondition(!self.isExternal, "cannot resume \(self.address): it comes from CACHE_TEST_NODES (use allowExternal: false)")
        let pid = self.pid
        precondition(pid != 0, "cannot resume \(self.address): the server is not running")
        signalProcess(pid, SIGCONT)
    }

    // MARK: redis-cli

    /// Runs `redis-cli` against this server and returns its standard output without the trailing newline(s).
    ///
    /// The command connects to ``tlsPort`` with `--tls --cacert` (and `--cert --key` when clients must
    /// authenticate) if the server has TLS, otherwise to ``port``. With `authenticate` it logs in as the ACL user,
    /// or with the default user's password, passed through `REDISCLI_AUTH` rather than the command line.
    /// `redis-cli` exits with 0 after an error reply, so an error reply (`NOAUTH Authentication required.`) is
    /// returned, not thrown.
    ///
    /// - Parameters:
    ///   - timeout: How long `redis-cli` may run before it is killed. Defaults to 10 seconds.
    ///   - authenticate: Whether to send the configured credentials. Defaults to `true`.
    ///   - args: The command and its arguments, such as `"SET", "k", "v"`.
    /// - Returns: What `redis-cli` printed.
    /// - Throws: ``RedisServerError`` `.toolNotFound` without `redis-cli`, `.processFailed` if it exits non-zero
    ///   (cannot connect), `.timedOut` at the deadline.
    public func cli(timeout: Duration = .seconds(10), authenticate: Bool = true, _ args: String...) async throws -> String {
        try await self.cli(arguments: args, timeout: timeout, authenticate: authenticate)
    }

    /// Runs `redis-cli` against this server with an argument array; see ``cli(timeout:authenticate:_:)``.
    ///
    /// - Parameters:
    ///   - arguments: The command and its arguments.
    ///   - timeout: How long `redis-cli` may run before it is killed.
    ///   - authenticate: Whether to send the configured credentials.
    /// - Returns: What `redis-cli` printed, without the trailing newline(s).
    /// - Throws: ``RedisServerError`` `.toolNotFound`, `.processFailed` or `.timedOut`.
    public func cli(arguments: [String], timeout: Duration = .seconds(10), authenticate: Bool = true) async throws -> String {
        guard let executable = ProcessRunner.locate("redis-cli") else {
            throw RedisServerError(.toolNotFound, "redis-cli not found: run `make deps`")
        }
        var cliArguments = ["-h", self.host]
        var environment: [String: String] = [:]
        if let tls = self.tls, let tlsPort = self.tlsPort {
            cliArguments += ["-p", String(tlsPort), "--tls", "--cacert", tls.caFile]
            if tls.authClients {
                cliArguments += ["--cert", tls.clientCertFile ?? tls.certFile, "--key", tls.clientKeyFile ?? tls.keyFile]
            }
        } else {
            cliArguments += ["-p", String(self.port)]
        }
        if authenticate {
            if let name = self.aclUserName, let secret = self.aclUserPassword {
                cliArguments += ["--user", name]
                environment["REDISCLI_AUTH"] = secret
            } else if let password = self.password {
                environment["REDISCLI_AUTH"] = password
            }
        }
        let output = try await ProcessRunner.run(
            executable,
            arguments: cliArguments + ["--no-auth-warning"] + arguments,
            environment: environment,
            unsetting: environment["REDISCLI_AUTH"] == nil ? ["REDISCLI_AUTH"] : [],
            timeout: timeout
        )
        guard output.succeeded else {
            throw RedisServerError(
                .processFailed,
                "redis-cli \(arguments.joined(separator: " ")) against \(self.address) failed (status \(output.status)): "
                    + output.standardError + output.standardOutput
            )
        }
        var text = output.standardOutput
        while text.last == "\n" || text.last == "\r\n" {
            text.removeLast()
        }
        return text
    }

    // MARK: External nodes

    /// Wraps a node that already runs (from `CACHE_TEST_NODES`).
    static func external(host: String, port: Int) -> RedisServer {
        RedisServer(
            host: host,
            port: port,
            tlsPort: nil,
            password: nil,
            aclUser: nil,
            tls: nil,
            isExternal: true,
            directory: "",
            executable: "",
            arguments: []
        )
    }
}

// MARK: - Process control

extension RedisServer {
    /// The running process: its id and its exit event.
    struct ProcessState {
        var pid: Int32 = 0
        var exit: ExitSignal?
    }

    /// The server's bind on its port failed because another process holds it.
    struct PortInUse: Error {
        let logTail: String
    }

    static func arguments(
        port: Int,
        tlsPort: Int?,
        directory: String,
        password: String?,
        aclUser: (name: String, password: String)?,
        tls: TLSFiles?,
        extraArguments: [String]
    ) -> [String] {
        var arguments = [
            "--port", String(port),
            "--bind", "127.0.0.1",
            "--dir", directory,
            "--logfile", directory + "/redis.log",
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--enable-debug-command", "local",
        ]
        if let tls, let tlsPort {
            arguments += [
                "--tls-port", String(tlsPort),
                "--tls-cert-file", tls.certFile,
                "--tls-key-file", tls.keyFile,
                "--tls-ca-cert-file", tls.caFile,
                "--tls-auth-clients", tls.authClients ? "yes" : "no",
            ]
        }
        if let password {
            arguments += ["--requirepass", password]
        }
        if let aclUser {
            arguments += ["--user", aclUser.name, "on", ">" + aclUser.password, "~*", "&*", "+@all"]
        }
        return arguments + extraArguments
    }

    /// Launches the process and waits until it answers; on failure the process is killed and reaped.
    ///
    /// - Throws: ``PortInUse`` if the port was taken, ``RedisServerError`` otherwise.
    func launchAndAwaitReadiness() async throws {
        let logFile = self.logFile
        let stdioFile = self.directory + "/stdio.log"
        try? FileManager.default.createDirectory(atPath: self.directory, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: logFile)
        let (pid, exit) = try ChildProcess.spawn(executable: self.executable, arguments: self.arguments, outputFile: stdioFile)
        ProcessRegistry.register(pid: pid)
        self.state.withLockedValue { state in
            state.pid = pid
            state.exit = exit
        }

        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: Self.readinessTimeout)
        while true {
            if exit.hasFired {
                self.markExited(pid: pid)
                let tail = self.logTail()
                if tail.contains("Address already in use") {
                    throw PortInUse(logTail: tail)
                }
                throw RedisServerError(.startFailed, "redis-server on \(self.address) exited while starting; log tail:\n\(tail)")
            }
            if self.logSaysReady(), self.port == 0 || Loopback.answersPing(port: self.port) {
                return
            }
            if clock.now >= deadline {
                await self.kill()
                throw RedisServerError(
                    .notReady,
                    "redis-server on \(self.address) did not answer within \(Self.readinessTimeout); log tail:\n\(self.logTail())"
                )
            }
            // Poll interval of the bounded readiness loop; each round checks real state.
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    private func runningProcess() -> (Int32, ExitSignal)? {
        guard !self.isExternal else { return nil }
        return self.state.withLockedValue { state in
            guard state.pid != 0, let exit = state.exit else { return nil }
            return (state.pid, exit)
        }
    }

    private func markExited(pid: Int32) {
        ProcessRegistry.unregister(pid: pid)
        self.state.withLockedValue { state in
            if state.pid == pid {
                state.pid = 0
                state.exit = nil
            }
        }
    }

    private func logSaysReady() -> Bool {
        guard let data = FileManager.default.contents(atPath: self.logFile) else { return false }
        return String(decoding: data, as: UTF8.self).contains("Ready to accept connections")
    }

    /// The last lines of the server's log and of its standard output/error.
    func logTail(lines: Int = 20) -> String {
        var parts: [String] = []
        for file in [self.logFile, self.directory + "/stdio.log"] {
            guard let data = FileManager.default.contents(atPath: file), !data.isEmpty else { continue }
            let text = String(decoding: data, as: UTF8.self)
            parts.append(text.split(separator: "\n").suffix(lines).joined(separator: "\n"))
        }
        return parts.isEmpty ? "(no output)" : parts.joined(separator: "\n---\n")
    }
}

/// Sends a signal to a process (a free function, because ``RedisServer/kill()`` shadows `kill` inside the type).
private func signalProcess(_ pid: Int32, _ signal: Int32) {
    _ = kill(pid, signal)
}

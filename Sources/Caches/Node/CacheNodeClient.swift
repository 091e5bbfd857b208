import CachePool
import Logging
import NIOCore
import NIOPosix
import RESP
import Synchronization

extension CacheConnection: PooledConnection {}

/// One Redis node: its address, its connection pool, and the commands sent to it.
///
/// Every request is measured here (see ``CacheMetrics``) and logged with the node's metadata: `trace` for each
/// command (with `cache.key`, the stored key), `debug` for failures, `info` when the node goes down or comes back.
final class CacheNodeClient: Sendable {
    let name: String
    let settings: CacheConnection.Settings
    let pool: ConnectionPool<CacheConnection>
    let logger: Logger
    /// Consecutive failures, for the failure policy and health checks.
    let health = CacheNodeHealth()
    let metrics: CacheNodeMetrics
    /// Whether a call fails at once, instead of waiting up to the pool's wait timeout, while the node's last calls
    /// failed and it has no open connection (its reconnect is pending). Set for the miss policy, whose callers
    /// must not wait on a node that is down.
    let failsFastWhileDown = Atomic<Bool>(false)
    /// The node's number in the near cache (-1 without one): entries read from it carry it, so losing its tracking
    /// drops them.
    var nearCacheID: Int { self.settings.tracking?.node ?? -1 }

    init(settings: CacheConnection.Settings, pool poolSettings: CacheConfiguration.Pool, group: any EventLoopGroup, logger: Logger) {
        self.name = settings.nodeName
        self.settings = settings
        var logger = logger
        logger[metadataKey: "cache.node"] = "\(settings.nodeName)"
        self.logger = logger
        self.metrics = CacheNodeMetrics(node: settings.nodeName)
        let configuration = ConnectionPoolConfiguration(
            minimumConnections: poolSettings.minimumConnections,
            maximumConnections: poolSettings.maximumConnections,
            connectionWaitTimeout: poolSettings.connectionWaitTimeout,
            idleTimeout: poolSettings.idleTimeout,
            keepaliveInterval: poolSettings.keepaliveInterval,
            reconnectBackoff: .init(initial: poolSettings.initialBackoff, maximum: poolSettings.maximumBackoff),
            loadThreshold: poolSettings.loadThreshold
        )
        let reachability = Reachability()
        self.pool = ConnectionPool(
            configuration: configuration,
            eventLoop: group.next(),
            logger: logger
        ) { [settings, logger] id in
            var connectionLogger = logger
            connectionLogger[metadataKey: "cache.connection.id"] = "\(id)"
            let logger = connectionLogger
            // On the caller's own loop when it runs on one (an application that runs its tasks on the event loops),
            // so its replies need no thread hop; otherwise the next loop of the group.
            return CacheConnection.connect(id: id, settings: settings, eventLoop: group.any(), logger: logger)
                .map { connection in
                    reachability.connected(logger: logger)
                    connection.onClose { error in
                        guard let error else { return }
                        logger.info("connection to the node broke", metadata: ["cache.error": "\(Self.describe(error))"])
                    }
                    return connection
                }
                .flatMapErrorThrowing { error in
                    reachability.failed(error, logger: logger)
                    throw error
                }
        }
    }

    /// Opens the pool's minimum connections; returns the error if the first one failed (the pool keeps retrying).
    func start() async -> CacheError? {
        defer { self.recordPoolMetrics() }
        do {
            try await self.pool.start()
            return nil
        } catch {
            // The connection factory has logged the node as down at `info`.
            return self.map(error)
        }
    }

    func shutdown(gracePeriod: Duration) async {
        await self.pool.shutdown(gracePeriod: gracePeriod)
        self.recordPoolMetrics()
    }

    /// Records the pool's gauges (open connections, requests in flight, waiting callers).
    func recordPoolMetrics() {
        self.metrics.recordPool(self.pool.statistics)
    }

    /// Sends one request on the least loaded connection and returns its decoded reply; error replies become
    /// ``CacheError``s.
    ///
    /// Counts and times the request under the command's name, and for lookups counts hits and misses; a call that
    /// fails is counted by its error code.
    func execute<Command: CacheCommand>(_ command: Command) async throws(CacheError) -> Command.Reply {
        let start = NIODeadline.now()
        var connectionID: Int?
        // The reply to decode, or the error reply that fails the call; or every reply, for a command that reads them.
        let reply: RESPReply?
        var replies: RESPReplies?
        do {
            let waiting = !self.failsFastWhileDown.load(ordering: .relaxed) || self.health.consecutiveFailures == 0
            let connection = try await self.pool.connection(waitingForReconnect: waiting)
            connectionID = connection.id
            if command.readsEveryReply {
                let all = try await connection.executeCollecting(replies: command.replyCount) { encoder in
                    command.encode(into: &encoder)
                }
                replies = all
                reply = all.indices.first { all.isError(at: $0) }.map { all[$0] }
            } else {
                reply = try await connection.execute(replies: command.replyCount) { encoder in
                    command.encode(into: &encoder)
                }
            }
        } catch {
            let cacheError = self.map(error)
            // A call that got no connection was never sent.
            if connectionID != nil {
                self.record(command, nanoseconds: (NIODeadline.now() - start).nanoseconds)
            }
            throw self.failed(cacheError, command, connectionID: connectionID)
        }
        let elapsed = (NIODeadline.now() - start).nanoseconds
        self.record(command, nanoseconds: elapsed)
        if let reply, reply.isError {
            throw self.failed(Self.serverError(reply.errorMessage ?? "", node: self.name), command, connectionID: connectionID)
        }
        let value: Command.Reply
        do {
            if let replies {
                value = try command.decode(replies: replies)
            } else {
                value = try command.decode(reply!)
            }
        } catch {
            throw self.failed(error.with(node: self.name), command, connectionID: connectionID)
        }
        if let lookups = command.lookups(in: value) {
            self.metrics.recordLookups(hits: lookups.hits, misses: lookups.misses)
        }
        if self.logger.logLevel <= .trace {
            self.logger.trace(
                "command answered",
                metadata: [
                    "cache.command": "\(command.name)",
                    "cache.key": "\(command.key ?? "")",
                    "cache.connection.id": "\(connectionID ?? -1)",
                    "cache.duration.ns": "\(elapsed)",
                ]
            )
        }
        return value
    }

    /// Counts a request under its name: a command that ``CacheCommand/readsEveryReply`` (one per key) as that many.
    @inline(__always)
    private func record(_ command: some CacheCommand, nanoseconds: Int64) {
        if command.readsEveryReply {
            self.metrics.recordCommands(command.name, count: command.replyCount, nanoseconds: nanoseconds)
        } else {
            self.metrics.recordCommand(command.name, nanoseconds: nanoseconds)
        }
    }

    /// Sends `count` requests named `name`, written by `encode` in one flush on one connection, and returns every
    /// reply (error replies included) for the caller to decode: a cluster's many-key call sends one `MGET` per slot
    /// this way, and a `MOVED` for one slot fails that request only.
    ///
    /// The requests are counted under `name`; the pipeline is timed once. Decode error replies with
    /// ``replyError(_:_:)``.
    ///
    /// - Parameters:
    ///   - count: How many requests `encode` writes.
    ///   - replies: How many replies they produce in all.
    /// - Throws: ``CacheError`` when the pipeline could not be sent or answered (no connection, a timeout, a closed
    ///   connection): then no request has a reply.
    func execute(
        batchOf count: Int,
        _ name: CacheCommandName,
        replies: Int,
        _ encode: (inout RESPCommandEncoder) -> Void
    ) async throws(CacheError) -> RESPReplies {
        let start = NIODeadline.now()
        var connectionID: Int?
        do {
            let waiting = !self.failsFastWhileDown.load(ordering: .relaxed) || self.health.consecutiveFailures == 0
            let connection = try await self.pool.connection(waitingForReconnect: waiting)
            connectionID = connection.id
            let received = try await connection.executeCollecting(replies: replies, encode)
            self.metrics.recordCommands(name, count: count, nanoseconds: (NIODeadline.now() - start).nanoseconds)
            return received
        } catch {
            if connectionID != nil {
                self.metrics.recordCommands(name, count: count, nanoseconds: (NIODeadline.now() - start).nanoseconds)
            }
            let cacheError = self.map(error)
            self.metrics.recordError(cacheError.code)
            self.logger.debug(
                "pipeline failed",
                metadata: ["cache.error.code": "\(cacheError.code)", "cache.error": "\(cacheError.message)", "cache.command": "\(name)"]
            )
            throw cacheError
        }
    }

    /// The ``CacheError`` of an error reply to a request of ``execute(batchOf:_:replies:_:)``, counted and logged as
    /// ``execute(_:)`` does.
    func replyError(_ reply: RESPReply, _ name: CacheCommandName) -> CacheError {
        let error = Self.serverError(reply.errorMessage ?? "", node: self.name)
        self.metrics.recordError(error.code)
        self.logger.debug(
            "command failed",
            metadata: ["cache.error.code": "\(error.code)", "cache.error": "\(error.message)", "cache.command": "\(name)"]
        )
        return error
    }

    /// Counts and logs a failed call; returns the error to throw.
    private func failed(_ error: CacheError, _ command: some CacheCommand, connectionID: Int?) -> CacheError {
        self.metrics.recordError(error.code)
        var metadata: Logger.Metadata = [
            "cache.error.code": "\(error.code)",
            "cache.error": "\(error.message)",
            "cache.command": "\(connectionID == nil ? "unsent" : command.name.description)",
        ]
        if let connectionID { metadata["cache.connection.id"] = "\(connectionID)" }
        if self.logger.logLevel <= .debug, let key = command.key { metadata["cache.key"] = "\(key)" }
        self.logger.debug("command failed", metadata: metadata)
        return error
    }

    /// A connection error's text for a log: the message of a ``CacheError`` (which never holds a password).
    private static func describe(_ error: any Error) -> String {
        (error as? CacheError)?.message ?? "\(error)"
    }

    static func serverError(_ message: String, node: String?) -> CacheError {
        if message.hasPrefix("WRONGTYPE") {
            return CacheError(.wrongType, message, node: node)
        }
        if message.hasPrefix("ERR value is not an integer") || message.hasPrefix("ERR value is not a valid float")
            || message.hasPrefix("ERR increment or decrement would overflow")
            || message.hasPrefix("ERR increment would produce NaN or Infinity")
        {
            return CacheError(.notNumeric, message, node: node)
        }
        return CacheError(.server, message, node: node)
    }

    func map(_ error: any Error) -> CacheError {
        if let error = error as? CacheError { return error.with(node: self.name) }
        if let error = error as? ConnectionPoolError {
            switch error.code {
            case .waitTimeout:
                return CacheError(.poolTimeout, "no connection became usable within the pool's wait timeout", node: self.name, underlyingError: error)
            case .poolShutdown:
                return CacheError(.poolShutdown, "the node's pool is shut down", node: self.name, underlyingError: error)
            case .cancelled:
                return CacheError(.cancelled, "the task was cancelled", node: self.name, underlyingError: error)
            default:
                if let underlying = error.underlyingError as? CacheError {
                    return underlying.with(node: self.name)
                }
                return CacheError(.connectFailed, "cannot connect: \(error)", node: self.name, underlyingError: error)
            }
        }
        return CacheError(.connectionClosed, "\(error)", node: self.name, underlyingError: error)
    }
}

extension CacheNodeClient {
    /// Whether the node's last connection attempt failed; logs the changes at `info` (they cannot be thrown).
    private final class Reachability: Sendable {
        private let isDown = Atomic<Bool>(false)

        func connected(logger: Logger) {
            if self.isDown.exchange(false, ordering: .relaxed) {
                logger.info("node reachable again: reconnected")
            }
        }

        func failed(_ error: any Error, logger: Logger) {
            let message = CacheNodeClient.describe(error)
            if self.isDown.exchange(true, ordering: .relaxed) {
                logger.debug("reconnect attempt failed", metadata: ["cache.error": "\(message)"])
            } else {
                logger.info("node unreachable", metadata: ["cache.error": "\(message)"])
            }
        }
    }
}

extension CacheNodeClient {
    /// The node's status row before its health check: name, address, weight and pool gauges.
    func status(weight: UInt32) -> CacheNodeStatus {
        let pool = self.pool.statistics
        return CacheNodeStatus(
            name: self.name,
            address: "\(self.settings.host):\(self.settings.port)",
            weight: weight,
            latency: nil,
            keyCount: nil,
            error: nil,
            openConnections: pool.openConnections,
            inFlightRequests: pool.inFlightRequests,
            waitingRequests: pool.waitingRequests
        )
    }
}

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
            return CacheConnection.connect(id: id, settings: settings, eventLoop: group.next(), logger: logger)
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

    /// Sends one request on the least loaded connection and returns its reply, error replies mapped to
    /// ``CacheError``.
    ///
    /// Counts the request by the command `encode` writes first, times it, and for `GET` and `MGET` counts hits
    /// and misses; a call that fails is counted by its error code.
    func execute(replies: Int = 1, _ encode: (inout RESPCommandEncoder) -> Void) async throws(CacheError) -> RESPValue {
        let start = NIODeadline.now()
        let traced = self.logger.logLevel <= .trace
        // Filled in by the encoder below; a call that fails before it encodes was never sent.
        var sent: (command: CacheCommandName, key: String?)?
        var connectionID: Int?
        let reply: RESPValue
        do {
            let connection = try await self.pool.connection()
            connectionID = connection.id
            reply = try await connection.execute(replies: replies) { encoder in
                let offset = encoder.buffer.writerIndex
                encode(&encoder)
                sent = CacheCommandName.read(from: encoder.buffer, at: offset, withKey: traced)
            }
        } catch {
            let cacheError = self.map(error)
            self.failed(cacheError, sent: sent, connectionID: connectionID, start: start)
            throw cacheError
        }
        let command = sent?.command ?? .other
        let elapsed = (NIODeadline.now() - start).nanoseconds
        self.metrics.recordCommand(command, nanoseconds: elapsed)
        if case .simpleError(let buffer) = reply {
            throw self.failedOnServer(Self.serverError(String(buffer: buffer), node: self.name), sent: sent, connectionID: connectionID)
        }
        if case .bulkError(let buffer) = reply {
            throw self.failedOnServer(Self.serverError(String(buffer: buffer), node: self.name), sent: sent, connectionID: connectionID)
        }
        if command == .get {
            self.metrics.recordLookups(hits: reply.isNull ? 0 : 1, misses: reply.isNull ? 1 : 0)
        } else if command == .mget, case .array(let elements) = reply {
            var misses = 0
            for element in elements where element.isNull { misses += 1 }
            self.metrics.recordLookups(hits: elements.count - misses, misses: misses)
        }
        if traced {
            self.logger.trace(
                "command answered",
                metadata: [
                    "cache.command": "\(command)",
                    "cache.key": "\(sent?.key ?? "")",
                    "cache.connection.id": "\(connectionID ?? -1)",
                    "cache.duration.ns": "\(elapsed)",
                ]
            )
        }
        return reply
    }

    /// Counts and logs a call that failed before its reply arrived.
    private func failed(_ error: CacheError, sent: (command: CacheCommandName, key: String?)?, connectionID: Int?, start: NIODeadline) {
        if let sent {
            self.metrics.recordCommand(sent.command, nanoseconds: (NIODeadline.now() - start).nanoseconds)
        }
        self.metrics.recordError(error.code)
        self.logFailure(error, sent: sent, connectionID: connectionID)
    }

    /// Counts and logs an error reply; returns the error to throw.
    private func failedOnServer(_ error: CacheError, sent: (command: CacheCommandName, key: String?)?, connectionID: Int?) -> CacheError {
        self.metrics.recordError(error.code)
        self.logFailure(error, sent: sent, connectionID: connectionID)
        return error
    }

    private func logFailure(_ error: CacheError, sent: (command: CacheCommandName, key: String?)?, connectionID: Int?) {
        var metadata: Logger.Metadata = [
            "cache.error.code": "\(error.code)",
            "cache.error": "\(error.message)",
            "cache.command": "\(sent?.command.description ?? "unsent")",
        ]
        if let connectionID { metadata["cache.connection.id"] = "\(connectionID)" }
        if let key = sent?.key { metadata["cache.key"] = "\(key)" }
        self.logger.debug("command failed", metadata: metadata)
    }

    /// A connection error's text for a log: the message of a ``CacheError`` (which never holds a password).
    private static func describe(_ error: any Error) -> String {
        (error as? CacheError)?.message ?? "\(error)"
    }

    static func serverError(_ message: String, node: String) -> CacheError {
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

import CachePool
import Logging
import NIOCore
import NIOPosix
import RESP

extension CacheConnection: PooledConnection {}

/// One Redis node: its address, its connection pool, and the commands sent to it.
final class CacheNodeClient: Sendable {
    let name: String
    let settings: CacheConnection.Settings
    let pool: ConnectionPool<CacheConnection>
    let logger: Logger
    /// Consecutive failures, for the failure policy and health checks.
    let health = CacheNodeHealth()

    init(settings: CacheConnection.Settings, pool poolSettings: CacheConfiguration.Pool, group: any EventLoopGroup, logger: Logger) {
        self.name = settings.nodeName
        self.settings = settings
        var logger = logger
        logger[metadataKey: "cache.node"] = "\(settings.nodeName)"
        self.logger = logger
        let configuration = ConnectionPoolConfiguration(
            minimumConnections: poolSettings.minimumConnections,
            maximumConnections: poolSettings.maximumConnections,
            connectionWaitTimeout: poolSettings.connectionWaitTimeout,
            idleTimeout: poolSettings.idleTimeout,
            keepaliveInterval: poolSettings.keepaliveInterval,
            reconnectBackoff: .init(initial: poolSettings.initialBackoff, maximum: poolSettings.maximumBackoff),
            loadThreshold: poolSettings.loadThreshold
        )
        self.pool = ConnectionPool(
            configuration: configuration,
            eventLoop: group.next(),
            logger: logger
        ) { [settings, logger] id in
            CacheConnection.connect(id: id, settings: settings, eventLoop: group.next(), logger: logger)
        }
    }

    /// Opens the pool's minimum connections; returns the error if the first one failed (the pool keeps retrying).
    func start() async -> CacheError? {
        do {
            try await self.pool.start()
            return nil
        } catch {
            let cacheError = self.map(error)
            self.logger.info("node unreachable at connect", metadata: ["cache.error": "\(cacheError.message)"])
            return cacheError
        }
    }

    func shutdown(gracePeriod: Duration) async {
        await self.pool.shutdown(gracePeriod: gracePeriod)
    }

    /// Sends one request on the least loaded connection and returns its reply, error replies mapped to
    /// ``CacheError``.
    func execute(replies: Int = 1, _ encode: (inout RESPCommandEncoder) -> Void) async throws(CacheError) -> RESPValue {
        let reply: RESPValue
        do {
            let connection = try await self.pool.connection()
            reply = try await connection.execute(replies: replies, encode)
        } catch {
            throw self.map(error)
        }
        if case .simpleError(let buffer) = reply {
            throw Self.serverError(String(buffer: buffer), node: self.name)
        }
        if case .bulkError(let buffer) = reply {
            throw Self.serverError(String(buffer: buffer), node: self.name)
        }
        return reply
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

import Logging
import NIOCore
import NIOPosix
import RESP
import Synchronization

/// One connection to one Redis node, shared by many concurrent callers.
///
/// Many requests are in flight at once; concurrent callers' commands are coalesced into one write and one flush
/// per event-loop turn. Every request has a deadline (the command timeout). A caller that is cancelled gives up
/// its slot without disturbing the others.
final class CacheConnection: Sendable {
    /// What a connection needs to know about its node.
    struct Settings: Sendable {
        var nodeName: String
        var host: String
        var port: Int
        var database: Int?
        var username: String?
        var password: String?
        var clientName: String?
        var connectTimeout: Duration
        var commandTimeout: Duration
        var tls: CacheTLSContext?
        /// For a near-cached node: RESP3 and `CLIENT TRACKING ON` at set-up, and where invalidations go.
        var tracking: CacheTracking?
        /// For a Redis Cluster read from replicas: `READONLY` at set-up, so a replica answers reads of its slots.
        var readOnly = false
    }

    let id: Int
    let nodeName: String
    let channel: any Channel
    let state: CacheConnectionState
    private let handler: NIOLoopBound<CacheChannelHandler>
    private let commandTimeout: TimeAmount

    private init(id: Int, channel: any Channel, state: CacheConnectionState, handler: CacheChannelHandler, settings: Settings) {
        self.id = id
        self.nodeName = settings.nodeName
        self.channel = channel
        self.state = state
        self.handler = NIOLoopBound(handler, eventLoop: channel.eventLoop)
        self.commandTimeout = TimeAmount(settings.commandTimeout)
    }

    /// Opens a connection and runs its set-up (`AUTH`, `SELECT`, `CLIENT SETNAME`, for a near cache `HELLO 3` and
    /// `CLIENT TRACKING ON`, for cluster replica reads `READONLY`, `PING`) before returning it.
    ///
    /// The whole set-up, TLS handshake included, is bounded by the connect timeout.
    static func connect(id: Int, settings: Settings, eventLoop: any EventLoop, logger: Logger) -> EventLoopFuture<CacheConnection> {
        let state = CacheConnectionState()
        let connectTimeout = TimeAmount(settings.connectTimeout)
        // The initializer hands its handler over here: looking it up in the pipeline once connected fails when the
        // channel has already closed (a TLS peer that refused the handshake at once), hiding that error.
        let installed = NIOLoopBoundBox.makeEmptyBox(valueType: CacheChannelHandler.self, eventLoop: eventLoop)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls = settings.tls {
                        try channel.pipeline.syncOperations.addHandler(tls.makeHandler(host: settings.host, handshakeTimeout: connectTimeout))
                    }
                    let handler = CacheChannelHandler(state: state, nodeName: settings.nodeName, tracking: settings.tracking)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    installed.value = handler
                }
            }
        let connected = bootstrap.connect(host: settings.host, port: settings.port).flatMapThrowing { channel in
            guard let handler = installed.value else {
                throw CacheError(.connectionClosed, "the connection closed while it was set up", node: settings.nodeName)
            }
            // A channel that closed already recorded its error in `state`: the set-up fails with that error.
            return CacheConnection(id: id, channel: channel, state: state, handler: handler, settings: settings)
        }
        return connected.flatMapErrorThrowing { error in
            throw CacheError(
                .connectFailed,
                "cannot connect to \(settings.host):\(settings.port): \(error)",
                node: settings.nodeName,
                underlyingError: error
            )
        }.flatMap { connection in
            connection.setUp(settings: settings, deadline: .now() + connectTimeout).map { connection }.flatMapError { error in
                connection.channel.close(promise: nil)
                var cacheError = error as? CacheError ?? CacheError(.connectFailed, "\(error)", underlyingError: error)
                if cacheError.code == .timeout {
                    // The handler's deadline message names the command timeout, but the set-up's deadline is the
                    // connect timeout: say which one fired, with its value.
                    cacheError = CacheError(
                        .connectFailed,
                        "connection set-up (AUTH/SELECT/CLIENT SETNAME/PING) got no reply within the connect timeout (\(settings.connectTimeout))",
                        node: settings.nodeName,
                        underlyingError: cacheError
                    )
                } else if cacheError.code == .server || cacheError.code == .connectionClosed {
                    cacheError = CacheError(
                        .connectFailed,
                        "connection set-up failed: \(cacheError.message)",
                        node: settings.nodeName,
                        underlyingError: cacheError
                    )
                }
                return connection.channel.eventLoop.makeFailedFuture(cacheError)
            }
        }.map { connection in
            logger.debug(
                "connection open",
                metadata: ["cache.node": "\(settings.nodeName)", "cache.connection.id": "\(id)"]
            )
            return connection
        }
    }

    private func setUp(settings: Settings, deadline: NIODeadline) -> EventLoopFuture<Void> {
        let setUp = ConnectionSetUpCommand(
            username: settings.username,
            password: settings.password,
            database: settings.database,
            clientName: settings.clientName,
            tracking: settings.tracking != nil,
            readOnly: settings.readOnly
        )
        let promise = self.channel.eventLoop.makePromise(of: RESPReply.self)
        self.submit(replies: setUp.replyCount, deadline: deadline, completion: .promise(promise)) { encoder in
            setUp.encode(into: &encoder)
        }
        let nodeName = self.nodeName
        return promise.futureResult.flatMapThrowing { reply in
            if let message = reply.errorMessage {
                if settings.tracking != nil, message.contains("HELLO") || message.contains("TRACKING") || message.hasPrefix("NOPROTO") {
                    throw CacheError(
                        .server,
                        "the near cache needs RESP3 and client tracking (HELLO 3, CLIENT TRACKING: Redis 6 or later), and the server refused: \(message)",
                        node: nodeName
                    )
                }
                throw CacheError(.server, message, node: nodeName)
            }
        }
    }

    // MARK: Requests

    /// Sends one request (one or more commands written by `encode`) and waits for its last reply.
    ///
    /// - Parameters:
    ///   - replies: How many replies the commands produce; the last one is returned (an error reply among the
    ///     earlier ones is returned instead).
    ///   - encode: Writes the commands; it runs under the connection's lock, so it must be quick.
    /// - Returns: The reply, which may be an error reply.
    /// - Throws: ``CacheError`` with ``CacheError/Code/timeout``, ``CacheError/Code/connectionClosed`` or
    ///   ``CacheError/Code/cancelled``.
    func execute(replies: Int = 1, _ encode: (inout RESPCommandEncoder) -> Void) async throws -> RESPReply {
        if Task.isCancelled {
            throw CacheError(.cancelled, "the task was cancelled", node: self.nodeName)
        }
        let id = self.state.makeID()
        let deadline = NIODeadline.now() + self.commandTimeout
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                self.submit(id: id, replies: replies, deadline: deadline, completion: .continuation(continuation), encode: encode)
            }
        } onCancel: {
            if let completion = self.state.abandon(id: id) {
                completion.resume(.failure(CacheError(.cancelled, "the task was cancelled", node: self.nodeName)))
            }
        }
    }

    /// Sends several commands in one request (one lock, one flush) and returns every reply, in order, error replies
    /// included.
    ///
    /// - Parameters:
    ///   - replies: How many replies the commands produce, at least 1.
    ///   - encode: Writes the commands; it runs under the connection's lock, so it must be quick.
    /// - Returns: The `replies` replies.
    /// - Throws: As ``execute(replies:_:)``; then none of the replies is returned.
    func executeCollecting(replies: Int, _ encode: (inout RESPCommandEncoder) -> Void) async throws -> RESPReplies {
        precondition(replies > 0, "a request expects at least one reply")
        if Task.isCancelled {
            throw CacheError(.cancelled, "the task was cancelled", node: self.nodeName)
        }
        let id = self.state.makeID()
        let deadline = NIODeadline.now() + self.commandTimeout
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                let collector = CacheConnectionState.ReplyCollector(expecting: replies, continuation: continuation)
                self.submit(id: id, replies: replies, deadline: deadline, completion: .collect(collector), encode: encode)
            }
        } onCancel: {
            if let completion = self.state.abandon(id: id) {
                completion.resume(.failure(CacheError(.cancelled, "the task was cancelled", node: self.nodeName)))
            }
        }
    }

    private func submit(
        id: UInt64? = nil,
        replies: Int,
        deadline: NIODeadline,
        completion: CacheConnectionState.Completion,
        encode: (inout RESPCommandEncoder) -> Void
    ) {
        let id = id ?? self.state.makeID()
        switch self.state.enqueue(id: id, replies: replies, deadline: deadline, completion: completion, encode: encode) {
        case .failure(let error):
            completion.resume(.failure(error.with(node: self.nodeName)))
        case .success(let mustDrain):
            if mustDrain {
                let handler = self.handler
                self.channel.eventLoop.execute { handler.value.drain() }
            }
        }
    }

    // MARK: Pool support

    /// Requests sent and not answered yet.
    var inFlightCount: Int { self.state.inFlight.load(ordering: .relaxed) }

    /// Whether the caller runs on this connection's event loop (only when the application runs its tasks on
    /// SwiftNIO's event loops, as the `caches` tool does).
    var isLocal: Bool { self.channel.eventLoop.inEventLoop }

    /// Calls `callback` once when the connection has closed, with the error it broke with, if any.
    func onClose(_ callback: @escaping @Sendable ((any Error)?) -> Void) {
        let handler = self.handler
        self.channel.closeFuture.whenComplete { _ in
            let error = handler.value.closedWith
            callback(error?.code == .connectionClosed && error?.underlyingError == nil ? nil : error)
        }
    }

    /// Closes once the requests in flight are answered; new requests fail at once.
    func close() {
        let handler = self.handler
        self.channel.eventLoop.execute { handler.value.closeWhenIdle() }
    }

    /// Closes now; requests in flight fail with ``CacheError/Code/connectionClosed``.
    func closeImmediately() {
        let handler = self.handler
        self.channel.eventLoop.execute {
            handler.value.fail(CacheError(.connectionClosed, "the connection was closed by its pool", node: self.nodeName), close: true)
        }
    }

    /// Sends a `PING` that nobody waits for; a connection that does not answer times out and closes.
    func sendKeepalive() {
        self.submit(replies: 1, deadline: .now() + self.commandTimeout, completion: .none) { encoder in
            PingCommand().encode(into: &encoder)
        }
    }
}

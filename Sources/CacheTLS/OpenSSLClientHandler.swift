import COpenSSL
import NIOCore
import NIOTLS

/// A channel handler that runs TLS over OpenSSL: ciphertext below it, plaintext above it.
///
/// Put it first in the pipeline. The handshake starts as soon as the channel is active; writes made before it
/// completes are held and sent afterwards. When it completes the handler fires
/// `TLSUserEvent.handshakeCompleted(negotiatedProtocol:)`. Closing the channel sends a TLS close_notify first.
/// Failures are fired as ``OpenSSLError`` through `errorCaught`, and the channel is closed:
/// a failed handshake also fails every held write's promise with the same error, and an EOF without
/// close_notify is reported as ``OpenSSLError/Code/uncleanShutdown``.
///
/// The handler belongs to one channel and is used on its event loop only.
public final class OpenSSLClientHandler: ChannelDuplexHandler {
    /// Ciphertext from the network.
    public typealias InboundIn = ByteBuffer
    /// Decrypted data for the next handler.
    public typealias InboundOut = ByteBuffer
    /// Plaintext to encrypt.
    public typealias OutboundIn = ByteBuffer
    /// Ciphertext for the network.
    public typealias OutboundOut = ByteBuffer

    private typealias BufferedWrite = (data: ByteBuffer, promise: EventLoopPromise<Void>?)

    private var stateMachine = StateMachine()
    private let connection: OpenSSLConnection
    /// Plaintext writes not yet encrypted; the mark is the last one the user flushed.
    private var bufferedWrites = MarkedCircularBuffer<BufferedWrite>(initialCapacity: 16)
    /// The buffer decrypted data is read into; reused when nobody else holds it.
    private var readBuffer: ByteBuffer?
    /// The first bytes from the peer, kept only if they don't look like a TLS record (to explain the failure).
    private var nonTLSPrefix: [UInt8]?
    private var receivedAnyBytes = false
    /// How long the handshake may take, or nil for no limit.
    private let handshakeTimeout: TimeAmount?
    /// Fires ``handshakeTimeout`` after the handshake started; cancelled when it ends.
    private var handshakeTimer: Scheduled<Void>?

    /// Creates a client handler.
    ///
    /// - Parameters:
    ///   - context: The shared TLS context; its configuration decides what is verified.
    ///   - serverHostname: The host name or IP address connected to. A DNS name is sent as SNI and (with
    ///     `.fullVerification`) must match the certificate; an IP address is never sent as SNI and is checked
    ///     against the certificate's IP SANs. `nil` sends no SNI and checks no name.
    ///   - handshakeTimeout: How long connecting and the handshake may take, counted from when the handler is added
    ///     to the pipeline (with a client bootstrap: before the TCP connect starts, so it ends before a connect
    ///     deadline of the same length that starts later). If the handshake has not completed by then, the handler
    ///     fails with ``OpenSSLError/Code/handshakeFailed`` and closes the channel. A peer that does not speak TLS (a
    ///     plaintext Redis port) may never answer a ClientHello, so this is how such a peer is detected. `nil` (the
    ///     default) waits as long as the channel stays open.
    /// - Throws: ``OpenSSLError`` if the session can't be created, the context has the server role, or OpenSSL rejects
    ///   the name.
    public init(context: OpenSSLContext, serverHostname: String?, handshakeTimeout: TimeAmount? = nil) throws(OpenSSLError) {
        guard context.role == .client else {
            throw OpenSSLError(code: .invalidConfiguration, message: "a client handler needs an OpenSSLContext with role .client")
        }
        self.handshakeTimeout = handshakeTimeout
        self.connection = try OpenSSLConnection(context: context)
        if let serverHostname {
            try self.connection.setServerHostname(
                serverHostname,
                verify: context.configuration.certificateVerification == .fullVerification
            )
        }
    }

    /// Creates a handler that plays the server side of the handshake (for in-memory tests).
    ///
    /// - Parameter serverContext: A context made with role ``OpenSSLContext/Role/server``.
    /// - Throws: ``OpenSSLError`` if the session can't be created.
    package init(serverContext: OpenSSLContext) throws(OpenSSLError) {
        guard serverContext.role == .server else {
            throw OpenSSLError(code: .invalidConfiguration, message: "a server handler needs an OpenSSLContext with role .server")
        }
        self.handshakeTimeout = nil
        self.connection = try OpenSSLConnection(context: serverContext)
    }

    /// The SNI host name the client sent, as seen by a server-role handler.
    package var requestedServerName: String? { self.connection.requestedServerName }

    /// The negotiated protocol version, e.g. "TLSv1.3".
    package var protocolVersion: String { self.connection.protocolVersion }

    // MARK: - Lifecycle

    /// Prepares the read buffer, starts the handshake timer, and starts the handshake if the channel is already active.
    ///
    /// - Parameter context: The handler's context.
    public func handlerAdded(context: ChannelHandlerContext) {
        self.readBuffer = context.channel.allocator.buffer(capacity: 16 * 1024)
        if let timeout = self.handshakeTimeout {
            self.handshakeTimer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) {
                self.handshakeTimedOut(context: context, after: timeout)
            }
        }
        if context.channel.isActive, self.stateMachine.channelActive() {
            self.handshakeStep(context: context)
        }
    }

    /// Fails every write still held.
    ///
    /// - Parameter context: The handler's context.
    public func handlerRemoved(context: ChannelHandlerContext) {
        self.cancelHandshakeTimer()
        self.failBufferedWrites(
            OpenSSLError(code: .connectionClosed, message: "the TLS handler was removed before the write was sent")
        )
    }

    /// Forwards the event, then starts the handshake.
    ///
    /// - Parameter context: The handler's context.
    public func channelActive(context: ChannelHandlerContext) {
        // Forward first, so that a handshake failure's channelInactive follows this channelActive.
        context.fireChannelActive()
        if self.stateMachine.channelActive() {
            self.handshakeStep(context: context)
        }
    }

    /// Reports an unclean shutdown if the peer went away without close_notify, fails held writes, forwards the event.
    ///
    /// - Parameter context: The handler's context.
    public func channelInactive(context: ChannelHandlerContext) {
        self.cancelHandshakeTimer()
        switch self.stateMachine.channelInactive() {
        case .reportUncleanShutdown(let duringHandshake):
            let error = OpenSSLError(
                code: .uncleanShutdown,
                message: duringHandshake
                    ? "the peer closed the connection during the TLS handshake"
                    : "the peer closed the connection without a TLS close_notify"
            )
            self.failBufferedWrites(error)
            context.fireErrorCaught(error)
        case .none:
            self.failBufferedWrites(OpenSSLError(code: .connectionClosed, message: "the connection closed before the write was sent"))
        }
        context.fireChannelInactive()
    }

    // MARK: - Inbound

    /// Feeds ciphertext to OpenSSL, then continues the handshake or forwards the decrypted data.
    ///
    /// - Parameters:
    ///   - context: The handler's context.
    ///   - data: A `ByteBuffer` of ciphertext.
    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let ciphertext = self.unwrapInboundIn(data)
        if !self.receivedAnyBytes {
            self.receivedAnyBytes = true
            self.rememberIfNotTLS(ciphertext)
        }
        switch self.stateMachine.channelRead() {
        case .continueHandshake:
            self.connection.consumeFromNetwork(ciphertext)
            self.handshakeStep(context: context)
        case .decrypt:
            self.connection.consumeFromNetwork(ciphertext)
            self.decryptAndForward(context: context)
        case .ignore:
            break
        }
    }

    // MARK: - Outbound

    /// Holds plaintext until the next flush (and, before that, until the handshake completes).
    ///
    /// - Parameters:
    ///   - context: The handler's context.
    ///   - data: A `ByteBuffer` of plaintext.
    ///   - promise: Completed when the ciphertext is written, or failed with an ``OpenSSLError``.
    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if self.stateMachine.state == .closing || self.stateMachine.state == .closed {
            promise?.fail(OpenSSLError(code: .connectionClosed, message: "write on a closed TLS connection"))
            return
        }
        self.bufferedWrites.append((self.unwrapOutboundIn(data), promise))
    }

    /// Encrypts and sends every held write once the handshake has completed.
    ///
    /// - Parameter context: The handler's context.
    public func flush(context: ChannelHandlerContext) {
        self.bufferedWrites.mark()
        if self.stateMachine.canWriteApplicationData {
            self.writeFlushedData(context: context)
        }
    }

    /// Sends flushed data and a close_notify alert, then closes the channel; other close modes pass through.
    ///
    /// - Parameters:
    ///   - context: The handler's context.
    ///   - mode: The close mode; only `.all` does a TLS shutdown.
    ///   - promise: Completed when the channel is closed.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        guard mode == .all else {
            context.close(mode: mode, promise: promise)
            return
        }
        switch self.stateMachine.closeRequested() {
        case .sendCloseNotifyAndClose:
            // Send what the user already flushed, then close_notify, then close without waiting for the peer's.
            self.writeFlushedData(context: context)
            self.failBufferedWrites(OpenSSLError(code: .connectionClosed, message: "the connection was closed before the write was flushed"))
            self.connection.shutdown()
            self.writeToNetwork(context: context, promise: nil)
            context.close(mode: .all, promise: promise)
        case .closeChannel:
            self.failBufferedWrites(OpenSSLError(code: .connectionClosed, message: "the connection was closed before the TLS handshake completed"))
            context.close(mode: .all, promise: promise)
        }
    }

    // MARK: - TLS steps

    private func handshakeTimedOut(context: ChannelHandlerContext, after timeout: TimeAmount) {
        self.handshakeTimer = nil
        // Still connecting (idle): the connect timeout reports that.
        guard self.stateMachine.state == .handshaking else { return }
        let heard = self.receivedAnyBytes ? "answered without completing it" : "sent nothing back"
        let error = OpenSSLError(
            code: .handshakeFailed,
            message:
                "the TLS handshake did not complete within \(timeout.nanoseconds / 1_000_000) ms: the peer \(heard); is TLS enabled on that port?"
        )
        self.fail(context: context, error: self.explainingNonTLSPeer(error))
    }

    private func cancelHandshakeTimer() {
        self.handshakeTimer?.cancel()
        self.handshakeTimer = nil
    }

    private func handshakeStep(context: ChannelHandlerContext) {
        switch self.connection.handshake() {
        case .incomplete:
            self.writeToNetwork(context: context, promise: nil)
        case .complete:
            self.cancelHandshakeTimer()
            self.stateMachine.handshakeCompleted()
            self.writeToNetwork(context: context, promise: nil)
            context.fireUserInboundEventTriggered(TLSUserEvent.handshakeCompleted(negotiatedProtocol: self.connection.negotiatedProtocol))
            // The peer may have sent data right behind its Finished message; a read may trigger writes.
            self.decryptAndForward(context: context)
            if self.stateMachine.canWriteApplicationData {
                self.writeFlushedData(context: context)
            }
        case .failed(let error):
            self.fail(context: context, error: self.explainingNonTLSPeer(error))
        }
    }

    private func decryptAndForward(context: ChannelHandlerContext) {
        guard var buffer = self.readBuffer else { preconditionFailure("channelRead before handlerAdded") }
        // Drop our reference while decrypting so the buffer stays uniquely referenced and isn't copied.
        self.readBuffer = nil
        buffer.clear()
        var closeNotify = false
        var failure: OpenSSLError?
        readLoop: while true {
            switch self.connection.read(into: &buffer) {
            case .data: continue
            case .incomplete: break readLoop
            case .closeNotify:
                closeNotify = true
                break readLoop
            case .failed(let error):
                failure = error
                break readLoop
            }
        }
        self.readBuffer = buffer
        if buffer.readableBytes > 0 {
            context.fireChannelRead(self.wrapInboundOut(buffer))
        }
        if let failure {
            self.fail(context: context, error: failure)
        } else if closeNotify {
            if self.stateMachine.closeNotifyReceived() {
                self.failBufferedWrites(OpenSSLError(code: .connectionClosed, message: "the peer closed the TLS connection"))
                self.connection.shutdown()
                self.writeToNetwork(context: context, promise: nil)
                context.close(mode: .all, promise: nil)
            }
        } else if self.connection.pendingOutboundBytes > 0 {
            // OpenSSL had something to answer (a key update, an alert).
            self.writeToNetwork(context: context, promise: nil)
        }
    }

    /// Encrypts every write up to the mark and sends them as one buffer, flushed.
    private func writeFlushedData(context: ChannelHandlerContext) {
        guard self.bufferedWrites.hasMark else { return }
        var combinedPromise: EventLoopPromise<Void>?
        while self.bufferedWrites.hasMark {
            let write = self.bufferedWrites.removeFirst()
            do {
                try self.connection.write(write.data)
            } catch {
                write.promise?.fail(error)
                combinedPromise?.fail(error)
                self.fail(context: context, error: error)
                return
            }
            if let promise = write.promise {
                if let combinedPromise {
                    combinedPromise.futureResult.cascade(to: promise)
                } else {
                    combinedPromise = promise
                }
            }
        }
        self.writeToNetwork(context: context, promise: combinedPromise)
    }

    /// Writes and flushes whatever ciphertext OpenSSL produced.
    private func writeToNetwork(context: ChannelHandlerContext, promise: EventLoopPromise<Void>?) {
        if let ciphertext = self.connection.takeOutbound(allocator: context.channel.allocator) {
            context.writeAndFlush(self.wrapOutboundOut(ciphertext), promise: promise)
        } else {
            promise?.succeed()
        }
    }

    /// Sends any pending alert, fails everything held, reports the error and closes the channel.
    private func fail(context: ChannelHandlerContext, error: OpenSSLError) {
        self.cancelHandshakeTimer()
        self.stateMachine.failed()
        self.writeToNetwork(context: context, promise: nil)
        self.failBufferedWrites(error)
        context.fireErrorCaught(error)
        context.close(mode: .all, promise: nil)
    }

    private func failBufferedWrites(_ error: OpenSSLError) {
        while let write = self.bufferedWrites.popFirst() {
            write.promise?.fail(error)
        }
    }

    // MARK: - Non-TLS peers

    /// Keeps the start of the peer's first bytes if they can't be a TLS record (content type 20...24).
    private func rememberIfNotTLS(_ buffer: ByteBuffer) {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self), !(20...24).contains(first) else { return }
        self.nonTLSPrefix = buffer.getBytes(at: buffer.readerIndex, length: min(buffer.readableBytes, 64))
    }

    private func explainingNonTLSPeer(_ error: OpenSSLError) -> OpenSSLError {
        guard error.code == .handshakeFailed, let prefix = self.nonTLSPrefix else { return error }
        var shown = ""
        for byte in prefix {
            switch byte {
            case 0x0D: shown += "\\r"
            case 0x0A: shown += "\\n"
            case 0x20...0x7E: shown.unicodeScalars.append(Unicode.Scalar(byte))
            default: shown += "\\x" + String(byte, radix: 16)
            }
        }
        return OpenSSLError(
            code: .handshakeFailed,
            message: "the peer did not answer with TLS (it sent \"\(shown)\"); is TLS enabled on that port?",
            openSSLErrors: error.openSSLErrors,
            verificationResult: error.verificationResult,
            file: error.file,
            line: error.line
        )
    }
}

import COpenSSL
import NIOCore

/// One TLS session: an `SSL*` and the pair of memory BIOs it reads ciphertext from and writes ciphertext to.
///
/// Not thread-safe: the owning channel handler uses it on its event loop only. Everything is freed in `deinit`.
package final class OpenSSLConnection {
    /// The outcome of one handshake or shutdown step.
    package enum StepResult {
        /// Finished.
        case complete
        /// Waiting for more bytes from the peer.
        case incomplete
        /// Failed for good.
        case failed(OpenSSLError)
    }

    /// The outcome of decrypting what the peer sent.
    package enum ReadResult {
        /// Some plaintext was appended to the buffer; there may be more.
        case data
        /// No complete record is buffered; wait for the peer.
        case incomplete
        /// The peer sent close_notify.
        case closeNotify
        /// Decryption failed for good.
        case failed(OpenSSLError)
    }

    /// The `SSL*`, freed (with both BIOs) in `deinit`.
    private let ssl: OpaquePointer
    /// Ciphertext from the network, read by OpenSSL. Owned by `ssl`.
    private let networkToSSL: OpaquePointer
    /// Ciphertext written by OpenSSL, to send to the network. Owned by `ssl`.
    private let sslToNetwork: OpaquePointer
    /// Keeps the `SSL_CTX` alive as long as this session.
    package let context: OpenSSLContext

    /// Creates a session from a context.
    ///
    /// - Parameter context: The shared context; its role decides client or server behaviour.
    /// - Throws: ``OpenSSLError`` if OpenSSL can't allocate the session or its BIOs.
    package init(context: OpenSSLContext) throws(OpenSSLError) {
        ERR_clear_error()
        guard let ssl = SSL_new(context.pointer) else {
            throw OpenSSLError.drainingQueue(code: .invalidConfiguration, message: "SSL_new failed")
        }
        guard let readBIO = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw OpenSSLError.drainingQueue(code: .invalidConfiguration, message: "BIO_new failed")
        }
        guard let writeBIO = BIO_new(BIO_s_mem()) else {
            BIO_free(readBIO)
            SSL_free(ssl)
            throw OpenSSLError.drainingQueue(code: .invalidConfiguration, message: "BIO_new failed")
        }
        // An empty read BIO means "retry later", not EOF: the channel tells us about EOF.
        _ = COpenSSL_BIO_set_mem_eof_return(readBIO, -1)
        SSL_set_bio(ssl, readBIO, writeBIO)
        switch context.role {
        case .client: SSL_set_connect_state(ssl)
        case .server: SSL_set_accept_state(ssl)
        }
        self.ssl = ssl
        self.networkToSSL = readBIO
        self.sslToNetwork = writeBIO
        self.context = context
    }

    deinit {
        SSL_free(self.ssl)
    }

    // MARK: - Setup

    /// Sets SNI and host-name verification for a client session.
    ///
    /// A DNS name is sent as SNI and checked with `SSL_set1_host`; an IP address is never sent as SNI and is
    /// checked against the certificate's IP SANs.
    ///
    /// - Parameters:
    ///   - hostname: The name or IP address the client connected to.
    ///   - verify: Whether to check the certificate against it.
    /// - Throws: ``OpenSSLError`` with code ``OpenSSLError/Code/invalidConfiguration`` if OpenSSL rejects the name.
    package func setServerHostname(_ hostname: String, verify: Bool) throws(OpenSSLError) {
        ERR_clear_error()
        var name = hostname
        if name.hasPrefix("["), name.hasSuffix("]") {
            name = String(name.dropFirst().dropLast())
        }
        if COpenSSL_is_ip_address(name) == 1 {
            guard verify else { return }
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(self.ssl), name) == 1 else {
                throw OpenSSLError.drainingQueue(code: .invalidConfiguration, message: "cannot verify IP address '\(name)'")
            }
        } else {
            guard COpenSSL_SSL_set_tlsext_host_name(self.ssl, name) == 1 else {
                throw OpenSSLError.drainingQueue(code: .invalidConfiguration, message: "invalid SNI host name '\(name)'")
            }
            guard verify else { return }
            guard SSL_set1_host(self.ssl, name) == 1 else {
                throw OpenSSLError.drainingQueue(code: .invalidConfiguration, message: "cannot verify host name '\(name)'")
            }
        }
    }

    // MARK: - Ciphertext I/O

    /// Hands ciphertext from the network to OpenSSL.
    ///
    /// - Parameter buffer: The bytes received; all of them are consumed (the memory BIO grows as needed).
    package func consumeFromNetwork(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { bytes in
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            _ = BIO_write(self.networkToSSL, base, Int32(bytes.count))
        }
    }

    /// The number of ciphertext bytes waiting to be sent.
    package var pendingOutboundBytes: Int {
        Int(COpenSSL_BIO_pending(self.sslToNetwork))
    }

    /// Moves all waiting ciphertext into a new buffer.
    ///
    /// - Parameter allocator: The channel's allocator.
    /// - Returns: The ciphertext, or `nil` if there is none.
    package func takeOutbound(allocator: ByteBufferAllocator) -> ByteBuffer? {
        let pending = self.pendingOutboundBytes
        guard pending > 0 else { return nil }
        var buffer = allocator.buffer(capacity: pending)
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: pending) { bytes in
            Int(max(0, BIO_read(self.sslToNetwork, bytes.baseAddress, Int32(pending))))
        }
        return buffer
    }

    // MARK: - TLS operations

    /// Runs the handshake as far as the buffered bytes allow.
    ///
    /// - Returns: Whether the handshake finished, needs more bytes, or failed.
    package func handshake() -> StepResult {
        ERR_clear_error()
        let result = SSL_do_handshake(self.ssl)
        if result == 1 { return .complete }
        switch SSL_get_error(self.ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        default:
            return .failed(self.handshakeError())
        }
    }

    /// Decrypts one or more records into `buffer`.
    ///
    /// - Parameter buffer: Receives the plaintext; it grows as needed.
    /// - Returns: What happened.
    package func read(into buffer: inout ByteBuffer) -> ReadResult {
        ERR_clear_error()
        var result: Int32 = 0
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 4096) { bytes in
            result = SSL_read(self.ssl, bytes.baseAddress, Int32(clamping: bytes.count))
            return Int(max(0, result))
        }
        if result > 0 { return .data }
        switch SSL_get_error(self.ssl, result) {
        case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE:
            return .incomplete
        case SSL_ERROR_ZERO_RETURN:
            return .closeNotify
        default:
            return .failed(OpenSSLError.drainingQueue(code: .readFailed, message: "cannot decrypt data from the peer"))
        }
    }

    /// Encrypts `buffer` into the outbound BIO.
    ///
    /// - Parameter buffer: The plaintext; may be empty.
    /// - Throws: ``OpenSSLError`` with code ``OpenSSLError/Code/writeFailed``.
    package func write(_ buffer: ByteBuffer) throws(OpenSSLError) {
        guard buffer.readableBytes > 0 else { return }
        ERR_clear_error()
        let result = buffer.withUnsafeReadableBytes { bytes in
            SSL_write(self.ssl, bytes.baseAddress, Int32(bytes.count))
        }
        guard result == Int32(buffer.readableBytes) else {
            throw OpenSSLError.drainingQueue(code: .writeFailed, message: "cannot encrypt data for the peer")
        }
    }

    /// Queues a close_notify alert in the outbound BIO.
    package func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(self.ssl)
        ERR_clear_error()
    }

    // MARK: - Session facts

    /// The ALPN protocol agreed on, if any.
    package var negotiatedProtocol: String? {
        var data: UnsafePointer<UInt8>? = nil
        var length: UInt32 = 0
        SSL_get0_alpn_selected(self.ssl, &data, &length)
        guard let data, length > 0 else { return nil }
        return String(decoding: UnsafeBufferPointer(start: data, count: Int(length)), as: UTF8.self)
    }

    /// The SNI host name the client sent (meaningful on the server side), or `nil` if none was sent.
    package var requestedServerName: String? {
        guard let name = COpenSSL_SSL_get_servername(self.ssl) else { return nil }
        return String(cString: name)
    }

    /// The negotiated protocol version, e.g. "TLSv1.3".
    package var protocolVersion: String {
        String(cString: SSL_get_version(self.ssl))
    }

    /// Why certificate verification failed, or `nil` if it passed (or never ran).
    package var verificationFailure: String? {
        let result = SSL_get_verify_result(self.ssl)
        guard result != X509_V_OK else { return nil }
        return String(cString: X509_verify_cert_error_string(result))
    }

    private func handshakeError() -> OpenSSLError {
        if let failure = self.verificationFailure {
            return OpenSSLError.drainingQueue(
                code: .certificateVerificationFailed,
                message: "the peer's certificate was rejected: \(failure)",
                verificationResult: failure
            )
        }
        return OpenSSLError.drainingQueue(code: .handshakeFailed, message: "the TLS handshake failed")
    }
}

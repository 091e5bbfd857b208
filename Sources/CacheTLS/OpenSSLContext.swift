import COpenSSL

/// One OpenSSL `SSL_CTX` built from an ``OpenSSLConfiguration``, shared by every connection that uses it.
///
/// Build it once per client: loading trust roots and keys is slow, creating connections from it is cheap.
/// The context is immutable after `init` and safe to share across threads.
public final class OpenSSLContext: Sendable {
    /// Which side of the handshake connections made from this context play.
    public enum Role: Sendable, Hashable {
        /// Connections start the handshake and verify the server.
        case client
        /// Connections answer handshakes; used by tests. Unless verification is `.none`, a client certificate is
        /// required and verified against the trust roots.
        case server
    }

    /// The configuration the context was built from.
    public let configuration: OpenSSLConfiguration
    /// The side connections made from this context play.
    public let role: Role
    /// The `SSL_CTX`, owned by this object. Never mutated after `init`, which makes sharing it safe.
    nonisolated(unsafe) package let pointer: OpaquePointer

    /// Builds the OpenSSL context.
    ///
    /// - Parameters:
    ///   - configuration: Trust roots, certificate, key, protocol versions and verification.
    ///   - role: ``Role/client`` (the default) or ``Role/server``.
    /// - Throws: ``OpenSSLError`` with code ``OpenSSLError/Code/unreadableFile`` when a file can't be opened, or
    ///   ``OpenSSLError/Code/invalidConfiguration`` for a bad CA file, certificate or key, or a key that doesn't
    ///   match the certificate. The message names the file.
    public init(configuration: OpenSSLConfiguration, role: Role = .client) throws(OpenSSLError) {
        ERR_clear_error()
        let method = role == .client ? TLS_client_method() : TLS_server_method()
        guard let context = SSL_CTX_new(method) else {
            throw OpenSSLError.drainingQueue(code: .invalidConfiguration, message: "SSL_CTX_new failed")
        }
        do {
            try Self.configure(context, configuration: configuration, role: role)
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.pointer = context
        self.configuration = configuration
        self.role = role
    }

    deinit {
        SSL_CTX_free(self.pointer)
    }

    /// Makes a new `SSL` object for one connection.
    ///
    /// - Returns: The connection, owning its `SSL*` and memory BIOs.
    /// - Throws: ``OpenSSLError`` if OpenSSL can't allocate it.
    package func makeConnection() throws(OpenSSLError) -> OpenSSLConnection {
        try OpenSSLConnection(context: self)
    }

    // MARK: - Setup

    private static func configure(_ context: OpaquePointer, configuration: OpenSSLConfiguration, role: Role) throws(OpenSSLError) {
        _ = SSL_CTX_set_options(context, COpenSSL_default_options())
        _ = COpenSSL_SSL_CTX_set_mode(context, Int(SSL_MODE_AUTO_RETRY))
        let minimum = configuration.minimumVersion == .tls13 ? COpenSSL_TLS1_3_VERSION() : COpenSSL_TLS1_2_VERSION()
        guard COpenSSL_SSL_CTX_set_min_proto_version(context, minimum) == 1 else {
            throw OpenSSLError.drainingQueue(code: .invalidConfiguration, message: "cannot set the minimum TLS version")
        }

        switch configuration.trustRoots {
        case .system:
            guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                throw OpenSSLError.drainingQueue(code: .invalidConfiguration, message: "cannot load the system trust store")
            }
        case .file(let path):
            try Self.checkReadable(path, what: "CA file")
            guard SSL_CTX_load_verify_locations(context, path, nil) == 1 else {
                throw OpenSSLError.drainingQueue(
                    code: .invalidConfiguration,
                    message: "CA file '\(path)' contains no usable PEM certificates"
                )
            }
        case .directory(let path):
            guard SSL_CTX_load_verify_locations(context, nil, path) == 1 else {
                throw OpenSSLError.drainingQueue(code: .unreadableFile, message: "cannot use CA directory '\(path)'")
            }
        }

        switch (configuration.certificateVerification, role) {
        case (.none, _):
            SSL_CTX_set_verify(context, COpenSSL_SSL_VERIFY_NONE(), nil)
        case (_, .client):
            SSL_CTX_set_verify(context, COpenSSL_SSL_VERIFY_PEER(), nil)
        case (_, .server):
            SSL_CTX_set_verify(context, COpenSSL_SSL_VERIFY_REQUIRE_PEER(), nil)
        }

        switch (configuration.certificateChainFile, configuration.privateKeyFile) {
        case (nil, nil):
            break
        case (let chain?, let key?):
            try Self.loadCertificateChain(context, path: chain)
            try Self.loadPrivateKey(context, path: key, passphrase: configuration.privateKeyPassphrase, certificatePath: chain)
        case (let chain?, nil):
            throw OpenSSLError(
                code: .invalidConfiguration,
                message: "certificate chain '\(chain)' is set but privateKeyFile is missing"
            )
        case (nil, let key?):
            throw OpenSSLError(code: .invalidConfiguration, message: "private key '\(key)' is set but certificateChainFile is missing")
        }
    }

    private static func checkReadable(_ path: String, what: String) throws(OpenSSLError) {
        guard let bio = BIO_new_file(path, "r") else {
            throw OpenSSLError.drainingQueue(code: .unreadableFile, message: "cannot open \(what) '\(path)'")
        }
        BIO_free(bio)
    }

    private static func loadCertificateChain(_ context: OpaquePointer, path: String) throws(OpenSSLError) {
        try Self.checkReadable(path, what: "certificate chain file")
        guard SSL_CTX_use_certificate_chain_file(context, path) == 1 else {
            throw OpenSSLError.drainingQueue(
                code: .invalidConfiguration,
                message: "certificate chain file '\(path)' contains no usable PEM certificate"
            )
        }
    }

    private static func loadPrivateKey(
        _ context: OpaquePointer,
        path: String,
        passphrase: String?,
        certificatePath: String
    ) throws(OpenSSLError) {
        guard let bio = BIO_new_file(path, "r") else {
            throw OpenSSLError.drainingQueue(code: .unreadableFile, message: "cannot open private key file '\(path)'")
        }
        defer { BIO_free(bio) }
        // With no callback, PEM_read_bio_PrivateKey takes the last argument as the NUL-terminated passphrase.
        // An empty string stands for "no passphrase", so an encrypted key fails instead of prompting on a terminal.
        let key: OpaquePointer? = (passphrase ?? "").withCString { pass in
            PEM_read_bio_PrivateKey(bio, nil, nil, UnsafeMutableRawPointer(mutating: pass))
        }
        guard let key else {
            throw OpenSSLError.drainingQueue(
                code: .invalidConfiguration,
                message: "cannot read private key file '\(path)' (not a PEM key, or wrong or missing passphrase)"
            )
        }
        defer { EVP_PKEY_free(key) }
        guard SSL_CTX_use_PrivateKey(context, key) == 1, SSL_CTX_check_private_key(context) == 1 else {
            throw OpenSSLError.drainingQueue(
                code: .invalidConfiguration,
                message: "private key '\(path)' does not match certificate '\(certificatePath)'"
            )
        }
    }
}

/// How a TLS connection authenticates its peer and itself.
///
/// The defaults verify the server against the system's trust store, check its host name and require TLS 1.2 or
/// later. Checks are only turned off by naming ``CertificateVerification/noHostnameVerification`` or
/// ``CertificateVerification/none`` explicitly.
public struct OpenSSLConfiguration: Sendable, Hashable {
    /// Where trusted CA certificates come from.
    public enum TrustRoots: Sendable, Hashable {
        /// The system's default trust store (`SSL_CTX_set_default_verify_paths`).
        case system
        /// A PEM file of one or more CA certificates.
        case file(String)
        /// A directory of hashed CA certificates (as made by `openssl rehash`).
        case directory(String)
    }

    /// The lowest TLS protocol version to accept.
    public enum TLSVersion: Sendable, Hashable {
        /// TLS 1.2 or later.
        case tls12
        /// TLS 1.3 only.
        case tls13
    }

    /// How much of the peer's certificate to check.
    public enum CertificateVerification: Sendable, Hashable {
        /// Check the chain against the trust roots and the host name (or IP address) against the certificate.
        case fullVerification
        /// Check the chain but not the host name. Use only when names can't match, e.g. behind a proxy.
        case noHostnameVerification
        /// Check nothing: any certificate is accepted. Encrypts but does not authenticate.
        case none
    }

    /// Where trusted CA certificates come from. Default ``TrustRoots/system``.
    public var trustRoots: TrustRoots
    /// A PEM file with this side's certificate, followed by any intermediates. Default `nil` (no client certificate).
    public var certificateChainFile: String?
    /// A PEM file with the private key of ``certificateChainFile``. Default `nil`.
    public var privateKeyFile: String?
    /// The passphrase of an encrypted ``privateKeyFile``. Default `nil`. A secret: never printed.
    public var privateKeyPassphrase: String?
    /// The lowest TLS version accepted. Default ``TLSVersion/tls12``.
    public var minimumVersion: TLSVersion
    /// How much of the peer certificate is checked. Default ``CertificateVerification/fullVerification``.
    public var certificateVerification: CertificateVerification

    /// Creates a TLS configuration.
    ///
    /// - Parameters:
    ///   - trustRoots: `TrustRoots`, default `.system`: the CA certificates the peer's chain must lead to.
    ///   - certificateChainFile: `String?`, default `nil`: PEM certificate chain presented to the peer (mutual TLS).
    ///   - privateKeyFile: `String?`, default `nil`: PEM private key of `certificateChainFile`.
    ///   - privateKeyPassphrase: `String?`, default `nil`: passphrase of an encrypted key; redacted when printed.
    ///   - minimumVersion: `TLSVersion`, default `.tls12`: the lowest protocol version accepted.
    ///   - certificateVerification: `CertificateVerification`, default `.fullVerification`: what is checked.
    public init(
        trustRoots: TrustRoots = .system,
        certificateChainFile: String? = nil,
        privateKeyFile: String? = nil,
        privateKeyPassphrase: String? = nil,
        minimumVersion: TLSVersion = .tls12,
        certificateVerification: CertificateVerification = .fullVerification
    ) {
        self.trustRoots = trustRoots
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.privateKeyPassphrase = privateKeyPassphrase
        self.minimumVersion = minimumVersion
        self.certificateVerification = certificateVerification
    }
}

// MARK: - CustomStringConvertible

extension OpenSSLConfiguration: CustomStringConvertible {
    /// The configuration with the passphrase redacted.
    public var description: String {
        let trust: String
        switch self.trustRoots {
        case .system: trust = "system"
        case .file(let path): trust = "file(\(path))"
        case .directory(let path): trust = "directory(\(path))"
        }
        return "OpenSSLConfiguration(trustRoots: \(trust), certificateChainFile: \(self.certificateChainFile ?? "nil"), "
            + "privateKeyFile: \(self.privateKeyFile ?? "nil"), "
            + "privateKeyPassphrase: \(self.privateKeyPassphrase == nil ? "nil" : "<redacted>"), "
            + "minimumVersion: \(self.minimumVersion), certificateVerification: \(self.certificateVerification))"
    }
}

// MARK: - CustomDebugStringConvertible

extension OpenSSLConfiguration: CustomDebugStringConvertible {
    /// The same as ``description``: the passphrase is redacted.
    public var debugDescription: String { self.description }
}

// MARK: - CustomReflectable

extension OpenSSLConfiguration: CustomReflectable {
    /// A mirror that shows the passphrase as redacted, so `dump` never prints it.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "trustRoots": self.trustRoots,
                "certificateChainFile": self.certificateChainFile as Any,
                "privateKeyFile": self.privateKeyFile as Any,
                "privateKeyPassphrase": self.privateKeyPassphrase == nil ? "nil" : "<redacted>",
                "minimumVersion": self.minimumVersion,
                "certificateVerification": self.certificateVerification,
            ]
        )
    }
}

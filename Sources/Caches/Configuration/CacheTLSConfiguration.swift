/// TLS settings for a node connection, carried out by the system's OpenSSL.
///
/// Peer and host-name verification are on by default. Turning either off takes a setting with an explicit name:
/// ``Verification-swift.enum/noHostnameVerification`` or ``Verification-swift.enum/none``.
public struct CacheTLSConfiguration: Sendable, Hashable, CustomStringConvertible, CustomReflectable {
    /// Which certificate authorities are trusted.
    public enum Trust: Sendable, Hashable {
        /// The system's trust store (Debian: `/etc/ssl/certs`).
        case system
        /// The CA certificates in a PEM file.
        case caFile(String)
        /// A directory of hashed CA certificates (`c_rehash` layout).
        case caDirectory(String)
    }

    /// How much of the server's certificate is checked.
    public enum Verification: String, Sendable, Hashable {
        /// The chain and the host name (or IP address) are checked. The default.
        case full
        /// The chain is checked, the host name is not.
        case noHostnameVerification = "no-hostname-verification"
        /// Nothing is checked: any certificate is accepted. For tests only.
        case none
    }

    /// The lowest TLS version accepted.
    public enum Version: String, Sendable, Hashable {
        /// TLS 1.2 (the default).
        case tls12 = "1.2"
        /// TLS 1.3.
        case tls13 = "1.3"
    }

    /// Which certificate authorities are trusted. Default: the system store.
    public var trust: Trust
    /// A PEM certificate (chain) presented for mutual TLS. Default: nil.
    public var certificateFile: String?
    /// The PEM private key of ``certificateFile``. Default: nil.
    public var keyFile: String?
    /// The passphrase of an encrypted ``keyFile``. Never printed. Default: nil.
    public var keyPassphrase: String?
    /// The name sent as SNI and checked against the certificate; nil (the default) uses the node's host.
    /// An IP address is checked against the certificate's IP SANs and never sent as SNI.
    public var serverName: String?
    /// The lowest TLS version accepted. Default: TLS 1.2.
    public var minimumVersion: Version
    /// How much of the server's certificate is checked. Default: ``Verification-swift.enum/full``.
    public var verification: Verification

    /// Creates TLS settings; everything not given has its documented default.
    public init(
        trust: Trust = .system,
        certificateFile: String? = nil,
        keyFile: String? = nil,
        keyPassphrase: String? = nil,
        serverName: String? = nil,
        minimumVersion: Version = .tls12,
        verification: Verification = .full
    ) {
        self.trust = trust
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.keyPassphrase = keyPassphrase
        self.serverName = serverName
        self.minimumVersion = minimumVersion
        self.verification = verification
    }

    public var description: String {
        var parts = ["verification: \(self.verification.rawValue)", "minimum: TLS \(self.minimumVersion.rawValue)"]
        switch self.trust {
        case .system: parts.append("trust: system")
        case .caFile(let path): parts.append("caFile: \(path)")
        case .caDirectory(let path): parts.append("caDirectory: \(path)")
        }
        if let cert = self.certificateFile { parts.append("certificate: \(cert)") }
        if let key = self.keyFile { parts.append("key: \(key)") }
        if self.keyPassphrase != nil { parts.append("keyPassphrase: ***") }
        if let name = self.serverName { parts.append("serverName: \(name)") }
        return "TLS(\(parts.joined(separator: ", ")))"
    }

    /// A mirror that shows the passphrase as `***`, so `dump` and debuggers never print it.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "trust": self.trust as Any,
                "certificateFile": self.certificateFile as Any,
                "keyFile": self.keyFile as Any,
                "keyPassphrase": (self.keyPassphrase == nil ? nil : "***") as String? as Any,
                "serverName": self.serverName as Any,
                "minimumVersion": self.minimumVersion as Any,
                "verification": self.verification as Any,
            ],
            displayStyle: .struct
        )
    }
}

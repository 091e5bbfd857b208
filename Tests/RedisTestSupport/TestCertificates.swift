import Foundation

/// A throw-away PKI for TLS tests, made with the `openssl` command in a temporary directory.
///
/// Every file is PEM. Keys are P-256 EC keys, unencrypted except ``encryptedClientKey``.
public struct TestCertificates: Sendable {
    /// An `openssl` command that failed while making the certificates.
    public struct Error: Swift.Error, CustomStringConvertible {
        /// The command line that failed.
        public let command: String
        /// Its exit status, or -1 if it could not be started.
        public let status: Int32
        /// What it wrote to standard error.
        public let output: String

        /// The failing command and its output.
        public var description: String {
            "openssl command failed (status \(self.status)): \(self.command)\n\(self.output)"
        }
    }

    /// The directory holding every file; delete it with ``remove()``.
    public let directory: String
    /// The test CA's certificate: the trust root for everything below except the untrusted chain.
    public let caCertificate: String
    /// The test CA's private key.
    public let caKey: String
    /// A server certificate signed by the CA, with SANs `DNS:localhost` and `IP:127.0.0.1`.
    public let serverCertificate: String
    /// The private key of ``serverCertificate``.
    public let serverKey: String
    /// A client certificate signed by the CA, for mutual TLS (CN `cache-client`).
    public let clientCertificate: String
    /// The private key of ``clientCertificate``.
    public let clientKey: String
    /// ``clientKey`` encrypted with AES-256 under ``encryptedClientKeyPassphrase``.
    public let encryptedClientKey: String
    /// The passphrase of ``encryptedClientKey``.
    public let encryptedClientKeyPassphrase: String
    /// A server certificate signed by the CA for `localhost`/`127.0.0.1` that has already expired.
    public let expiredServerCertificate: String
    /// The private key of ``expiredServerCertificate``.
    public let expiredServerKey: String
    /// A server certificate signed by the CA whose only name is `DNS:wrong.example`.
    public let wrongHostServerCertificate: String
    /// The private key of ``wrongHostServerCertificate``.
    public let wrongHostServerKey: String
    /// A second CA that nobody trusts.
    public let untrustedCACertificate: String
    /// A server certificate for `localhost`/`127.0.0.1` signed by ``untrustedCACertificate``.
    public let untrustedServerCertificate: String
    /// The private key of ``untrustedServerCertificate``.
    public let untrustedServerKey: String

    /// Makes a fresh set of certificates in a new temporary directory.
    ///
    /// - Returns: The paths of the files made.
    /// - Throws: ``Error`` naming the `openssl` command that failed, or a file-system error.
    /// Makes the certificates on a thread of its own and returns them.
    ///
    /// Use this from async code: ``make()`` blocks while `openssl` runs (seconds on a loaded machine), and a blocked
    /// thread of Swift's small cooperative pool stalls every other test in the process.
    ///
    /// - Returns: The certificates, in a new temporary directory.
    /// - Throws: ``TestCertificates/Error`` naming the openssl command that failed.
    public static func generate() async throws -> TestCertificates {
        try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                continuation.resume(with: Result { try TestCertificates.make() })
            }
            thread.start()
        }
    }

    public static func make() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("swift-caches-certs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let maker = Maker(directory: directory)

        let serverNames = "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"
        try maker.writeFile("server.ext", serverNames)
        try maker.writeFile("wrong.ext", "subjectAltName=DNS:wrong.example\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        try maker.writeFile("client.ext", "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")

        try maker.makeCA(name: "ca", commonName: "swift-caches test CA")
        try maker.makeCA(name: "untrusted-ca", commonName: "swift-caches untrusted CA")
        try maker.makeLeaf(name: "server", commonName: "localhost", ca: "ca", extensions: "server.ext", days: 3650)
        try maker.makeLeaf(name: "client", commonName: "cache-client", ca: "ca", extensions: "client.ext", days: 3650)
        // OpenSSL 3.0 accepts a negative -days: notAfter lands before now, so the certificate is expired.
        try maker.makeLeaf(name: "expired", commonName: "localhost", ca: "ca", extensions: "server.ext", days: -1)
        try maker.makeLeaf(name: "wrong-host", commonName: "wrong.example", ca: "ca", extensions: "wrong.ext", days: 3650)
        try maker.makeLeaf(name: "untrusted-server", commonName: "localhost", ca: "untrusted-ca", extensions: "server.ext", days: 3650)
        let passphrase = "test-passphrase-\(UInt32.random(in: 0...UInt32.max))"
        try maker.run([
            "pkey", "-in", maker.path("client.key"), "-aes256", "-passout", "pass:\(passphrase)",
            "-out", maker.path("client-encrypted.key"),
        ])

        return TestCertificates(
            directory: directory,
            caCertificate: maker.path("ca.crt"),
            caKey: maker.path("ca.key"),
            serverCertificate: maker.path("server.crt"),
            serverKey: maker.path("server.key"),
            clientCertificate: maker.path("client.crt"),
            clientKey: maker.path("client.key"),
            encryptedClientKey: maker.path("client-encrypted.key"),
            encryptedClientKeyPassphrase: passphrase,
            expiredServerCertificate: maker.path("expired.crt"),
            expiredServerKey: maker.path("expired.key"),
            wrongHostServerCertificate: maker.path("wrong-host.crt"),
            wrongHostServerKey: maker.path("wrong-host.key"),
            untrustedCACertificate: maker.path("untrusted-ca.crt"),
            untrustedServerCertificate: maker.path("untrusted-server.crt"),
            untrustedServerKey: maker.path("untrusted-server.key")
        )
    }

    /// Deletes ``directory`` and every file in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: self.directory)
    }
}

// MARK: - Running openssl

/// Runs the `openssl` commands in one directory.
private struct Maker {
    let directory: String

    func path(_ name: String) -> String {
        self.directory + "/" + name
    }

    func writeFile(_ name: String, _ contents: String) throws {
        try contents.write(toFile: self.path(name), atomically: true, encoding: .utf8)
    }

    /// A self-signed CA certificate and key: `<name>.crt`, `<name>.key`.
    func makeCA(name: String, commonName: String) throws {
        try self.run([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", self.path("\(name).key"), "-out", self.path("\(name).crt"), "-days", "3650",
            "-subj", "/CN=\(commonName)",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
    }

    /// A key, a request and a certificate signed by `ca`: `<name>.key`, `<name>.crt`.
    func makeLeaf(name: String, commonName: String, ca: String, extensions: String, days: Int) throws {
        try self.run([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", self.path("\(name).key"), "-out", self.path("\(name).csr"), "-subj", "/CN=\(commonName)",
        ])
        try self.run([
            "x509", "-req", "-in", self.path("\(name).csr"), "-CA", self.path("\(ca).crt"), "-CAkey", self.path("\(ca).key"),
            "-set_serial", String(UInt32.random(in: 1...UInt32.max)), "-days", String(days),
            "-extfile", self.path(extensions), "-out", self.path("\(name).crt"),
        ])
    }

    func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl"] + arguments
        process.currentDirectoryURL = URL(fileURLWithPath: self.directory)
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        let command = "openssl " + arguments.map { $0.hasPrefix("pass:") ? "pass:<redacted>" : $0 }.joined(separator: " ")
        do {
            try process.run()
        } catch {
            throw TestCertificates.Error(command: command, status: -1, output: "cannot start openssl: \(error)")
        }
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw TestCertificates.Error(
                command: command,
                status: process.terminationStatus,
                output: String(decoding: output, as: UTF8.self)
            )
        }
    }
}

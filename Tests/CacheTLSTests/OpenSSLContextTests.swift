import CacheTLS
import Foundation
import RedisTestSupport
import Testing

@Suite("OpenSSLContext and OpenSSLConfiguration", .sharedCertificates)
struct OpenSSLContextTests {
    @Test func defaultsVerifyEverythingAgainstTheSystemStore() {
        let configuration = OpenSSLConfiguration()
        #expect(configuration.trustRoots == .system)
        #expect(configuration.minimumVersion == .tls12)
        #expect(configuration.certificateVerification == .fullVerification)
        #expect(configuration.certificateChainFile == nil && configuration.privateKeyFile == nil)
        #expect(throws: Never.self) { try OpenSSLContext(configuration: configuration) }
    }

    @Test func missingCAFileIsUnreadableAndNamed() throws {
        let path = "/nonexistent/swift-caches/ca-\(UInt32.random(in: 0...UInt32.max)).pem"
        let error = try #require(throws: OpenSSLError.self) {
            try OpenSSLContext(configuration: OpenSSLConfiguration(trustRoots: .file(path)))
        }
        #expect(error.code == .unreadableFile)
        #expect(error.message.contains(path))
    }

    @Test func caFileWithoutCertificatesIsInvalid() throws {
        try withCertificates { certificates in
            // A key file is PEM but holds no certificate.
            let error = try #require(throws: OpenSSLError.self) {
                try OpenSSLContext(configuration: OpenSSLConfiguration(trustRoots: .file(certificates.caKey)))
            }
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(certificates.caKey))
        }
    }

    @Test func unreadableKeyIsNamed() throws {
        try withCertificates { certificates in
            let key = certificates.directory + "/missing.key"
            let error = try #require(throws: OpenSSLError.self) {
                try OpenSSLContext(
                    configuration: OpenSSLConfiguration(certificateChainFile: certificates.clientCertificate, privateKeyFile: key)
                )
            }
            #expect(error.code == .unreadableFile)
            #expect(error.message.contains(key))
        }
    }

    @Test func keyNotMatchingTheCertificateIsRejected() throws {
        try withCertificates { certificates in
            let error = try #require(throws: OpenSSLError.self) {
                try OpenSSLContext(
                    configuration: OpenSSLConfiguration(
                        certificateChainFile: certificates.clientCertificate,
                        privateKeyFile: certificates.serverKey
                    )
                )
            }
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(certificates.serverKey))
            #expect(error.message.contains(certificates.clientCertificate))
            #expect(!error.openSSLErrors.isEmpty)
        }
    }

    @Test func certificateWithoutKeyIsInvalid() throws {
        try withCertificates { certificates in
            let error = try #require(throws: OpenSSLError.self) {
                try OpenSSLContext(configuration: OpenSSLConfiguration(certificateChainFile: certificates.clientCertificate))
            }
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains("privateKeyFile"))
        }
    }

    @Test func wrongPassphraseFailsWithoutRevealingIt() throws {
        try withCertificates { certificates in
            let wrong = "not-the-passphrase-\(UInt32.random(in: 0...UInt32.max))"
            let configuration = OpenSSLConfiguration(
                certificateChainFile: certificates.clientCertificate,
                privateKeyFile: certificates.encryptedClientKey,
                privateKeyPassphrase: wrong
            )
            let error = try #require(throws: OpenSSLError.self) { try OpenSSLContext(configuration: configuration) }
            #expect(error.code == .invalidConfiguration)
            #expect(error.message.contains(certificates.encryptedClientKey))
            #expect(!error.description.contains(wrong))
            #expect(!String(reflecting: error).contains(wrong))
        }
    }

    @Test func encryptedKeyWithoutPassphraseFails() throws {
        try withCertificates { certificates in
            let error = try #require(throws: OpenSSLError.self) {
                try OpenSSLContext(
                    configuration: OpenSSLConfiguration(
                        certificateChainFile: certificates.clientCertificate,
                        privateKeyFile: certificates.encryptedClientKey
                    )
                )
            }
            #expect(error.code == .invalidConfiguration)
        }
    }

    @Test func passphraseIsRedactedWhenPrinted() {
        let secret = "s3cret-\(UInt32.random(in: 0...UInt32.max))"
        let configuration = OpenSSLConfiguration(
            certificateChainFile: "/etc/client.crt",
            privateKeyFile: "/etc/client.key",
            privateKeyPassphrase: secret
        )
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in [configuration.description, String(reflecting: configuration), "\(configuration)", dumped] {
            #expect(!text.contains(secret))
            #expect(text.contains("<redacted>"))
            #expect(text.contains("/etc/client.key"))
        }
    }

    @Test func caDirectoryIsAccepted() throws {
        try withCertificates { certificates in
            let context = try OpenSSLContext(configuration: OpenSSLConfiguration(trustRoots: .directory(certificates.directory)))
            #expect(context.role == .client)
            #expect(context.configuration.trustRoots == .directory(certificates.directory))
        }
    }

    @Test func handlerRefusesAContextOfTheOtherRole() throws {
        try withCertificates { certificates in
            let server = try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey)
            let client = try OpenSSLContext(configuration: OpenSSLConfiguration())
            let clientError = try #require(throws: OpenSSLError.self) {
                try OpenSSLClientHandler(context: server, serverHostname: "localhost")
            }
            #expect(clientError.code == .invalidConfiguration)
            let serverError = try #require(throws: OpenSSLError.self) { try OpenSSLClientHandler(serverContext: client) }
            #expect(serverError.code == .invalidConfiguration)
        }
    }
}

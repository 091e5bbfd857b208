import Caches
import Foundation
import RedisTestSupport
import Testing

/// Issue 5's proofs against real `redis-server` processes started with `--tls-port`: mutual TLS, certificate and
/// host-name verification, protocol mismatches that fail fast, no fallback to plaintext, and per-node TLS.
///
/// The whole shared suite also runs over TLS (``BackendKind/tlsRing``, in `CacheSuiteTests`).
@Suite("TLS against real redis-server nodes", .timeLimit(.minutes(2)))
struct TLSIntegrationTests {
    // MARK: The shared TLS ring

    @Test func tlsRingSpreadsKeysOverThreeTLSOnlyNodes() async throws {
        let nodes = try await TestNodes.shared.tlsNodes()
        for node in nodes {
            #expect(node.port == 0, "a TLS test node must not listen in plaintext")
            #expect(node.tlsPort != nil)
        }
        try await withCache(.tlsRing) { cache async throws in
            let keys = Self.randomKeys(60)
            try await cache.setMany(keys.map { ($0, $0) })
            #expect(Set(keys.compactMap { cache.nodeName(for: $0) }).count == 3)
            let values = try await cache.getMany(keys, as: String.self)
            #expect(keys.allSatisfy { (values[$0] ?? nil) == $0 })

            let database = try #require(cache.configuration.nodes.first?.database)
            var total = 0
            for node in nodes {
                let size = try #require(Int(try await node.cli("-n", String(database), "DBSIZE")))
                #expect(size > 0, "node \(node.address) holds none of the keys")
                total += size
            }
            #expect(total == keys.count)
        }
    }

    // MARK: Mutual TLS

    @Test func mutualTLSSucceedsWithClientCertificate() async throws {
        let certificates = try await TestNodes.shared.certificates()
        try await RedisServer.withServer(tls: Self.mutualTLSFiles(certificates), allowExternal: false) {
            server in
            try await Self.roundTrip(
                Self.url(
                    port: server.tlsPort,
                    [
                        ("tls_ca_file", certificates.caCertificate),
                        ("tls_cert_file", certificates.clientCertificate),
                        ("tls_key_file", certificates.clientKey),
                    ]
                )
            )
        }
    }

    @Test func mutualTLSSucceedsWithEncryptedKeyAndPassphrase() async throws {
        let certificates = try await TestNodes.shared.certificates()
        try await RedisServer.withServer(tls: Self.mutualTLSFiles(certificates), allowExternal: false) {
            server in
            try await Self.roundTrip(
                Self.url(
                    port: server.tlsPort,
                    [
                        ("tls_ca_file", certificates.caCertificate),
                        ("tls_cert_file", certificates.clientCertificate),
                        ("tls_key_file", certificates.encryptedClientKey),
                        ("tls_key_passphrase", certificates.encryptedClientKeyPassphrase),
                    ]
                )
            )
        }
    }

    #if ConfigFiles
        @Test func keyPassphraseFromTheEnvironmentOpensTheEncryptedKeyOfAConfigFile() async throws {
            let certificates = try await TestNodes.shared.certificates()
            try await RedisServer.withServer(tls: Self.mutualTLSFiles(certificates), allowExternal: false) {
                server in
                let directory = FileManager.default.temporaryDirectory.path + "/caches-passphrase-\(UUID().uuidString)"
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                defer { try? FileManager.default.removeItem(atPath: directory) }
                let file = directory + "/cache.yaml"
                // The file names the encrypted key but not its passphrase.
                try """
                nodes:
                  - host: \(server.host)
                    port: \(server.tlsPort ?? 0)
                tls:
                  caFile: \(certificates.caCertificate)
                  certificateFile: \(certificates.clientCertificate)
                  keyFile: \(certificates.encryptedClientKey)
                """.write(toFile: file, atomically: true, encoding: .utf8)
                let environment = ["CACHES_TLS_KEY_PASSPHRASE": certificates.encryptedClientKeyPassphrase]
                let configuration = try await CacheConfiguration.load(fromFile: file, environment: environment)
                try await Cache(configuration: configuration).withConnection { cache async throws in
                    try await cache.set("passphrase", "from the environment")
                    #expect(try await cache.get("passphrase", as: String.self) == "from the environment")
                    try await cache.delete("passphrase")
                }
                // Without it, the key cannot be opened.
                let withoutPassphrase = try await CacheConfiguration.load(fromFile: file, environment: [:])
                let error = await #expect(throws: CacheError.self) {
                    try await Cache(configuration: withoutPassphrase).withConnection { _ async throws in }
                }
                #expect(error?.code == .invalidConfiguration, "\(String(describing: error))")
            }
        }
    #endif

    @Test func mutualTLSFailsWithoutClientCertificate() async throws {
        let certificates = try await TestNodes.shared.certificates()
        try await RedisServer.withServer(tls: Self.mutualTLSFiles(certificates), allowExternal: false) {
            server in
            let commands = try await Self.commandsRun(on: server) {
                let failure = try await Self.connectFailure(
                    Self.url(port: server.tlsPort, [("tls_ca_file", certificates.caCertificate)])
                )
                #expect(
                    failure.error.code == .tlsHandshake || failure.error.code == .connectFailed,
                    "\(failure.error)"
                )
            }
            #expect(commands.isEmpty, "the server ran \(commands) for a client without a certificate")
        }
    }

    @Test func keyPassphraseNeverAppearsInErrorsOrDescriptions() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let passphrase = certificates.encryptedClientKeyPassphrase
        let wrongPassphrase = "wrong-\(passphrase)"
        let untrusted = RedisServer.TLSFiles(
            certFile: certificates.untrustedServerCertificate,
            keyFile: certificates.untrustedServerKey,
            caFile: certificates.untrustedCACertificate
        )
        try await RedisServer.withServer(tls: untrusted, allowExternal: false) { server in
            // The right passphrase, then a handshake that fails: the error carries the configuration's context.
            let url = Self.url(
                port: server.tlsPort,
                [
                    ("tls_ca_file", certificates.caCertificate),
                    ("tls_cert_file", certificates.clientCertificate),
                    ("tls_key_file", certificates.encryptedClientKey),
                    ("tls_key_passphrase", passphrase),
                ]
            )
            let cache = try Cache(url: url)
            let tls = try #require(cache.configuration.tls)
            #expect(tls.keyPassphrase == passphrase)
            var dumped = ""
            dump(cache.configuration, to: &dumped)
            let texts = [
                "\(cache.configuration)", String(reflecting: cache.configuration), dumped,
                "\(tls)", String(reflecting: tls), "\(try CacheURL(url))",
            ]
            for text in texts {
                #expect(!text.contains(passphrase), "the passphrase is printed in: \(text)")
            }
            let handshake = try await Self.connectFailure(url)
            #expect(handshake.error.code == .tlsHandshake)
            Self.expectNotPrinted(passphrase, in: handshake.error)

            // A wrong passphrase fails before any connection, naming the key file but not the passphrase.
            let wrong = try await Self.connectFailure(
                Self.url(
                    port: server.tlsPort,
                    [
                        ("tls_ca_file", certificates.caCertificate),
                        ("tls_cert_file", certificates.clientCertificate),
                        ("tls_key_file", certificates.encryptedClientKey),
                        ("tls_key_passphrase", wrongPassphrase),
                    ]
                )
            )
            #expect(wrong.error.code == .invalidConfiguration)
            #expect("\(wrong.error)".contains(certificates.encryptedClientKey))
            Self.expectNotPrinted(wrongPassphrase, in: wrong.error)
            Self.expectNotPrinted(passphrase, in: wrong.error)
        }
    }

    // MARK: Verification

    @Test func untrustedCertificateAuthorityFailsTheHandshake() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let files = RedisServer.TLSFiles(
            certFile: certificates.untrustedServerCertificate,
            keyFile: certificates.untrustedServerKey,
            caFile: certificates.untrustedCACertificate
        )
        try await RedisServer.withServer(tls: files, allowExternal: false) { server in
            // redis-server sends its certificate with the (self-signed, untrusted) CA that signed it.
            let reasons = [
                "self-signed certificate in certificate chain", "unable to get local issuer certificate",
            ]
            let commands = try await Self.commandsRun(on: server) {
                let failure = try await Self.connectFailure(
                    Self.url(port: server.tlsPort, [("tls_ca_file", certificates.caCertificate)])
                )
                #expect(failure.error.code == .tlsHandshake)
                #expect(reasons.contains { failure.error.message.contains($0) }, "\(failure.error)")

                // The system trust store does not know that CA either.
                let system = try await Self.connectFailure(Self.url(port: server.tlsPort, []))
                #expect(system.error.code == .tlsHandshake)
                #expect(reasons.contains { system.error.message.contains($0) }, "\(system.error)")
            }
            #expect(commands.isEmpty, "the server ran \(commands) before the certificate was accepted")

            // Turning verification off by its explicit name connects.
            try await Self.roundTrip(
                Self.url(
                    port: server.tlsPort,
                    [("tls_ca_file", certificates.caCertificate), ("tls_verify", "none")]
                )
            )
        }
    }

    @Test func noHostnameVerificationStillRejectsAnUntrustedCertificateAuthority() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let files = RedisServer.TLSFiles(
            certFile: certificates.untrustedServerCertificate,
            keyFile: certificates.untrustedServerKey,
            caFile: certificates.untrustedCACertificate
        )
        try await RedisServer.withServer(tls: files, allowExternal: false) { server in
            let commands = try await Self.commandsRun(on: server) {
                // Skipping the host-name check must not skip the chain check: that is what `none` is for.
                let failure = try await Self.connectFailure(
                    Self.url(
                        port: server.tlsPort,
                        [("tls_ca_file", certificates.caCertificate), ("tls_verify", "no-hostname-verification")]
                    )
                )
                #expect(failure.error.code == .tlsHandshake)
                #expect(
                    ["self-signed certificate in certificate chain", "unable to get local issuer certificate"].contains {
                        failure.error.message.contains($0)
                    },
                    "\(failure.error)"
                )
            }
            #expect(commands.isEmpty, "the server ran \(commands) before the certificate was accepted")
        }
    }

    @Test func wrongHostNameFailsTheHandshake() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let files = RedisServer.TLSFiles(
            certFile: certificates.wrongHostServerCertificate,
            keyFile: certificates.wrongHostServerKey,
            caFile: certificates.caCertificate
        )
        try await RedisServer.withServer(tls: files, allowExternal: false) { server in
            let ca = ("tls_ca_file", certificates.caCertificate)
            let commands = try await Self.commandsRun(on: server) {
                // A DNS name the certificate does not carry.
                let byName = try await Self.connectFailure(
                    Self.url(host: "localhost", port: server.tlsPort, [ca])
                )
                #expect(byName.error.code == .tlsHandshake)
                #expect(byName.error.message.contains("hostname mismatch"), "\(byName.error)")
                // The same through tls_server_name while connecting to the IP address.
                let byServerName = try await Self.connectFailure(
                    Self.url(port: server.tlsPort, [ca, ("tls_server_name", "localhost")])
                )
                #expect(byServerName.error.code == .tlsHandshake)
                #expect(byServerName.error.message.contains("hostname mismatch"), "\(byServerName.error)")
                // An IP address the certificate has no IP SAN for.
                let byAddress = try await Self.connectFailure(Self.url(port: server.tlsPort, [ca]))
                #expect(byAddress.error.code == .tlsHandshake)
                #expect(byAddress.error.message.contains("IP address mismatch"), "\(byAddress.error)")
            }
            #expect(commands.isEmpty, "the server ran \(commands) before the host name was accepted")

            // The chain is still checked without the name, and the name the certificate carries matches.
            try await Self.roundTrip(
                Self.url(port: server.tlsPort, [ca, ("tls_verify", "no-hostname-verification")])
            )
            try await Self.roundTrip(
                Self.url(port: server.tlsPort, [ca, ("tls_server_name", "wrong.example")])
            )
        }
    }

    @Test func expiredServerCertificateFailsTheHandshake() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let files = RedisServer.TLSFiles(
            certFile: certificates.expiredServerCertificate,
            keyFile: certificates.expiredServerKey,
            caFile: certificates.caCertificate
        )
        try await RedisServer.withServer(tls: files, allowExternal: false) { server in
            let commands = try await Self.commandsRun(on: server) {
                let failure = try await Self.connectFailure(
                    Self.url(port: server.tlsPort, [("tls_ca_file", certificates.caCertificate)])
                )
                #expect(failure.error.code == .tlsHandshake)
                #expect(failure.error.message.contains("certificate has expired"), "\(failure.error)")
            }
            #expect(commands.isEmpty, "the server ran \(commands) before the certificate was accepted")
        }
    }

    @Test func ipAddressHostIsVerifiedAgainstTheIPSAN() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let node = try await TestNodes.shared.tlsNodes()[0]
        #expect(node.host == "127.0.0.1")
        let url = Self.url(
            port: node.tlsPort,
            [("tls_ca_file", certificates.caCertificate), ("tls_verify", "full")]
        )
        let tls = try #require(try Cache(url: url).configuration.tls)
        #expect(tls.verification == .full && tls.serverName == nil)
        try await Self.roundTrip(url)
        // The DNS SAN of the same certificate.
        try await Self.roundTrip(
            Self.url(host: "localhost", port: node.tlsPort, [("tls_ca_file", certificates.caCertificate)])
        )
    }

    @Test func minimumVersionTLS13Connects() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let node = try await TestNodes.shared.tlsNodes()[1]
        try await Self.roundTrip(
            Self.url(
                port: node.tlsPort,
                [("tls_ca_file", certificates.caCertificate), ("tls_min_version", "1.3")]
            )
        )
    }

    @Test func caDirectoryWithTheHashedCAVerifiesTheServer() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let node = try await TestNodes.shared.tlsNodes()[0]
        let openssl = try #require(ProcessRunner.locate("openssl"), "openssl not found: run `make deps`")
        let hash = try await ProcessRunner.run(openssl, arguments: ["x509", "-hash", "-noout", "-in", certificates.caCertificate])
        #expect(hash.succeeded, "\(hash.standardError)")
        let name = hash.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(!name.isEmpty)
        // OpenSSL looks a CA up in a directory by its subject hash: `<hash>.0`.
        let directory = FileManager.default.temporaryDirectory.path + "/caches-ca-dir-\(UUID().uuidString)"
        let empty = directory + "-empty"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(atPath: directory)
            try? FileManager.default.removeItem(atPath: empty)
        }
        try FileManager.default.copyItem(atPath: certificates.caCertificate, toPath: directory + "/\(name).0")

        try await Self.roundTrip(Self.url(port: node.tlsPort, [("tls_ca_dir", directory)]))
        // The same server against a directory without the CA: the chain cannot be verified.
        let failure = try await Self.connectFailure(Self.url(port: node.tlsPort, [("tls_ca_dir", empty)]))
        #expect(failure.error.code == .tlsHandshake, "\(failure.error)")
    }

    @Test func minimumVersionTLS13RefusesAServerLimitedToTLS12() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let files = RedisServer.TLSFiles(
            certFile: certificates.serverCertificate,
            keyFile: certificates.serverKey,
            caFile: certificates.caCertificate
        )
        try await RedisServer.withServer(tls: files, extraArguments: ["--tls-protocols", "TLSv1.2"], allowExternal: false) {
            server in
            let ca = ("tls_ca_file", certificates.caCertificate)
            let commands = try await Self.commandsRun(on: server) {
                let failure = try await Self.connectFailure(Self.url(port: server.tlsPort, [ca, ("tls_min_version", "1.3")]))
                #expect(failure.error.code == .tlsHandshake, "\(failure.error)")
            }
            #expect(commands.isEmpty, "the server ran \(commands) over a refused protocol version")
            // The same server with the default minimum (1.2) connects: only the version made the difference.
            try await Self.roundTrip(Self.url(port: server.tlsPort, [ca]))
            try await Self.roundTrip(Self.url(port: server.tlsPort, [ca, ("tls_min_version", "1.2")]))
        }
    }

    // MARK: Protocol mismatches and no plaintext fallback

    @Test func plaintextClientAgainstTLSPortFailsFast() async throws {
        let node = try await TestNodes.shared.tlsNodes()[0]
        let port = try #require(node.tlsPort)
        // A long connect timeout: the failure must come from what the server sends, not from waiting, so it comes
        // well before half the timeout.
        let connectTimeout = Duration.seconds(20)
        let failure = try await Self.connectFailure("redis://127.0.0.1:\(port)/?connect_timeout=20")
        #expect(
            [.connectFailed, .protocolViolation, .connectionClosed].contains(failure.error.code),
            "\(failure.error)"
        )
        #expect(failure.elapsed < connectTimeout / 2, "took \(failure.elapsed)")
    }

    @Test func tlsClientAgainstPlaintextPortFailsFastWithoutSendingCommands() async throws {
        let certificates = try await TestNodes.shared.certificates()
        try await RedisServer.withServer(allowExternal: false) { server in
            // Redis waits for the end of an inline command that never comes, so it never answers the ClientHello:
            // the handshake is bounded by the connect timeout and says what is wrong.
            let connectTimeout = Duration.seconds(1)
            let commands = try await Self.commandsRun(on: server) {
                let failure = try await Self.connectFailure(
                    Self.url(
                        port: server.port,
                        [("tls_ca_file", certificates.caCertificate), ("connect_timeout", "1")]
                    )
                )
                #expect(failure.error.code == .tlsHandshake)
                #expect(failure.error.message.contains("is TLS enabled on that port?"), "\(failure.error)")
                // Time is the behaviour: the connect timeout ends the handshake (a margin of 4x for a busy machine).
                #expect(failure.elapsed < connectTimeout * 4, "took \(failure.elapsed)")
            }
            // The server never ran a command of ours: no set-up, no plaintext retry.
            #expect(commands.isEmpty, "the server ran \(commands) for a TLS client")
        }
    }

    @Test func tlsNodeOnAPlaintextPortNeverAnswersInARing() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let tlsNode = try await TestNodes.shared.tlsNodes()[2]
        let database = await TestNodes.shared.database()
        try await RedisServer.withServer(allowExternal: false) { plain in
            let tls = CacheTLSConfiguration(trust: .caFile(certificates.caCertificate))
            var configuration = CacheConfiguration(
                backend: .redis,
                nodes: [
                    .init(
                        name: "tls",
                        host: "127.0.0.1",
                        port: try #require(tlsNode.tlsPort),
                        database: database
                    ),
                    .init(name: "plain", host: "127.0.0.1", port: plain.port),
                ],
                tls: tls
            )
            configuration.pool.connectionWaitTimeout = .milliseconds(300)
            configuration.connectTimeout = .milliseconds(500)
            let cache = try Cache(configuration: configuration)
            let keys = Self.randomKeys(40)
            let plainKeys = keys.filter { cache.nodeName(for: $0) == "plain" }
            let tlsKeys = keys.filter { cache.nodeName(for: $0) == "tls" }
            #expect(!plainKeys.isEmpty && !tlsKeys.isEmpty)
            for key in plainKeys {
                #expect(try await plain.cli("SET", cache.makeKey(key), "\"plaintext\"") == "OK")
            }

            let commands = try await Self.commandsRun(on: plain) {
                try await cache.connect()  // one node of two is reachable
                for key in plainKeys.prefix(2) {
                    let error = await #expect(throws: CacheError.self) {
                        try await cache.get(key, as: String.self)
                    }
                    #expect(error?.node == "plain", "\(String(describing: error))")
                }
                try await cache.set(tlsKeys[0], "over TLS")
                #expect(try await cache.get(tlsKeys[0], as: String.self) == "over TLS")
                try await cache.delete(tlsKeys[0])
                try await cache.disconnect()
            }
            #expect(commands.isEmpty, "the plaintext server ran \(commands) for a TLS cache")
        }
    }

    // MARK: Per-node TLS

    @Test func perNodeTLSOverrideFromCode() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let tlsNode = try await TestNodes.shared.tlsNodes()[0]
        let plainNode = try await TestNodes.shared.plainNodes()[0]
        let database = await TestNodes.shared.database()
        let configuration = CacheConfiguration(
            backend: .redis,
            nodes: [
                .init(
                    name: "tls-node",
                    host: "127.0.0.1",
                    port: try #require(tlsNode.tlsPort),
                    database: database,
                    tls: CacheTLSConfiguration(trust: .caFile(certificates.caCertificate))
                ),
                .init(name: "plain-node", host: plainNode.host, port: plainNode.port, database: database),
            ]
        )
        #expect(configuration.tls == nil)
        let cache = try Cache(configuration: configuration)
        try await cache.withConnection { cache async throws in
            let keys = Self.randomKeys(40)
            try await cache.setMany(keys.map { ($0, $0) })
            #expect(Set(keys.compactMap { cache.nodeName(for: $0) }) == ["tls-node", "plain-node"])
            let values = try await cache.getMany(keys, as: String.self)
            #expect(keys.allSatisfy { (values[$0] ?? nil) == $0 })
            let onTLS = try #require(Int(try await tlsNode.cli("-n", String(database), "DBSIZE")))
            let onPlain = try #require(Int(try await plainNode.cli("-n", String(database), "DBSIZE")))
            #expect(onTLS > 0 && onPlain > 0 && onTLS + onPlain == keys.count)
            try await cache.clear()
        }
    }

    @Test func nodeTLSOverridesTheCacheWideSetting() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let nodes = try await TestNodes.shared.tlsNodes()
        let database = await TestNodes.shared.database()
        var configuration = CacheConfiguration(
            backend: .redis,
            nodes: [
                // Inherits the cache-wide setting, which trusts the wrong CA.
                .init(
                    name: "inherits",
                    host: "127.0.0.1",
                    port: try #require(nodes[0].tlsPort),
                    database: database
                ),
                .init(
                    name: "overrides",
                    host: "127.0.0.1",
                    port: try #require(nodes[1].tlsPort),
                    database: database,
                    tls: CacheTLSConfiguration(trust: .caFile(certificates.caCertificate))
                ),
            ],
            tls: CacheTLSConfiguration(trust: .caFile(certificates.untrustedCACertificate))
        )
        configuration.pool.connectionWaitTimeout = .milliseconds(300)
        let cache = try Cache(configuration: configuration)
        let keys = Self.randomKeys(40)
        let inherits = try #require(keys.first { cache.nodeName(for: $0) == "inherits" })
        let overrides = try #require(keys.first { cache.nodeName(for: $0) == "overrides" })
        try await cache.withConnection { cache async throws in
            try await cache.set(overrides, "trusted")
            #expect(try await cache.get(overrides, as: String.self) == "trusted")
            try await cache.delete(overrides)
            let error = await #expect(throws: CacheError.self) {
                try await cache.set(inherits, "never stored")
            }
            #expect(error?.node == "inherits", "\(String(describing: error))")
        }
        #expect(try await nodes[0].cli("-n", String(database), "DBSIZE") == "0")
    }

    // MARK: Helpers

    /// Keys spread over the ring. (twemproxy's fnv1a_64 puts keys that differ only in their last characters next
    /// to each other on the ring, so numbered keys would all land on one node.)
    static func randomKeys(_ count: Int) -> [String] {
        (0..<count).map { _ in UUID().uuidString }
    }

    /// A `rediss://` URL for one node with query options in order.
    static func url(host: String = "127.0.0.1", port: Int?, _ options: [(String, String)]) -> String {
        let query = options.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        return "rediss://\(host):\(port ?? 0)/" + (query.isEmpty ? "" : "?" + query)
    }

    /// A server requiring client certificates; `redis-cli` presents the test client certificate.
    static func mutualTLSFiles(_ certificates: TestCertificates) -> RedisServer.TLSFiles {
        RedisServer.TLSFiles(
            certFile: certificates.serverCertificate,
            keyFile: certificates.serverKey,
            caFile: certificates.caCertificate,
            authClients: true,
            clientCertFile: certificates.clientCertificate,
            clientKeyFile: certificates.clientKey
        )
    }

    /// Connects, writes and reads back one value, deletes it and disconnects.
    static func roundTrip(_ url: String, sourceLocation: SourceLocation = #_sourceLocation)
        async throws
    {
        let cache = try Cache(url: url)
        try await cache.withConnection { cache async throws in
            let key = "tls-\(UUID().uuidString)"
            try await cache.set(key, "over TLS")
            #expect(
                try await cache.get(key, as: String.self) == "over TLS",
                sourceLocation: sourceLocation
            )
            try await cache.delete(key)
        }
    }

    /// Connects a cache that must fail; returns the error and how long the failure took.
    static func connectFailure(
        _ url: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (error: CacheError, elapsed: Duration) {
        let cache = try Cache(url: url)
        let clock = ContinuousClock()
        let start = clock.now
        let error = await #expect(throws: CacheError.self, sourceLocation: sourceLocation) {
            try await cache.connect()
        }
        let elapsed = clock.now - start
        if cache.isConnected { try await cache.disconnect() }
        return (try #require(error, sourceLocation: sourceLocation), elapsed)
    }

    /// The commands other than `INFO` a server ran while `body` ran (from `INFO commandstats` before and after).
    static func commandsRun(on server: RedisServer, during body: () async throws -> Void) async throws
        -> Set<String>
    {
        let before = try await server.commandCalls()
        try await body()
        let after = try await server.commandCalls()
        return Set(after.filter { $0.key != "info" && before[$0.key] != $0.value }.keys)
    }

    /// Checks that a secret appears in none of an error's texts.
    static func expectNotPrinted(
        _ secret: String,
        in error: CacheError,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        var dumped = ""
        dump(error, to: &dumped)
        for text in ["\(error)", String(reflecting: error), error.message, dumped] {
            #expect(
                !text.contains(secret),
                "the secret is printed in: \(text)",
                sourceLocation: sourceLocation
            )
        }
    }
}

import CacheTLS
import NIOCore
import NIOEmbedded
import NIOTLS
import RedisTestSupport
import Testing

@Suite("OpenSSLClientHandler over in-memory channels", .sharedCertificates)
struct OpenSSLClientHandlerTests {
    private func trustingClient(
        _ certificates: TestCertificates,
        verification: OpenSSLConfiguration.CertificateVerification = .fullVerification
    )
        throws -> OpenSSLContext
    {
        try OpenSSLContext(
            configuration: OpenSSLConfiguration(trustRoots: .file(certificates.caCertificate), certificateVerification: verification)
        )
    }

    // MARK: - Happy path

    @Test func handshakeCompletesAndDataRoundTripsBothWays() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try self.trustingClient(certificates),
                server: try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()

            #expect(pair.clientRecorder.events == [.handshakeCompleted(negotiatedProtocol: nil)])
            #expect(pair.serverRecorder.handshakeCompleted)
            #expect(pair.clientHandler.protocolVersion == "TLSv1.3")

            try pair.client.writeAndFlush(ByteBuffer(text: "*1\r\n$4\r\nPING\r\n")).wait()
            // What travels is ciphertext, not the command.
            let wire = try InMemoryTLSPair.drain(pair.client)
            let wireBytes = wire.flatMap { Array($0.readableBytesView) }
            #expect(!wireBytes.isEmpty)
            #expect(!String(decoding: wireBytes, as: UTF8.self).contains("PING"))
            for buffer in wire { try pair.server.writeInbound(buffer) }
            #expect(pair.serverRecorder.receivedText == "*1\r\n$4\r\nPING\r\n")

            try pair.server.writeAndFlush(ByteBuffer(text: "+PONG\r\n")).wait()
            try pair.interact()
            #expect(pair.clientRecorder.receivedText == "+PONG\r\n")
            #expect(pair.clientRecorder.errors.isEmpty)
            #expect(pair.serverRecorder.errors.isEmpty)
        }
    }

    @Test func largeWritesArriveWholeAndInOrder() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try self.trustingClient(certificates),
                server: try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()
            // Several writes in one flush, larger than one 16 KiB TLS record in total.
            let chunks = (0..<5).map { index in [UInt8](repeating: UInt8(ascii: "a") + UInt8(index), count: 7000) }
            var promises: [EventLoopFuture<Void>] = []
            for chunk in chunks {
                promises.append(pair.client.write(ByteBuffer(bytes: chunk)))
            }
            pair.client.flush()
            try pair.interact()
            #expect(pair.serverRecorder.received == chunks.flatMap { $0 })
            for promise in promises { try promise.wait() }
        }
    }

    @Test func writesBeforeTheHandshakeAreSentAfterIt() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try self.trustingClient(certificates),
                server: try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            let write = FutureObserver(pair.client.writeAndFlush(ByteBuffer(text: "early bird")))
            try pair.connect()
            // Only the ClientHello has left so far; the data waits for the handshake.
            #expect(write.result == nil)
            #expect(pair.serverRecorder.received.isEmpty)
            try pair.interact()
            #expect(throws: Never.self) { try write.result?.get() }
            #expect(write.result != nil)
            #expect(pair.serverRecorder.receivedText == "early bird")
        }
    }

    // MARK: - Certificate verification

    /// Runs a handshake whose client must reject the server, and returns the client's error.
    private func rejectedHandshake(
        client: OpenSSLContext,
        serverCertificate: String,
        serverKey: String,
        serverHostname: String
    ) throws -> (OpenSSLError, pendingWrite: Result<Void, any Error>?) {
        let pair = try InMemoryTLSPair(
            client: client,
            server: try serverContext(certificate: serverCertificate, key: serverKey),
            serverHostname: serverHostname
        )
        defer { pair.finish() }
        let write = FutureObserver(pair.client.writeAndFlush(ByteBuffer(text: "GET key")))
        try pair.handshake()
        #expect(!pair.clientRecorder.handshakeCompleted)
        #expect(!pair.client.isActive, "the client must close the channel after a failed handshake")
        #expect(pair.serverRecorder.received.isEmpty, "nothing may reach an unverified server")
        let error = try #require(pair.clientRecorder.openSSLErrors.first)
        #expect(pair.clientRecorder.openSSLErrors.count == 1)
        return (error, write.result)
    }

    @Test func serverFromAnUntrustedCAIsRejected() throws {
        try withCertificates { certificates in
            let (error, write) = try self.rejectedHandshake(
                client: try self.trustingClient(certificates),
                serverCertificate: certificates.untrustedServerCertificate,
                serverKey: certificates.untrustedServerKey,
                serverHostname: "localhost"
            )
            #expect(error.code == .certificateVerificationFailed)
            #expect(error.verificationResult == "unable to get local issuer certificate")
            #expect(error.description.contains("unable to get local issuer certificate"))
            #expect(error.openSSLErrors.contains { $0.contains("certificate verify failed") })
            // The write buffered during the handshake fails with the same error.
            guard case .failure(let writeError as OpenSSLError) = write else {
                Issue.record("the buffered write did not fail with an OpenSSLError: \(String(describing: write))")
                return
            }
            #expect(writeError.code == .certificateVerificationFailed)
            #expect(writeError.verificationResult == error.verificationResult)
        }
    }

    @Test func serverWithTheWrongHostNameIsRejected() throws {
        try withCertificates { certificates in
            let (error, _) = try self.rejectedHandshake(
                client: try self.trustingClient(certificates),
                serverCertificate: certificates.wrongHostServerCertificate,
                serverKey: certificates.wrongHostServerKey,
                serverHostname: "localhost"
            )
            #expect(error.code == .certificateVerificationFailed)
            #expect(error.verificationResult == "hostname mismatch")
        }
    }

    @Test func expiredServerCertificateIsRejected() throws {
        try withCertificates { certificates in
            let (error, _) = try self.rejectedHandshake(
                client: try self.trustingClient(certificates),
                serverCertificate: certificates.expiredServerCertificate,
                serverKey: certificates.expiredServerKey,
                serverHostname: "localhost"
            )
            #expect(error.code == .certificateVerificationFailed)
            #expect(error.verificationResult == "certificate has expired")
        }
    }

    @Test func verificationNoneAcceptsAnUntrustedServer() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try OpenSSLContext(configuration: OpenSSLConfiguration(certificateVerification: .none)),
                server: try serverContext(certificate: certificates.untrustedServerCertificate, key: certificates.untrustedServerKey),
                serverHostname: "wrong.example"
            )
            defer { pair.finish() }
            try pair.handshake()
            #expect(pair.clientRecorder.handshakeCompleted)
            #expect(pair.clientRecorder.errors.isEmpty)
        }
    }

    @Test func noHostnameVerificationAcceptsAWrongNameButNotAnUntrustedCA() throws {
        try withCertificates { certificates in
            let client = try self.trustingClient(certificates, verification: .noHostnameVerification)
            let pair = try InMemoryTLSPair(
                client: client,
                server: try serverContext(certificate: certificates.wrongHostServerCertificate, key: certificates.wrongHostServerKey),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()
            #expect(pair.clientRecorder.handshakeCompleted)

            let (error, _) = try self.rejectedHandshake(
                client: client,
                serverCertificate: certificates.untrustedServerCertificate,
                serverKey: certificates.untrustedServerKey,
                serverHostname: "localhost"
            )
            #expect(error.verificationResult == "unable to get local issuer certificate")
        }
    }

    // MARK: - SNI and IP addresses

    @Test func dnsNameIsSentAsSNI() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try self.trustingClient(certificates),
                server: try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()
            #expect(pair.clientRecorder.handshakeCompleted)
            #expect(pair.serverHandler.requestedServerName == "localhost")
        }
    }

    @Test func ipAddressIsVerifiedAgainstTheIPSANAndNotSentAsSNI() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try self.trustingClient(certificates),
                server: try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey),
                serverHostname: "127.0.0.1"
            )
            defer { pair.finish() }
            try pair.handshake()
            #expect(pair.clientRecorder.handshakeCompleted)
            #expect(pair.clientRecorder.errors.isEmpty)
            #expect(pair.serverHandler.requestedServerName == nil)
        }
    }

    @Test(arguments: ["127.0.0.2", "::1", "[::1]"])
    func ipAddressNotInTheCertificateIsRejected(address: String) throws {
        try withCertificates { certificates in
            let (error, _) = try self.rejectedHandshake(
                client: try self.trustingClient(certificates),
                serverCertificate: certificates.serverCertificate,
                serverKey: certificates.serverKey,
                serverHostname: address
            )
            #expect(error.code == .certificateVerificationFailed)
            #expect(error.verificationResult == "IP address mismatch")
        }
    }

    @Test func ipAddressDoesNotMatchADNSOnlyCertificate() throws {
        try withCertificates { certificates in
            let (error, _) = try self.rejectedHandshake(
                client: try self.trustingClient(certificates),
                serverCertificate: certificates.wrongHostServerCertificate,
                serverKey: certificates.wrongHostServerKey,
                serverHostname: "127.0.0.1"
            )
            #expect(error.verificationResult == "IP address mismatch")
        }
    }

    // MARK: - Mutual TLS

    @Test func serverRequiringAClientCertificateRejectsAClientWithout() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try self.trustingClient(certificates),
                server: try serverContext(
                    certificate: certificates.serverCertificate,
                    key: certificates.serverKey,
                    requireClientCertificateFrom: certificates.caCertificate
                ),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()
            // TLS 1.3: the client finishes first; the server then refuses and alerts it.
            let serverError = try #require(pair.serverRecorder.openSSLErrors.first)
            #expect(serverError.code == .handshakeFailed)
            #expect(serverError.openSSLErrors.contains { $0.contains("peer did not return a certificate") })
            #expect(!pair.serverRecorder.handshakeCompleted)
            #expect(!pair.server.isActive)
            let clientError = try #require(pair.clientRecorder.openSSLErrors.first)
            #expect(clientError.code == .readFailed)
            #expect(clientError.openSSLErrors.contains { $0.contains("certificate required") })
            #expect(!pair.client.isActive)
        }
    }

    @Test(arguments: [false, true])
    func serverRequiringAClientCertificateAcceptsOne(encryptedKey: Bool) throws {
        try withCertificates { certificates in
            let client = try OpenSSLContext(
                configuration: OpenSSLConfiguration(
                    trustRoots: .file(certificates.caCertificate),
                    certificateChainFile: certificates.clientCertificate,
                    privateKeyFile: encryptedKey ? certificates.encryptedClientKey : certificates.clientKey,
                    privateKeyPassphrase: encryptedKey ? certificates.encryptedClientKeyPassphrase : nil
                )
            )
            let pair = try InMemoryTLSPair(
                client: client,
                server: try serverContext(
                    certificate: certificates.serverCertificate,
                    key: certificates.serverKey,
                    requireClientCertificateFrom: certificates.caCertificate
                ),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()
            #expect(pair.serverRecorder.handshakeCompleted)
            #expect(pair.serverRecorder.errors.isEmpty)
            try pair.client.writeAndFlush(ByteBuffer(text: "AUTH")).wait()
            try pair.interact()
            #expect(pair.serverRecorder.receivedText == "AUTH")
            #expect(pair.clientRecorder.errors.isEmpty)
        }
    }

    @Test func serverRejectsAClientCertificateFromAnotherCA() throws {
        try withCertificates { certificates in
            // The client presents a certificate chained to the untrusted CA's server leaf (it is the only other
            // leaf with a key): the server's trust store doesn't know its issuer.
            let client = try OpenSSLContext(
                configuration: OpenSSLConfiguration(
                    trustRoots: .file(certificates.caCertificate),
                    certificateChainFile: certificates.untrustedServerCertificate,
                    privateKeyFile: certificates.untrustedServerKey
                )
            )
            let pair = try InMemoryTLSPair(
                client: client,
                server: try serverContext(
                    certificate: certificates.serverCertificate,
                    key: certificates.serverKey,
                    requireClientCertificateFrom: certificates.caCertificate
                ),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()
            let serverError = try #require(pair.serverRecorder.openSSLErrors.first)
            #expect(serverError.code == .certificateVerificationFailed)
            #expect(serverError.verificationResult == "unable to get local issuer certificate")
        }
    }

    // MARK: - Shutdown

    @Test func closeSendsCloseNotify() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try self.trustingClient(certificates),
                server: try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()
            try pair.client.writeAndFlush(ByteBuffer(text: "QUIT")).wait()
            try pair.client.close().wait()
            #expect(!pair.client.isActive)
            // The close_notify left with the data, before the channel closed.
            let wire = try InMemoryTLSPair.drain(pair.client)
            #expect(!wire.isEmpty)
            for buffer in wire { try pair.server.writeInbound(buffer) }
            // The server got the data, saw a clean close and closed too, without any error.
            #expect(pair.serverRecorder.receivedText == "QUIT")
            #expect(pair.serverRecorder.errors.isEmpty)
            #expect(pair.serverRecorder.becameInactive)
            #expect(!pair.server.isActive)
            #expect(pair.clientRecorder.errors.isEmpty)
        }
    }

    @Test func eofWithoutCloseNotifyIsAnUncleanShutdown() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try self.trustingClient(certificates),
                server: try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()
            let write = FutureObserver(pair.client.write(ByteBuffer(text: "unflushed")))
            // The TCP connection goes away without a TLS close_notify.
            pair.client.pipeline.fireChannelInactive()
            let error = try #require(pair.clientRecorder.openSSLErrors.first)
            #expect(error.code == .uncleanShutdown)
            guard case .failure(let writeError as OpenSSLError) = write.result else {
                Issue.record("the pending write did not fail: \(String(describing: write.result))")
                return
            }
            #expect(writeError.code == .uncleanShutdown)
        }
    }

    @Test func eofAfterCloseNotifyIsClean() throws {
        try withCertificates { certificates in
            let pair = try InMemoryTLSPair(
                client: try self.trustingClient(certificates),
                server: try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey),
                serverHostname: "localhost"
            )
            defer { pair.finish() }
            try pair.handshake()
            try pair.server.close().wait()
            try pair.interact()
            #expect(!pair.client.isActive)
            #expect(pair.clientRecorder.becameInactive)
            #expect(pair.clientRecorder.errors.isEmpty)
        }
    }

    // MARK: - Not TLS

    @Test func plaintextRedisReplyFailsTheHandshakeAtOnce() throws {
        try withCertificates { certificates in
            let client = EmbeddedChannel()
            defer { _ = try? client.finish(acceptAlreadyClosed: true) }
            let recorder = Recorder()
            try client.pipeline.syncOperations.addHandler(
                try OpenSSLClientHandler(context: try self.trustingClient(certificates), serverHostname: "localhost")
            )
            try client.pipeline.syncOperations.addHandler(recorder)
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
            let clientHello = try #require(try client.readOutbound(as: ByteBuffer.self))
            #expect(clientHello.getInteger(at: 0, as: UInt8.self) == 0x16, "a TLS handshake record")

            try client.writeInbound(ByteBuffer(text: "-ERR unknown command '\u{16}\u{03}\u{01}'\r\n"))
            let error = try #require(recorder.openSSLErrors.first)
            #expect(error.code == .handshakeFailed)
            #expect(error.message.contains("did not answer with TLS"))
            #expect(error.message.contains("-ERR unknown command"))
            #expect(!error.openSSLErrors.isEmpty)
            #expect(!client.isActive)
        }
    }
}

@Suite("OpenSSLClientHandler added to an active channel", .sharedCertificates)
struct OpenSSLClientHandlerAddedWhenActiveTests {
    @Test func handshakeStartsInHandlerAdded() throws {
        try withCertificates { certificates in
            let client = EmbeddedChannel()
            let server = EmbeddedChannel()
            defer {
                _ = try? client.finish(acceptAlreadyClosed: true)
                _ = try? server.finish(acceptAlreadyClosed: true)
            }
            try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 6379)).wait()
            try server.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
            #expect(try client.readOutbound(as: ByteBuffer.self) == nil)

            let context = try OpenSSLContext(configuration: OpenSSLConfiguration(trustRoots: .file(certificates.caCertificate)))
            try client.pipeline.syncOperations.addHandler(OpenSSLClientHandler(context: context, serverHostname: "localhost"))
            // Added to an active channel, the handler sends its ClientHello at once.
            let clientHello = try #require(try client.readOutbound(as: ByteBuffer.self))
            #expect(clientHello.getInteger(at: 0, as: UInt8.self) == 0x16)

            let recorder = Recorder()
            try server.pipeline.syncOperations.addHandler(
                OpenSSLClientHandler(
                    serverContext: try serverContext(certificate: certificates.serverCertificate, key: certificates.serverKey)
                )
            )
            try server.pipeline.syncOperations.addHandler(recorder)
            try server.writeInbound(clientHello)
            #expect(try server.readOutbound(as: ByteBuffer.self) != nil, "the server answers the ClientHello")
        }
    }
}

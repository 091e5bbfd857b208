import Foundation
import RedisTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The test harness itself: real `redis-server` processes started, controlled and cleaned up by `RedisServer`.
@Suite struct HarnessTests {
    @Test func startsOnLoopbackAndAnswersPing() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            #expect(server.host == "127.0.0.1")
            #expect(server.port > 0)
            #expect(server.tlsPort == nil)
            #expect(server.pid > 0)
            let pong = try await server.cli("PING")
            #expect(pong == "PONG")
            let bind = try await server.cli("CONFIG", "GET", "bind")
            #expect(bind == "bind\n127.0.0.1")
            let save = try await server.cli("CONFIG", "GET", "save")
            #expect(save == "save")  // the value line is empty; cli() trims the trailing newlines
            let appendonly = try await server.cli("CONFIG", "GET", "appendonly")
            #expect(appendonly == "appendonly\nno")
        }
    }

    @Test func stopEndsTheProcess() async throws {
        let server = try await RedisServer.start(allowExternal: false)
        let pid = server.pid
        #expect(kill(pid, 0) == 0)
        await server.stop()
        #expect(server.pid == 0)
        #expect(!server.isRunning)
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }

    @Test func withServerStopsTheServerWhenTheBodyThrows() async throws {
        struct Boom: Error { let pid: Int32 }
        let boom = await #expect(throws: Boom.self) {
            try await RedisServer.withServer(allowExternal: false) { server in
                throw Boom(pid: server.pid)
            }
        }
        let pid = try #require(boom?.pid)
        #expect(pid > 0)
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
    }

    @Test func killThenRestartOnTheSamePortWithEmptyData() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            let port = server.port
            let firstPID = server.pid
            let stored = try await server.cli("SET", "harness:restart", "before")
            #expect(stored == "OK")

            await server.kill()
            #expect(server.pid == 0)
            #expect(kill(firstPID, 0) == -1 && errno == ESRCH)
            let refused = await #expect(throws: RedisServerError.self) {
                try await server.cli("PING")
            }
            #expect(refused?.code == .processFailed)

            try await server.restart()
            #expect(server.port == port)
            #expect(server.pid > 0)
            #expect(server.pid != firstPID)
            let pong = try await server.cli("PING")
            #expect(pong == "PONG")
            let size = try await server.cli("DBSIZE")
            #expect(size == "0")
        }
    }

    @Test func pauseMakesPingTimeOutAndResumeRestoresIt() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            server.pause()
            let timedOut = await #expect(throws: RedisServerError.self) {
                try await server.cli(timeout: .milliseconds(500), "PING")
            }
            #expect(timedOut?.code == .timedOut)
            server.resume()
            let pong = try await server.cli(timeout: .seconds(5), "PING")
            #expect(pong == "PONG")
        }
    }

    @Test func twoServersGetDifferentPortsAndSeparateData() async throws {
        try await RedisServer.withServers(count: 2, allowExternal: false) { servers in
            try #require(servers.count == 2)
            #expect(servers[0].port != servers[1].port)
            #expect(servers[0].pid != servers[1].pid)
            _ = try await servers[0].cli("SET", "harness:only-on-first", "1")
            let onFirst = try await servers[0].cli("EXISTS", "harness:only-on-first")
            let onSecond = try await servers[1].cli("EXISTS", "harness:only-on-first")
            #expect(onFirst == "1")
            #expect(onSecond == "0")
        }
    }

    @Test func passwordProtectedServerRejectsUnauthenticatedCli() async throws {
        try await RedisServer.withServer(password: "harness-secret", allowExternal: false) { server in
            #expect(server.password == "harness-secret")
            let rejected = try await server.cli(authenticate: false, "PING")
            #expect(rejected.hasPrefix("NOAUTH"))
            let pong = try await server.cli("PING")
            #expect(pong == "PONG")
        }
    }

    @Test func aclUserAuthenticatesByName() async throws {
        try await RedisServer.withServer(aclUser: (name: "harness-user", password: "harness-pw"), allowExternal: false) { server in
            let whoami = try await server.cli("ACL", "WHOAMI")
            #expect(whoami == "harness-user")
            let anonymous = try await server.cli(authenticate: false, "ACL", "WHOAMI")
            #expect(anonymous == "default")
        }
    }

    @Test func extraArgumentsReachTheServer() async throws {
        try await RedisServer.withServer(extraArguments: ["--maxmemory", "7mb"], allowExternal: false) { server in
            let maxmemory = try await server.cli("CONFIG", "GET", "maxmemory")
            #expect(maxmemory == "maxmemory\n\(7 * 1024 * 1024)")
        }
    }

    @Test(arguments: [false, true])
    func tlsOnlyServerAnswersOverTLS(authClients: Bool) async throws {
        let certificates = try await TestNodes.shared.certificates()
        let tls = RedisServer.TLSFiles(
            certFile: certificates.serverCertificate,
            keyFile: certificates.serverKey,
            caFile: certificates.caCertificate,
            authClients: authClients,
            clientCertFile: certificates.clientCertificate,
            clientKeyFile: certificates.clientKey
        )
        try await RedisServer.withServer(tls: tls, allowExternal: false) { server in
            #expect(server.port == 0)
            let tlsPort = try #require(server.tlsPort)
            #expect(tlsPort > 0)
            let pong = try await server.cli("PING")
            #expect(pong == "PONG")
            let tlsSetting = try await server.cli("CONFIG", "GET", "tls-auth-clients")
            #expect(tlsSetting == "tls-auth-clients\n\(authClients ? "yes" : "no")")
        }
    }

    @Test func tlsServerCanKeepItsPlaintextPort() async throws {
        let certificates = try await TestNodes.shared.certificates()
        let tls = RedisServer.TLSFiles(
            certFile: certificates.serverCertificate,
            keyFile: certificates.serverKey,
            caFile: certificates.caCertificate,
            keepPlaintextPort: true
        )
        try await RedisServer.withServer(tls: tls, allowExternal: false) { server in
            let tlsPort = try #require(server.tlsPort)
            #expect(server.port > 0)
            #expect(server.port != tlsPort)
            let pong = try await server.cli("PING")
            #expect(pong == "PONG")
        }
    }
}

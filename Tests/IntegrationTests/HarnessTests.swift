import RedisTestSupport
import Testing

@Suite struct HarnessTests {
    @Test func startsAndAnswersPing() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            #expect(server.host == "127.0.0.1")
            #expect(server.port > 0)
            #expect(server.pid > 0)
            let pong = try await server.cli("PING")
            #expect(pong == "PONG")
        }
    }
}

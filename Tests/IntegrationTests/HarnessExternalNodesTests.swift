import Testing

@testable import RedisTestSupport

/// `CACHE_TEST_NODES` parsing and the rules for nodes the harness does not own.
@Suite struct HarnessExternalNodesTests {
    @Test func parsesHostPortPairs() throws {
        let parsed = try #require(try ExternalNodes.parse(" 127.0.0.1:7000,localhost:7001 ,"))
        #expect(parsed.nodes.map(\.host) == ["127.0.0.1", "localhost"])
        #expect(parsed.nodes.map(\.port) == [7000, 7001])
        #expect(parsed.nodes.allSatisfy { $0.isExternal && $0.pid == 0 && !$0.isRunning })
        #expect(parsed.nodes.allSatisfy { $0.tlsPort == nil && $0.password == nil })
    }

    @Test func handsOutNodesRoundRobin() throws {
        let parsed = try #require(try ExternalNodes.parse("127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002"))
        let ports = (0..<7).map { _ in parsed.next().port }
        #expect(ports == [7000, 7001, 7002, 7000, 7001, 7002, 7000])
    }

    @Test func blankListMeansNoExternalNodes() throws {
        #expect(try ExternalNodes.parse("") == nil)
        #expect(try ExternalNodes.parse(" , ") == nil)
    }

    @Test(arguments: ["127.0.0.1", ":7000", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:port"])
    func rejectsMalformedEntries(entry: String) {
        let error = #expect(throws: RedisServerError.self) {
            try ExternalNodes.parse("127.0.0.1:7000,\(entry)")
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(entry) == true)
    }

    @Test func externalNodesAreNotOwned() async throws {
        let parsed = try #require(try ExternalNodes.parse("127.0.0.1:1"))
        let node = parsed.nodes[0]
        await node.stop()  // leaves a node it does not own alone, and does not crash
        #expect(node.pid == 0)
        let error = await #expect(throws: RedisServerError.self) {
            try await node.restart()
        }
        #expect(error?.code == .notOwned)
    }
}

import CachePool
import Testing

@Suite struct ConnectionPoolConfigurationTests {
    @Test func defaultsMatchTheDocumentation() throws {
        let configuration = ConnectionPoolConfiguration()
        #expect(configuration.minimumConnections == 1)
        #expect(configuration.maximumConnections == 10)
        #expect(configuration.connectionWaitTimeout == .seconds(1))
        #expect(configuration.idleTimeout == .seconds(60))
        #expect(configuration.keepaliveInterval == .seconds(30))
        #expect(configuration.reconnectBackoff.initial == .milliseconds(100))
        #expect(configuration.reconnectBackoff.maximum == .seconds(5))
        #expect(configuration.reconnectBackoff.multiplier == 2)
        #expect(configuration.reconnectBackoff.jitter == 0.2)
        #expect(configuration.loadThreshold == 32)
        #expect(configuration.maximumInFlightPerConnection == 4096)
        try configuration.validate()
    }

    @Test(arguments: [
        ConnectionPoolConfiguration(minimumConnections: 3, maximumConnections: 2),
        ConnectionPoolConfiguration(minimumConnections: 0, maximumConnections: 0),
        ConnectionPoolConfiguration(minimumConnections: -1),
        ConnectionPoolConfiguration(connectionWaitTimeout: .zero),
        ConnectionPoolConfiguration(idleTimeout: .seconds(-1)),
        ConnectionPoolConfiguration(keepaliveInterval: .zero),
        ConnectionPoolConfiguration(reconnectBackoff: .init(initial: .seconds(2), maximum: .seconds(1))),
        ConnectionPoolConfiguration(reconnectBackoff: .init(multiplier: 0.5)),
        ConnectionPoolConfiguration(reconnectBackoff: .init(jitter: 1.5)),
        ConnectionPoolConfiguration(loadThreshold: 10, maximumInFlightPerConnection: 10),
        ConnectionPoolConfiguration(maximumInFlightPerConnection: 0),
    ])
    func invalidConfigurationsAreRejected(configuration: ConnectionPoolConfiguration) {
        let error = #expect(throws: ConnectionPoolError.self) { try configuration.validate() }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message != nil)
    }

    @Test func keepaliveCanBeTurnedOff() throws {
        try ConnectionPoolConfiguration(minimumConnections: 0, maximumConnections: 1, keepaliveInterval: nil).validate()
    }

    @Test func backoffGrowsAndIsCapped() {
        let backoff = ConnectionPoolConfiguration.ReconnectBackoff(
            initial: .milliseconds(100),
            maximum: .seconds(5),
            multiplier: 2,
            jitter: 0.2
        )
        let delays = (1...9).map { backoff.delay(afterFailures: $0, jitterFactor: 0) }
        #expect(
            delays == [
                .milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .milliseconds(1600),
                .milliseconds(3200), .seconds(5), .seconds(5), .seconds(5),
            ]
        )
        #expect(backoff.delay(afterFailures: 1_000, jitterFactor: 0) == .seconds(5))
    }

    @Test func jitterStaysWithinItsBounds() {
        let backoff = ConnectionPoolConfiguration.ReconnectBackoff()
        #expect(backoff.delay(afterFailures: 2, jitterFactor: -1) == .milliseconds(160))
        #expect(backoff.delay(afterFailures: 2, jitterFactor: 1) == .milliseconds(240))
        #expect(backoff.delay(afterFailures: 20, jitterFactor: 1) == .seconds(6))
        for _ in 0..<100 {
            let delay = backoff.delay(afterFailures: 1, jitterFactor: Double.random(in: -1...1))
            #expect(delay >= .milliseconds(80) && delay <= .milliseconds(120))
        }
    }

    @Test func errorDescriptionNamesCodeAndCause() {
        let error = ConnectionPoolError(code: .connectFailed, underlyingError: MockConnectionError(reason: "refused"))
        #expect(error.description.contains("connectFailed"))
        #expect(error.description.contains("refused"))
        let timeout = ConnectionPoolError(code: .waitTimeout, message: "no slot within 1 s")
        #expect(timeout.description == "ConnectionPoolError.waitTimeout: no slot within 1 s")
    }

    @Test func everyCodeIsDistinctAndNamedAfterItself() {
        let codes: [ConnectionPoolError.Code] = [.waitTimeout, .connectFailed, .poolShutdown, .cancelled, .invalidConfiguration]
        #expect(codes.map(\.description) == ["waitTimeout", "connectFailed", "poolShutdown", "cancelled", "invalidConfiguration"])
        #expect(Set(codes).count == codes.count, "two codes compare equal")
    }
}

import Testing

@testable import Caches

/// What counts against a node (and so may eject it) and what does not.
@Suite struct CacheNodeHealthTests {
    @Test(arguments: [CacheError.Code.connectFailed, .timeout, .connectionClosed])
    func connectionTroubleIsANodeFailure(_ code: CacheError.Code) {
        #expect(CacheNodeHealth.isNodeFailure(CacheError(code, "test", node: "node-a")))
    }

    @Test(arguments: [
        // The server answered: the node is fine, the request or the stored value is not.
        CacheError.Code.wrongType, .server, .notNumeric, .decodingFailed,
        // A busy pool: the node may only be slow to free a slot.
        .poolTimeout,
        // Nothing was sent, or the caller gave up.
        .encodingFailed, .invalidArgument, .cancelled,
    ])
    func answersAndBusyPoolsAreNotNodeFailures(_ code: CacheError.Code) {
        #expect(!CacheNodeHealth.isNodeFailure(CacheError(code, "test", node: "node-a")))
    }

    @Test func failuresCountUpAndASuccessResetsThem() {
        let health = CacheNodeHealth()
        #expect(health.consecutiveFailures == 0)
        #expect(health.recordSuccess() == false, "a success after a success ends no run of failures")
        #expect(health.recordFailure() == 1)
        #expect(health.recordFailure() == 2)
        #expect(health.consecutiveFailures == 2)
        #expect(health.recordSuccess() == true, "the first success ends the run")
        #expect(health.consecutiveFailures == 0)
        #expect(health.recordFailure() == 1, "counting starts again from zero")
        #expect(health.recordSuccess() == true)
        #expect(health.recordSuccess() == false)
    }
}

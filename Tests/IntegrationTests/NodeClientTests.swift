import CachePool
import Foundation
import RedisTestSupport
import Testing

@testable import Caches

/// One Redis node behind a `Cache`, proven against real `redis-server` processes that each test starts (and may
/// pause, kill or restart) itself.
@Suite("Node client against real servers", .timeLimit(.minutes(2)))
struct NodeClientTests {
    // MARK: Helpers

    /// The URL of database `db` on `server`, with `query` appended.
    ///
    /// Unless `query` sets its own, the command and connect timeouts are 10 s: the tests share two cores with
    /// many others, and only the tests about timeouts should ever see one.
    static func url(_ server: RedisServer, db: Int = 0, userinfo: String = "", query: String = "") -> String {
        var options = query.isEmpty ? [] : [query]
        let names = Set(query.split(separator: "&").map { $0.prefix(while: { $0 != "=" }) })
        if !names.contains("timeout") { options.append("timeout=10") }
        if !names.contains("connect_timeout") { options.append("connect_timeout=10") }
        return "redis://\(userinfo)\(server.host):\(server.port)/\(db)?" + options.joined(separator: "&")
    }

    /// Connects a cache, runs `body`, disconnects (also when `body` throws).
    static func withConnectedCache(_ url: String, _ body: (Cache) async throws -> Void) async throws {
        let cache = try Cache(url: url)
        try await cache.connect()
        do {
            try await body(cache)
        } catch {
            try? await cache.disconnect()
            throw error
        }
        try await cache.disconnect()
    }

    /// The pool of the cache's only node.
    static func poolStatistics(_ cache: Cache) throws -> (open: Int, inFlight: Int) {
        let backend = try #require(try cache.backend() as? RedisBackend)
        let statistics = backend.nodes[0].pool.statistics
        return (statistics.openConnections, statistics.inFlightRequests)
    }

    /// The server's client connections, without the `redis-cli` that lists them.
    static func clients(of server: RedisServer) async throws -> [String] {
        try await server.cli("CLIENT", "LIST").split(separator: "\n").map(String.init).filter { !$0.contains("cmd=client|list") }
    }

    /// Runs `body` and returns its result with the time it took.
    static func timed<T>(_ body: () async throws -> T) async -> (result: Result<T, any Error>, elapsed: Duration) {
        let clock = ContinuousClock()
        let start = clock.now
        do {
            let value = try await body()
            return (.success(value), clock.now - start)
        } catch {
            return (.failure(error), clock.now - start)
        }
    }

    // MARK: Pipelining

    @Test func thousandConcurrentCallersOnTwoConnectionsEachGetTheirOwnValue() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            try await Self.withConnectedCache(Self.url(server, query: "minsize=1&maxsize=2")) { cache in
                let callers = 1000
                let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<callers {
                        group.addTask {
                            let value = "value-\(index)-\(UUID().uuidString)"
                            try await cache.set("caller-\(index)", value)
                            let read = try await cache.get("caller-\(index)", as: String.self)
                            return read == value ? 0 : 1
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(mismatches == 0)

                let clients = try await Self.clients(of: server)
                #expect(!clients.isEmpty && clients.count <= 2, "the node saw \(clients.count) client connections: \(clients)")
                let pool = try Self.poolStatistics(cache)
                #expect(pool.open >= 1 && pool.open <= 2)
                #expect(try await server.cli("DBSIZE") == String(callers))
            }
        }
    }

    @Test func aCancelledCallerDoesNotDisturbTheOthersOnItsConnection() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            // One connection, so the victim's slot sits between the others' in the same FIFO.
            try await Self.withConnectedCache(Self.url(server, query: "minsize=1&maxsize=1&timeout=10")) { cache in
                for index in 0..<20 {
                    try await cache.set("key-\(index)", "value-\(index)")
                }
                try await cache.set("victim", "the victim's value")
                let connectionsBefore = try await Self.clients(of: server)
                #expect(connectionsBefore.count == 1)

                // The server is stopped (SIGSTOP) until the checks below are done, so the requests stay in flight
                // however long the checks take. (CLIENT PAUSE would end on a timer.)
                server.pause()
                try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                    do {
                        for index in 0..<10 {
                            group.addTask { (index, try await cache.get("key-\(index)", as: String.self)) }
                        }
                        try await waitUntil("10 requests in flight") { try Self.poolStatistics(cache).inFlight == 10 }
                        let victim = Task { try await cache.get("victim", as: String.self) }
                        try await waitUntil("the victim in flight") { try Self.poolStatistics(cache).inFlight == 11 }
                        for index in 10..<20 {
                            group.addTask { (index, try await cache.get("key-\(index)", as: String.self)) }
                        }
                        try await waitUntil("21 requests in flight") { try Self.poolStatistics(cache).inFlight == 21 }

                        victim.cancel()
                        let outcome = await victim.result
                        switch outcome {
                        case .success(let value):
                            Issue.record("the cancelled caller got a reply: \(String(describing: value))")
                        case .failure(let error):
                            #expect((error as? CacheError)?.code == .cancelled, "\(error)")
                        }
                        // The victim gave up its caller, not its slot: the reply still has to be read and dropped.
                        #expect(try Self.poolStatistics(cache).inFlight == 21)
                    } catch {
                        server.resume()
                        throw error
                    }
                    server.resume()

                    var seen = Set<Int>()
                    for try await (index, value) in group {
                        #expect(value == "value-\(index)", "caller \(index) got \(String(describing: value))")
                        seen.insert(index)
                    }
                    #expect(seen == Set(0..<20))
                }

                // The same connection carries on.
                #expect(try await cache.get("victim", as: String.self) == "the victim's value")
                #expect(try await cache.get("key-7", as: String.self) == "value-7")
                let connectionsAfter = try await Self.clients(of: server)
                #expect(connectionsAfter.map { $0.prefix(while: { $0 != " " }) } == connectionsBefore.map { $0.prefix(while: { $0 != " " }) })
            }
        }
    }

    // MARK: Failures of the node

    @Test func aPausedNodeFailsWithTimeoutWithinTheCommandTimeout() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            let timeout = Duration.milliseconds(500)
            let connectTimeout = Duration.seconds(1)
            let url = Self.url(server, query: "timeout=0.5&connect_timeout=1&minsize=1&maxsize=1")
            try await Self.withConnectedCache(url) { cache in
                try await cache.set("paused", "before")
                server.pause()
                let first = await Self.timed { try await cache.get("paused", as: String.self) }
                switch first.result {
                case .success(let value):
                    Issue.record("a paused node answered: \(String(describing: value))")
                case .failure(let error):
                    #expect((error as? CacheError)?.code == .timeout, "\(error)")
                }
                // Time is the behaviour here. The timeout runs from the write, which comes after the call starts, so
                // it cannot end before `timeout`; the upper margin is a multiple of it for a busy machine.
                #expect(first.elapsed >= timeout * 9 / 10, "the timeout fired early: \(first.elapsed)")
                #expect(first.elapsed < timeout * 4, "timeout \(timeout) took \(first.elapsed)")

                // Still paused: the pool's reconnect attempts fail too, each call with a typed error in bounded time.
                for _ in 0..<3 {
                    let again = await Self.timed { try await cache.get("paused", as: String.self) }
                    guard case .failure(let error) = again.result else {
                        Issue.record("a paused node answered")
                        break
                    }
                    #expect(error is CacheError, "\(error)")
                    // At most a connect attempt and a command, each bounded by its timeout (twice that for margin).
                    let bound = (connectTimeout + timeout) * 2
                    #expect(again.elapsed < bound, "a call against a paused node took \(again.elapsed)")
                }

                server.resume()
                try await waitUntil("the node to answer after resume") {
                    (try? await cache.get("paused", as: String.self)) == "before"
                }
                try await cache.set("paused", "after")
                #expect(try await cache.get("paused", as: String.self) == "after")
            }
        }
    }

    @Test func afterTheNodeIsKilledAndRestartedTheSameCacheReconnects() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            // A call is bounded by a connect attempt and a command, each by its timeout: twice that for margin.
            let bound = (Duration.seconds(2) + .seconds(2)) * 2
            try await Self.withConnectedCache(Self.url(server, query: "minsize=2&maxsize=4&timeout=2&connect_timeout=2")) { cache in
                try await cache.set("before", 1)
                await server.kill()

                let down = await Self.timed { try await cache.get("before", as: Int.self) }
                guard case .failure(let error) = down.result else {
                    Issue.record("a killed node answered")
                    return
                }
                #expect(error is CacheError, "\(error)")
                #expect(down.elapsed < bound, "a call against a dead node took \(down.elapsed)")

                try await server.restart()
                var failures: [CacheError.Code] = []
                try await waitUntil(timeout: .seconds(20), "the pool to reconnect") {
                    let attempt = await Self.timed { try await cache.set("after", "restart") }
                    #expect(attempt.elapsed < bound, "one call took \(attempt.elapsed)")
                    switch attempt.result {
                    case .success:
                        return true
                    case .failure(let error as CacheError):
                        failures.append(error.code)
                        return false
                    case .failure(let error):
                        Issue.record("untyped error while reconnecting: \(error)")
                        return false
                    }
                }
                #expect(try await cache.get("after", as: String.self) == "restart")
                #expect(try await cache.get("before", as: Int.self) == nil, "the restarted server starts empty")
                #expect(try await server.cli("GET", "::after") == "\"restart\"")
                #expect(!failures.contains(.notConnected), "the cache itself stayed connected: \(failures)")
            }
        }
    }

    // MARK: Connection set-up

    @Test func authenticatesWithThePasswordAndFailsWithoutLeakingAWrongOne() async throws {
        let password = "s3cret-Pa55word"
        let wrong = "wr0ng-Pa55word-xyz"
        try await RedisServer.withServer(password: password, allowExternal: false) { server in
            try await Self.withConnectedCache(Self.url(server, userinfo: ":\(password)@")) { cache in
                try await cache.set("auth", "ok")
                #expect(try await cache.get("auth", as: String.self) == "ok")
                #expect(!"\(cache.configuration)".contains(password))
            }

            let wrongCache = try Cache(url: Self.url(server, userinfo: ":\(wrong)@", query: "connect_timeout=2"))
            let error = await #expect(throws: CacheError.self) { try await wrongCache.connect() }
            #expect(error?.code == .connectFailed)
            if let error {
                for text in [error.message, error.description, String(reflecting: error), "\(error.underlyingError.map { "\($0)" } ?? "")"] {
                    #expect(!text.contains(wrong), "the password leaked: \(text)")
                }
                #expect(error.description.contains("WRONGPASS"), "the server's reason is kept: \(error)")
            }

            let anonymous = try Cache(url: Self.url(server))
            let noAuth = await #expect(throws: CacheError.self) { try await anonymous.connect() }
            #expect(noAuth?.code == .connectFailed)
        }
    }

    @Test func authenticatesAsAnACLUser() async throws {
        let secret = "al1ce-Secret"
        try await RedisServer.withServer(aclUser: (name: "alice", password: secret), allowExternal: false) { server in
            try await Self.withConnectedCache(Self.url(server, userinfo: "alice:\(secret)@", query: "client_name=acl-test")) { cache in
                try await cache.set("acl", 7)
                #expect(try await cache.get("acl", as: Int.self) == 7)
                let ours = try await Self.clients(of: server).filter { $0.contains("name=acl-test") }
                #expect(!ours.isEmpty && ours.allSatisfy { $0.contains("user=alice") }, "\(ours)")
            }

            let wrongCache = try Cache(url: Self.url(server, userinfo: "alice:not-\(secret)@"))
            let error = await #expect(throws: CacheError.self) { try await wrongCache.connect() }
            #expect(error?.code == .connectFailed)
            if let error {
                #expect(!String(reflecting: error).contains(secret))
                #expect(!error.description.contains(secret))
            }
        }
    }

    @Test func selectsTheDatabaseAndSetsTheClientName() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            try await Self.withConnectedCache(Self.url(server, db: 5, query: "client_name=swift-node-test")) { cache in
                try await cache.set("selected", "in five")
                #expect(try await server.cli("-n", "5", "GET", "::selected") == "\"in five\"")
                #expect(try await server.cli("-n", "0", "EXISTS", "::selected") == "0")

                let named = try await Self.clients(of: server).filter { $0.contains(" name=swift-node-test ") }
                #expect(!named.isEmpty, "CLIENT LIST shows no connection named swift-node-test")
                #expect(named.allSatisfy { $0.contains(" db=5 ") }, "\(named)")
            }
        }
    }

    // MARK: Commands

    @Test func setManyWithATTLGivesEveryKeyItsTTLInOneTransaction() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            try await Self.withConnectedCache(Self.url(server)) { cache in
                #expect(try await server.cli("CONFIG", "RESETSTAT") == "OK")
                let values = ["m1": 1, "m2": 2, "m3": 3, "m4": 4]
                try await cache.setMany(values, ttl: 100)
                for (key, value) in values {
                    #expect(try await server.cli("GET", "::\(key)") == String(value))
                    let ttl = try #require(Int(try await server.cli("TTL", "::\(key)")))
                    #expect(ttl > 0 && ttl <= 100, "\(key) has TTL \(ttl)")
                }
                let calls = try await server.commandCalls()
                #expect(calls["multi"] == 1)
                #expect(calls["mset"] == 1)
                #expect(calls["expire"] == values.count)
                #expect(calls["exec"] == 1)

                // Without a ttl: one MSET and no transaction.
                #expect(try await server.cli("CONFIG", "RESETSTAT") == "OK")
                try await cache.setMany(["p1": "x", "p2": "y"])
                #expect(try await server.cli("TTL", "::p1") == "-1")
                let plain = try await server.commandCalls()
                #expect(plain["mset"] == 1)
                #expect(plain["multi"] == nil && plain["expire"] == nil)
            }
        }
    }

    @Test func setManyWithATTLRunsTheExpiresInsideTheTransaction() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            try await Self.withConnectedCache(Self.url(server)) { cache in
                let monitor = try await ServerMonitor.start(server)
                let values = ["a1": 1, "a2": 2, "a3": 3]
                try await cache.setMany(values, ttl: 100)
                let commands = try await monitor.commands(through: server)
                try await monitor.close()
                let transaction = commands.filter { ["MULTI", "MSET", "EXPIRE", "EXEC"].contains($0.name.uppercased()) }
                // Sending the EXPIREs after EXEC would leave every key without a ttl for a moment (and for ever if
                // the connection dropped in between): the whole batch must run as one transaction.
                #expect(
                    transaction.map { $0.name.uppercased() } == ["MULTI", "MSET", "EXPIRE", "EXPIRE", "EXPIRE", "EXEC"],
                    "the server ran \(commands)"
                )
                #expect(Set(transaction.map(\.client)).count == 1, "one connection sent the whole batch: \(transaction)")
                let expired = transaction.filter { $0.name.uppercased() == "EXPIRE" }
                #expect(Set(expired.compactMap(\.arguments.first)) == Set(values.keys.map { "::\($0)" }))
                #expect(expired.allSatisfy { $0.arguments.dropFirst() == ["100"] }, "\(expired)")
            }
        }
    }

    @Test func durationTTLsAreRoundedUpToWholeSeconds() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            try await Self.withConnectedCache(Self.url(server)) { cache in
                // Each call's ttl as the server holds it (PTTL), against the whole seconds it should have been
                // given. The time between the write and the read only lowers PTTL, so the lower bound subtracts
                // it: a ttl rounded down (or ignored) falls below the bound unless a whole second passed.
                func expectTTL(
                    of key: String,
                    seconds: Int,
                    after write: () async throws -> Void,
                    sourceLocation: SourceLocation = #_sourceLocation
                ) async throws {
                    let clock = ContinuousClock()
                    let start = clock.now
                    try await write()
                    let pttl = try #require(Int(try await server.cli("PTTL", "::\(key)")), sourceLocation: sourceLocation)
                    let elapsed = clock.now - start
                    let elapsedMilliseconds = Int(elapsed.components.seconds) * 1000 + Int(elapsed.components.attoseconds / 1_000_000_000_000_000) + 1
                    #expect(
                        pttl <= seconds * 1000 && pttl > seconds * 1000 - elapsedMilliseconds,
                        "PTTL \(pttl) ms, expected \(seconds) s minus at most \(elapsedMilliseconds) ms",
                        sourceLocation: sourceLocation
                    )
                }
                try await expectTTL(of: "set", seconds: 101) {
                    try await cache.set("set", 1, ttl: .seconds(100) + .milliseconds(1))
                }
                try await expectTTL(of: "add", seconds: 51) {
                    let added = try await cache.add("add", 2, ttl: .milliseconds(50_500))
                    #expect(added)
                }
                try await expectTTL(of: "set", seconds: 70) {
                    let touched = try await cache.touch("set", ttl: .seconds(70))
                    #expect(touched)
                }
                try await expectTTL(of: "tiny", seconds: 1) {
                    try await cache.set("tiny", 3, ttl: .nanoseconds(1))
                }
                // Zero is not rounded up: it is refused like a ttl of 0, before any I/O.
                let zero = await #expect(throws: CacheError.self) { try await cache.set("zero", 4, ttl: .zero) }
                #expect(zero?.code == .invalidArgument)
                #expect(try await server.cli("EXISTS", "::zero") == "0")
            }
        }
    }

    @Test func usernameAndPasswordOptionsAuthenticate() async throws {
        let secret = "b0b-Secret"
        try await RedisServer.withServer(aclUser: (name: "bob", password: secret), allowExternal: false) { server in
            let url = Self.url(server, query: "username=bob&password=\(secret)&client_name=options-test")
            try await Self.withConnectedCache(url) { cache in
                try await cache.set("options", 8)
                #expect(try await cache.get("options", as: Int.self) == 8)
                let ours = try await Self.clients(of: server).filter { $0.contains("name=options-test") }
                #expect(!ours.isEmpty && ours.allSatisfy { $0.contains("user=bob") }, "\(ours)")
            }
            let wrong = try Cache(url: Self.url(server, query: "username=bob&password=not-\(secret)&connect_timeout=2"))
            let error = await #expect(throws: CacheError.self) { try await wrong.connect() }
            #expect(error?.code == .connectFailed)
            #expect(error.map { !String(reflecting: $0).contains(secret) } == true)
        }
    }

    @Test func incrAndDecrAreOneRoundTripEach() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            try await Self.withConnectedCache(Self.url(server)) { cache in
                try await cache.set("counter", 10)
                try await cache.set("ratio", 1.5)
                #expect(try await server.cli("CONFIG", "RESETSTAT") == "OK")

                #expect(try await cache.incr("counter") == 11)
                #expect(try await cache.incr("counter", by: 5) == 16)
                #expect(try await cache.decr("counter", by: 3) == 13)
                #expect(try await cache.incr("ratio", by: 0.25) == 1.75)
                #expect(try await cache.decr("ratio", by: 0.5) == 1.25)

                let calls = try await server.commandCalls()
                #expect(calls["incrby"] == 3, "\(calls)")
                #expect(calls["incrbyfloat"] == 2, "\(calls)")
                for command in ["exists", "get", "set", "decrby", "incr", "decr"] {
                    #expect(calls[command] == nil, "incr/decr sent \(command): \(calls)")
                }
                #expect(try await server.cli("GET", "::counter") == "13")
                #expect(try await server.cli("GET", "::ratio") == "1.25")
            }
        }
    }

    // MARK: Lifecycle

    @Test func disconnectLetsInFlightCommandsFinishAndConnectWorksAgain() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            let cache = try Cache(url: Self.url(server, query: "minsize=1&maxsize=2&timeout=10"))
            try await cache.connect()
            try await cache.set("shared", "value")

            // Hold the server so the 200 reads are certainly in flight when disconnect starts.
            #expect(try await server.cli("CLIENT", "PAUSE", "3000", "ALL") == "OK")
            let results = try await withThrowingTaskGroup(of: Result<String?, CacheError>.self) { group in
                for _ in 0..<200 {
                    group.addTask {
                        do {
                            return .success(try await cache.get("shared", as: String.self))
                        } catch let error as CacheError {
                            return .failure(error)
                        }
                    }
                }
                try await waitUntil("200 requests in flight") { try Self.poolStatistics(cache).inFlight >= 200 }
                try await cache.disconnect()
                #expect(!cache.isConnected)
                var results: [Result<String?, CacheError>] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(results.count == 200)
            let successes = results.filter { (try? $0.get()) == "value" }.count
            #expect(successes == 200, "in-flight reads must finish within the grace period: \(results.filter { (try? $0.get()) != "value" })")

            let after = await #expect(throws: CacheError.self) { try await cache.get("shared", as: String.self) }
            #expect(after?.code == .notConnected)
            // The server notices the closed sockets on its own schedule.
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(10)
            var remaining = try await Self.clients(of: server)
            while !remaining.isEmpty && clock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
                remaining = try await Self.clients(of: server)
            }
            #expect(remaining.isEmpty, "still connected 10 s after disconnect: \(remaining)")

            try await cache.connect()
            #expect(try await cache.get("shared", as: String.self) == "value")
            try await cache.disconnect()
        }
    }

    @Test func disconnectFromAPausedNodeIsBoundedByTheGracePeriod() async throws {
        try await RedisServer.withServer(allowExternal: false) { server in
            var configuration = try CacheConfiguration(url: CacheURL(Self.url(server, query: "timeout=30")))
            configuration.pool.shutdownGracePeriod = .milliseconds(300)
            let cache = try Cache(configuration: configuration)
            try await cache.connect()
            try await cache.set("stuck", 1)
            server.pause()
            defer { server.resume() }

            let outcome = try await withThrowingTaskGroup(of: Result<Int?, CacheError>.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        do {
                            return .success(try await cache.get("stuck", as: Int.self))
                        } catch let error as CacheError {
                            return .failure(error)
                        }
                    }
                }
                try await waitUntil("20 requests in flight") { try Self.poolStatistics(cache).inFlight == 20 }
                let disconnect = await Self.timed { try await cache.disconnect() }
                #expect(disconnect.elapsed < .seconds(3), "disconnect took \(disconnect.elapsed)")
                var results: [Result<Int?, CacheError>] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(outcome.count == 20)
            for result in outcome {
                guard case .failure(let error) = result else {
                    Issue.record("a paused node answered")
                    continue
                }
                #expect([.connectionClosed, .poolShutdown].contains(error.code), "\(error)")
            }
        }
    }
}

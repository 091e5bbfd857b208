#if MetricsSupport
    import Caches
    import Foundation
    import Logging
    import Metrics
    import MetricsTestKit
    import RedisTestSupport
    import Synchronization
    import Testing

    /// Per-node metrics and logs against real nodes. Each test has a `TestMetrics` of its own, made the task-local
    /// factory while the cache connects (the nodes' metric objects are made then), so tests never see each other's
    /// counts and nothing is bootstrapped process-wide.
    @Suite struct MetricsTests {
        /// A node name no other test uses.
        private func uniqueName(_ base: String) -> String {
            "\(base)-\(UUID().uuidString.prefix(8).lowercased())"
        }

        private func counter(_ metrics: TestMetrics, _ label: String, _ dimensions: [(String, String)]) -> Int64 {
            metrics.counters(label: label, dimensions: dimensions).reduce(0) { $0 + $1.totalValue }
        }

        @Test func readsWritesAndErrorsAreCountedAndTimedOnTheirNode() async throws {
            let metrics = TestMetrics()
            let server = try await TestNodes.shared.plainNodes()[0]
            let node = self.uniqueName("metrics")
            let database = await TestNodes.shared.database()
            let cache = try Cache(url: "redis://\(server.host):\(server.port)/\(database)?names=\(node)&minsize=1&maxsize=2")
            try await withMetricsFactory(metrics) { try await cache.connect() }
            let byNode = [("node", node)]

            try await cache.set("a", "alpha")
            try await cache.set("b", "beta")
            #expect(try await cache.get("a", as: String.self) == "alpha")
            #expect(try await cache.get("b", as: String.self) == "beta")
            #expect(try await cache.get("missing", as: String.self) == nil)

            #expect(self.counter(metrics, "caches.commands", byNode + [("command", "SET")]) == 2)
            #expect(self.counter(metrics, "caches.commands", byNode + [("command", "GET")]) == 3)
            #expect(try metrics.expectCounter("caches.hits", byNode).totalValue == 2)
            #expect(try metrics.expectCounter("caches.misses", byNode).totalValue == 1)
            let getTimer = try metrics.expectTimer("caches.command.duration", byNode + [("command", "GET")])
            #expect(getTimer.values.count == 3)
            #expect(getTimer.values.allSatisfy { $0 > 0 })

            // getMany: one MGET, each key a hit or a miss.
            _ = try await cache.getMany(["a", "nope", "b"], as: String.self)
            #expect(self.counter(metrics, "caches.commands", byNode + [("command", "MGET")]) == 1)
            #expect(try metrics.expectCounter("caches.hits", byNode).totalValue == 4)
            #expect(try metrics.expectCounter("caches.misses", byNode).totalValue == 2)

            // getOrSet: a miss and a write, then a hit.
            #expect(try await cache.getOrSet("c", default: 7) == 7)
            #expect(try await cache.getOrSet("c", default: 8) == 7)
            #expect(try metrics.expectCounter("caches.hits", byNode).totalValue == 5)
            #expect(try metrics.expectCounter("caches.misses", byNode).totalValue == 3)
            #expect(self.counter(metrics, "caches.commands", byNode + [("command", "GET")]) == 5)
            #expect(self.counter(metrics, "caches.commands", byNode + [("command", "SET")]) == 3)

            // An error reply is a command and an error of its code.
            let error = await #expect(throws: CacheError.self) { try await cache.incr("a") }
            #expect(error?.code == .notNumeric)
            #expect(self.counter(metrics, "caches.commands", byNode + [("command", "INCRBY")]) == 1)
            #expect(try metrics.expectCounter("caches.errors", byNode + [("code", "notNumeric")]).totalValue == 1)
            #expect(metrics.counters(label: "caches.errors").count == 1, "no other error was counted")

            // Every command's series carries exactly the node and command dimensions.
            for counter in metrics.counters(label: "caches.commands") {
                #expect(counter.dimensions.map(\.0).sorted() == ["command", "node"])
                #expect(counter.dimensions.first { $0.0 == "node" }?.1 == node)
            }

            // Pool gauges: sampled on connect, on demand (run() does it every second) and on disconnect.
            cache.recordPoolMetrics()
            let connections = try metrics.expectGauge("caches.pool.connections", byNode)
            #expect((1...2).contains(connections.lastValue ?? -1))
            #expect(try metrics.expectGauge("caches.pool.in_flight", byNode).lastValue == 0)
            #expect(try metrics.expectGauge("caches.pool.waiting", byNode).lastValue == 0)

            try await cache.clear()
            try await cache.disconnect()
            #expect(connections.lastValue == 0)
        }

        @Test(arguments: [CacheConfiguration.Cluster.ManyKeyReads.gets, .script])
        func aClusterGetManyCountsEachHitAndMissOnceAndItsRequests(reads: CacheConfiguration.Cluster.ManyKeyReads) async throws {
            try await RedisCluster.withCluster(primaries: 3, replicasPerPrimary: 0) { cluster in
                let metrics = TestMetrics()
                let url = "redis-cluster://" + cluster.nodes.map(\.address).joined(separator: ",") + "?many_key_reads=\(reads.rawValue)"
                let cache = try Cache(url: url)
                try await withMetricsFactory(metrics) { try await cache.connect() }
                let stored = (0..<300).map { "key-\($0)" }
                let missing = (0..<20).map { "missing-\($0)" }
                try await cache.setMany(stored.map { ($0, $0) })
                _ = try await cache.getMany(stored + missing, as: String.self)
                func total(_ label: String) -> Int64 { metrics.counters(label: label).reduce(0) { $0 + $1.totalValue } }
                func commands(_ name: String) -> Int64 {
                    metrics.counters(label: "caches.commands").filter { $0.dimensions.contains { $0 == ("command", name) } }
                        .reduce(0) { $0 + $1.totalValue }
                }
                #expect(total("caches.hits") == 300)
                #expect(total("caches.misses") == 20)
                switch reads {
                case .gets:
                    #expect(commands("GET") == 320, "one GET per key, counted as sent")
                    #expect(commands("EVAL") == 0)
                case .script:
                    #expect(commands("EVAL") == 3, "one script per primary")
                    #expect(commands("GET") == 0)
                case .mget:
                    Issue.record("not an argument of this test")
                }
                #expect(commands("MGET") == 0)
                try await cache.disconnect()
            }
        }

        @Test func ringMetricsAreSplitByNode() async throws {
            let metrics = TestMetrics()
            let servers = try await TestNodes.shared.plainNodes()
            let names = ["a", "b", "c"].map { self.uniqueName("ring-\($0)") }
            let database = await TestNodes.shared.database()
            let cache = try Cache(
                url: RedisServer.cacheURL(servers, database: database, options: ["weights=1,2,1", "names=\(names.joined(separator: ","))"])
            )
            try await withMetricsFactory(metrics) { try await cache.connect() }

            let stored = (0..<30).map { "key-\($0)" }
            let missing = (0..<10).map { "missing-\($0)" }
            try await cache.setMany(stored.map { ($0, $0) })
            _ = try await cache.getMany(stored + missing, as: String.self)

            var total: Int64 = 0
            for name in names {
                let storedHere = stored.filter { cache.nodeName(for: $0) == name }.count
                let missingHere = missing.filter { cache.nodeName(for: $0) == name }.count
                let byNode = [("node", name)]
                #expect(self.counter(metrics, "caches.hits", byNode) == Int64(storedHere), "\(name)")
                #expect(self.counter(metrics, "caches.misses", byNode) == Int64(missingHere), "\(name)")
                let touched: Int64 = storedHere + missingHere > 0 ? 1 : 0
                #expect(self.counter(metrics, "caches.commands", byNode + [("command", "MGET")]) == touched, "\(name)")
                #expect(self.counter(metrics, "caches.commands", byNode + [("command", "MSET")]) == (storedHere > 0 ? 1 : 0), "\(name)")
                total += self.counter(metrics, "caches.hits", byNode)
            }
            #expect(total == 30)
            try await cache.clear()
            try await cache.disconnect()
        }

        @Test func failuresTheMissPolicyAbsorbsAreCountedByNodeAndOperation() async throws {
            let metrics = TestMetrics()
            let server = try await TestNodes.shared.plainNodes()[0]
            let live = self.uniqueName("live")
            let dead = self.uniqueName("dead")
            let database = await TestNodes.shared.database()
            // Port 1 is privileged: nothing listens there, so the node refuses every connection.
            let cache = try Cache(url: "redis://\(server.host):\(server.port),127.0.0.1:1/\(database)?names=\(live),\(dead)&failure_policy=miss")
            try await withMetricsFactory(metrics) { try await cache.connect() }
            let onDead = try #require((0..<1000).map { "k\($0)" }.first { cache.nodeName(for: $0) == dead })
            let onLive = try #require((0..<1000).map { "k\($0)" }.first { cache.nodeName(for: $0) == live })

            try await cache.set(onDead, 1)
            try await cache.set(onDead, 2)
            #expect(try await cache.get(onDead, as: Int.self) == nil)
            try await cache.setMany([onDead: 3, onLive: 4])
            try await cache.set(onLive, 5)

            #expect(self.counter(metrics, "caches.absorbed", [("node", dead), ("operation", "set")]) == 2)
            #expect(self.counter(metrics, "caches.absorbed", [("node", dead), ("operation", "get")]) == 1)
            #expect(self.counter(metrics, "caches.absorbed", [("node", dead), ("operation", "setMany")]) == 1)
            let absorbedNodes = Set(metrics.counters(label: "caches.absorbed").flatMap { $0.dimensions.filter { $0.0 == "node" }.map(\.1) })
            #expect(absorbedNodes == [dead], "nothing absorbed on the live node")
            #expect(cache.absorbedFailures == 4)
            try await cache.disconnect()
        }

        @Test func aDownNodeIsLoggedAtInfoCountedAsErrorsAndItsReturnIsLogged() async throws {
            let password = "metrics-pw-\(UUID().uuidString)"
            let logs = CapturedLogs()
            let metrics = TestMetrics()
            try await RedisServer.withServer(password: password, allowExternal: false) { server in
                let node = self.uniqueName("down")
                let cache = try Cache(
                    url: "redis://:\(password)@\(server.host):\(server.port)/0?names=\(node)&timeout=2",
                    logger: logs.logger(level: .trace)
                )
                try await withMetricsFactory(metrics) { try await cache.connect() }
                try await cache.set("k", 1)
                #expect(try await cache.get("k", as: Int.self) == 1)

                // Trace: one line per command, with the node, the connection and the stored key.
                let answered = try #require(logs.entries.last { $0.message == "command answered" })
                #expect(answered.level == .trace)
                #expect(answered.metadata["cache.node"] == "\(node)")
                #expect(answered.metadata["cache.command"] == "GET")
                #expect(answered.metadata["cache.key"] == "\(cache.makeKey("k"))")
                #expect(answered.metadata["cache.connection.id"] != nil)

                await server.kill()
                try await logs.waitFor(timeout: .seconds(20)) { $0.message == "node unreachable" }
                let error = await #expect(throws: CacheError.self) { _ = try await cache.get("k", as: Int.self) }
                let code = try #require(error?.code)
                #expect(self.counter(metrics, "caches.errors", [("node", node), ("code", "\(code)")]) == 1)
                let failed = try #require(logs.entries.last { $0.message == "command failed" })
                #expect(failed.level == .debug)
                #expect(failed.metadata["cache.error.code"] == "\(code)")

                try await server.restart()
                try await logs.waitFor(timeout: .seconds(20)) { $0.message == "node reachable again: reconnected" }
                #expect(try await cache.get("k", as: Int.self) == nil, "the restarted node is empty")
                try await cache.disconnect()

                let unreachable = try #require(logs.entries.first { $0.message == "node unreachable" })
                #expect(unreachable.level == .info)
                #expect(unreachable.metadata["cache.node"] == "\(node)")
                #expect(logs.entries.first { $0.message == "node reachable again: reconnected" }?.level == .info)
                for entry in logs.entries {
                    #expect(!entry.text.contains(password), "\(entry.message) logs the password")
                }
            }
        }
    }
#endif

#if Tracing
    import Caches
    import InMemoryTracing
    import RedisTestSupport
    import Testing
    import Tracing

    /// Spans on a real three-node ring: the node of a single-key call, and one child span per node of a many-key call.
    @Suite("Tracing on real nodes")
    struct TracingIntegrationTests {
        static func strings(_ attribute: SpanAttribute) -> [String] {
            if case .stringArray(let strings) = attribute { return strings }
            return []
        }

        @Test func singleKeyCallsNameTheirNodeAndManyKeyCallsHaveOneChildPerNode() async throws {
            try await RedisServer.withServers(count: 3, allowExternal: false) { servers in
                let tracer = InMemoryTracer()
                var configuration = try CacheConfiguration(url: CacheURL(RedisServer.cacheURL(servers, database: 0)))
                configuration.keyPrefix = "traced"
                configuration.tracer = tracer
                let cache = try Cache(configuration: configuration)
                try await cache.connect()
                let keys = (0..<60).map { "key-\($0)" }
                // The nodes the keys live on (fnv1a_64 ketama spreads few keys unevenly: not always all three).
                let keyNodes = Set(keys.compactMap { cache.nodeName(for: $0) })
                let allNodes = Set(servers.map { "\($0.host):\($0.port)" })
                try await cache.setMany(keys.map { ($0, 1) })
                _ = try await cache.get("key-7", as: Int.self)
                _ = try await cache.getMany(keys, as: Int.self)
                try await cache.clear()
                try await cache.disconnect()

                let spans = tracer.finishedSpans
                let ports = Set(servers.map(\.port))
                let calls = spans.filter { $0.parentSpanID == nil }
                #expect(calls.map(\.operationName) == ["setMany", "get", "getMany", "clear"])
                for call in calls {
                    #expect(call.kind == .client)
                    #expect(call.attributes.get("db.system.name") == .string("redis"))
                    #expect(call.status == nil)
                }

                // get: the key's node, as nodeName(for:) names it.
                let get = calls[1]
                #expect(get.attributes.get("cache.node") == cache.nodeName(for: "key-7").map { .string($0) })
                #expect(get.attributes.get("server.address") == .string("127.0.0.1"))
                if case .int64(let port)? = get.attributes.get("server.port") {
                    #expect(ports.contains(Int(port)))
                } else {
                    Issue.record("get has no server.port")
                }
                #expect(get.attributes.get("db.namespace") == .string("0"))

                // setMany, getMany and clear: one child per node, each with its node and (for keys) its key count.
                for call in [calls[0], calls[2], calls[3]] {
                    let expected = call.operationName == "clear" ? allNodes : keyNodes
                    let children = spans.filter { $0.parentSpanID == call.spanID }
                    #expect(children.count == expected.count, "\(call.operationName)")
                    #expect(children.allSatisfy { $0.operationName == call.operationName && $0.kind == .client })
                    var childNodes = Set<String>()
                    for child in children {
                        if case .string(let node)? = child.attributes.get("cache.node") { childNodes.insert(node) }
                        if case .int64(let port)? = child.attributes.get("server.port") {
                            #expect(child.attributes.get("cache.node") == .string("127.0.0.1:\(port)"))
                        } else {
                            Issue.record("a \(call.operationName) node span has no server.port")
                        }
                    }
                    #expect(childNodes == expected, "\(call.operationName)")
                    #expect(call.attributes.get("cache.nodes").map { Set(Self.strings($0)) } == expected)
                    if call.operationName != "clear" {
                        let counts = children.map { child -> Int64 in
                            if case .int64(let count)? = child.attributes.get("cache.key.count") { return count }
                            return 0
                        }
                        #expect(counts.reduce(0, +) == 60)
                    }
                }
            }
        }

        @Test func aDeadNodesErrorIsOnItsOwnNodeSpanAndAFailedCallsOnTheCallSpan() async throws {
            try await RedisServer.withServers(count: 2, allowExternal: false) { servers in
                let tracer = InMemoryTracer()
                let url = RedisServer.cacheURL(servers, database: 0, options: ["timeout=0.5", "connect_timeout=0.5"])
                var configuration = try CacheConfiguration(url: CacheURL(url))
                configuration.tracer = tracer
                let cache = try Cache(configuration: configuration)
                try await cache.connect()
                let keys = (0..<200).map { RingIntegrationTests.scatteredKey($0, "traced") }
                let dead = "\(servers[1].host):\(servers[1].port)"
                try #require(Set(keys.compactMap { cache.nodeName(for: $0) }).count == 2)
                await servers[1].kill()
                tracer.clearAll()

                let partial = try await cache.getManyPartial(keys, as: Int.self)
                #expect(partial.failures.map(\.node) == [dead])
                await #expect(throws: CacheError.self) { try await cache.getMany(keys, as: Int.self) }
                try await cache.disconnect()

                let spans = tracer.finishedSpans
                let calls = spans.filter { $0.parentSpanID == nil }
                #expect(calls.map(\.operationName) == ["getManyPartial", "getMany"])
                guard calls.count == 2 else { return }
                // getManyPartial reports the failure in its result: the call span has no error, the dead node's has.
                #expect(calls[0].status == nil)
                #expect(calls[1].status?.code == .error)
                #expect(calls[1].attributes.get("error.type") == .string("partialFailure"))
                for call in calls {
                    let children = spans.filter { $0.parentSpanID == call.spanID }
                    #expect(children.count == 2, "\(call.operationName)")
                    for child in children {
                        let isDead = child.attributes.get("cache.node") == .string(dead)
                        #expect((child.status?.code == .error) == isDead, "\(call.operationName)")
                        #expect((child.attributes.get("error.type") != nil) == isDead)
                        #expect(child.errors.count == (isDead ? 1 : 0))
                    }
                }
            }
        }
    }
#endif

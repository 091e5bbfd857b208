#if Tracing
    @testable import Caches
    import InMemoryTracing
    import Testing
    import Tracing

    /// Spans of the public calls on the in-memory backend, through a tracer given in the configuration (no global
    /// bootstrap).
    @Suite struct TracingTests {
        /// A connected memory cache of its own store, reporting to `tracer`.
        static func makeCache(_ tracer: (any Tracer)?) async throws -> Cache {
            var configuration = CacheConfiguration(backend: .memory(name: "tracing-\(UInt64.random(in: 0...UInt64.max))"))
            configuration.keyPrefix = "t"
            configuration.tracer = tracer
            let cache = try Cache(configuration: configuration)
            try await cache.connect()
            return cache
        }

        static func names(_ spans: [FinishedInMemorySpan]) -> [String] {
            spans.map(\.operationName)
        }

        @Test func everyPublicCallOpensOneSpanNamedAfterIt() async throws {
            let tracer = InMemoryTracer()
            let cache = try await Self.makeCache(tracer)
            try await cache.set("a", 1)
            _ = try await cache.get("a", as: Int.self)
            _ = try await cache.get("missing", default: 0)
            _ = try await cache.getMany(["a", "b"], as: Int.self)
            _ = try await cache.getManyPartial(["a"], as: Int.self)
            try await cache.setMany(["b": 2, "c": 3])
            _ = try await cache.add("d", 4)
            _ = try await cache.getOrSet("e", default: 5)
            _ = try await cache.getOrSet("f", as: Int.self) { 6 }
            try await cache.delete("a")
            try await cache.deleteMany(["b", "c"])
            _ = try await cache.touch("d", ttl: 60)
            _ = try await cache.ttl("d")
            _ = try await cache.incr("n")
            _ = try await cache.decr("n", by: 2)
            _ = try await cache.incr("x", by: 0.5)
            try await cache.clear()
            _ = try await cache.clear(scope: .keyPrefix)
            #expect(
                Self.names(tracer.finishedSpans) == [
                    "set", "get", "get", "getMany", "getManyPartial", "setMany", "add", "getOrSet", "getOrSet", "delete",
                    "deleteMany", "touch", "ttl", "incr", "decr", "incr", "clear", "clear",
                ]
            )
            // One span per call: none is the child of another.
            #expect(tracer.finishedSpans.allSatisfy { $0.parentSpanID == nil })
            #expect(tracer.activeSpans.isEmpty)
            try await cache.disconnect()
        }

        @Test func spansCarryTheOperationAndKeyCount() async throws {
            let tracer = InMemoryTracer()
            let cache = try await Self.makeCache(tracer)
            try await cache.setMany(["a": 1, "b": 2, "c": 3])
            _ = try await cache.get("a", as: Int.self)
            _ = try await cache.get("zz", as: Int.self)
            _ = try await cache.clear(scope: .keyPrefix)
            let spans = tracer.finishedSpans
            #expect(spans.count == 4)
            let setMany = spans[0]
            #expect(setMany.attributes.get("db.operation.name") == .string("setMany"))
            #expect(setMany.attributes.get("cache.key.count") == .int64(3))
            // The embedded backend: an internal span, no db.system.name, no node.
            #expect(setMany.kind == .internal)
            #expect(setMany.attributes.get("db.system.name") == nil)
            #expect(setMany.attributes.get("cache.node") == nil)
            #expect(spans[1].attributes.get("cache.hit") == .bool(true))
            #expect(spans[1].attributes.get("cache.key.count") == .int64(1))
            #expect(spans[2].attributes.get("cache.hit") == .bool(false))
            #expect(spans[3].attributes.get("cache.clear.scope") == .string("keyPrefix"))
            #expect(spans[3].attributes.get("cache.key.count") == nil)
            #expect(spans.allSatisfy { $0.status == nil && $0.errors.isEmpty })
            try await cache.disconnect()
        }

        @Test func aThrowingCallRecordsItsErrorAndStatus() async throws {
            let tracer = InMemoryTracer()
            let cache = try await Self.makeCache(tracer)
            await #expect(throws: CacheError.self) { try await cache.set("a", 1, ttl: 0) }
            try await cache.set("s", "text")
            await #expect(throws: CacheError.self) { try await cache.get("s", as: Int.self) }
            await #expect(throws: CacheError.self) { try await cache.incr("s") }
            let spans = tracer.finishedSpans
            #expect(Self.names(spans) == ["set", "set", "get", "incr"])
            for index in [0, 2, 3] {
                #expect(spans[index].status?.code == .error)
                #expect(spans[index].errors.count == 1)
                // The code and node only: a CacheError's description names the key ("s", "a").
                let recorded = try #require(spans[index].errors.first?.error as? CacheSpanError)
                #expect(!String(describing: recorded).contains("\""), "\(recorded)")
            }
            #expect(spans.compactMap { ($0.errors.first?.error as? CacheSpanError)?.code } == [.invalidArgument, .decodingFailed, .notNumeric])
            #expect(spans[0].attributes.get("error.type") == .string("invalidArgument"))
            #expect(spans[2].attributes.get("error.type") == .string("decodingFailed"))
            #expect(spans[3].attributes.get("error.type") == .string("notNumeric"))
            #expect(spans[1].status == nil)
            try await cache.disconnect()
        }

        @Test func aCallBeforeConnectRecordsNotConnected() async throws {
            let tracer = InMemoryTracer()
            var configuration = CacheConfiguration(backend: .memory(name: "tracing-unconnected"))
            configuration.tracer = tracer
            let cache = try Cache(configuration: configuration)
            await #expect(throws: CacheError.self) { try await cache.get("a", as: Int.self) }
            #expect(tracer.finishedSpans.first?.attributes.get("error.type") == .string("notConnected"))
        }

        @Test func callSpansAreChildrenOfTheCallersSpanAndParentsOfTheClosuresSpans() async throws {
            let tracer = InMemoryTracer()
            let cache = try await Self.makeCache(tracer)
            let value = try await tracer.withSpan("request") { _ in
                try await cache.getOrSet("page", as: String.self, singleFlight: false) {
                    tracer.withSpan("render") { _ in "<html>" }
                }
            }
            #expect(value == "<html>")
            let spans = tracer.finishedSpans
            #expect(Self.names(spans) == ["render", "getOrSet", "request"])
            let render = spans[0]
            let getOrSet = spans[1]
            let request = spans[2]
            #expect(request.parentSpanID == nil)
            #expect(getOrSet.parentSpanID == request.spanID)
            #expect(getOrSet.traceID == request.traceID)
            #expect(render.parentSpanID == getOrSet.spanID)
            #expect(getOrSet.attributes.get("cache.hit") == .bool(false))
            try await cache.disconnect()
        }

        @Test func aSharedComputationsErrorIsRecordedOnTheCallSpan() async throws {
            struct RenderFailed: Error {}
            let tracer = InMemoryTracer()
            let cache = try await Self.makeCache(tracer)
            await #expect(throws: RenderFailed.self) {
                try await cache.getOrSet("page", as: String.self) { throw RenderFailed() }
            }
            let span = try #require(tracer.finishedSpans.first)
            #expect(span.operationName == "getOrSet")
            #expect(span.status?.code == .error)
            #expect(span.attributes.get("error.type") == .string("RenderFailed"))
            try await cache.disconnect()
        }

        @Test func noTracerOrTheNoOpTracerOpensNoSpan() async throws {
            // nil turns tracing off; the NoOpTracer (nothing bootstrapped) is treated as off. Neither can be observed
            // from outside beyond "nothing breaks", so this checks the calls work and an in-memory tracer active in
            // the task (withTracer) sees nothing from the cache, which reads its tracer only from the configuration.
            let observer = InMemoryTracer()
            for tracer: (any Tracer)? in [nil, NoOpTracer()] {
                let cache = try await Self.makeCache(tracer)
                try await withTracer(observer) {
                    try await cache.set("a", 1)
                    #expect(try await cache.get("a", as: Int.self) == 1)
                    #expect(try await cache.getMany(["a"], as: Int.self) == ["a": 1])
                }
                try await cache.disconnect()
            }
            #expect(observer.finishedSpans.isEmpty)
        }

        @Test func aCacheKeepsATracerOnlyWhenOneIsSet() async throws {
            // What makes the no-tracer path one nil test: nil and the NoOpTracer leave the cache without a tracer.
            for tracer: (any Tracer)? in [nil, NoOpTracer()] {
                let cache = try await Self.makeCache(tracer)
                #expect(cache.tracer == nil)
                try await cache.disconnect()
            }
            let cache = try await Self.makeCache(InMemoryTracer())
            #expect(cache.tracer != nil)
            try await cache.disconnect()
        }
    }
#endif

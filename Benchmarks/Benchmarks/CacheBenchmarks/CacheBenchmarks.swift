import Benchmark
import CacheRing
import Caches
import NIOCore
import RESP

/// A typical cached value: a small user record.
struct User: Codable, Sendable {
    var id: Int
    var name: String
    var email: String
    var tags: [String]
    var score: Double
    var active: Bool
}

// Names are shell-safe: the tool reads thresholds from `CacheBenchmarks.<name>.p90.json` verbatim.
let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal],
        warmupIterations: 10,
        scalingFactor: .kilo,
        maxDuration: .seconds(2),
        thresholds: [
            // Allocation counts are exact: a few either way per 1,000 iterations is harness noise.
            .mallocCountTotal: .init(absolute: [.p90: 4]),
            // Wall clock on a 2-core machine shared with servers and builds: only catch gross regressions.
            .wallClock: .init(relative: [.p90: 200]),
        ]
    )

    let keys = (0..<1000).map { "forum:2:user:\($0)" }

    // MARK: Ring

    let ring = try! HashRing(nodes: [.init(name: "node-a", weight: 1), .init(name: "node-b", weight: 2), .init(name: "node-c", weight: 1)])
    Benchmark("RingLookup.3Nodes") { benchmark in
        for iteration in benchmark.scaledIterations {
            blackHole(ring.nodeIndex(forKey: keys[iteration % keys.count]))
        }
    }

    let md5Ring = try! HashRing(nodes: (0..<10).map { .init(name: "node-\($0)") }, hash: .md5)
    Benchmark("RingLookup.10NodesMD5") { benchmark in
        for iteration in benchmark.scaledIterations {
            blackHole(md5Ring.nodeIndex(forKey: keys[iteration % keys.count]))
        }
    }

    // MARK: Keys

    let cache = try! Cache(url: "memory://benchmarks", version: 2, keyPrefix: "forum")
    Benchmark("KeyBuilding") { benchmark in
        for iteration in benchmark.scaledIterations {
            blackHole(cache.makeKey(keys[iteration % keys.count]))
        }
    }

    // MARK: JSON (through the in-memory store: encode on set, decode on get)

    let user = User(id: 42, name: "Zoë Example", email: "zoe@example.com", tags: ["admin", "beta", "forum"], score: 0.75, active: true)
    Benchmark("JSONEncode.UserRecordMemorySet", configuration: .init(setup: { try await cache.connect() }, teardown: { try await cache.disconnect() })) { benchmark in
        for _ in benchmark.scaledIterations {
            try await cache.set("user:42", user)
        }
    }
    Benchmark("JSONDecode.UserRecordMemoryGet", configuration: .init(setup: {
        try await cache.connect()
        try await cache.set("user:42", user)
    }, teardown: { try await cache.disconnect() })) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(try await cache.get("user:42", as: User.self))
        }
    }
    let page = (0..<50).map { JSONValue.object(["id": .int($0), "title": .string("Post number \($0)"), "score": .double(Double($0) / 7)]) }
    Benchmark("JSONEncode.50ObjectsMemorySet", configuration: .init(setup: { try await cache.connect() }, teardown: { try await cache.disconnect() })) { benchmark in
        for _ in benchmark.scaledIterations {
            try await cache.set("page:1", page)
        }
    }

    // MARK: RESP

    let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: 100)
    Benchmark("RESPEncode.SetWithTTL100B") { benchmark in
        var encoder = RESPCommandEncoder()
        for iteration in benchmark.scaledIterations {
            encoder.reset()
            encoder.writeArrayHeader(count: 5)
            encoder.writeBulkString("SET")
            encoder.writeBulkString(keys[iteration % keys.count])
            encoder.writeBulkString(value)
            encoder.writeBulkString("EX")
            encoder.writeBulkString(600)
            blackHole(encoder.buffer.readableBytes)
        }
    }

    let bulkReply: ByteBuffer = {
        var reply = ByteBuffer(string: "$100\r\n")
        reply.writeImmutableBuffer(value)
        reply.writeString("\r\n")
        return reply
    }()
    Benchmark("RESPDecode.Bulk100B") { benchmark in
        var decoder = RESPDecoder()
        for _ in benchmark.scaledIterations {
            var input = bulkReply
            blackHole(try decoder.decode(buffer: &input))
        }
    }

    let mgetReply: ByteBuffer = {
        var reply = ByteBuffer(string: "*100\r\n")
        for _ in 0..<100 {
            reply.writeString("$100\r\n")
            reply.writeImmutableBuffer(value)
            reply.writeString("\r\n")
        }
        return reply
    }()
    Benchmark("RESPDecode.MGet100", configuration: .init(scalingFactor: .one)) { benchmark in
        var decoder = RESPDecoder()
        for _ in benchmark.scaledIterations {
            var input = mgetReply
            blackHole(try decoder.decode(buffer: &input))
        }
    }

    // MARK: Through Cache, against an in-process fake node

    registerFakeNodeBenchmarks(user: user)
}

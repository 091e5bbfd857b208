#if ConfigFiles
    import CacheRing
    import Foundation
    import Logging
    import NIOConcurrencyHelpers
    import NIOCore
    import RESP
    import RedisTestSupport
    import Synchronization
    import Testing

    @testable import Caches

    /// What the callers report.
    private final class Progress: Sendable {
        let stop = Atomic<Bool>(false)
        let completed = Atomic<Int>(0)
        let failures = NIOLockedValueBox<[String]>([])
    }

    /// Edits the config file under a running cache while callers run.
    @Suite("Live topology changes")
    struct LiveTopologyTests {
        /// One node of the test's config file.
        struct Node {
            var name: String
            var server: RedisServer
            var weight: Int
        }

        static func yaml(_ nodes: [Node], database: Int) -> String {
            var text = "ring:\n  hash: md5\npool:\n  minConnections: 1\n  maxConnections: 4\nnodes:\n"
            for node in nodes {
                text +=
                    "  - name: \(node.name)\n    host: \(node.server.host)\n    port: \(node.server.port)\n"
                text += "    weight: \(node.weight)\n    db: \(database)\n"
            }
            return text
        }

        static func ring(_ nodes: [Node]) throws -> HashRing {
            try HashRing(
                nodes: nodes.map { HashRing.Node(name: $0.name, weight: UInt32($0.weight)) },
                hash: .md5
            )
        }

        /// Replaces the file atomically, as the watcher's documentation asks.
        static func replace(_ path: String, with text: String) throws {
            try text.write(toFile: path, atomically: true, encoding: .utf8)
        }

        @Test("add a node, remove a node, change a weight: no call fails and keys move as the ring diff says", .timeLimit(.minutes(2)))
        func editConfigUnderLoad() async throws {
            let servers = try await TestNodes.shared.plainNodes()
            let database = await TestNodes.shared.database()
            let directory = FileManager.default.temporaryDirectory.path + "/caches-live-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/cache.yaml"

            let a = Node(name: "node-a", server: servers[0], weight: 1)
            let b = Node(name: "node-b", server: servers[1], weight: 1)
            let c = Node(name: "node-c", server: servers[2], weight: 1)
            var heavierB = b
            heavierB.weight = 3
            // Each step: the nodes after the edit.
            let steps: [(String, [Node])] = [
                ("add node-c", [a, b, c]),
                ("remove node-a", [b, c]),
                ("node-b weight 1 → 3", [heavierB, c]),
            ]
            try Self.replace(path, with: Self.yaml([a, b], database: database))

            let cache = try await Cache(configurationFile: path)
            try await cache.connect()
            let (reloads, reloaded) = AsyncStream.makeStream(
                of: Result<CacheConfiguration, CacheError>.self
            )
            let progress = Progress()

            try await withThrowingTaskGroup(of: Void.self) { watcher in
                watcher.addTask {
                    await cache.watchConfigurationFile(interval: .milliseconds(20)) { result in
                        reloaded.yield(result)
                    }
                }
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // Callers that run through every edit: single keys and many-key calls, every node.
                    for caller in 0..<8 {
                        group.addTask {
                            var round = 0
                            while !progress.stop.load(ordering: .relaxed) {
                                round += 1
                                let key = "load-\(caller)-\(round % 500)"
                                do {
                                    try await cache.set(key, round)
                                    // A key the swap moved between the two calls misses: expected, and not a failure.
                                    _ = try await cache.get(key, as: Int.self)
                                    if round % 10 == 0 {
                                        let keys = (0..<20).map { "load-\(caller)-many-\($0)" }
                                        try await cache.setMany(
                                            Dictionary(uniqueKeysWithValues: keys.map { ($0, round) })
                                        )
                                        _ = try await cache.getMany(keys, as: Int.self)
                                        try await cache.deleteMany(keys)
                                    }
                                    progress.completed.add(1, ordering: .relaxed)
                                } catch {
                                    progress.failures.withLockedValue { $0.append("\(key): \(error)") }
                                }
                            }
                        }
                    }

                    var current = [a, b]
                    var iterator = reloads.makeAsyncIterator()
                    for (step, (label, next)) in steps.enumerated() {
                        // Sample keys written before the edit, one set per step so no earlier step's data can answer.
                        let samples = (0..<600).map { "sample-\(step)-\($0)" }
                        try await cache.setMany(Dictionary(uniqueKeysWithValues: samples.map { ($0, $0) }))
                        let oldRing = try Self.ring(current)
                        let newRing = try Self.ring(next)
                        let stored = samples.map { cache.makeKey($0) }
                        for (sample, key) in zip(samples, stored) {
                            #expect(
                                cache.nodeName(for: sample) == oldRing.node(forKey: key).name,
                                "\(label): before"
                            )
                        }
                        let moved = Set(
                            stored.indices.filter {
                                oldRing.node(forKey: stored[$0]).name != newRing.node(forKey: stored[$0]).name
                            }
                        )
                        let predicted = HashRing.movedFraction(from: oldRing, to: newRing, sampleKeys: stored)
                        #expect(abs(Double(moved.count) / Double(stored.count) - predicted) < 1e-9, "\(label)")
                        #expect(
                            !moved.isEmpty && moved.count < stored.count,
                            "\(label): moved \(moved.count) of \(stored.count)"
                        )

                        let before = progress.completed.load(ordering: .relaxed)
                        try Self.replace(path, with: Self.yaml(next, database: database))
                        let result = try #require(await iterator.next(), "\(label): the watcher stopped")
                        let applied = try result.get()
                        #expect(applied.nodes.map(\.ketamaName) == next.map(\.name), "\(label)")
                        #expect(
                            cache.activeConfiguration.nodes.map(\.weight) == next.map { UInt32($0.weight) },
                            "\(label)"
                        )

                        // Routing follows the new ring exactly; data stayed where it was, so exactly the moved keys miss.
                        let values = try await cache.getMany(samples, as: String.self)
                        for (index, sample) in samples.enumerated() {
                            #expect(
                                cache.nodeName(for: sample) == newRing.node(forKey: stored[index]).name,
                                "\(label): \(sample)"
                            )
                            let hit = values[sample] != nil && values[sample]! != nil
                            #expect(
                                hit == !moved.contains(index),
                                "\(label): \(sample) moved=\(moved.contains(index)) hit=\(hit)"
                            )
                        }
                        // Callers kept going across the swap.
                        try await waitUntil("\(label): callers going on across the swap") {
                            progress.completed.load(ordering: .relaxed) >= before + 50
                        }
                        current = next
                    }
                    // The callers stop by themselves (no cancellation, which would fail their calls).
                    progress.stop.store(true, ordering: .relaxed)
                    try await group.waitForAll()
                }
                watcher.cancelAll()
                reloaded.finish()
            }

            #expect(progress.failures.withLockedValue { $0 } == [])
            #expect(progress.completed.load(ordering: .relaxed) > 0)
            // The removed node's connections are closed: node-a no longer sees this cache's database in use.
            try await cache.clear()
            try await cache.disconnect()
        }

        @Test("run() watches the configuration file: an added node is swapped in without any call to reload", .timeLimit(.minutes(1)))
        func runWatchesTheConfigurationFile() async throws {
            let servers = try await TestNodes.shared.plainNodes()
            let database = await TestNodes.shared.database()
            let directory = FileManager.default.temporaryDirectory.path + "/caches-run-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/cache.yaml"
            let a = Node(name: "node-a", server: servers[0], weight: 1)
            let b = Node(name: "node-b", server: servers[1], weight: 1)
            let c = Node(name: "node-c", server: servers[2], weight: 1)
            try Self.replace(path, with: Self.yaml([a, b], database: database))

            let cache = try await Cache(configurationFile: path)
            try await cache.connect()
            // run() keeps the connection and starts the watcher (every 2 s by default).
            let service = Task { try await cache.run() }
            try Self.replace(path, with: Self.yaml([a, b, c], database: database))
            try await waitUntil(timeout: .seconds(20), "run()'s watcher swapping in node-c") {
                cache.activeConfiguration.nodes.map(\.ketamaName) == ["node-a", "node-b", "node-c"]
            }
            // Keys route over the new ring, and node-c serves its share.
            let expected = try Self.ring([a, b, c])
            let keys = (0..<200).map { "watched-\($0)" }
            for key in keys {
                #expect(cache.nodeName(for: key) == expected.nodes[expected.nodeIndex(forKey: cache.makeKey(key))].name)
            }
            let onC = try #require(keys.first { cache.nodeName(for: $0) == "node-c" })
            try await cache.set(onC, "on c")
            #expect(try await servers[2].cli("-n", String(database), "EXISTS", cache.makeKey(onC)) == "1")
            try await cache.clear()
            service.cancel()
            try await service.value
        }

        @Test("a backend is released once disconnected, or once a reload replaced or abandoned it")
        func backendsAreReleased() async throws {
            let servers = try await TestNodes.shared.plainNodes()
            let database = await TestNodes.shared.database()
            func node(_ name: String, _ server: RedisServer) -> CacheNodeConfiguration {
                CacheNodeConfiguration(name: name, host: server.host, port: server.port, database: database)
            }
            // Ejection with a journal: the configuration whose router holds a re-admission hook.
            var configuration = CacheConfiguration(backend: .redis, nodes: [node("node-a", servers[0]), node("node-b", servers[1])])
            configuration.failurePolicy = .eject(afterFailures: 2, retryAfter: .seconds(1), journalLimit: 100)
            weak var disconnected: RedisBackend?
            weak var retired: RedisBackend?
            weak var abandoned: RedisBackend?
            var next = configuration
            next.nodes = [node("node-b", servers[1]), node("node-c", servers[2])]
            do {
                let backend = try RedisBackend(configuration: configuration, logger: Logger(label: "test"))
                disconnected = backend
                try await backend.connect()
                await backend.disconnect()
            }
            do {
                let old = try RedisBackend(configuration: configuration, logger: Logger(label: "test"))
                try await old.connect()
                let replaced = try old.successor(for: next)
                let refused = try old.successor(for: next)
                retired = old
                abandoned = refused.new
                await replaced.start()
                await refused.start()
                await refused.abandon()
                await old.retire(replaced)
                await replaced.new.disconnect()
            }
            #expect(disconnected == nil, "a disconnected backend is freed (its router's hook no longer holds it)")
            #expect(retired == nil, "a backend a reload replaced is freed")
            #expect(abandoned == nil, "a backend built for a reload that was not applied is freed")
        }

        @Test("a call that reaches a removed node after the swap goes to the node the new ring names")
        func callsOnARetiredBackendAreRerouted() async throws {
            let servers = try await TestNodes.shared.plainNodes()
            let database = await TestNodes.shared.database()
            func node(_ name: String, _ server: RedisServer) -> CacheNodeConfiguration {
                CacheNodeConfiguration(name: name, host: server.host, port: server.port, database: database)
            }
            var configuration = CacheConfiguration(backend: .redis, nodes: [node("node-a", servers[0]), node("node-b", servers[1])])
            configuration.ring.hash = .md5
            let old = try RedisBackend(configuration: configuration, logger: Logger(label: "test"))
            try await old.connect()
            var next = configuration
            next.nodes = [node("node-b", servers[1]), node("node-c", servers[2])]
            let change = try old.successor(for: next)
            #expect(change.added.map(\.name) == ["node-c"])
            #expect(change.removed.map(\.name) == ["node-a"])
            #expect(change.new.nodes[0] === old.nodes[1], "node-b keeps its client and pool")
            await change.start()
            await old.retire(change)
            // node-a's pool is shut down: a request sent to it directly fails.
            let closed = await #expect(throws: CacheError.self) {
                try await old.nodes[0].execute(PingCommand())
            }
            #expect(closed?.code == .poolShutdown)

            // Keys the old ring sends to the removed node-a: the retired backend still serves them, through the new ring.
            let keys = (0..<400).map { "reroute-\($0)" }.filter { old.ring.node(forKey: $0).name == "node-a" }
            #expect(keys.count > 20)
            for key in keys {
                try await old.set(key, value: ByteBuffer(string: key), ttl: nil)
                #expect(try await change.new.get(key) == ByteBuffer(string: key))
                #expect(try await old.get(key) == ByteBuffer(string: key))
            }
            var values = [ByteBuffer?](repeating: nil, count: keys.count)
            let failures = try await old.getMany(CacheKeys(head: "", names: keys)) { index, bytes in values[index] = bytes }
            #expect(failures.isEmpty)
            #expect(values == keys.map { ByteBuffer(string: $0) })
            #expect(try await old.deleteMany(keys).isEmpty)
            var missing = 0
            #expect(try await change.new.getMany(CacheKeys(head: "", names: keys)) { _, bytes in if bytes == nil { missing += 1 } }.isEmpty)
            #expect(missing == keys.count)
            try await change.new.clear()
            await change.new.disconnect()
        }
    }
#endif

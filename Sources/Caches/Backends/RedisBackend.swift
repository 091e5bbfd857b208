import CachePool
import CacheRing
import Logging
import NIOCore
import NIOPosix
import RESP

/// Redis nodes behind a ketama ring (one node is a ring of one).
///
/// Single-key calls go to the key's node. Many-key calls group the keys by node and send one request per node,
/// all nodes at once in a task group, then merge the replies in the caller's order.
final class RedisBackend: CacheBackend {
    let ring: HashRing
    let nodes: [CacheNodeClient]
    let gracePeriod: Duration
    let logger: Logger

    init(configuration: CacheConfiguration, logger: Logger) throws {
        self.ring = try Self.makeRing(configuration)
        self.logger = logger
        self.gracePeriod = configuration.pool.shutdownGracePeriod
        let group = MultiThreadedEventLoopGroup.singleton
        var tlsContexts: [CacheTLSConfiguration: CacheTLSContext] = [:]
        var nodes: [CacheNodeClient] = []
        for node in configuration.nodes {
            var tlsContext: CacheTLSContext?
            if let tls = node.tls ?? configuration.tls {
                if let existing = tlsContexts[tls] {
                    tlsContext = existing
                } else {
                    let context = try CacheTLSContext(configuration: tls)
                    tlsContexts[tls] = context
                    tlsContext = context
                }
            }
            let settings = CacheConnection.Settings(
                nodeName: node.ketamaName,
                host: node.host,
                port: node.port,
                database: node.database,
                username: node.username,
                password: node.password,
                clientName: configuration.clientName,
                connectTimeout: configuration.connectTimeout,
                commandTimeout: configuration.commandTimeout,
                tls: tlsContext
            )
            nodes.append(CacheNodeClient(settings: settings, pool: configuration.pool, group: group, logger: logger))
        }
        self.nodes = nodes
    }

    /// The ring of a configuration's nodes.
    static func makeRing(_ configuration: CacheConfiguration) throws(CacheError) -> HashRing {
        do {
            return try HashRing(
                nodes: configuration.nodes.map { HashRing.Node(name: $0.ketamaName, weight: $0.weight) },
                hash: HashRing.HashFunction(rawValue: configuration.ring.hash.rawValue) ?? .fnv1a_64,
                hashTag: configuration.ring.hashTag
            )
        } catch {
            throw CacheError(.invalidConfiguration, "cannot build the ring: \(error)", underlyingError: error)
        }
    }

    @inline(__always)
    func node(for key: String) -> CacheNodeClient {
        self.nodes.count == 1 ? self.nodes[0] : self.nodes[self.ring.nodeIndex(forKey: key)]
    }

    func nodeName(forKey key: String) -> String? {
        self.node(for: key).name
    }

    func nodeStatus() async -> [CacheNodeStatus] {
        let groups = self.nodes.indices.map { (node: $0, indices: [Int]()) }
        let results = await self.fanOut(groups) { node, _ throws(CacheError) -> (Duration, Int) in
            let clock = ContinuousClock()
            let start = clock.now
            let reply = try await node.execute(replies: 2) { encoder in
                encoder.writeArrayHeader(count: 1)
                encoder.writeBulkString("PING")
                encoder.writeArrayHeader(count: 1)
                encoder.writeBulkString("DBSIZE")
            }
            return (clock.now - start, reply.int ?? 0)
        }
        var statuses: [CacheNodeStatus] = []
        for (index, node) in self.nodes.enumerated() {
            let pool = node.pool.statistics
            var status = CacheNodeStatus(
                name: node.name,
                address: "\(node.settings.host):\(node.settings.port)",
                weight: self.ring.nodes[index].weight,
                latency: nil,
                keyCount: nil,
                error: nil,
                openConnections: pool.openConnections,
                inFlightRequests: pool.inFlightRequests,
                waitingRequests: pool.waitingRequests
            )
            if let result = results.first(where: { $0.group == index })?.result {
                switch result {
                case .success(let (latency, keys)):
                    status.latency = latency
                    status.keyCount = keys
                case .failure(let error):
                    status.error = error
                }
            }
            statuses.append(status)
        }
        return statuses
    }

    // MARK: Lifecycle

    func connect() async throws {
        let errors = await withTaskGroup(of: CacheError?.self) { group in
            for node in self.nodes {
                group.addTask { await node.start() }
            }
            var errors: [CacheError] = []
            for await case let error? in group { errors.append(error) }
            return errors
        }
        if errors.count == self.nodes.count, let first = errors.first {
            await self.disconnect()
            if self.nodes.count == 1 { throw first }
            throw CacheError(
                .connectFailed,
                "no node could be reached: " + errors.map { "\($0.node ?? "?"): \($0.message)" }.joined(separator: "; "),
                failures: errors.map { CacheNodeFailure(node: $0.node ?? "?", keys: [], error: $0) }
            )
        }
    }

    func disconnect() async {
        await withTaskGroup(of: Void.self) { group in
            for node in self.nodes {
                group.addTask { await node.shutdown(gracePeriod: self.gracePeriod) }
            }
        }
    }

    // MARK: Single keys

    func get(_ key: String) async throws -> ByteBuffer? {
        let reply = try await self.node(for: key).execute { encoder in
            encoder.writeArrayHeader(count: 2)
            encoder.writeBulkString("GET")
            encoder.writeBulkString(key)
        }
        return try self.bytes(reply, node: self.node(for: key))
    }

    func set(_ key: String, value: ByteBuffer, ttl: Int?) async throws {
        _ = try await self.node(for: key).execute { encoder in
            if let ttl {
                encoder.writeArrayHeader(count: 4)
                encoder.writeBulkString("SETEX")
                encoder.writeBulkString(key)
                encoder.writeBulkString(ttl)
            } else {
                encoder.writeArrayHeader(count: 3)
                encoder.writeBulkString("SET")
                encoder.writeBulkString(key)
            }
            encoder.writeBulkString(value)
        }
    }

    func add(_ key: String, value: ByteBuffer, ttl: Int?) async throws -> Bool {
        let reply = try await self.node(for: key).execute { encoder in
            encoder.writeArrayHeader(count: ttl == nil ? 4 : 6)
            encoder.writeBulkString("SET")
            encoder.writeBulkString(key)
            encoder.writeBulkString(value)
            if let ttl {
                encoder.writeBulkString("EX")
                encoder.writeBulkString(ttl)
            }
            encoder.writeBulkString("NX")
        }
        return !reply.isNull
    }

    func delete(_ key: String) async throws {
        _ = try await self.node(for: key).execute { encoder in
            encoder.writeArrayHeader(count: 2)
            encoder.writeBulkString("UNLINK")
            encoder.writeBulkString(key)
        }
    }

    func touch(_ key: String, ttl: Int?) async throws -> Bool {
        let reply = try await self.node(for: key).execute { encoder in
            if let ttl {
                encoder.writeArrayHeader(count: 3)
                encoder.writeBulkString("EXPIRE")
                encoder.writeBulkString(key)
                encoder.writeBulkString(ttl)
            } else {
                encoder.writeArrayHeader(count: 2)
                encoder.writeBulkString("PERSIST")
                encoder.writeBulkString(key)
            }
        }
        return reply.int64 == 1
    }

    func remainingTTL(_ key: String) async throws -> Int {
        let node = self.node(for: key)
        let reply = try await node.execute { encoder in
            encoder.writeArrayHeader(count: 2)
            encoder.writeBulkString("TTL")
            encoder.writeBulkString(key)
        }
        guard let value = reply.int else {
            throw CacheError(.protocolViolation, "TTL replied with \(reply), not an integer", node: node.name)
        }
        return value
    }

    func increment(_ key: String, by delta: Int) async throws -> Int {
        let node = self.node(for: key)
        let reply = try await node.execute { encoder in
            encoder.writeArrayHeader(count: 3)
            encoder.writeBulkString("INCRBY")
            encoder.writeBulkString(key)
            encoder.writeBulkString(delta)
        }
        guard let value = reply.int else {
            throw CacheError(.protocolViolation, "INCRBY replied with \(reply), not an integer", node: node.name)
        }
        return value
    }

    func increment(_ key: String, byFloat delta: Double) async throws -> Double {
        let node = self.node(for: key)
        let reply = try await node.execute { encoder in
            encoder.writeArrayHeader(count: 3)
            encoder.writeBulkString("INCRBYFLOAT")
            encoder.writeBulkString(key)
            encoder.writeBulkString("\(delta)")
        }
        guard let text = reply.string, let value = Double(text) else {
            throw CacheError(.protocolViolation, "INCRBYFLOAT replied with \(reply), not a number", node: node.name)
        }
        return value
    }

    private func bytes(_ reply: RESPValue, node: CacheNodeClient) throws(CacheError) -> ByteBuffer? {
        switch reply {
        case .bulkString(let buffer): return buffer
        case .null: return nil
        default: throw CacheError(.protocolViolation, "expected a bulk string, got \(reply)", node: node.name)
        }
    }

    // MARK: Many keys

    /// The indices of `keys` grouped by node, in the order of first appearance.
    private func group(_ keys: some RandomAccessCollection<String>) -> [(node: Int, indices: [Int])] {
        if self.nodes.count == 1 { return [(0, Array(0..<keys.count))] }
        var positions = [Int](repeating: -1, count: self.nodes.count)
        var groups: [(node: Int, indices: [Int])] = []
        for (offset, key) in keys.enumerated() {
            let node = self.ring.nodeIndex(forKey: key)
            if positions[node] < 0 {
                positions[node] = groups.count
                groups.append((node, []))
            }
            groups[positions[node]].indices.append(offset)
        }
        return groups
    }

    /// Runs one request per group, every node at once, and collects each group's result.
    private func fanOut<Value: Sendable>(
        _ groups: [(node: Int, indices: [Int])],
        _ request: @escaping @Sendable (CacheNodeClient, [Int]) async throws(CacheError) -> Value
    ) async -> [(group: Int, result: Result<Value, CacheError>)] {
        if groups.count == 1 {
            let group = groups[0]
            do throws(CacheError) {
                return [(0, .success(try await request(self.nodes[group.node], group.indices)))]
            } catch {
                return [(0, .failure(error))]
            }
        }
        return await withTaskGroup(of: (Int, Result<Value, CacheError>).self) { taskGroup in
            for (index, group) in groups.enumerated() {
                let node = self.nodes[group.node]
                taskGroup.addTask {
                    do throws(CacheError) {
                        return (index, .success(try await request(node, group.indices)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var results: [(group: Int, result: Result<Value, CacheError>)] = []
            results.reserveCapacity(groups.count)
            for await result in taskGroup { results.append(result) }
            return results
        }
    }

    func getMany(_ keys: [String]) async throws -> (values: [ByteBuffer?], failures: [CacheBackendFailure]) {
        let groups = self.group(keys)
        let results = await self.fanOut(groups) { node, indices throws(CacheError) in
            let reply = try await node.execute { encoder in
                encoder.writeArrayHeader(count: indices.count + 1)
                encoder.writeBulkString("MGET")
                for index in indices { encoder.writeBulkString(keys[index]) }
            }
            guard let elements = reply.elements, elements.count == indices.count else {
                throw CacheError(.protocolViolation, "MGET replied with \(reply)", node: node.name)
            }
            return elements
        }
        var values = [ByteBuffer?](repeating: nil, count: keys.count)
        var failures: [CacheBackendFailure] = []
        for (groupIndex, result) in results {
            let group = groups[groupIndex]
            switch result {
            case .success(let elements):
                for (position, index) in group.indices.enumerated() {
                    if case .bulkString(let buffer) = elements[position] { values[index] = buffer }
                }
            case .failure(let error):
                failures.append((self.nodes[group.node].name, group.indices, error))
            }
        }
        return (values, failures)
    }

    func setMany(_ entries: [(key: String, value: ByteBuffer)], ttl: Int?) async throws -> [CacheBackendFailure] {
        let groups = self.group(entries.lazy.map(\.key))
        let results = await self.fanOut(groups) { node, indices throws(CacheError) in
            let replies = ttl == nil ? 1 : indices.count + 3
            _ = try await node.execute(replies: replies) { encoder in
                if ttl != nil {
                    encoder.writeArrayHeader(count: 1)
                    encoder.writeBulkString("MULTI")
                }
                encoder.writeArrayHeader(count: 2 * indices.count + 1)
                encoder.writeBulkString("MSET")
                for index in indices {
                    encoder.writeBulkString(entries[index].key)
                    encoder.writeBulkString(entries[index].value)
                }
                if let ttl {
                    for index in indices {
                        encoder.writeArrayHeader(count: 3)
                        encoder.writeBulkString("EXPIRE")
                        encoder.writeBulkString(entries[index].key)
                        encoder.writeBulkString(ttl)
                    }
                    encoder.writeArrayHeader(count: 1)
                    encoder.writeBulkString("EXEC")
                }
            }
        }
        return self.failures(results, groups)
    }

    func deleteMany(_ keys: [String]) async throws -> [CacheBackendFailure] {
        let groups = self.group(keys)
        let results = await self.fanOut(groups) { node, indices throws(CacheError) in
            _ = try await node.execute { encoder in
                encoder.writeArrayHeader(count: indices.count + 1)
                encoder.writeBulkString("UNLINK")
                for index in indices { encoder.writeBulkString(keys[index]) }
            }
        }
        return self.failures(results, groups)
    }

    func clear() async throws {
        let groups = self.nodes.indices.map { (node: $0, indices: [Int]()) }
        let results = await self.fanOut(groups) { node, _ throws(CacheError) in
            _ = try await node.execute { encoder in
                encoder.writeArrayHeader(count: 2)
                encoder.writeBulkString("FLUSHDB")
                encoder.writeBulkString("ASYNC")
            }
        }
        let failed = results.compactMap { result -> CacheError? in
            if case .failure(let error) = result.result { return error }
            return nil
        }
        if failed.count == 1 { throw failed[0] }
        if failed.count > 1 {
            throw CacheError(
                .partialFailure,
                "clear failed on \(failed.count) node(s): \(failed.compactMap(\.node).joined(separator: ", "))",
                failures: failed.map { CacheNodeFailure(node: $0.node ?? "?", keys: [], error: $0) }
            )
        }
    }

    private func failures<Value>(
        _ results: [(group: Int, result: Result<Value, CacheError>)],
        _ groups: [(node: Int, indices: [Int])]
    ) -> [CacheBackendFailure] {
        results.compactMap { groupIndex, result in
            guard case .failure(let error) = result else { return nil }
            let group = groups[groupIndex]
            return (self.nodes[group.node].name, group.indices, error)
        }
    }
}

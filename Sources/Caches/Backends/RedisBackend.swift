import CachePool
import CacheRing
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RESP
import Synchronization

/// Redis nodes behind a ketama ring (one node is a ring of one).
///
/// Single-key calls go to the key's node. Many-key calls group the keys by node and send one request per node,
/// all nodes at once in a task group, then merge the replies in the caller's order.
final class RedisBackend: CacheBackend {
    let ring: HashRing
    let nodes: [CacheNodeClient]
    /// What makes each node (same index as ``nodes``) reusable by a reloaded topology.
    let nodeKeys: [NodeKey]
    let gracePeriod: Duration
    let logger: Logger
    /// The backend that replaced this one in a reload; calls that reach a removed node go there instead.
    private let successor: NIOLockedValueBox<RedisBackend?> = NIOLockedValueBox(nil)
    /// What calls for a down node's keys do.
    let policy: CacheFailurePolicy
    /// Nodes ejected from the ring (``CacheFailurePolicy/eject(afterFailures:retryAfter:)``) and the ring of the
    /// others. `hasEjections` keeps the lookup lock-free while nothing is ejected.
    let ejection = NIOLockedValueBox(Ejection())
    let hasEjections = Atomic<Bool>(false)

    struct Ejection {
        /// The ring of the live nodes; nil when every node is ejected.
        var ring: HashRing?
        /// Ejected node indices and when they go back into the ring.
        var until: [Int: ContinuousClock.Instant] = [:]
    }

    /// Everything that decides how a node's connections are made: two nodes with equal keys can share a pool.
    /// The weight is left out, since it only shapes the ring.
    struct NodeKey: Hashable {
        var node: CacheNodeConfiguration
        var tls: CacheTLSConfiguration?
        var clientName: String?
        var connectTimeout: Duration
        var commandTimeout: Duration
        var pool: CacheConfiguration.Pool

        init(_ node: CacheNodeConfiguration, in configuration: CacheConfiguration) {
            self.tls = node.tls ?? configuration.tls
            var node = node
            node.weight = 1
            node.tls = nil
            self.node = node
            self.clientName = configuration.clientName
            self.connectTimeout = configuration.connectTimeout
            self.commandTimeout = configuration.commandTimeout
            self.pool = configuration.pool
        }
    }

    convenience init(configuration: CacheConfiguration, logger: Logger) throws {
        try self.init(configuration: configuration, logger: logger, reusing: [:])
    }

    /// Creates the backend of a configuration, taking the clients of `reusing` for nodes with the same key.
    init(configuration: CacheConfiguration, logger: Logger, reusing existing: [NodeKey: CacheNodeClient]) throws {
        self.ring = try Self.makeRing(configuration)
        self.policy = configuration.failurePolicy
        self.logger = logger
        self.gracePeriod = configuration.pool.shutdownGracePeriod
        let group = MultiThreadedEventLoopGroup.singleton
        var tlsContexts: [CacheTLSConfiguration: CacheTLSContext] = [:]
        var nodes: [CacheNodeClient] = []
        var keys: [NodeKey] = []
        for node in configuration.nodes {
            let key = NodeKey(node, in: configuration)
            keys.append(key)
            if let client = existing[key] {
                nodes.append(client)
                continue
            }
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
        self.nodeKeys = keys
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

    /// The ring calls use now: the full ring, or the ring of the live nodes while some are ejected (nil when none
    /// is live).
    @inline(__always)
    func currentRing() -> HashRing? {
        guard self.hasEjections.load(ordering: .relaxed) else { return self.ring }
        return self.restoreDueNodes()
    }

    /// The node that holds `key` now.
    @inline(__always)
    func node(for key: String) throws(CacheError) -> CacheNodeClient {
        if self.nodes.count == 1 { return self.nodes[0] }
        guard let ring = self.currentRing() else {
            throw CacheError(.nodeUnavailable, "every node is ejected from the ring")
        }
        return self.nodes[ring.nodeIndex(forKey: key)]
    }

    func nodeName(forKey key: String) -> String? {
        try? self.node(for: key).name
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
        do throws(CacheError) {
            let (reply, node) = try await self.execute(forKey: key) { encoder in
                encoder.writeArrayHeader(count: 2)
                encoder.writeBulkString("GET")
                encoder.writeBulkString(key)
            }
            return try self.bytes(reply, node: node)
        } catch {
            return try self.absorb(error, as: nil, operation: "get")
        }
    }

    func set(_ key: String, value: ByteBuffer, ttl: Int?) async throws {
        do throws(CacheError) {
            try await self.write(key, value: value, ttl: ttl)
        } catch {
            try self.absorb(error, as: (), operation: "set")
        }
    }

    private func write(_ key: String, value: ByteBuffer, ttl: Int?) async throws(CacheError) {
        _ = try await self.execute(forKey: key) { encoder in
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
        do throws(CacheError) {
            return try await self.addNX(key, value: value, ttl: ttl)
        } catch {
            return try self.absorb(error, as: false, operation: "add")
        }
    }

    private func addNX(_ key: String, value: ByteBuffer, ttl: Int?) async throws(CacheError) -> Bool {
        let (reply, _) = try await self.execute(forKey: key) { encoder in
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
        do throws(CacheError) {
            _ = try await self.execute(forKey: key) { encoder in
                encoder.writeArrayHeader(count: 2)
                encoder.writeBulkString("UNLINK")
                encoder.writeBulkString(key)
            }
        } catch {
            try self.absorb(error, as: (), operation: "delete")
        }
    }

    func touch(_ key: String, ttl: Int?) async throws -> Bool {
        do throws(CacheError) {
            return try await self.expire(key, ttl: ttl)
        } catch {
            return try self.absorb(error, as: false, operation: "touch")
        }
    }

    private func expire(_ key: String, ttl: Int?) async throws(CacheError) -> Bool {
        let (reply, _) = try await self.execute(forKey: key) { encoder in
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
        let (reply, node) = try await self.execute(forKey: key) { encoder in
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
        let (reply, node) = try await self.execute(forKey: key) { encoder in
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
        let (reply, node) = try await self.execute(forKey: key) { encoder in
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
    private func group(_ keys: some RandomAccessCollection<String>) throws(CacheError) -> [(node: Int, indices: [Int])] {
        if self.nodes.count == 1 { return [(0, Array(0..<keys.count))] }
        guard let ring = self.currentRing() else {
            throw CacheError(.nodeUnavailable, "every node is ejected from the ring")
        }
        var positions = [Int](repeating: -1, count: self.nodes.count)
        var groups: [(node: Int, indices: [Int])] = []
        for (offset, key) in keys.enumerated() {
            let node = ring.nodeIndex(forKey: key)
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
            let node = self.nodes[group.node]
            do throws(CacheError) {
                let value = try await request(node, group.indices)
                self.recordSuccess(node)
                return [(0, .success(value))]
            } catch {
                self.recordFailure(node, error)
                return [(0, .failure(error))]
            }
        }
        return await withTaskGroup(of: (Int, Result<Value, CacheError>).self) { taskGroup in
            for (index, group) in groups.enumerated() {
                let node = self.nodes[group.node]
                taskGroup.addTask {
                    do throws(CacheError) {
                        let value = try await request(node, group.indices)
                        self.recordSuccess(node)
                        return (index, .success(value))
                    } catch {
                        self.recordFailure(node, error)
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
        let groups = try self.group(keys)
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
        if let next = self.rerouted(results, groups) { return try await next.getMany(keys) }
        var values = [ByteBuffer?](repeating: nil, count: keys.count)
        let absorbing = self.policy == .miss
        var failures: [CacheBackendFailure] = []
        for (groupIndex, result) in results {
            let group = groups[groupIndex]
            switch result {
            case .success(let elements):
                for (position, index) in group.indices.enumerated() {
                    if case .bulkString(let buffer) = elements[position] { values[index] = buffer }
                }
            case .failure(let error):
                if absorbing && CacheNodeHealth.isNodeFailure(error) {
                    self.logAbsorbed(error, operation: "getMany")
                } else {
                    failures.append((self.nodes[group.node].name, group.indices, error))
                }
            }
        }
        return (values, failures)
    }

    func setMany(_ entries: [(key: String, value: ByteBuffer)], ttl: Int?) async throws -> [CacheBackendFailure] {
        let groups = try self.group(entries.lazy.map(\.key))
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
        if let next = self.rerouted(results, groups) { return try await next.setMany(entries, ttl: ttl) }
        return self.failures(results, groups)
    }

    func deleteMany(_ keys: [String]) async throws -> [CacheBackendFailure] {
        let groups = try self.group(keys)
        let results = await self.fanOut(groups) { node, indices throws(CacheError) in
            _ = try await node.execute { encoder in
                encoder.writeArrayHeader(count: indices.count + 1)
                encoder.writeBulkString("UNLINK")
                for index in indices { encoder.writeBulkString(keys[index]) }
            }
        }
        if let next = self.rerouted(results, groups) { return try await next.deleteMany(keys) }
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
        if let next = self.rerouted(results, groups) { return try await next.clear() }
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
            if self.policy == .miss && CacheNodeHealth.isNodeFailure(error) {
                self.logAbsorbed(error, operation: "many-key write")
                return nil
            }
            let group = groups[groupIndex]
            return (self.nodes[group.node].name, group.indices, error)
        }
    }
}

// MARK: Topology changes

/// A backend built from a reloaded configuration, and how its nodes differ from the backend it replaces.
struct RedisTopologyChange: Sendable {
    /// The new backend.
    let backend: RedisBackend
    /// Nodes with a new pool (new nodes, or nodes whose address or settings changed).
    let added: [CacheNodeClient]
    /// Nodes of the old backend that the new one does not use.
    let removed: [CacheNodeClient]
    /// How many nodes kept their pools.
    let kept: Int

    /// Opens the new nodes' minimum connections; a node that cannot be reached keeps retrying in its pool.
    func start() async {
        await withTaskGroup(of: Void.self) { group in
            for node in self.added {
                group.addTask {
                    if let error = await node.start() {
                        node.logger.debug("new node unreachable at reload", metadata: ["cache.error": "\(error.message)"])
                    }
                }
            }
        }
    }

    /// Closes the new nodes of a change that was not applied.
    func abandon() async {
        await withTaskGroup(of: Void.self) { group in
            for node in self.added {
                group.addTask { await node.shutdown(gracePeriod: .zero) }
            }
        }
    }
}

extension RedisBackend {
    /// Builds the backend of a reloaded configuration: nodes with an unchanged key keep their clients (and so
    /// their pools and connections), the others get new ones.
    ///
    /// - Throws: ``CacheError`` when the ring or a TLS context cannot be built.
    func successor(for configuration: CacheConfiguration) throws -> RedisTopologyChange {
        var existing: [NodeKey: CacheNodeClient] = [:]
        for (key, node) in zip(self.nodeKeys, self.nodes) { existing[key] = node }
        let backend = try RedisBackend(configuration: configuration, logger: self.logger, reusing: existing)
        let old = Set(self.nodes.map(ObjectIdentifier.init))
        let new = Set(backend.nodes.map(ObjectIdentifier.init))
        return RedisTopologyChange(
            backend: backend,
            added: backend.nodes.filter { !old.contains(ObjectIdentifier($0)) },
            removed: self.nodes.filter { !new.contains(ObjectIdentifier($0)) },
            kept: backend.nodes.count { old.contains(ObjectIdentifier($0)) }
        )
    }

    /// Marks this backend as replaced by `change`, then lets the removed nodes finish their in-flight commands
    /// (bounded by the grace period) and closes them.
    func retire(_ change: RedisTopologyChange) async {
        self.successor.withLockedValue { $0 = change.backend }
        await withTaskGroup(of: Void.self) { group in
            for node in change.removed {
                group.addTask { await node.shutdown(gracePeriod: self.gracePeriod) }
            }
        }
    }

    /// The backend to resend a call to when it failed on `node` because a reload removed that node: its pool is
    /// shut down (nothing was sent) or its connection closed.
    func rerouted(after error: CacheError, on node: CacheNodeClient) -> RedisBackend? {
        guard error.code == .poolShutdown || error.code == .connectionClosed else { return nil }
        guard let next = self.successor.withLockedValue({ $0 }) else { return nil }
        return next.nodes.contains(where: { $0 === node }) ? nil : next
    }

    /// The backend to resend a many-key call to, when one of its nodes failed because a reload removed it.
    func rerouted<Value>(
        _ results: [(group: Int, result: Result<Value, CacheError>)],
        _ groups: [(node: Int, indices: [Int])]
    ) -> RedisBackend? {
        for (groupIndex, result) in results {
            if case .failure(let error) = result, let next = self.rerouted(after: error, on: self.nodes[groups[groupIndex].node]) {
                return next
            }
        }
        return nil
    }

    /// Sends one request to the node of `key`; a call that reaches a node a reload removed goes to the node the
    /// new ring names.
    func execute(
        forKey key: String,
        replies: Int = 1,
        _ encode: (inout RESPCommandEncoder) -> Void
    ) async throws(CacheError) -> (reply: RESPValue, node: CacheNodeClient) {
        var backend = self
        while true {
            let node = try backend.node(for: key)
            do {
                let reply = try await node.execute(replies: replies, encode)
                backend.recordSuccess(node)
                return (reply, node)
            } catch {
                guard let next = backend.rerouted(after: error, on: node) else {
                    backend.recordFailure(node, error)
                    throw error
                }
                backend = next
            }
        }
    }
}

import CachePool
import CacheRing
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RESP
import Synchronization

#if Tracing
    import Tracing
#endif

/// Redis nodes behind a router (the ketama ring; one node is a ring of one).
///
/// Single-key calls send one typed command to the key's node. Many-key calls go through ``manyKeys(_:count:nodeIndex:_:)``:
/// the router groups the keys by node, one request per node runs, all nodes at once, and each node's reply is read
/// straight into the caller's result.
final class RedisBackend: CacheBackend {
    let router: CacheRingRouter
    let nodes: [CacheNodeClient]
    /// What makes each node (same index as ``nodes``) reusable by a reloaded topology.
    let nodeKeys: [NodeKey]
    let gracePeriod: Duration
    let logger: Logger
    /// What calls for a down node's keys do.
    let policy: CacheFailurePolicy
    /// The backend that replaced this one in a reload; calls that reach a removed node go there instead.
    let successor: NIOLockedValueBox<RedisBackend?> = NIOLockedValueBox(nil)
    /// Node failures the miss policy absorbed so far.
    let absorbedFailures = Atomic<Int>(0)
    /// Where spans go; nil without tracing (then no call looks at anything else of tracing).
    let tracer: CacheTracer?
    /// The near cache, shared by the backends a reload makes; nil when it is off.
    let nearCache: CacheNearCache?
    /// Numbers the nodes of near caches (``CacheNodeClient/nearCacheID``), unique in the process.
    static let nextNearCacheID = Atomic<Int>(0)

    var absorbedFailureCount: Int { self.absorbedFailures.load(ordering: .relaxed) }

    /// The ring of every configured node.
    var ring: HashRing { self.router.ring }

    convenience init(configuration: CacheConfiguration, logger: Logger, tracer: CacheTracer? = nil, nearCache: CacheNearCache? = nil) throws {
        try self.init(configuration: configuration, logger: logger, tracer: tracer, nearCache: nearCache, reusing: [:])
    }

    /// Creates the backend of a configuration, taking the clients of `reusing` for nodes with the same key.
    init(
        configuration: CacheConfiguration,
        logger: Logger,
        tracer: CacheTracer?,
        nearCache: CacheNearCache?,
        reusing existing: [NodeKey: CacheNodeClient]
    ) throws {
        self.tracer = tracer
        self.nearCache = nearCache
        let ring = try CacheRingRouter.makeRing(configuration)
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
                tls: tlsContext,
                tracking: nearCache.map { CacheTracking(nearCache: $0, node: Self.nextNearCacheID.wrappingAdd(1, ordering: .relaxed).newValue) }
            )
            nodes.append(CacheNodeClient(settings: settings, pool: configuration.pool, group: group, logger: logger))
        }
        for node in nodes {
            node.failsFastWhileDown.store(configuration.failurePolicy == .miss, ordering: .relaxed)
        }
        self.nodes = nodes
        self.nodeKeys = keys
        self.router = CacheRingRouter(ring: ring, health: nodes.map(\.health), journalLimit: configuration.failurePolicy.journalLimit)
    }

    /// Lets the router start re-admissions, once the backend runs (``connect()``, or a reload's `start()`).
    ///
    /// The hook holds the backend strongly until `detachHooks()` at the end of its life (disconnect, or a reload that
    /// replaced or abandoned it): a weak reference would give the backend a side table, and every retain and release
    /// of it on the hot path would take the runtime's slow, contended path. A backend that never runs (a reload
    /// prepared and dropped, a test's) never forms the cycle.
    func attachHooks() {
        self.router.onReadmissionDue.withLockedValue { hook in
            hook = { index in
                Task { await self.readmit(index, marked: true) }
            }
        }
    }

    /// Breaks the reference cycle through the router's re-admission hook (see `init`): no more re-admissions start.
    func detachHooks() {
        self.router.onReadmissionDue.withLockedValue { $0 = nil }
    }

    // MARK: Lifecycle

    /// Opens every node's pool and returns as soon as one node answers: a node that is slow to connect (or hangs)
    /// does not delay the others. Its pool keeps trying in the background, and calls for its keys wait for it at
    /// most the pool's wait timeout. Throws only when no node could be reached; a node whose first attempt failed
    /// counts a failure for the failure policy.
    func connect() async throws {
        self.attachHooks()
        let errors = await withTaskGroup(of: (Int, CacheError?).self) { group -> [CacheError] in
            for (index, node) in self.nodes.enumerated() {
                group.addTask { (index, await node.start()) }
            }
            var errors: [CacheError] = []
            for await (index, error) in group {
                guard let error else {
                    // One node answers: stop waiting for the others (their pools keep connecting).
                    group.cancelAll()
                    return []
                }
                self.recordFailure(self.nodes[index], error)
                errors.append(error)
            }
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
        self.detachHooks()
        await withTaskGroup(of: Void.self) { group in
            for node in self.nodes {
                group.addTask { await node.shutdown(gracePeriod: self.gracePeriod) }
            }
        }
    }

    // MARK: Single keys

    func get(_ key: String) async throws -> ByteBuffer? {
        if let nearCache = self.nearCache { return try await self.nearGet(key, nearCache) }
        return try await self.absorbing(nil, "get") { () throws(CacheError) in try await self.execute(GetCommand(storedKey: key), forKey: key) }
    }

    func set(_ key: String, value: ByteBuffer, ttl: Int?) async throws {
        try await self.nearWrite(key) {
            try await self.absorbing((), "set") { () throws(CacheError) in
                try await self.execute(SetCommand(storedKey: key, value: value, ttl: ttl), forKey: key, writing: true)
            }
        }
    }

    func add(_ key: String, value: ByteBuffer, ttl: Int?) async throws -> Bool {
        try await self.nearWrite(key) {
            try await self.absorbing(false, "add") { () throws(CacheError) in
                try await self.execute(AddCommand(storedKey: key, value: value, ttl: ttl), forKey: key, writing: true)
            }
        }
    }

    func delete(_ key: String) async throws {
        try await self.nearWrite(key) {
            try await self.absorbing((), "delete") { () throws(CacheError) in
                try await self.execute(DeleteCommand(storedKey: key), forKey: key, writing: true)
            }
        }
    }

    func lock(_ lockKey: String, nodeOf key: String, token: String, milliseconds: Int) async throws -> Bool {
        try await self.execute(LockCommand(lockKey: lockKey, token: token, milliseconds: milliseconds), forKey: key)
    }

    func unlock(_ lockKey: String, nodeOf key: String, token: String) async throws {
        _ = try await self.execute(UnlockCommand(lockKey: lockKey, token: token), forKey: key)
    }

    func touch(_ key: String, ttl: Int?) async throws -> Bool {
        try await self.nearWrite(key) {
            try await self.absorbing(false, "touch") { () throws(CacheError) in
                try await self.execute(ExpireCommand(storedKey: key, ttl: ttl), forKey: key, writing: true)
            }
        }
    }

    func remainingTTL(_ key: String) async throws -> Int {
        // The miss policy: a down node's key reads as missing (-2, as TTL answers for a missing key).
        try await self.absorbing(-2, "ttl") { () throws(CacheError) in try await self.execute(TTLCommand(storedKey: key), forKey: key) }
    }

    func getWithRemainingTTL(_ key: String) async throws -> (value: ByteBuffer?, milliseconds: Int) {
        if let nearCache = self.nearCache { return try await self.nearGetWithRemainingTTL(key, nearCache) }
        return try await self.absorbing((nil, -2), "get") { () throws(CacheError) in
            try await self.execute(GetWithTTLCommand(storedKey: key), forKey: key)
        }
    }

    func increment(_ key: String, by delta: Int) async throws -> Int {
        try await self.nearWrite(key) {
            try await self.execute(IncrementCommand(storedKey: key, delta: delta), forKey: key, writing: true)
        }
    }

    func increment(_ key: String, byFloat delta: Double) async throws -> Double {
        try await self.nearWrite(key) {
            try await self.execute(IncrementFloatCommand(storedKey: key, delta: delta), forKey: key, writing: true)
        }
    }

    func nodeName(forKey key: String) -> String? {
        (try? self.router.nodeIndex(forKey: key)).map { self.nodes[$0].name }
    }

    /// Sends `command` to the node of `key`; a call that reaches a node a reload removed goes to the node the new
    /// ring names. A call `writing` the key is journaled while the key's own node is ejected.
    @inline(__always)
    func execute<Command: CacheCommand>(_ command: Command, forKey key: String, writing: Bool = false) async throws(CacheError) -> Command.Reply {
        try await self.executeOnNode(command, forKey: key, writing: writing).reply
    }

    /// ``execute(_:forKey:writing:)``, also returning the node that answered.
    func executeOnNode<Command: CacheCommand>(
        _ command: Command,
        forKey key: String,
        writing: Bool = false
    ) async throws(CacheError) -> (reply: Command.Reply, node: CacheNodeClient) {
        var backend = self
        while true {
            let node = backend.nodes[try backend.router.nodeIndex(forKey: key, writing: writing)]
            #if Tracing
                if backend.tracer != nil { CacheTracer.annotateCurrent(node: node) }
            #endif
            do {
                let reply = try await node.execute(command)
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

    // MARK: Many keys

    func getMany(_ keys: CacheKeys, _ body: (Int, ByteBuffer?) throws -> Void) async throws -> [CacheBackendFailure] {
        if let nearCache = self.nearCache { return try await self.nearGetMany(keys, nearCache, body) }
        let result = try await self.manyKeys("getMany", count: keys.count, nodeIndex: { keys.nodeIndex($1, on: $0) }) {
            node,
            selection throws(CacheError) in
            try await node.execute(GetManyCommand(keys: keys, selection: selection))
        }
        for (selection, values) in result.replies {
            try values.forEach { offset, bytes in try body(selection[offset], bytes) }
        }
        // The miss policy: a down node's keys read as missing.
        for selection in result.absorbed {
            for offset in 0..<selection.count { try body(selection[offset], nil) }
        }
        return result.failures
    }

    func setMany(_ entries: [(key: String, value: ByteBuffer)], ttl: Int?) async throws -> [CacheBackendFailure] {
        if let nearCache = self.nearCache {
            nearCache.invalidate(entries.lazy.map(\.key))
        }
        defer { self.nearCache?.invalidate(entries.lazy.map(\.key)) }
        return try await self.manyKeys(
            "setMany",
            count: entries.count,
            nodeIndex: { $0.nodeIndex(forKey: entries[$1].key) },
            writtenKey: { entries[$0].key }
        ) { node, selection throws(CacheError) in
            try await node.execute(SetManyCommand(entries: entries, selection: selection, ttl: ttl))
        }.failures
    }

    func deleteMany(_ keys: [String]) async throws -> [CacheBackendFailure] {
        self.nearCache?.invalidate(keys)
        defer { self.nearCache?.invalidate(keys) }
        return try await self.manyKeys("deleteMany", count: keys.count, nodeIndex: { $0.nodeIndex(forKey: keys[$1]) }, writtenKey: { keys[$0] }) {
            node,
            selection throws(CacheError) in
            try await node.execute(DeleteManyCommand(keys: keys, selection: selection))
        }.failures
    }

    func clear() async throws {
        self.nearCache?.removeAll()
        defer { self.nearCache?.removeAll() }
        let results = await self.fanOut(self.router.everyNode, traced: "clear") { node, _ throws(CacheError) in
            try await node.execute(FlushCommand())
        }
        if let next = self.rerouted(results) { return try await next.clear() }
        try Self.throwIfFailed(results, operation: "clear")
    }

    func clearCounting() async throws -> Int {
        self.nearCache?.removeAll()
        defer { self.nearCache?.removeAll() }
        let results = await self.fanOut(self.router.everyNode, traced: "clear") { node, _ throws(CacheError) in
            try await node.execute(CountingFlushCommand())
        }
        if let next = self.rerouted(results) { return try await next.clearCounting() + Self.total(results) }
        try Self.throwIfFailed(results, operation: "clear")
        return Self.total(results)
    }

    func clear(keyPrefix prefix: String) async throws -> Int {
        // The near cache keeps other prefixes too; emptying it all is simpler than scanning it, and only costs misses.
        self.nearCache?.removeAll()
        defer { self.nearCache?.removeAll() }
        let pattern = ScanCommand.pattern(forKeysOf: prefix)
        let results = await self.fanOut(self.router.everyNode, traced: "clear") { node, _ throws(CacheError) in
            try await Self.unlinkKeys(matching: pattern, on: node)
        }
        // A node a reload removed: the new topology is scanned again (nodes already done find nothing left).
        if let next = self.rerouted(results) { return try await next.clear(keyPrefix: prefix) + Self.total(results) }
        try Self.throwIfFailed(results, operation: "clear(scope: .keyPrefix)")
        return Self.total(results)
    }

    /// Removes the keys that match `pattern` on one node: `SCAN` batches of about a thousand keys, each unlinked
    /// (`UNLINK`, freed in the background) before the next `SCAN`, so the server serves other clients between
    /// batches. Returns how many keys were removed (a key `SCAN` returns twice is counted once).
    static func unlinkKeys(matching pattern: String, on node: CacheNodeClient) async throws(CacheError) -> Int {
        var cursor = "0"
        var removed = 0
        repeat {
            let batch = try await node.execute(ScanCommand(cursor: cursor, pattern: pattern, count: 1000))
            if !batch.keys.isEmpty {
                removed += try await node.execute(DeleteManyCommand(keys: batch.keys, selection: .all(batch.keys.count)))
            }
            cursor = batch.cursor
        } while cursor != "0"
        return removed
    }

    /// The sum of the nodes' counts that succeeded.
    static func total(_ results: [NodeResult<Int>]) -> Int {
        results.reduce(0) { sum, result in
            if case .success(let count) = result.result { return sum + count }
            return sum
        }
    }

    /// Throws the failure of a call to every node: the node's error when one failed, else a
    /// ``CacheError/Code/partialFailure`` naming the failed nodes.
    static func throwIfFailed<Value>(_ results: [NodeResult<Value>], operation: String) throws(CacheError) {
        let failed = results.compactMap { result -> CacheError? in
            if case .failure(let error) = result.result { return error }
            return nil
        }
        if failed.count == 1 { throw failed[0] }
        if failed.count > 1 {
            throw CacheError(
                .partialFailure,
                "\(operation) failed on \(failed.count) node(s): \(failed.compactMap(\.node).joined(separator: ", "))",
                failures: failed.map { CacheNodeFailure(node: $0.node ?? "?", keys: [], error: $0) }
            )
        }
    }

    func nodeStatus() async -> [CacheNodeStatus] {
        let tracked = self.nearCache != nil
        let results = await self.fanOut(self.router.everyNode) { node, _ throws(CacheError) -> (Duration, Int, String?) in
            let clock = ContinuousClock()
            let start = clock.now
            let keys = try await node.execute(StatusCommand())
            let latency = clock.now - start
            return (latency, keys, tracked ? try await node.execute(TrackingInfoCommand()) : nil)
        }
        let entries = self.nearCache?.entriesByNode()
        return zip(self.nodes, results).enumerated().map { index, element in
            let (node, result) = element
            var status = node.status(weight: self.ring.nodes[index].weight)
            status.nearCacheEntries = entries.map { $0[node.nearCacheID, default: 0] }
            switch result.result {
            case .success(let (latency, keys, tracking)):
                status.latency = latency
                status.keyCount = keys
                status.tracking = tracking
            case .failure(let error):
                status.error = error
            }
            return status
        }
    }

    func recordPoolMetrics() {
        for node in self.nodes {
            node.recordPoolMetrics()
        }
        if let nearCache = self.nearCache { nearCache.metrics.record(nearCache.statistics) }
    }

    /// What a many-key call got back: each answering node's keys and reply, the keys of nodes whose failure the
    /// miss policy absorbed, and the failed nodes.
    struct ManyKeysResult<Reply> {
        var replies: [(selection: CacheKeySelection, reply: Reply)] = []
        var absorbed: [CacheKeySelection] = []
        var failures: [CacheBackendFailure] = []
    }

    /// Runs one request per node for a many-key call, every node at once, and sorts the outcomes. When a node
    /// failed because a reload removed it, the whole call is sent again through the new topology.
    ///
    /// - Parameters:
    ///   - operation: The call's name, for the absorbed-failure metric.
    ///   - count: How many keys the call has.
    ///   - nodeIndex: Places the key at a position on a ring.
    ///   - writtenKey: For a call that writes or deletes, the stored key at a position (for the eject journal).
    ///   - request: Sends one node's part.
    func manyKeys<Reply: Sendable>(
        _ operation: String,
        count: Int,
        nodeIndex: (HashRing, Int) -> Int,
        writtenKey: ((Int) -> String)? = nil,
        _ request: @escaping @Sendable (CacheNodeClient, CacheKeySelection) async throws(CacheError) -> Reply
    ) async throws(CacheError) -> ManyKeysResult<Reply> {
        let groups = try self.router.group(count: count, nodeIndex: nodeIndex, writtenKey: writtenKey)
        let results = await self.fanOut(groups, traced: operation, request)
        if let next = self.rerouted(results) {
            return try await next.manyKeys(operation, count: count, nodeIndex: nodeIndex, writtenKey: writtenKey, request)
        }
        var outcome = ManyKeysResult<Reply>()
        outcome.replies.reserveCapacity(results.count)
        for (group, result) in zip(groups, results) {
            switch result.result {
            case .success(let reply):
                outcome.replies.append((group.selection, reply))
            case .failure(let error) where self.policy == .miss && CacheNodeHealth.isNodeFailure(error):
                self.recordAbsorbed(error, operation: operation)
                outcome.absorbed.append(group.selection)
            case .failure(let error):
                outcome.failures.append((self.nodes[group.node].name, group.selection.positions, error))
            }
        }
        return outcome
    }

    /// One node's outcome in a fan-out.
    struct NodeResult<Value: Sendable>: Sendable {
        let node: CacheNodeClient
        let result: Result<Value, CacheError>
    }

    /// Runs `request` once per group, every node at once (the only task group of the many-key calls), and returns
    /// the outcomes in the order of `groups`. Records each node's success or failure for the failure policy.
    ///
    /// With tracing on and `operation` given, each node's request is a child span of the current call's span, named
    /// `operation`, with the node's attributes and its key count (for groups with keys).
    func fanOut<Value: Sendable>(
        _ groups: [CacheRingRouter.Group],
        traced operation: String? = nil,
        _ request: @escaping @Sendable (CacheNodeClient, CacheKeySelection) async throws(CacheError) -> Value
    ) async -> [NodeResult<Value>] {
        @Sendable func run(_ group: CacheRingRouter.Group) async -> NodeResult<Value> {
            let node = self.nodes[group.node]
            #if Tracing
                let span = operation.flatMap { operation in
                    self.tracer?.startNodeSpan(operation, node: node, keyCount: group.selection.count > 0 ? group.selection.count : nil)
                }
                defer { span?.end() }
            #endif
            do throws(CacheError) {
                let value = try await request(node, group.selection)
                self.recordSuccess(node)
                return NodeResult(node: node, result: .success(value))
            } catch {
                self.recordFailure(node, error)
                #if Tracing
                    if let span { CacheTracer.record(error, on: span) }
                #endif
                return NodeResult(node: node, result: .failure(error))
            }
        }
        #if Tracing
            if operation != nil, self.tracer != nil { CacheTracer.annotateCurrent(nodes: groups.map { self.nodes[$0.node].name }) }
        #endif
        if groups.count == 1 {
            return [await run(groups[0])]
        }
        return await withTaskGroup(of: (Int, NodeResult<Value>).self) { taskGroup in
            for (index, group) in groups.enumerated() {
                taskGroup.addTask { (index, await run(group)) }
            }
            var results = [NodeResult<Value>?](repeating: nil, count: groups.count)
            for await (index, result) in taskGroup { results[index] = result }
            return results.map { $0! }
        }
    }
}

extension RedisBackend {
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
}

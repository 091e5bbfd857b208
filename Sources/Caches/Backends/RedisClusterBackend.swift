import CacheRing
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import RESP
import Synchronization

/// A Redis Cluster (or Valkey Cluster) behind the same calls as the ring: each key goes to the primary that serves
/// its slot (``ClusterSlot``), and many-key calls send one request per slot, all at once (`getMany`: one `GET` per
/// key, each node's in one flush; see ``CacheConfiguration/Cluster/ManyKeyReads``).
///
/// The slot map comes from `CLUSTER SHARDS` (falling back to `CLUSTER SLOTS`), asked of the seed nodes and then of
/// the known primaries. A `MOVED` reply refreshes it (one refresh at a time, shared by the callers that need it, and
/// at most one per ``minimumRefreshInterval``) and resends the command to the node it names; an `ASK` reply resends
/// it with `ASKING` to the target without touching the map; `TRYAGAIN` and `CLUSTERDOWN` are retried with a growing
/// pause until the command timeout, then fail naming the slot and the node. Each primary has a pool, made when the
/// map first names it and closed when a refresh no longer does.
final class RedisClusterBackend: CacheBackend {
    /// How many `MOVED` and `ASK` redirections one call follows before it fails (a map that keeps changing under it);
    /// `TRYAGAIN` and `CLUSTERDOWN` are retried until the command timeout instead.
    static let maximumRedirections = 5
    /// The least time between two refreshes of the map.
    static let minimumRefreshInterval: Duration = .milliseconds(100)

    let configuration: CacheConfiguration
    let logger: Logger
    let tls: CacheTLSContext?
    private let state = NIOLockedValueBox(State())
    /// The backend a reload swapped in for this one: calls that reach this one's closed pools are sent there.
    fileprivate let successor = NIOLockedValueBox<RedisClusterBackend?>(nil)
    /// Whether `getMany` reads a node's keys of several slots in one request (``GetManyCommand/Form/gets`` or
    /// ``GetManyCommand/Form/script``): from ``CacheConfiguration/Cluster/manyKeyReads``; turned off when a node
    /// refuses the script, and on again by the periodic refresh.
    private let crossSlotRequests: Synchronization.Atomic<Bool>
    /// Whether a refusal of the script was logged at `notice` (later ones are logged at `debug`).
    private let crossSlotRefusalLogged = Synchronization.Atomic<Bool>(false)

    private struct State {
        var topology: ClusterTopology?
        /// The client of each shard's primary (same index as the topology's shards), nil when it has none.
        var primaries: [CacheNodeClient?] = []
        /// Every client made, by `host:port`; a redirection to a node the map does not know yet gets one too.
        var clients: [String: CacheNodeClient] = [:]
        /// Slots a `MOVED` reply gave to another node since the map was read (until the next map replaces them).
        var moved: [Int: CacheNodeClient] = [:]
        /// Each shard's replicas (same index as the topology's shards); empty unless reads go to replicas.
        var replicas: [[CacheNodeClient]] = []
        /// Replicas that failed since the map was read: reads skip them until a map lists them again.
        var failedReplicas: Set<String> = []
        /// Turns the replicas of a shard in order.
        var nextReplica: UInt = 0
        /// The periodic refresh (``CacheConfiguration/Cluster/refreshInterval``).
        var periodicRefresh: Task<Void, Never>?
        var lastRefresh: ContinuousClock.Instant?
        var refresh: Task<Result<Void, CacheError>, Never>?
        /// Whether a refresh is scheduled for the end of the current ``minimumRefreshInterval``.
        var refreshScheduled = false
        var closed = false

        /// The primary serving `slot`: the one a `MOVED` named, else the map's.
        func owner(of slot: Int) -> CacheNodeClient? {
            if let moved = self.moved[slot] { return moved }
            return self.topology?.shardIndex(forSlot: slot).flatMap { self.primaries[$0] }
        }

        /// The next replica of `shard` that has not failed since the map was read, or nil.
        mutating func replica(ofShard shard: Int) -> CacheNodeClient? {
            guard shard < self.replicas.count else { return nil }
            let candidates = self.replicas[shard]
            for _ in 0..<candidates.count {
                self.nextReplica &+= 1
                let candidate = candidates[Int(self.nextReplica % UInt(candidates.count))]
                if !self.failedReplicas.contains(candidate.name) { return candidate }
            }
            return nil
        }

        /// A replica to read `slot` from, or nil (read from the primary): none answers, or a `MOVED` moved the slot.
        mutating func replica(of slot: Int) -> CacheNodeClient? {
            if !self.moved.isEmpty, self.moved[slot] != nil { return nil }
            guard let shard = self.topology?.shardIndex(forSlot: slot) else { return nil }
            return self.replica(ofShard: shard)
        }
    }

    init(configuration: CacheConfiguration, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        self.tls = try configuration.tls.map { try CacheTLSContext(configuration: $0) }
        self.crossSlotRequests = Synchronization.Atomic(configuration.cluster.manyKeyReads != .mget)
    }

    // MARK: Lifecycle

    /// Reads the slot map from the first seed that answers and opens a pool per primary.
    ///
    /// - Throws: ``CacheError`` with ``CacheError/Code/connectFailed`` naming every seed's error when none answers.
    func connect() async throws {
        if let error = await self.refreshNow() {
            await self.disconnect()
            throw error
        }
        self.startPeriodicRefresh()
    }

    /// Refreshes the map every ``CacheConfiguration/Cluster/refreshInterval`` until ``disconnect()``.
    private func startPeriodicRefresh() {
        guard let interval = self.configuration.cluster.refreshInterval else { return }
        self.state.withLockedValue { state in
            guard !state.closed, state.periodicRefresh == nil else { return }
            state.periodicRefresh = Task {
                while true {
                    do { try await Task.sleep(for: interval) } catch { return }
                    _ = await self.sharedRefresh(force: true)
                    // A node that refused getMany's script may run it now (say, after a rolling upgrade).
                    if self.configuration.cluster.manyKeyReads == .script {
                        self.crossSlotRequests.store(true, ordering: .relaxed)
                    }
                }
            }
        }
    }

    func disconnect() async {
        let (clients, refresh, periodic) = self.state.withLockedValue { state in
            state.closed = true
            defer {
                state.clients = [:]
                state.periodicRefresh = nil
            }
            return (Array(state.clients.values), state.refresh, state.periodicRefresh)
        }
        refresh?.cancel()
        periodic?.cancel()
        await withTaskGroup(of: Void.self) { group in
            for client in clients {
                group.addTask { await client.shutdown(gracePeriod: self.configuration.pool.shutdownGracePeriod) }
            }
        }
    }

    /// A reload builds a new backend over the new configuration (seeds, pools, timeouts, TLS, cluster settings),
    /// reads its map before the swap and closes the old one after it.
    func prepareReload(to configuration: CacheConfiguration) throws -> (any CacheBackendReload)? {
        RedisClusterReload(old: self, new: try RedisClusterBackend(configuration: configuration, logger: self.logger))
    }

    /// Starts a backend made by a reload: reads the map (a failure is logged, and the next call that needs the map
    /// tries again) and starts the periodic refresh.
    fileprivate func startForReload() async {
        if let error = await self.refreshNow() {
            self.logger.warning("the reloaded cluster configuration could not read the slot map yet", metadata: ["cache.error": "\(error.message)"])
        }
        self.startPeriodicRefresh()
    }

    // MARK: The slot map

    /// Refreshes the map, or waits for the refresh already running; a map read less than
    /// ``minimumRefreshInterval`` ago is refreshed once that interval is over, in the background.
    func refresh() async {
        _ = await self.sharedRefresh(force: false)
    }

    /// A `MOVED` reply: its slot goes to the node it names at once, and the whole map is refreshed (see
    /// ``refresh()``).
    private func noteMoved(slot: Int, to node: CacheNodeClient) async {
        self.state.withLockedValue { $0.moved[slot] = node }
        await self.refresh()
    }

    /// Refreshes the map now (or joins the refresh running) and returns its error.
    private func refreshNow() async -> CacheError? {
        if case .failure(let error) = await self.sharedRefresh(force: true) { return error }
        return nil
    }

    private func sharedRefresh(force: Bool) async -> Result<Void, CacheError> {
        let task = self.state.withLockedValue { state -> Task<Result<Void, CacheError>, Never>? in
            // A disconnected (or reloaded-away) backend opens nothing any more.
            if state.closed { return nil }
            if let running = state.refresh { return running }
            if !force, let last = state.lastRefresh, case let age = ContinuousClock.now - last, age < Self.minimumRefreshInterval {
                if !state.refreshScheduled {
                    state.refreshScheduled = true
                    Task {
                        try? await Task.sleep(for: Self.minimumRefreshInterval - age)
                        self.state.withLockedValue { $0.refreshScheduled = false }
                        _ = await self.sharedRefresh(force: true)
                    }
                }
                return nil
            }
            let task = Task { await self.loadTopology() }
            state.refresh = task
            return task
        }
        guard let task else { return .success(()) }
        return await task.value
    }

    /// Asks the known primaries, then the seeds, for the map, and installs the first answer.
    private func loadTopology() async -> Result<Void, CacheError> {
        defer { self.state.withLockedValue { $0.refresh = nil } }
        // Primaries that answered last first: a dead one would hold the refresh up for its timeouts.
        let known = self.state.withLockedValue { $0.primaries.compactMap { $0 } }
            .sorted { $0.health.consecutiveFailures < $1.health.consecutiveFailures }
        let seeds = self.configuration.nodes.map { ClusterTopology.Endpoint(host: $0.host, port: $0.port) }
        var errors: [CacheError] = []
        for candidate in known.map({ ClusterTopology.Endpoint(host: $0.settings.host, port: $0.settings.port) }) + seeds {
            let client = self.client(for: candidate)
            do throws(CacheError) {
                let topology = try await self.readTopology(from: client)
                self.install(topology)
                return .success(())
            } catch {
                errors.append(error.with(node: client.name))
            }
        }
        let error = CacheError(
            .connectFailed,
            "no cluster node gave the slot map: "
                + errors.map { "\($0.node ?? "?"): \($0.message)" }.joined(separator: "; "),
            failures: errors.map { CacheNodeFailure(node: $0.node ?? "?", keys: [], error: $0) }
        )
        self.logger.info("cluster slot map refresh failed", metadata: ["cache.error": "\(error.message)"])
        return .failure(error)
    }

    /// `CLUSTER SHARDS`, or `CLUSTER SLOTS` where the server does not know it (before Redis 7).
    private func readTopology(from client: CacheNodeClient) async throws(CacheError) -> ClusterTopology {
        let topology: ClusterTopology
        do {
            topology = try ClusterTopology.parse(
                shards: try await client.execute(ClusterMapCommand(.shards)),
                tls: self.tls != nil,
                askedHost: client.settings.host
            )
        } catch  where error.code == .server && error.message.lowercased().contains("unknown subcommand") {
            topology = try ClusterTopology.parse(slots: try await client.execute(ClusterMapCommand(.slots)), askedHost: client.settings.host)
        }
        guard !topology.shards.isEmpty else {
            throw CacheError(.protocolViolation, "the node serves no slots: is it part of a cluster?", node: client.name)
        }
        return topology
    }

    /// Swaps in a new map: primaries get clients (opened as they are first used), clients of nodes the map no longer
    /// names are closed once their calls are done.
    private func install(_ topology: ClusterTopology) {
        let primaries = topology.shards.map { shard in shard.primary.map { self.client(for: $0) } }
        let replicas = self.readsFromReplicas ? topology.shards.map { shard in shard.replicas.map { self.client(for: $0) } } : []
        let retired = self.state.withLockedValue { state -> [CacheNodeClient] in
            guard !state.closed else { return [] }
            state.topology = topology
            state.primaries = primaries
            state.replicas = replicas
            state.failedReplicas = []
            state.moved = [:]
            state.lastRefresh = .now
            let keep = Set(primaries.compactMap { $0?.name } + replicas.joined().map(\.name))
            let retired = state.clients.filter { !keep.contains($0.key) }
            for name in retired.keys { state.clients[name] = nil }
            return Array(retired.values)
        }
        if !retired.isEmpty {
            self.logger.info("cluster nodes left the slot map", metadata: ["cache.nodes.removed": "\(retired.map(\.name))"])
            Task {
                for client in retired { await client.shutdown(gracePeriod: self.configuration.pool.shutdownGracePeriod) }
            }
        }
    }

    /// The client of a node; a new one starts its pool at once (a request waits for its first connection, bounded by
    /// the pool's wait timeout, and a node that cannot be reached keeps being retried).
    private func client(for endpoint: ClusterTopology.Endpoint) -> CacheNodeClient {
        let name = endpoint.description
        let (client, isNew) = self.state.withLockedValue { state -> (CacheNodeClient, Bool) in
            if let client = state.clients[name] { return (client, false) }
            let client = self.makeClient(for: endpoint)
            if !state.closed { state.clients[name] = client }
            return (client, true)
        }
        if isNew {
            Task {
                if let error = await client.start() {
                    client.logger.debug("cluster node unreachable", metadata: ["cache.error": "\(error.message)"])
                }
            }
        }
        return client
    }

    /// A new client of a node, not registered and not started (``CacheNodeClient/start()`` opens its pool).
    private func makeClient(for endpoint: ClusterTopology.Endpoint) -> CacheNodeClient {
        let seed = self.configuration.nodes.first
        let settings = CacheConnection.Settings(
            nodeName: endpoint.description,
            host: endpoint.host,
            port: endpoint.port,
            database: nil,
            username: seed?.username,
            password: seed?.password,
            clientName: self.configuration.clientName,
            connectTimeout: self.configuration.connectTimeout,
            commandTimeout: self.configuration.commandTimeout,
            tls: self.tls,
            tracking: nil,
            // Harmless on a primary, and a replica promoted later keeps answering.
            readOnly: self.readsFromReplicas
        )
        return CacheNodeClient(
            settings: settings,
            pool: self.configuration.pool,
            group: MultiThreadedEventLoopGroup.singleton,
            logger: self.logger
        )
    }

    /// The primary serving `slot`; refreshes the map once when it has none.
    private func primary(forSlot slot: Int) async throws(CacheError) -> CacheNodeClient {
        for attempt in 0..<2 {
            let found = self.state.withLockedValue { state in state.owner(of: slot) }
            if let found { return found }
            if attempt == 0 { await self.refresh() }
        }
        throw CacheError(.nodeUnavailable, "no cluster primary serves slot \(slot)")
    }

    // MARK: Sending

    /// Sends `command` to the primary of `slot`, following `MOVED` and `ASK` and waiting out `TRYAGAIN` and
    /// `CLUSTERDOWN` (see the type's documentation).
    func execute<Command: CacheCommand>(_ command: Command, slot: Int) async throws(CacheError) -> Command.Reply {
        try await self.execute(command, slot: slot, after: nil)
    }

    /// ``execute(_:slot:)``, or, given the error reply `node` already sent for the command (a pipeline's), the rest of
    /// it: following that redirection.
    private func execute<Command: CacheCommand>(
        _ command: Command,
        slot: Int,
        after earlier: (node: CacheNodeClient, error: CacheError)?
    ) async throws(CacheError) -> Command.Reply {
        var node: CacheNodeClient
        if let earlier {
            node = earlier.node
        } else {
            node = try await self.primary(forSlot: slot)
        }
        var pending = earlier?.error
        var asking = false
        var redirections = 0
        var pause = Duration.milliseconds(5)
        let deadline = ContinuousClock.now + self.configuration.commandTimeout
        while true {
            do throws(CacheError) {
                if let error = pending {
                    pending = nil
                    throw error
                }
                let reply = asking ? try await node.execute(AskingCommand(inner: command)) : try await node.execute(command)
                _ = node.health.recordSuccess()
                return reply
            } catch {
                guard let redirection = ClusterRedirection(error) else {
                    if let next = self.rerouted(after: error) {
                        return try await next.execute(command, slot: slot)
                    }
                    self.noteFailure(error, of: node)
                    throw error
                }
                if redirection != .tryAgain, redirection != .clusterDown { redirections += 1 }
                guard redirections <= Self.maximumRedirections else {
                    throw CacheError(
                        .server,
                        "slot \(slot) was redirected \(Self.maximumRedirections) times; last: \(error.message)",
                        node: node.name
                    )
                }
                asking = false
                switch redirection {
                case .moved(_, let endpoint):
                    node = self.client(for: self.resolve(endpoint, sentTo: node))
                    await self.noteMoved(slot: slot, to: node)
                case .ask(_, let endpoint):
                    node = self.client(for: self.resolve(endpoint, sentTo: node))
                    asking = true
                case .tryAgain, .clusterDown:
                    guard ContinuousClock.now + pause < deadline else {
                        throw CacheError(.server, "slot \(slot) is not served: \(error.message)", node: node.name)
                    }
                    do {
                        try await Task.sleep(for: pause)
                    } catch {
                        throw CacheError(.cancelled, "the call was cancelled while slot \(slot) was unavailable", node: node.name)
                    }
                    pause *= 2
                    if redirection == .clusterDown { await self.refresh() }
                    node = try await self.primary(forSlot: slot)
                }
            }
        }
    }

    /// The backend to resend a call to when it failed because a reload closed this backend's pools: a pool that
    /// is shut down (nothing was sent) or a connection that was closing or closed (as the ring does).
    private func rerouted(after error: CacheError) -> RedisClusterBackend? {
        guard error.code == .poolShutdown || error.code == .connectionClosed else { return nil }
        return self.successor.withLockedValue { $0 }
    }

    /// A node failure may be a failover: the node's replica serves its slots once the cluster promotes it, so the map
    /// is refreshed in the background.
    private func noteFailure(_ error: CacheError, of node: CacheNodeClient) {
        guard CacheNodeHealth.isNodeFailure(error) else { return }
        if node.health.recordFailure() == 1 {
            node.logger.info("cluster node failed", metadata: ["cache.error": "\(error.code): \(error.message)"])
        }
        Task { await self.refresh() }
    }

    /// A redirection's endpoint; a node that does not know its own address leaves the host out (`MOVED 1 :7000`),
    /// which means the host the command was sent to.
    private func resolve(_ endpoint: ClusterTopology.Endpoint, sentTo node: CacheNodeClient) -> ClusterTopology.Endpoint {
        endpoint.host.isEmpty ? .init(host: node.settings.host, port: endpoint.port) : endpoint
    }

    @inline(__always)
    func execute<Command: CacheCommand>(_ command: Command, forKey key: String) async throws(CacheError) -> Command.Reply {
        try await self.execute(command, slot: ClusterSlot.slot(forKey: key))
    }

    /// A read: from a replica of the key's shard when ``CacheConfiguration/Cluster/readFrom`` says so (falling back
    /// to the primary when the replica fails), else from the primary.
    private func read<Command: CacheCommand>(_ command: Command, forKey key: String) async throws(CacheError) -> Command.Reply {
        let slot = ClusterSlot.slot(forKey: key)
        guard self.readsFromReplicas, let replica = self.state.withLockedValue({ $0.replica(of: slot) }) else {
            return try await self.execute(command, slot: slot)
        }
        do {
            let reply = try await replica.execute(command)
            _ = replica.health.recordSuccess()
            return reply
        } catch {
            if ClusterRedirection(error) != nil {
                return try await self.execute(command, slot: slot, after: (replica, error))
            }
            guard CacheNodeHealth.isNodeFailure(error) else { throw error }
            self.noteReplicaFailure(error, of: replica)
            return try await self.execute(command, slot: slot)
        }
    }

    private var readsFromReplicas: Bool { self.configuration.cluster.readFrom == .replica }

    /// A replica that failed is skipped until the next map (which the failure starts) lists it again.
    private func noteReplicaFailure(_ error: CacheError, of replica: CacheNodeClient) {
        self.state.withLockedValue { _ = $0.failedReplicas.insert(replica.name) }
        self.noteFailure(error, of: replica)
    }

    // MARK: Single keys

    func get(_ key: String) async throws -> ByteBuffer? {
        try await self.read(GetCommand(storedKey: key), forKey: key)
    }

    func set(_ key: String, value: ByteBuffer, ttl: Int?) async throws {
        try await self.execute(SetCommand(storedKey: key, value: value, ttl: ttl), forKey: key)
    }

    func add(_ key: String, value: ByteBuffer, ttl: Int?) async throws -> Bool {
        try await self.execute(AddCommand(storedKey: key, value: value, ttl: ttl), forKey: key)
    }

    func delete(_ key: String) async throws {
        try await self.execute(DeleteCommand(storedKey: key), forKey: key)
    }

    /// The lock key goes to its own slot (a cluster refuses a key on any other node).
    func lock(_ lockKey: String, nodeOf key: String, token: String, milliseconds: Int) async throws -> Bool {
        try await self.execute(LockCommand(lockKey: lockKey, token: token, milliseconds: milliseconds), forKey: lockKey)
    }

    func unlock(_ lockKey: String, nodeOf key: String, token: String) async throws {
        _ = try await self.execute(UnlockCommand(lockKey: lockKey, token: token), forKey: lockKey)
    }

    func touch(_ key: String, ttl: Int?) async throws -> Bool {
        try await self.execute(ExpireCommand(storedKey: key, ttl: ttl), forKey: key)
    }

    func remainingTTL(_ key: String) async throws -> Int {
        try await self.read(TTLCommand(storedKey: key), forKey: key)
    }

    func getWithRemainingTTL(_ key: String) async throws -> (value: ByteBuffer?, milliseconds: Int) {
        try await self.read(GetWithTTLCommand(storedKey: key), forKey: key)
    }

    func increment(_ key: String, by delta: Int) async throws -> Int {
        try await self.execute(IncrementCommand(storedKey: key, delta: delta), forKey: key)
    }

    func increment(_ key: String, byFloat delta: Double) async throws -> Double {
        try await self.execute(IncrementFloatCommand(storedKey: key, delta: delta), forKey: key)
    }

    func nodeName(forKey key: String) -> String? {
        let slot = ClusterSlot.slot(forKey: key)
        return self.state.withLockedValue { state in state.owner(of: slot)?.name }
    }

    // MARK: Many keys

    /// One slot's keys of a many-key call, as positions in the call.
    private struct SlotGroup: Sendable {
        let slot: Int
        let selection: CacheKeySelection
    }

    /// Groups the call's positions by slot (in the order the slots first appear).
    private static func slotGroups(count: Int, key: (Int) -> String) -> [SlotGroup] {
        var order: [Int] = []
        var positions: [Int: [Int]] = [:]
        for position in 0..<count {
            let slot = ClusterSlot.slot(forKey: key(position))
            if positions[slot] == nil { order.append(slot) }
            positions[slot, default: []].append(position)
        }
        return order.map { SlotGroup(slot: $0, selection: .some(positions[$0]!)) }
    }

    /// A many-key call's positions grouped by node, in a few flat arrays; each node's keys are grouped by slot only
    /// when they go as one request per slot.
    private struct SlotPlan: Sendable {
        /// The call's positions: each batch's together, ascending within a batch.
        var positions: [Int] = []
        /// The slot of each of the call's positions.
        var slots: [UInt16] = []
        /// Each node's range of ``positions``; a nil node: no primary is known for those slots. A replica's batch (a
        /// read from replicas) falls back to the primaries when the replica fails.
        var batches: [(node: CacheNodeClient?, range: Range<Int>, replica: Bool)] = []

        /// The positions of a batch, in one selection.
        func selection(ofBatch batch: Int) -> CacheKeySelection {
            .some(self.positions[self.batches[batch].range])
        }

        /// The slot of a batch's first key.
        func firstSlot(ofBatch batch: Int) -> Int {
            Int(self.slots[self.positions[self.batches[batch].range.lowerBound]])
        }

        /// Whether a batch's keys lie in more than one slot.
        func spansSlots(_ batch: Int) -> Bool {
            let first = self.slots[self.positions[self.batches[batch].range.lowerBound]]
            return self.positions[self.batches[batch].range].contains { self.slots[$0] != first }
        }

        /// A batch's keys grouped by slot, each slot's positions ascending.
        func groups(ofBatch batch: Int) -> [SlotGroup] {
            guard self.spansSlots(batch) else {
                return [SlotGroup(slot: self.firstSlot(ofBatch: batch), selection: self.selection(ofBatch: batch))]
            }
            // One sort key per position: slot (high 32 bits), position (low 32 bits).
            var order = self.positions[self.batches[batch].range].map { UInt64(self.slots[$0]) << 32 | UInt64($0) }
            order.sort()
            let sorted = order.map { Int($0 & 0xFFFF_FFFF) }
            var groups: [SlotGroup] = []
            var start = 0
            while start < order.count {
                var end = start + 1
                while end < order.count, order[end] >> 32 == order[start] >> 32 { end += 1 }
                groups.append(SlotGroup(slot: Int(order[start] >> 32), selection: .some(sorted[start..<end])))
                start = end
            }
            return groups
        }
    }

    /// Groups a call's keys by the node that serves their slots (`slots`: each position's), from the map as one lock
    /// read it; with `reads` and ``CacheConfiguration/Cluster/readFrom`` `replica`, by a replica of each shard where
    /// one answers.
    private func plan(slots: [UInt16], reads: Bool) -> SlotPlan {
        let count = slots.count
        precondition(count < 1 << 32, "a many-key call of 2^32 keys or more")
        var plan = SlotPlan()
        plan.slots = slots
        var nodes: [CacheNodeClient?] = []
        var fromReplica: [Bool] = []
        // The map, read under the lock; the keys are placed after it is released.
        let (topology, primaries, moved) = self.state.withLockedValue { state in
            nodes = state.primaries
            fromReplica = [Bool](repeating: false, count: state.primaries.count)
            if reads, self.readsFromReplicas {
                for shard in state.primaries.indices {
                    if let replica = state.replica(ofShard: shard) {
                        nodes[shard] = replica
                        fromReplica[shard] = true
                    }
                }
            }
            return (state.topology, state.primaries, state.moved)
        }
        // Ordinals: each shard's index, then the nodes of `moved` slots, and last "no primary known".
        let shardCount = primaries.count
        var ordinals = [Int](repeating: 0, count: count)
        var unknown: Int?
        for position in 0..<count {
            let slot = Int(slots[position])
            var ordinal: Int
            if !moved.isEmpty, let node = moved[slot] {
                if let known = nodes[shardCount...].firstIndex(where: { $0 === node }) {
                    ordinal = known
                } else {
                    ordinal = nodes.count
                    nodes.append(node)
                    fromReplica.append(false)
                }
            } else if let shard = topology?.shardIndex(forSlot: slot), primaries[shard] != nil {
                ordinal = shard
            } else {
                if unknown == nil {
                    unknown = nodes.count
                    nodes.append(nil)
                    fromReplica.append(false)
                }
                ordinal = unknown!
            }
            ordinals[position] = ordinal
        }
        // A counting sort by node: each node's positions stay ascending.
        var starts = [Int](repeating: 0, count: nodes.count + 1)
        for ordinal in ordinals { starts[ordinal + 1] += 1 }
        for ordinal in nodes.indices { starts[ordinal + 1] += starts[ordinal] }
        var next = starts
        plan.positions = [Int](repeating: 0, count: count)
        for position in 0..<count {
            plan.positions[next[ordinals[position]]] = position
            next[ordinals[position]] += 1
        }
        for ordinal in nodes.indices where starts[ordinal] < starts[ordinal + 1] {
            plan.batches.append((nodes[ordinal], starts[ordinal]..<starts[ordinal + 1], fromReplica[ordinal]))
        }
        return plan
    }

    /// What a node answered to its part of a many-key call.
    private enum NodeReplies<Command: CacheCommand & Sendable>: Sendable where Command.Reply: Sendable {
        /// One reply per request, each request covering one slot group.
        case bySlot([SlotGroup], [Command], RESPReplies)
        /// The reply to one request that covered all the node's slots.
        case whole(Command, Command.Reply)
    }

    /// Sends a many-key call as one request per slot: each node's requests in one pipeline (one flush), all nodes at
    /// once, and hands every slot's decoded reply to `consume`, with its positions. A request its node redirects
    /// or asks to retry goes on through ``execute(_:slot:)`` from that reply, as does every request for a slot no
    /// primary is known for (it refreshes the map). Failures are gathered per node, as on the ring.
    ///
    /// Given `crossSlot`, a node serving several of the call's slots is first sent the one request it makes of the
    /// node's positions (see ``GetManyCommand/Form``: a `GET` per key, or a script), and its keys are grouped by slot
    /// only if it answers with an error reply: then they go by the pipeline above, and an error that says the server
    /// runs no such script turns `crossSlot` off for this backend.
    private func manyBySlot<Command: CacheManyKeyCommand & Sendable>(
        slots: [UInt16],
        reads: Bool = false,
        crossSlot: (@Sendable (CacheKeySelection) -> Command)? = nil,
        _ makeCommand: @escaping @Sendable (CacheKeySelection) -> Command,
        consume: (CacheKeySelection, Command.Reply) throws -> Void
    ) async throws -> [CacheBackendFailure] where Command.Reply: Sendable {
        let plan = self.plan(slots: slots, reads: reads)
        let crossSlot = self.crossSlotRequests.load(ordering: .relaxed) ? crossSlot : nil
        let sent = await withTaskGroup(of: (Int, Result<NodeReplies<Command>, CacheError>).self) { taskGroup in
            for (batch, (node, _, replica)) in plan.batches.enumerated() {
                guard let node else { continue }
                taskGroup.addTask {
                    do throws(CacheError) {
                        if let crossSlot, plan.spansSlots(batch) {
                            let command = crossSlot(plan.selection(ofBatch: batch))
                            do throws(CacheError) {
                                let value = try await node.execute(command)
                                _ = node.health.recordSuccess()
                                return (batch, .success(.whole(command, value)))
                            } catch  where Self.isReplyError(error) {
                                // The node's slots go by the pipeline below.
                                self.noteCrossSlotRefusal(error, by: node)
                            }
                        }
                        let groups = plan.groups(ofBatch: batch)
                        let commands = groups.map { makeCommand($0.selection) }
                        let replies = commands.reduce(0) { $0 + $1.replyCount }
                        let received = try await node.execute(batchOf: commands.count, commands[0].name, replies: replies) { encoder in
                            for command in commands { command.encode(into: &encoder) }
                        }
                        _ = node.health.recordSuccess()
                        return (batch, .success(.bySlot(groups, commands, received)))
                    } catch {
                        if replica, CacheNodeHealth.isNodeFailure(error) {
                            self.noteReplicaFailure(error, of: node)
                        } else {
                            self.noteFailure(error, of: node)
                        }
                        return (batch, .failure(error))
                    }
                }
            }
            var sent = [Result<NodeReplies<Command>, CacheError>?](repeating: nil, count: plan.batches.count)
            for await (batch, result) in taskGroup { sent[batch] = result }
            return sent
        }
        var failed: [String: (positions: [Int], error: CacheError)] = [:]
        func fail(_ selection: CacheKeySelection, _ error: CacheError, slot: Int) {
            let node = error.node ?? self.nodeName(ofSlot: slot)
            failed[node, default: ([], error)].positions += selection.positions
        }
        // Requests that go on alone: redirected ones with the reply that redirected them, and those of unknown slots.
        var alone: [(group: SlotGroup, earlier: (node: CacheNodeClient, error: CacheError)?)] = []
        for (batch, (node, _, replica)) in plan.batches.enumerated() {
            guard let node, let result = sent[batch] else {
                alone += plan.groups(ofBatch: batch).map { ($0, nil) }
                continue
            }
            switch result {
            case .failure(let error) where replica && CacheNodeHealth.isNodeFailure(error):
                // The replica failed: its slots are read from their primaries.
                alone += plan.groups(ofBatch: batch).map { ($0, nil) }
            case .failure(let error) where self.rerouted(after: error) != nil:
                // A reload closed this backend: each request goes on alone, to the new one.
                alone += plan.groups(ofBatch: batch).map { ($0, nil) }
            case .failure(let error):
                fail(plan.selection(ofBatch: batch), error, slot: plan.firstSlot(ofBatch: batch))
            case .success(.whole(let command, let value)):
                // `execute` counted its hits and misses.
                try consume(command.selection, value)
            case .success(.bySlot(let groups, let commands, let replies)):
                var next = 0
                for (group, command) in zip(groups, commands) {
                    let selection = command.selection
                    // A request of several commands (`MULTI` … `EXEC`) answers with its first error reply, else its last.
                    let count = command.replyCount
                    let batch = next..<(next + count)
                    let reply = replies[batch.first(where: { replies.isError(at: $0) }) ?? batch.upperBound - 1]
                    next += count
                    let value: Command.Reply
                    do throws(CacheError) {
                        if reply.isError {
                            let error = node.replyError(reply, command.name)
                            guard ClusterRedirection(error) == nil else {
                                alone.append((group, (node, error)))
                                continue
                            }
                            throw error
                        }
                        value = try command.decode(reply)
                    } catch {
                        fail(selection, error.with(node: node.name), slot: group.slot)
                        continue
                    }
                    if let lookups = command.lookups(in: value) {
                        node.metrics.recordLookups(hits: lookups.hits, misses: lookups.misses)
                    }
                    try consume(selection, value)
                }
            }
        }
        if !alone.isEmpty {
            let results = await withTaskGroup(of: (Int, Result<Command.Reply, CacheError>).self) { taskGroup in
                for (index, (group, earlier)) in alone.enumerated() {
                    taskGroup.addTask {
                        do throws(CacheError) {
                            let command = makeCommand(group.selection)
                            return (index, .success(try await self.execute(command, slot: group.slot, after: earlier)))
                        } catch {
                            return (index, .failure(error))
                        }
                    }
                }
                return await taskGroup.reduce(into: []) { $0.append($1) }
            }
            for (index, result) in results.sorted(by: { $0.0 < $1.0 }) {
                let group = alone[index].group
                switch result {
                case .success(let value): try consume(group.selection, value)
                case .failure(let error): fail(group.selection, error, slot: group.slot)
                }
            }
        }
        return failed.map { ($0.key, $0.value.positions.sorted(), $0.value.error.with(node: $0.key)) }
    }

    /// Whether an error is the server's reply (the request arrived and was refused), not a failure to reach it.
    private static func isReplyError(_ error: CacheError) -> Bool {
        error.code == .server || error.code == .wrongType || error.code == .notNumeric
    }

    /// A node refused a request over several of its slots. Most refusals concern the call (a key the node no longer
    /// serves, one of another type, the cluster down during a failover), and only that call falls back; one that says
    /// the server cannot run the script (no `EVAL` rights or an ACL that refuses `GET` inside it, `EVAL` renamed away,
    /// a server older than Redis 7, which cannot read the script's flags, or one that refuses undeclared keys) turns
    /// it off until the next periodic map refresh tries it again (a rolling upgrade ends).
    private func noteCrossSlotRefusal(_ error: CacheError, by node: CacheNodeClient) {
        // `GET`s are refused one key at a time (a key that moved, or holds another type), never as a form.
        guard self.configuration.cluster.manyKeyReads == .script else { return }
        let message = error.message
        let permanent = ["NOPERM", "ACL failure", "unknown command", "shebang", "compiling script", "undeclared"]
        guard permanent.contains(where: { message.contains($0) }) else { return }
        guard self.crossSlotRequests.exchange(false, ordering: .relaxed) else { return }
        let level: Logger.Level = self.crossSlotRefusalLogged.exchange(true, ordering: .relaxed) ? .debug : .notice
        node.logger.log(
            level: level,
            "the node cannot run getMany's script; getMany sends one MGET per slot until the next map refresh tries it again",
            metadata: ["cache.error": "\(message)"]
        )
    }

    private func nodeName(ofSlot slot: Int) -> String {
        self.state.withLockedValue { state in state.owner(of: slot)?.name } ?? "slot \(slot)"
    }

    /// How `getMany` reads a node's keys of several slots while ``crossSlotRequests`` is on.
    private var crossSlotForm: GetManyCommand.Form {
        self.configuration.cluster.manyKeyReads == .script ? .script : .gets
    }

    func getMany(_ keys: CacheKeys, _ body: (Int, ByteBuffer?) throws -> Void) async throws -> [CacheBackendFailure] {
        try await self.manyBySlot(
            slots: keys.slots(),
            reads: true,
            crossSlot: { [form = self.crossSlotForm] in GetManyCommand(keys: keys, selection: $0, form: form) }
        ) {
            GetManyCommand(keys: keys, selection: $0)
        } consume: {
            selection,
            values in
            try values.forEach { offset, bytes in try body(selection[offset], bytes) }
        }
    }

    func setMany(_ entries: [(key: String, value: ByteBuffer)], ttl: Int?) async throws -> [CacheBackendFailure] {
        // With a ttl each slot's keys are set in one MULTI … EXEC: atomic per slot.
        try await self.manyBySlot(slots: entries.map { UInt16(ClusterSlot.slot(forKey: $0.key)) }) {
            SetManyCommand(entries: entries, selection: $0, ttl: ttl)
        } consume: { _, _ in
        }
    }

    func deleteMany(_ keys: [String]) async throws -> [CacheBackendFailure] {
        try await self.manyBySlot(slots: keys.map { UInt16(ClusterSlot.slot(forKey: $0)) }) {
            DeleteManyCommand(keys: keys, selection: $0)
        } consume: { _, _ in
        }
    }

    // MARK: Every primary

    /// The primaries of the current map (each once).
    private var everyPrimary: [CacheNodeClient] {
        self.state.withLockedValue { state in
            var seen = Set<String>()
            return state.primaries.compactMap { $0 }.filter { seen.insert($0.name).inserted }
        }
    }

    /// Runs `request` on every primary at once; throws the failures as the ring does.
    private func onEveryPrimary<Value: Sendable>(
        _ operation: String,
        _ request: @escaping @Sendable (CacheNodeClient) async throws(CacheError) -> Value
    ) async throws(CacheError) -> [Value] {
        let primaries = self.everyPrimary
        guard !primaries.isEmpty else { throw CacheError(.nodeUnavailable, "the cluster map names no primary") }
        let results = await withTaskGroup(of: RedisBackend.NodeResult<Value>.self) { group in
            for node in primaries {
                group.addTask {
                    do throws(CacheError) {
                        return RedisBackend.NodeResult(node: node, result: .success(try await request(node)))
                    } catch {
                        return RedisBackend.NodeResult(node: node, result: .failure(error.with(node: node.name)))
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        try RedisBackend.throwIfFailed(results, operation: operation)
        return results.compactMap { try? $0.result.get() }
    }

    func clear() async throws {
        _ = try await self.onEveryPrimary("clear") { node throws(CacheError) in try await node.execute(FlushCommand()) }
    }

    func clearCounting() async throws -> Int {
        try await self.onEveryPrimary("clear") { node throws(CacheError) in try await node.execute(CountingFlushCommand()) }
            .reduce(0, +)
    }

    func clear(keyPrefix prefix: String) async throws -> Int {
        let pattern = ScanCommand.pattern(forKeysOf: prefix)
        return try await self.onEveryPrimary("clear(scope: .keyPrefix)") { node throws(CacheError) in
            try await Self.unlinkKeys(matching: pattern, on: node)
        }.reduce(0, +)
    }

    /// ``RedisBackend/unlinkKeys(matching:on:)`` for a cluster node: each `SCAN` batch is unlinked one slot at a time
    /// (a command's keys must share a slot).
    static func unlinkKeys(matching pattern: String, on node: CacheNodeClient) async throws(CacheError) -> Int {
        var cursor = "0"
        var removed = 0
        repeat {
            let batch = try await node.execute(ScanCommand(cursor: cursor, pattern: pattern, count: 1000))
            for group in Self.slotGroups(count: batch.keys.count, key: { batch.keys[$0] }) {
                removed += try await node.execute(DeleteManyCommand(keys: batch.keys, selection: group.selection))
            }
            cursor = batch.cursor
        } while cursor != "0"
        return removed
    }

    // MARK: Status

    func nodeStatus() async -> [CacheNodeStatus] {
        await self.refresh()
        // Every node of the map, with its role and its shard's slot count.
        let topology = self.state.withLockedValue { $0.topology }
        var nodes: [(endpoint: ClusterTopology.Endpoint, role: String, slots: Int)] = []
        for shard in topology?.shards ?? [] {
            let slots = shard.slots.reduce(0) { $0 + $1.count }
            if let primary = shard.primary { nodes.append((primary, "primary", slots)) }
            nodes += shard.replicas.map { ($0, "replica", slots) }
        }
        // Replicas that calls do not read from are asked through a client of their own, closed after the probe, so
        // that a health check leaves no pool open to them.
        let clients = nodes.map { node in
            node.role == "replica" && !self.readsFromReplicas
                ? (client: self.makeClient(for: node.endpoint), transient: true)
                : (client: self.client(for: node.endpoint), transient: false)
        }
        return await withTaskGroup(of: CacheNodeStatus.self) { group in
            for ((node, transient), (_, role, slots)) in zip(clients, nodes) {
                group.addTask {
                    var status = node.status(weight: 1)
                    status.clusterRole = role
                    status.clusterSlots = slots
                    do throws(CacheError) {
                        // The latency is the request's alone, not the connection a transient client opens first.
                        if transient, let error = await node.start() { throw error }
                        let start = ContinuousClock.now
                        status.keyCount = try await node.execute(StatusCommand())
                        status.latency = ContinuousClock.now - start
                    } catch {
                        status.error = error.with(node: node.name)
                    }
                    if transient { await node.shutdown(gracePeriod: .zero) }
                    return status
                }
            }
            return await group.reduce(into: []) { $0.append($1) }.sorted { $0.name < $1.name }
        }
    }

    func recordPoolMetrics() {
        for node in self.state.withLockedValue({ Array($0.clients.values) }) { node.recordPoolMetrics() }
    }

    /// The nodes the backend keeps a client (and a pool) for.
    var clientNames: [String] { self.state.withLockedValue { Array($0.clients.keys) } }
}

/// A reload of a cluster cache: the new backend reads its map before the swap, the old one is closed after it
/// (its in-flight calls finish first, bounded by the pool's grace period).
private struct RedisClusterReload: CacheBackendReload {
    let old: RedisClusterBackend
    let new: RedisClusterBackend

    var backend: any CacheBackend { self.new }

    var summary: Logger.Metadata {
        ["cache.cluster.seeds": "\(self.new.configuration.nodes.map { "\($0.host):\($0.port)" })"]
    }

    func replaces(_ backend: any CacheBackend) -> Bool {
        (backend as? RedisClusterBackend) === self.old
    }

    func start() async { await self.new.startForReload() }

    func abandon() async { await self.new.disconnect() }

    func retireOld() async {
        self.old.successor.withLockedValue { $0 = self.new }
        await self.old.disconnect()
    }
}

import Logging
import NIOCore
import Synchronization

// MARK: Reading

extension Cache {
    /// Reads a value.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - type: The type to decode the stored JSON as.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: The value, or nil when the key is missing, expired, or holds JSON `null`.
    /// - Throws: ``CacheError``; ``CacheError/Code/decodingFailed`` when the stored value is not JSON or not a `T`.
    public func get<T: Decodable>(_ key: String, as type: T.Type = T.self, version: CacheVersion? = nil) async throws -> T? {
        #if Tracing
            // The hottest call: without a tracer it is exactly `read`, with no closure between.
            if self.tracer != nil {
                return try await self.traced(.get) {
                    let value = try await self.read(key, as: T.self, version: version)
                    self.traceHit(value != nil)
                    return value
                }
            }
        #endif
        return try await self.read(key, as: T.self, version: version)
    }

    /// `get` without its span, for calls that read as part of their own work.
    @inline(__always)
    func read<T: Decodable>(_ key: String, as type: T.Type, version: CacheVersion?) async throws -> T? {
        let stored = self.makeKey(key, version: version)
        // A near-cache hit is answered here: no lock, no backend reference (a hit is the first thing the backend's
        // `get` would try, and every entry is dropped before the cache connects again).
        if let nearCache = self.nearCacheReference, self.connectedForNearHits.load(ordering: .acquiring),
            let bytes = nearCache._withUnsafeGuaranteedRef({ $0.value(for: stored) })
        {
            return try self.decode(T.self, from: bytes, key: key)
        }
        do {
            let bytes = try await self.backend().get(stored)
            return try self.decode(T.self, from: bytes, key: key)
        } catch let error as CacheError {
            throw error.with(key: key)
        }
    }

    /// Reads a value, or returns `defaultValue` when the key is missing, expired, or holds JSON `null`.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - defaultValue: What to return on a miss.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: The stored value or `defaultValue`.
    /// - Throws: ``CacheError``; ``CacheError/Code/decodingFailed`` when the stored value is not a `T`.
    public func get<T: Decodable>(_ key: String, default defaultValue: T, version: CacheVersion? = nil) async throws -> T {
        try await self.get(key, as: T.self, version: version) ?? defaultValue
    }

    /// Reads many values in one round trip per node (the nodes are asked concurrently).
    ///
    /// - Parameters:
    ///   - keys: The logical keys; duplicates are read once.
    ///   - type: The type to decode every value as.
    ///   - version: The version of every key; nil uses the cache's default.
    /// - Returns: Every requested key, mapped to its value or nil when missing.
    /// - Throws: ``CacheError``; when some nodes fail, ``CacheError/Code/partialFailure`` with one
    ///   ``CacheNodeFailure`` per failed node (use ``getManyPartial(_:as:version:)`` to keep the healthy part).
    public func getMany<T: Decodable>(_ keys: some Sequence<String>, as type: T.Type = T.self, version: CacheVersion? = nil) async throws -> [String:
        T?]
    {
        let logical = Array(keys)
        return try await self.traced(.getMany, keyCount: logical.count) {
            let result = try await self.readManyPartial(logical, as: type, version: version)
            if let error = result.error { throw error }
            return result.values
        }
    }

    /// Reads many values and reports failed nodes instead of throwing for them.
    ///
    /// The values from healthy nodes are returned; the keys of a node that failed are listed in
    /// ``CacheManyResult/failures`` and have no entry in ``CacheManyResult/values``.
    ///
    /// - Parameters:
    ///   - keys: The logical keys; duplicates are read once.
    ///   - type: The type to decode every value as.
    ///   - version: The version of every key; nil uses the cache's default.
    /// - Returns: The values read and the failures.
    /// - Throws: ``CacheError`` only for errors that concern the whole call (not connected, a value that does not
    ///   decode as `T`).
    public func getManyPartial<T: Decodable>(_ keys: some Sequence<String>, as type: T.Type = T.self, version: CacheVersion? = nil) async throws
        -> CacheManyResult<T>
    {
        let logical = Array(keys)
        return try await self.traced(.getManyPartial, keyCount: logical.count) {
            try await self.readManyPartial(logical, as: type, version: version)
        }
    }

    /// `getManyPartial` without its span.
    private func readManyPartial<T: Decodable>(_ logical: [String], as type: T.Type, version: CacheVersion?) async throws -> CacheManyResult<T> {
        guard !logical.isEmpty else { return CacheManyResult(values: [:], failures: []) }
        let backend = try self.backend()
        let stored = CacheKeys(head: self.keyHead(version: version), names: logical)
        // The common value types get a copy of the reading loop specialised for them, so decoding a key looks up no
        // generic metadata. The casts are between identical types.
        if T.self == String.self {
            return unsafeBitCast(try await self.readMany(logical, stored, from: backend, as: String.self), to: CacheManyResult<T>.self)
        }
        if T.self == JSONValue.self {
            return unsafeBitCast(try await self.readMany(logical, stored, from: backend, as: JSONValue.self), to: CacheManyResult<T>.self)
        }
        if T.self == Int.self {
            return unsafeBitCast(try await self.readMany(logical, stored, from: backend, as: Int.self), to: CacheManyResult<T>.self)
        }
        return try await self.readMany(logical, stored, from: backend, as: T.self)
    }

    /// Reads `stored` and decodes each value straight from its node's reply into the result. Duplicate keys are
    /// read twice and kept once: no set of seen keys is built for the usual call without duplicates.
    private func readMany<Value: Decodable>(
        _ logical: [String],
        _ stored: CacheKeys,
        from backend: any CacheBackend,
        as type: Value.Type
    ) async throws -> CacheManyResult<Value> {
        var values: [String: Value?] = Dictionary(minimumCapacity: logical.count)
        let failures: [CacheBackendFailure]
        do {
            failures = try await backend.getMany(stored) { index, bytes in
                let key = logical[index]
                values[key] = .some(try self.decode(Value.self, from: bytes, key: key))
            }
        } catch let error as CacheError {
            throw error.with(key: logical.count == 1 ? logical[0] : nil)
        }
        return CacheManyResult(values: values, failures: Self.nodeFailures(failures, keys: logical))
    }

    // MARK: Writing

    /// Stores a value.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - value: Any `Encodable` value; it is stored as the JSON Python's `json.dumps` would write.
    ///   - ttl: Whole seconds until the key expires; nil uses the cache's default ttl, else no expiry.
    ///   - version: The version; nil uses the cache's default.
    /// - Throws: ``CacheError``; ``CacheError/Code/invalidArgument`` for a ttl of zero or less and
    ///   ``CacheError/Code/encodingFailed`` for a value JSON cannot carry (NaN, infinity), both before any I/O.
    public func set<T: Encodable>(_ key: String, _ value: T, ttl: Int? = nil, version: CacheVersion? = nil) async throws {
        try await self.traced(.set) {
            let ttl = try self.makeTTL(ttl)
            let bytes = try self.encode(value, key: key)
            do {
                try await self.backend().set(self.makeKey(key, version: version), value: bytes, ttl: ttl)
            } catch let error as CacheError {
                throw error.with(key: key)
            }
        }
    }

    /// Stores a value with a ttl given as a `Duration` (rounded up to whole seconds).
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - value: Any `Encodable` value.
    ///   - ttl: How long until the key expires.
    ///   - version: The version; nil uses the cache's default.
    /// - Throws: ``CacheError``.
    public func set<T: Encodable>(_ key: String, _ value: T, ttl: Duration, version: CacheVersion? = nil) async throws {
        try await self.set(key, value, ttl: Self.seconds(ttl), version: version)
    }

    /// Stores a value only if the key is missing or expired.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - value: Any `Encodable` value.
    ///   - ttl: Whole seconds until the key expires; nil uses the cache's default ttl, else no expiry.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: True if the value was stored, false if the key already existed.
    /// - Throws: ``CacheError``.
    @discardableResult
    public func add<T: Encodable>(_ key: String, _ value: T, ttl: Int? = nil, version: CacheVersion? = nil) async throws -> Bool {
        try await self.traced(.add) {
            let ttl = try self.makeTTL(ttl)
            let bytes = try self.encode(value, key: key)
            do {
                return try await self.backend().add(self.makeKey(key, version: version), value: bytes, ttl: ttl)
            } catch let error as CacheError {
                throw error.with(key: key)
            }
        }
    }

    /// Stores a value only if the key is missing, with a ttl given as a `Duration` (rounded up to whole seconds).
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - value: Any `Encodable` value.
    ///   - ttl: How long until the key expires.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: True if the value was stored.
    /// - Throws: ``CacheError``.
    @discardableResult
    public func add<T: Encodable>(_ key: String, _ value: T, ttl: Duration, version: CacheVersion? = nil) async throws -> Bool {
        try await self.add(key, value, ttl: Self.seconds(ttl), version: version)
    }

    /// Reads a value; on a miss stores `defaultValue` and returns it.
    ///
    /// Not atomic, as in async-caches: two callers that miss at once both store (the last write wins; the value is
    /// already made, so there is nothing to share). A stored JSON `null` counts as a miss.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - defaultValue: The value to store on a miss.
    ///   - ttl: Whole seconds until a stored default expires; nil uses the cache's default ttl.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: The stored value, or `defaultValue`.
    /// - Throws: ``CacheError``.
    public func getOrSet<T: Codable>(_ key: String, default defaultValue: T, ttl: Int? = nil, version: CacheVersion? = nil) async throws -> T {
        try await self.traced(.getOrSet) {
            let ttl = try self.makeTTL(ttl)
            if let value = try await self.read(key, as: T.self, version: version) {
                self.traceHit(true)
                return value
            }
            self.traceHit(false)
            try await self.store(defaultValue, key: key, ttl: ttl, version: version)
            return defaultValue
        }
    }

    /// Reads a value; on a miss runs `make`, stores its result and returns it. `make` runs only on a miss.
    ///
    /// **Single flight** (a deliberate difference from async-caches): within this `Cache`, the calls that miss on
    /// the same stored key while a computation for it runs share that computation: `make` runs once, its value is
    /// stored once, and every caller receives it; an error `make` (or the store) throws reaches every caller. A
    /// caller that is cancelled stops waiting at once (it throws `CancellationError`) without cancelling the
    /// computation for the others; the computation, which runs in a task of its own, is cancelled only when no caller
    /// waits for it any more. Calls that read the key as different types do not share. Pass `singleFlight: false` for
    /// the seed's behaviour: every caller that misses computes and stores (the last write wins).
    ///
    /// Across processes, callers are coordinated only with `lock` (see ``CacheStampedeLock``): without it, each
    /// process computes once per miss.
    ///
    /// With `refreshAhead` (see ``CacheRefreshAhead``), a hit with little ttl left also starts one recomputation in
    /// the background, so a hot key is replaced before it expires; that hit reads the value and its remaining ttl in
    /// one round trip.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - type: The value's type.
    ///   - ttl: Whole seconds until a stored value expires; nil uses the cache's default ttl.
    ///   - version: The version; nil uses the cache's default.
    ///   - singleFlight: Whether concurrent misses on the key share one run of `make`. Default: true.
    ///   - lock: Opt-in: one caller across all processes computes while the others wait a bounded time for its
    ///     value (a lock key on the key's node). Default: nil, no lock.
    ///   - refreshAhead: Opt-in: refresh the value in the background when a hit finds less than this fraction of the
    ///     ttl left. Needs a ttl (the call's or the cache's default). Default: nil, no refresh ahead.
    ///   - make: Computes the value on a miss; its errors are rethrown as they are.
    /// - Returns: The stored or computed value.
    /// - Throws: ``CacheError``, what `make` throws, or `CancellationError` when the calling task is cancelled while
    ///   it waits for a shared computation.
    public func getOrSet<T: Codable & Sendable>(
        _ key: String,
        as type: T.Type = T.self,
        ttl: Int? = nil,
        version: CacheVersion? = nil,
        singleFlight: Bool = true,
        lock: CacheStampedeLock? = nil,
        refreshAhead: CacheRefreshAhead? = nil,
        _ make: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        try await self.traced(.getOrSet) {
            try await self.readOrCompute(
                key,
                as: T.self,
                ttl: ttl,
                version: version,
                singleFlight: singleFlight,
                lock: lock,
                refreshAhead: refreshAhead,
                make
            )
        }
    }

    /// The closure form of `getOrSet` without its span.
    private func readOrCompute<T: Codable & Sendable>(
        _ key: String,
        as type: T.Type,
        ttl: Int?,
        version: CacheVersion?,
        singleFlight: Bool,
        lock: CacheStampedeLock?,
        refreshAhead: CacheRefreshAhead?,
        _ make: @escaping @Sendable () async throws -> T
    ) async throws -> T {
        let ttl = try self.makeTTL(ttl)
        if let refreshAhead {
            if let value = try await self.readRefreshingAhead(
                key,
                as: T.self,
                ttl: ttl,
                version: version,
                lock: lock,
                refreshAhead: refreshAhead,
                make
            ) {
                self.traceHit(true)
                return value
            }
        } else if let value = try await self.read(key, as: T.self, version: version) {
            self.traceHit(true)
            return value
        }
        self.traceHit(false)
        let compute: @Sendable () async throws -> T = {
            if let lock {
                return try await self.computeUnderLock(key, as: T.self, ttl: ttl, version: version, lock: lock, make)
            }
            let value = try await make()
            try await self.store(value, key: key, ttl: ttl, version: version)
            return value
        }
        guard singleFlight else { return try await compute() }
        let flight = CacheSingleFlight.Key(storedKey: self.makeKey(key, version: version), type: ObjectIdentifier(T.self))
        #if Tracing
            // The flight outlives its first caller when that caller is cancelled: it must not annotate that caller's
            // span, which has ended by then.
            if self.tracer != nil {
                return try await self.singleFlight.value(for: flight) {
                    try await CacheTracer.$current.withValue(nil) { try await compute() }
                }
            }
        #endif
        return try await self.singleFlight.value(for: flight, compute)
    }

    /// The hit path of `getOrSet` with refresh-ahead: reads the value and its remaining ttl; when less than the
    /// fraction of `ttl` is left, starts the key's background refresh (unless one runs). Returns nil on a miss.
    private func readRefreshingAhead<T: Codable & Sendable>(
        _ key: String,
        as type: T.Type,
        ttl: Int?,
        version: CacheVersion?,
        lock: CacheStampedeLock?,
        refreshAhead: CacheRefreshAhead,
        _ make: @escaping @Sendable () async throws -> T
    ) async throws -> T? {
        let threshold = try refreshAhead.threshold(ttl: ttl, key: key)
        let stored = self.makeKey(key, version: version)
        let read: (value: ByteBuffer?, milliseconds: Int)
        do {
            read = try await self.backend().getWithRemainingTTL(stored)
        } catch let error as CacheError {
            throw error.with(key: key)
        }
        guard let value = try self.decode(T.self, from: read.value, key: key) else { return nil }
        // -1 (no expiry, written by a call without ttl) never refreshes.
        if read.milliseconds >= 0, Double(read.milliseconds) < threshold {
            self.refreshes.start(stored) { [self] in
                await self.refresh(key, storedKey: stored, ttl: ttl, version: version, lock: lock, make)
            }
        }
        return value
    }

    /// One background refresh: computes and stores the value (under the key's lock when `lock` is given, skipped
    /// when another process holds it). Errors are logged, never thrown: the current value stays until it expires.
    private func refresh<T: Codable & Sendable>(
        _ key: String,
        storedKey: String,
        ttl: Int?,
        version: CacheVersion?,
        lock: CacheStampedeLock?,
        _ make: @Sendable () async throws -> T
    ) async {
        var held: (backend: any CacheBackend, lockKey: String, token: String)?
        do {
            if let lock {
                let backend = try self.backend()
                let lockKey = CacheStampedeLock.lockKey(for: storedKey)
                let token = CacheStampedeLock.makeToken()
                guard try await backend.lock(lockKey, nodeOf: storedKey, token: token, milliseconds: lock.milliseconds) else {
                    self.logger.debug("refresh-ahead skipped: another process holds the lock", metadata: ["cache.key": "\(key)"])
                    return
                }
                held = (backend, lockKey, token)
            }
            let value = try await make()
            try Task.checkCancellation()
            try await self.store(value, key: key, ttl: ttl, version: version)
        } catch is CancellationError {
            // disconnect() cancelled it.
        } catch {
            self.logger.warning(
                "refresh-ahead failed; the current value is served until it expires",
                metadata: ["cache.key": "\(key)", "cache.error": "\(error)"]
            )
        }
        if let held {
            try? await held.backend.unlock(held.lockKey, nodeOf: storedKey, token: held.token)
        }
    }

    /// How many refresh-ahead recomputations run in the background.
    package var refreshingCount: Int {
        self.refreshes.count
    }

    /// The miss path with a ``CacheStampedeLock``: takes the lock and computes (unless the value arrived meanwhile),
    /// or polls the key and retries the lock until the wait runs out, then computes without it.
    private func computeUnderLock<T: Codable & Sendable>(
        _ key: String,
        as type: T.Type,
        ttl: Int?,
        version: CacheVersion?,
        lock: CacheStampedeLock,
        _ make: @Sendable () async throws -> T
    ) async throws -> T {
        let stored = self.makeKey(key, version: version)
        let lockKey = CacheStampedeLock.lockKey(for: stored)
        let token = CacheStampedeLock.makeToken()
        let backend = try self.backend()
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: lock.wait)
        var waited = false
        while true {
            let locked: Bool
            do {
                locked = try await backend.lock(lockKey, nodeOf: stored, token: token, milliseconds: lock.milliseconds)
            } catch let error as CacheError {
                throw error.with(key: key)
            }
            if locked {
                do {
                    // The holder that released the lock just before stored the value: no second computation.
                    if let value = try await self.read(key, as: T.self, version: version) {
                        try? await backend.unlock(lockKey, nodeOf: stored, token: token)
                        return value
                    }
                    let value = try await make()
                    try await self.store(value, key: key, ttl: ttl, version: version)
                    try? await backend.unlock(lockKey, nodeOf: stored, token: token)
                    return value
                } catch {
                    try? await backend.unlock(lockKey, nodeOf: stored, token: token)
                    throw error
                }
            }
            if clock.now >= deadline { break }
            if !waited {
                waited = true
                self.lockWaits.add(1, ordering: .relaxed)
            }
            try await Task.sleep(for: lock.pollInterval)
            if let value = try await self.read(key, as: T.self, version: version) {
                return value
            }
        }
        // The wait ran out: compute without the lock.
        let value = try await make()
        try await self.store(value, key: key, ttl: ttl, version: version)
        return value
    }

    /// How many shared `getOrSet` computations are running (each waited for by one caller or more).
    package var inFlightGetOrSetCount: Int {
        self.singleFlight.count
    }

    /// How many times a `getOrSet` caller found a key's stampede lock held by another holder and waited for it.
    package var lockWaitCount: Int {
        self.lockWaits.load(ordering: .relaxed)
    }

    /// How many callers wait for a shared `getOrSet` computation.
    package var getOrSetWaiterCount: Int {
        self.singleFlight.waiterCount
    }

    /// Stores the value `getOrSet` made (its ttl already checked).
    private func store<T: Encodable>(_ value: T, key: String, ttl: Int?, version: CacheVersion?) async throws {
        let bytes = try self.encode(value, key: key)
        do {
            try await self.backend().set(self.makeKey(key, version: version), value: bytes, ttl: ttl)
        } catch let error as CacheError {
            throw error.with(key: key)
        }
    }

    /// Stores many values in one round trip per node (the nodes are written concurrently).
    ///
    /// With a ttl, every key gets it atomically with its value (`MULTI`/`MSET`/`EXPIRE`…/`EXEC` on Redis).
    ///
    /// - Parameters:
    ///   - values: Logical keys and their values.
    ///   - ttl: Whole seconds until the keys expire; nil uses the cache's default ttl.
    ///   - version: The version of every key; nil uses the cache's default (async-caches has no such argument).
    /// - Throws: ``CacheError``; ``CacheError/Code/partialFailure`` naming the failed nodes and their keys.
    public func setMany<T: Encodable>(_ values: [String: T], ttl: Int? = nil, version: CacheVersion? = nil) async throws {
        try await self.setMany(values.map { ($0.key, $0.value) }, ttl: ttl, version: version)
    }

    /// Stores many values given as ordered pairs; see ``setMany(_:ttl:version:)-(Dictionary<String,T>,_,_)``.
    ///
    /// - Parameters:
    ///   - pairs: Logical keys and their values; a later pair for the same key wins.
    ///   - ttl: Whole seconds until the keys expire; nil uses the cache's default ttl.
    ///   - version: The version of every key; nil uses the cache's default.
    /// - Throws: ``CacheError``.
    public func setMany<T: Encodable>(_ pairs: [(String, T)], ttl: Int? = nil, version: CacheVersion? = nil) async throws {
        try await self.traced(.setMany, keyCount: pairs.count) {
            try await self.writeMany(pairs, ttl: ttl, version: version)
        }
    }

    /// `setMany` without its span.
    private func writeMany<T: Encodable>(_ pairs: [(String, T)], ttl: Int?, version: CacheVersion?) async throws {
        let ttl = try self.makeTTL(ttl)
        guard !pairs.isEmpty else { return }
        let backend = try self.backend()
        let head = self.keyHead(version: version)
        var entries: [(key: String, value: ByteBuffer)] = []
        entries.reserveCapacity(pairs.count)
        // A key given twice is written twice in order, so the later value wins (on Redis, within one MSET).
        for (key, value) in pairs {
            entries.append((Self.join(head, key), try self.encode(value, key: key)))
        }
        let failures = try await backend.setMany(entries, ttl: ttl)
        if !failures.isEmpty {
            try Self.throwIfFailed(failures, keys: pairs.map(\.0), verb: "written")
        }
    }

    // MARK: Deleting

    /// Removes a key. A missing key is not an error.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - version: The version; nil uses the cache's default.
    /// - Throws: ``CacheError``.
    public func delete(_ key: String, version: CacheVersion? = nil) async throws {
        try await self.traced(.delete) {
            do {
                try await self.backend().delete(self.makeKey(key, version: version))
            } catch let error as CacheError {
                throw error.with(key: key)
            }
        }
    }

    /// Removes many keys in one round trip per node. Missing keys are not an error.
    ///
    /// - Parameters:
    ///   - keys: The logical keys.
    ///   - version: The version of every key; nil uses the cache's default.
    /// - Throws: ``CacheError``; ``CacheError/Code/partialFailure`` naming the failed nodes and their keys.
    public func deleteMany(_ keys: some Sequence<String>, version: CacheVersion? = nil) async throws {
        let logical = Array(keys)
        try await self.traced(.deleteMany, keyCount: logical.count) {
            guard !logical.isEmpty else { return }
            let backend = try self.backend()
            let head = self.keyHead(version: version)
            let failures = try await backend.deleteMany(logical.map { Self.join(head, $0) })
            try Self.throwIfFailed(failures, keys: logical, verb: "deleted")
        }
    }

    /// Removes every key: on Redis, `FLUSHDB ASYNC` on every node.
    ///
    /// Like async-caches, this empties the whole database, not just the keys of this cache's prefix: do not
    /// share the database with other data.
    ///
    /// - Throws: ``CacheError``.
    public func clear() async throws {
        try await self.traced(.clear, keyCount: nil) {
            try await self.backend().clear()
        }
    }

    /// Removes every key of a scope and returns how many it removed.
    ///
    /// - ``CacheClearScope/database``: every key of every node's database, as ``clear()``, counted
    ///   (`MULTI`, `DBSIZE`, `FLUSHDB ASYNC`, `EXEC` per node).
    /// - ``CacheClearScope/keyPrefix``: only this cache's keys, `prefix:` followed by anything (every version), on
    ///   every node, the nodes concurrently. Each node is walked with `SCAN cursor MATCH <prefix>:* COUNT 1000` (the
    ///   glob characters `*?[]\` of the prefix escaped) and each batch is removed with `UNLINK` before the next
    ///   `SCAN`: no command blocks the server, which keeps answering other clients throughout. Keys written while it
    ///   runs may or may not be removed. The memory backend removes the keys that start with `prefix:`.
    ///
    /// - Parameter scope: What to remove.
    /// - Returns: How many keys were removed (for `.database`, how many the databases held when emptied).
    /// - Throws: ``CacheError``; ``CacheError/Code/invalidArgument`` for `.keyPrefix` when the cache has no key
    ///   prefix (every key would match: use ``clear()``); ``CacheError/Code/partialFailure`` naming the nodes that
    ///   failed (the others were cleared).
    @discardableResult
    public func clear(scope: CacheClearScope) async throws -> Int {
        try await self.traced(.clear, keyCount: nil) {
            #if Tracing
                if self.tracer != nil { CacheTracer.annotateCurrent(clearScope: scope == .database ? "database" : "keyPrefix") }
            #endif
            return try await self.clearing(scope)
        }
    }

    /// `clear(scope:)` without its span.
    private func clearing(_ scope: CacheClearScope) async throws -> Int {
        switch scope {
        case .database:
            return try await self.backend().clearCounting()
        case .keyPrefix:
            let prefix = self.configuration.keyPrefix
            guard !prefix.isEmpty else {
                throw CacheError(
                    .invalidArgument,
                    "clear(scope: .keyPrefix) needs a key prefix: without one it would empty the whole database (use clear())"
                )
            }
            return try await self.backend().clear(keyPrefix: prefix)
        }
    }

    // MARK: Expiry and counters

    /// Sets a key's ttl.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - ttl: Whole seconds from now; nil uses the cache's default ttl, and with no default the key is made
    ///     persistent.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: True if the key exists and its expiry was updated. As in async-caches on Redis, making an
    ///   already persistent key persistent returns false.
    /// - Throws: ``CacheError``.
    @discardableResult
    public func touch(_ key: String, ttl: Int? = nil, version: CacheVersion? = nil) async throws -> Bool {
        try await self.traced(.touch) {
            let ttl = try self.makeTTL(ttl)
            do {
                return try await self.backend().touch(self.makeKey(key, version: version), ttl: ttl)
            } catch let error as CacheError {
                throw error.with(key: key)
            }
        }
    }

    /// Sets a key's ttl from a `Duration` (rounded up to whole seconds).
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - ttl: How long from now.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: True if the key exists and its expiry was updated.
    /// - Throws: ``CacheError``.
    @discardableResult
    public func touch(_ key: String, ttl: Duration, version: CacheVersion? = nil) async throws -> Bool {
        try await self.touch(key, ttl: Self.seconds(ttl), version: version)
    }

    /// A key's remaining time to live (`TTL`).
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: The remaining ttl in whole seconds (rounded as Redis rounds), or nil when the key never expires
    ///   or does not exist.
    /// - Throws: ``CacheError``.
    public func ttl(_ key: String, version: CacheVersion? = nil) async throws -> Int? {
        try await self.traced(.ttl) {
            let remaining = try await self.remainingTTL(key, version: version)
            return remaining >= 0 ? remaining : nil
        }
    }

    /// A key's remaining ttl as Redis's `TTL` replies: seconds, -1 when the key never expires, -2 when it is missing.
    package func remainingTTL(_ key: String, version: CacheVersion? = nil) async throws -> Int {
        do {
            return try await self.backend().remainingTTL(self.makeKey(key, version: version))
        } catch let error as CacheError {
            throw error.with(key: key)
        }
    }

    /// Adds an integer to a stored integer in one round trip (`INCRBY`), keeping its ttl.
    ///
    /// A missing key is stored as `delta` (async-caches raises instead; see the README).
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - delta: The amount to add. Default: 1.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: The new value.
    /// - Throws: ``CacheError/Code/notNumeric`` when the stored value is not an integer (a float such as `10.0`
    ///   included, as on Redis) or the result overflows 64 bits.
    @discardableResult
    public func incr(_ key: String, by delta: Int = 1, version: CacheVersion? = nil) async throws -> Int {
        try await self.traced(.incr) {
            try await self.increment(key, by: delta, version: version)
        }
    }

    /// `incr` of an integer without its span.
    private func increment(_ key: String, by delta: Int, version: CacheVersion?) async throws -> Int {
        do {
            return try await self.backend().increment(self.makeKey(key, version: version), by: delta)
        } catch let error as CacheError {
            throw error.with(key: key)
        }
    }

    /// Adds a float to a stored number in one round trip (`INCRBYFLOAT`), keeping its ttl.
    ///
    /// A missing key is stored as `delta`. As on Redis, a whole result is stored without a fraction (`13`).
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - delta: The amount to add.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: The new value.
    /// - Throws: ``CacheError/Code/notNumeric`` when the stored value is not a number;
    ///   ``CacheError/Code/invalidArgument`` for a NaN or infinite delta.
    @discardableResult
    public func incr(_ key: String, by delta: Double, version: CacheVersion? = nil) async throws -> Double {
        try await self.traced(.incr) {
            try await self.increment(key, by: delta, version: version)
        }
    }

    /// `incr` of a float without its span.
    private func increment(_ key: String, by delta: Double, version: CacheVersion?) async throws -> Double {
        guard delta.isFinite else {
            throw CacheError(.invalidArgument, "incr delta must be a finite number, got \(delta)", key: key)
        }
        do {
            return try await self.backend().increment(self.makeKey(key, version: version), byFloat: delta)
        } catch let error as CacheError {
            throw error.with(key: key)
        }
    }

    /// Subtracts an integer; see ``incr(_:by:version:)-(_,Int,_)``.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - delta: The amount to subtract. Default: 1.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: The new value (a missing key is stored as `-delta`).
    /// - Throws: ``CacheError``.
    @discardableResult
    public func decr(_ key: String, by delta: Int = 1, version: CacheVersion? = nil) async throws -> Int {
        try await self.traced(.decr) {
            guard delta != Int.min else {
                throw CacheError(.invalidArgument, "decr delta \(delta) cannot be negated", key: key)
            }
            return try await self.increment(key, by: -delta, version: version)
        }
    }

    /// Subtracts a float; see ``incr(_:by:version:)-(_,Double,_)``.
    ///
    /// - Parameters:
    ///   - key: The logical key.
    ///   - delta: The amount to subtract.
    ///   - version: The version; nil uses the cache's default.
    /// - Returns: The new value.
    /// - Throws: ``CacheError``.
    @discardableResult
    public func decr(_ key: String, by delta: Double, version: CacheVersion? = nil) async throws -> Double {
        try await self.traced(.decr) {
            try await self.increment(key, by: -delta, version: version)
        }
    }

    // MARK: Failures of many-key calls

    /// The failed nodes with their logical keys (each key once, in the call's order).
    static func nodeFailures(_ failures: [CacheBackendFailure], keys: [String]) -> [CacheNodeFailure] {
        failures.map { failure in
            var seen = Set<String>()
            let failedKeys = failure.indices.map { keys[$0] }.filter { seen.insert($0).inserted }
            return CacheNodeFailure(node: failure.node, keys: failedKeys, error: failure.error)
        }
    }

    static func throwIfFailed(_ failures: [CacheBackendFailure], keys: [String], verb: String) throws(CacheError) {
        guard !failures.isEmpty else { return }
        let nodeFailures = Self.nodeFailures(failures, keys: keys)
        let failedCount = nodeFailures.reduce(0) { $0 + $1.keys.count }
        if nodeFailures.count == 1, failures[0].indices.count == keys.count {
            throw nodeFailures[0].error.with(key: failedCount == 1 ? nodeFailures[0].keys[0] : nil)
        }
        let nodes = nodeFailures.map(\.node).joined(separator: ", ")
        throw CacheError(
            .partialFailure,
            "\(nodeFailures.count) node(s) failed (\(nodes)); \(failedCount) of \(Set(keys).count) key(s) not \(verb)",
            failures: nodeFailures
        )
    }

    // MARK: JSON

    func encode<T: Encodable>(_ value: T, key: String) throws(CacheError) -> ByteBuffer {
        do {
            return try CacheJSON.encode(value)
        } catch {
            throw CacheError(.encodingFailed, "the value cannot be stored as JSON: \(error)", key: key, underlyingError: error)
        }
    }

    func decode<T: Decodable>(_ type: T.Type, from bytes: ByteBuffer?, key: String) throws(CacheError) -> T? {
        guard let bytes, !CacheJSON.isNull(bytes) else { return nil }
        do {
            return try CacheJSON.decode(T.self, from: bytes)
        } catch {
            throw CacheError(
                .decodingFailed,
                "the stored value does not decode as \(T.self): \(error)",
                key: key,
                underlyingError: error
            )
        }
    }
}

/// What ``Cache/clear(scope:)`` removes.
public enum CacheClearScope: Sendable, Hashable {
    /// Every key of every node's database (`FLUSHDB ASYNC`), as async-caches' `clear()`.
    case database
    /// Only this cache's keys: those that start with its key prefix and `:`, whatever their version.
    case keyPrefix
}

/// The result of ``Cache/getManyPartial(_:as:version:)``: what healthy nodes returned and which nodes failed.
public struct CacheManyResult<Value> {
    /// Each key read from a healthy node, mapped to its value or nil when missing.
    public var values: [String: Value?]
    /// One entry per failed node, with the keys that went to it.
    public var failures: [CacheNodeFailure]

    /// The keys whose node failed.
    public var failedKeys: [String] { self.failures.flatMap(\.keys) }

    /// A ``CacheError/Code/partialFailure`` error describing the failures, or nil when every node answered.
    public var error: CacheError? {
        guard !self.failures.isEmpty else { return nil }
        if self.failures.count == 1, self.values.isEmpty {
            return self.failures[0].error
        }
        let nodes = self.failures.map(\.node).joined(separator: ", ")
        return CacheError(
            .partialFailure,
            "\(self.failures.count) node(s) failed (\(nodes)); \(self.failedKeys.count) key(s) not read",
            failures: self.failures
        )
    }
}

extension CacheManyResult: Sendable where Value: Sendable {}

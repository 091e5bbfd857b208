import Logging
import Synchronization

#if ServiceLifecycleSupport
    import ServiceLifecycle

    extension Cache: Service {}
#endif

// MARK: Run

extension Cache {
    /// Runs the cache as a ServiceLifecycle service (with the package trait `ServiceLifecycleSupport`, on by
    /// default; without it, `run()` runs until its task is cancelled): connects it (unless it is connected already), serves until
    /// graceful shutdown or cancellation, then disconnects it.
    ///
    /// Add the cache to a `ServiceGroup` beside the services that use it:
    ///
    /// ```swift
    /// let cache = try Cache(configuration: configuration, logger: logger)
    /// let server = MyServer(cache: cache)
    /// let group = ServiceGroup(
    ///     services: [cache, server],
    ///     gracefulShutdownSignals: [.sigterm, .sigint],
    ///     logger: logger
    /// )
    /// try await group.run()
    /// ```
    ///
    /// Calls made before `run()` has connected throw ``CacheError/Code/notConnected``. When other services need
    /// the cache from their first instant, call ``connect()`` before starting the group: `run()` then keeps that
    /// connection and still disconnects at the end. Give the cache a place in the group before the services
    /// that use it, so a graceful shutdown stops them first and their last calls still reach the nodes
    /// (a `ServiceGroup` shuts its services down in reverse order).
    ///
    /// While it runs, the cache samples its pool gauges every second (see ``CacheMetrics``) and runs its
    /// background jobs (such as the configuration file watcher).
    ///
    /// Scripts and tests that do not use ServiceLifecycle keep using ``connect()`` and ``disconnect()`` (or
    /// ``withConnection(_:)``) instead.
    ///
    /// - Important: `run()` may be called once per cache; a second call stops the process.
    /// - Throws: ``CacheError`` when connecting fails (no node could be reached). Graceful shutdown and
    ///   cancellation end `run()` without an error.
    public func run() async throws {
        try await self.run(poolMetricsInterval: .seconds(1))
    }

    /// ``run()`` with the pool gauges sampled every `poolMetricsInterval`.
    package func run(poolMetricsInterval: Duration) async throws {
        let (first, _) = self.service.hasRun.compareExchange(expected: false, desired: true, ordering: .relaxed)
        precondition(first, "Cache.run() was called more than once")
        defer { self.service.jobsContinuation.finish() }
        do {
            try await self.connect()
        } catch let error as CacheError where error.code == .alreadyConnected {
            self.logger.debug("cache service runs on the existing connection")
        }
        self.logger.debug("cache service running")
        #if ServiceLifecycleSupport
            await cancelWhenGracefulShutdown {
                await self.serve(poolMetricsInterval: poolMetricsInterval)
            }
        #else
            await self.serve(poolMetricsInterval: poolMetricsInterval)
        #endif
        self.logger.debug("cache service stopping")
        if self.isConnected {
            try? await self.disconnect()
        }
    }

    // MARK: Background jobs

    /// The service's body: the idle wait, the periodic pool gauges and every background job, until cancelled.
    ///
    /// This is the place for periodic work: a job added with ``addBackgroundJob(named:_:)`` (before or during
    /// ``run()``) starts here as a child task and is cancelled with the service.
    private func serve(poolMetricsInterval: Duration) async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.recordPoolMetrics(every: poolMetricsInterval)
            }
            if let interval = self.activeConfiguration.healthCheckInterval, case .redis = self.activeConfiguration.backend {
                group.addTask {
                    // Active health checks for the failure policy: mark nodes down and up, restore ejected nodes.
                    while !Task.isCancelled {
                        try? await Task.sleep(for: interval)
                        if Task.isCancelled { break }
                        await self.checkNodeHealth()
                    }
                }
            }
            #if ConfigFiles
                if self.configurationFile != nil {
                    group.addTask {
                        // Live topology: the config file is polled, and a changed topology is swapped in.
                        await self.watchConfigurationFile()
                    }
                }
            #endif
            // Waits here until the service is cancelled (graceful shutdown cancels it), starting each job as it
            // is added. The stream ends on cancellation.
            for await job in self.service.jobs {
                group.addTask {
                    await self.runJob(job)
                }
            }
            group.cancelAll()
        }
    }

    /// Adds work that runs while ``run()`` runs, such as the configuration file watcher.
    ///
    /// A job added before ``run()`` starts once the cache is connected; one added while it runs starts at once;
    /// one added after it returned never runs. The job must return when its task is cancelled. Errors it throws
    /// (other than cancellation) are logged at `info`, since nobody can catch them.
    ///
    /// - Parameters:
    ///   - name: The job's name, for logs (`cache.job`).
    ///   - body: The work; it gets the cache.
    package func addBackgroundJob(named name: String, _ body: @escaping @Sendable (Cache) async throws -> Void) {
        self.service.jobsContinuation.yield(CacheBackgroundJob(name: name, body: body))
    }

    private func runJob(_ job: CacheBackgroundJob) async {
        var logger = self.logger
        logger[metadataKey: "cache.job"] = "\(job.name)"
        logger.debug("background job started")
        do {
            try await job.body(self)
            logger.debug("background job finished")
        } catch is CancellationError {
            logger.debug("background job cancelled")
        } catch let error as CacheError where error.code == .cancelled {
            logger.debug("background job cancelled")
        } catch {
            logger.info("background job failed", metadata: ["cache.error": "\(error)"])
        }
    }

    // MARK: Pool gauges

    /// Samples the pool gauges of every node until cancelled.
    private func recordPoolMetrics(every interval: Duration) async {
        while !Task.isCancelled {
            self.recordPoolMetrics()
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
        }
    }

    /// Records every node's pool gauges now (`caches.pool.connections`, `.in_flight`, `.waiting`).
    package func recordPoolMetrics() {
        (try? self.backend())?.recordPoolMetrics()
    }
}

/// Work that runs while ``Cache/run()`` runs.
struct CacheBackgroundJob: Sendable {
    let name: String
    let body: @Sendable (Cache) async throws -> Void
}

/// The state of ``Cache/run()``: whether it was called, and the background jobs waiting for it.
final class CacheServiceState: Sendable {
    /// Set by the first ``Cache/run()``.
    let hasRun = Atomic<Bool>(false)
    /// Jobs added with ``Cache/addBackgroundJob(named:_:)``, buffered until ``Cache/run()`` takes them.
    let jobs: AsyncStream<CacheBackgroundJob>
    let jobsContinuation: AsyncStream<CacheBackgroundJob>.Continuation

    init() {
        (self.jobs, self.jobsContinuation) = AsyncStream.makeStream(of: CacheBackgroundJob.self)
    }
}

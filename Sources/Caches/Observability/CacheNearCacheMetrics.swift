#if MetricsSupport
    import Metrics
    import NIOConcurrencyHelpers

    /// The near cache's metric objects (see ``CacheMetrics``: `caches.near.*`), fed from its counters when the pool
    /// gauges are sampled, so a hit touches no metric.
    final class CacheNearCacheMetrics: Sendable {
        private let hits: Counter
        private let misses: Counter
        private let invalidations: Counter
        private let evictions: Counter
        private let flushes: Counter
        private let entries: Gauge
        private let bytes: Gauge
        /// The counters as last recorded, to add only what changed.
        private let recorded = NIOLockedValueBox(CacheNearCacheStatistics())

        init(factory: any MetricsFactory = MetricsSystem.factory) {
            self.hits = Counter(label: CacheMetrics.nearHits, factory: factory)
            self.misses = Counter(label: CacheMetrics.nearMisses, factory: factory)
            self.invalidations = Counter(label: CacheMetrics.nearInvalidations, factory: factory)
            self.evictions = Counter(label: CacheMetrics.nearEvictions, factory: factory)
            self.flushes = Counter(label: CacheMetrics.nearFlushes, factory: factory)
            self.entries = Gauge(label: CacheMetrics.nearEntries, factory: factory)
            self.bytes = Gauge(label: CacheMetrics.nearBytes, factory: factory)
        }

        /// Adds what the counters gained since the last call and sets the size gauges.
        func record(_ now: CacheNearCacheStatistics) {
            let before = self.recorded.withLockedValue { recorded in
                let before = recorded
                recorded = now
                return before
            }
            self.hits.increment(by: max(0, now.hits - before.hits))
            self.misses.increment(by: max(0, now.misses - before.misses))
            self.invalidations.increment(by: max(0, now.invalidations - before.invalidations))
            self.evictions.increment(by: max(0, now.evictions - before.evictions))
            self.flushes.increment(by: max(0, now.flushes - before.flushes))
            self.entries.record(now.entries)
            self.bytes.record(now.bytes)
        }
    }
#else
    /// Without the `MetricsSupport` trait: nothing is recorded.
    final class CacheNearCacheMetrics: Sendable {
        init() {}
        func record(_ now: CacheNearCacheStatistics) {}
    }
#endif

import CachePool

#if MetricsSupport
    import Metrics
    import NIOConcurrencyHelpers

    /// One node's metric objects, created once when the node is created, so a command only increments and records.
    ///
    /// The factory is captured at creation (`MetricsSystem.factory`: the bootstrapped one, or a task-local one), and
    /// the per-error-code counters made later use the same one. See ``CacheMetrics`` for the labels.
    final class CacheNodeMetrics: Sendable {
        private let node: String
        private let factory: any MetricsFactory
        /// Indexed by ``CacheCommandName``'s raw value.
        private let commands: [Counter]
        /// Indexed by ``CacheCommandName``'s raw value.
        private let durations: [Timer]
        private let hits: Counter
        private let misses: Counter
        private let connections: Gauge
        private let inFlight: Gauge
        private let waiting: Gauge
        /// Made on the first error of each code: errors are the slow path.
        private let errors: NIOLockedValueBox<[CacheError.Code: Counter]> = NIOLockedValueBox([:])
        /// Made on the first absorbed failure of each operation.
        private let absorbed: NIOLockedValueBox<[String: Counter]> = NIOLockedValueBox([:])

        init(node: String, factory: any MetricsFactory = MetricsSystem.factory) {
            self.node = node
            self.factory = factory
            let nodeDimension = [(CacheMetrics.Dimension.node, node)]
            self.commands = CacheCommandName.allCases.map { command in
                Counter(
                    label: CacheMetrics.commands,
                    dimensions: nodeDimension + [(CacheMetrics.Dimension.command, command.description)],
                    factory: factory
                )
            }
            self.durations = CacheCommandName.allCases.map { command in
                Timer(
                    label: CacheMetrics.commandDuration,
                    dimensions: nodeDimension + [(CacheMetrics.Dimension.command, command.description)],
                    factory: factory
                )
            }
            self.hits = Counter(label: CacheMetrics.hits, dimensions: nodeDimension, factory: factory)
            self.misses = Counter(label: CacheMetrics.misses, dimensions: nodeDimension, factory: factory)
            self.connections = Gauge(label: CacheMetrics.poolConnections, dimensions: nodeDimension, factory: factory)
            self.inFlight = Gauge(label: CacheMetrics.poolInFlight, dimensions: nodeDimension, factory: factory)
            self.waiting = Gauge(label: CacheMetrics.poolWaiting, dimensions: nodeDimension, factory: factory)
        }

        /// Counts a request that was sent and records how long it took.
        @inline(__always)
        func recordCommand(_ command: CacheCommandName, nanoseconds: Int64) {
            self.commands[command.rawValue].increment()
            self.durations[command.rawValue].recordNanoseconds(nanoseconds)
        }

        /// Counts `count` requests sent in one pipeline and times the pipeline once.
        func recordCommands(_ command: CacheCommandName, count: Int, nanoseconds: Int64) {
            self.commands[command.rawValue].increment(by: count)
            self.durations[command.rawValue].recordNanoseconds(nanoseconds)
        }

        /// Counts a failed call.
        func recordError(_ code: CacheError.Code) {
            let counter = self.errors.withLockedValue { errors in
                if let counter = errors[code] { return counter }
                let counter = Counter(
                    label: CacheMetrics.errors,
                    dimensions: [(CacheMetrics.Dimension.node, self.node), (CacheMetrics.Dimension.code, code.description)],
                    factory: self.factory
                )
                errors[code] = counter
                return counter
            }
            counter.increment()
        }

        /// Counts a node failure that the miss policy absorbed: a read that returned a miss, a write that was dropped.
        func recordAbsorbed(operation: String) {
            let counter = self.absorbed.withLockedValue { absorbed in
                if let counter = absorbed[operation] { return counter }
                let counter = Counter(
                    label: CacheMetrics.absorbed,
                    dimensions: [(CacheMetrics.Dimension.node, self.node), (CacheMetrics.Dimension.operation, operation)],
                    factory: self.factory
                )
                absorbed[operation] = counter
                return counter
            }
            counter.increment()
        }

        /// Counts keys found and missing.
        @inline(__always)
        func recordLookups(hits: Int, misses: Int) {
            if hits > 0 { self.hits.increment(by: hits) }
            if misses > 0 { self.misses.increment(by: misses) }
        }

        /// Records the pool gauges.
        func recordPool(_ statistics: ConnectionPoolStatistics) {
            self.connections.record(statistics.openConnections)
            self.inFlight.record(statistics.inFlightRequests)
            self.waiting.record(statistics.waitingRequests)
        }
    }
#else
    /// Without the package trait `MetricsSupport`: the same calls, recording nothing.
    struct CacheNodeMetrics: Sendable {
        init(node: String) {}

        @inline(__always)
        func recordCommand(_ command: CacheCommandName, nanoseconds: Int64) {}

        @inline(__always)
        func recordCommands(_ command: CacheCommandName, count: Int, nanoseconds: Int64) {}

        func recordError(_ code: CacheError.Code) {}

        func recordAbsorbed(operation: String) {}

        @inline(__always)
        func recordLookups(hits: Int, misses: Int) {}

        func recordPool(_ statistics: ConnectionPoolStatistics) {}
    }
#endif

#if Tracing
    import Tracing

    /// How a ``Cache`` reports spans: made once in `Cache.init`, and only when the configuration's tracer is set and is
    /// not the `NoOpTracer`, so a cache without a tracer holds nil and its calls go straight to their work.
    ///
    /// Every public call opens one span named after the call (`get`, `getMany`, …), of kind `client` on Redis and
    /// `internal` on the embedded backends, with OpenTelemetry's database attributes where they fit (see the README's
    /// Tracing section). The backend adds what only it knows: the node of a single-key call, and for a call that goes to
    /// several nodes the node list and one child span per node.
    final class CacheTracer: Sendable {
        let tracer: any Tracer
        /// `db.system.name`: `redis`, or nil for the embedded backends.
        let systemName: String?
        /// The kind of the call spans.
        let kind: SpanKind

        /// The span of the public call running in this task, for the backend to annotate. Set only while a call runs
        /// with tracing on.
        @TaskLocal static var current: (any Span)?

        /// The tracer a configuration asks for, or nil when it asks for none or for the `NoOpTracer`.
        init?(_ tracer: (any Tracer)?, backend: CacheConfiguration.Backend) {
            guard let tracer, !(tracer is NoOpTracer) else { return nil }
            self.tracer = tracer
            if backend.isRedis {
                self.systemName = "redis"
                self.kind = .client
            } else {
                self.systemName = nil
                self.kind = .internal
            }
        }

        /// Runs `body` in a span for the public call `operation`, with `keyCount` keys. The span is the current context
        /// of `body` (spans `body` opens, including those of a `getOrSet` closure, are its children) and
        /// ``current`` for the backend. An error is recorded on the span, with `error.type`, and rethrown.
        func withSpan<Result>(
            _ operation: CacheOperation,
            keyCount: Int?,
            _ body: () async throws -> Result
        ) async throws -> Result {
            let span = self.tracer.startSpan(
                operation.rawValue,
                context: InstrumentationContext.current ?? .topLevel,
                ofKind: self.kind
            )
            defer { span.end() }
            span.updateAttributes { attributes in
                attributes[CacheSpanAttribute.operationName] = operation.rawValue
                if let systemName = self.systemName {
                    attributes[CacheSpanAttribute.systemName] = systemName
                }
                if let keyCount {
                    attributes[CacheSpanAttribute.keyCount] = keyCount
                }
            }
            do {
                return try await InstrumentationContext.$current.withValue(span.context) {
                    try await Self.$current.withValue(span) {
                        try await body()
                    }
                }
            } catch {
                Self.record(error, on: span)
                throw error
            }
        }

        /// Records a failure on a span: the error, the error status and `error.type` (the ``CacheError/Code`` of a
        /// ``CacheError``, else the error's type name).
        ///
        /// A ``CacheError`` is recorded as a ``CacheSpanError``: its code and node only, since its description names the
        /// key and its underlying error may quote a stored value. Errors of a `getOrSet` closure are the caller's own
        /// and are recorded as thrown.
        static func record(_ error: any Error, on span: any Span) {
            if let error = error as? CacheError {
                span.recordError(CacheSpanError(code: error.code, node: error.node))
            } else {
                span.recordError(error)
            }
            span.setStatus(SpanStatus(code: .error))
            let type: String
            if let error = error as? CacheError {
                type = error.code.description
            } else if error is CancellationError {
                type = "cancelled"
            } else {
                type = String(describing: Swift.type(of: error))
            }
            span.attributes[CacheSpanAttribute.errorType] = type
        }

        /// Sets the attributes of the node a call went to, on the current call span (a single-key call).
        static func annotateCurrent(node: CacheNodeClient) {
            guard let span = Self.current else { return }
            span.updateAttributes { Self.setNode(node, in: &$0) }
        }

        /// Sets `cache.hit` on the current call span.
        static func annotateCurrent(hit: Bool) {
            Self.current?.attributes[CacheSpanAttribute.hit] = hit
        }

        /// Sets `cache.clear.scope` on the current call span.
        static func annotateCurrent(clearScope: String) {
            Self.current?.attributes[CacheSpanAttribute.clearScope] = clearScope
        }

        /// Sets the names of the nodes a call goes to on the current call span (a call to several nodes).
        static func annotateCurrent(nodes: [String]) {
            Self.current?.updateAttributes { $0.set(CacheSpanAttribute.nodes, value: .stringArray(nodes)) }
        }

        /// Opens a child span of the current call for one node's round trip, or returns nil when no call span is open.
        func startNodeSpan(_ operation: String, node: CacheNodeClient, keyCount: Int?) -> (any Span)? {
            guard Self.current != nil, let context = InstrumentationContext.current else { return nil }
            let span = self.tracer.startSpan(operation, context: context, ofKind: .client)
            span.updateAttributes { attributes in
                attributes[CacheSpanAttribute.operationName] = operation
                if let systemName = self.systemName {
                    attributes[CacheSpanAttribute.systemName] = systemName
                }
                if let keyCount {
                    attributes[CacheSpanAttribute.keyCount] = keyCount
                }
                Self.setNode(node, in: &attributes)
            }
            return span
        }

        private static func setNode(_ node: CacheNodeClient, in attributes: inout SpanAttributes) {
            attributes[CacheSpanAttribute.node] = node.name
            attributes[CacheSpanAttribute.serverAddress] = node.settings.host
            attributes[CacheSpanAttribute.serverPort] = node.settings.port
            attributes[CacheSpanAttribute.namespace] = String(node.settings.database ?? 0)
        }
    }

    /// The attribute names of the spans.
    enum CacheSpanAttribute {
        /// OpenTelemetry: the database system, `redis`.
        static let systemName = "db.system.name"
        /// OpenTelemetry: the operation, here the `Cache` call (`get`, `setMany`, …).
        static let operationName = "db.operation.name"
        /// OpenTelemetry: the database index (`SELECT`), as a string.
        static let namespace = "db.namespace"
        /// OpenTelemetry: the node's host and port.
        static let serverAddress = "server.address"
        static let serverPort = "server.port"
        /// OpenTelemetry: what kind of failure ended the call.
        static let errorType = "error.type"
        /// How many keys the call (or a node span: the node's part) has.
        static let keyCount = "cache.key.count"
        /// The node of a single-key call or of a node span.
        static let node = "cache.node"
        /// The nodes of a call that goes to several nodes.
        static let nodes = "cache.nodes"
        /// Whether a read found the key (`get`, `getOrSet`).
        static let hit = "cache.hit"
        /// What `clear(scope:)` removes: `database` or `keyPrefix`.
        static let clearScope = "cache.clear.scope"
    }

    /// What a span records of a ``CacheError``: the code and the node, never the key, the message or a value.
    struct CacheSpanError: Error, CustomStringConvertible {
        let code: CacheError.Code
        let node: String?

        var description: String {
            "CacheError.\(self.code)" + (self.node.map { " on node \($0)" } ?? "")
        }
    }
#else
    /// Without the `Tracing` trait: never made, so the backends' `tracer` is always nil.
    final class CacheTracer: Sendable {
        private init() {}
    }
#endif

/// The public calls that open a span; the raw value is the span's name and `db.operation.name`.
enum CacheOperation: String, Sendable {
    case get, getMany, getManyPartial, set, setMany, add, getOrSet, delete, deleteMany, clear, touch, ttl, incr, decr
}

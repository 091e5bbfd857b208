/// The one error type that ``Cache`` throws.
///
/// Compare ``code`` with `==` rather than switching over it: new codes may be added without breaking callers.
/// The error carries the key and the node it concerns when there is one, the server's own message for server
/// errors, and the lower-level error (RESP, TLS, pool, JSON) in ``underlyingError``.
/// Passwords never appear in any of its fields.
public struct CacheError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case invalidArgument, invalidURL, invalidConfiguration
            case encodingFailed, decodingFailed, notNumeric, wrongType
            case notConnected, alreadyConnected
            case connectFailed, connectionClosed, timeout, poolTimeout, poolShutdown, cancelled
            case server, protocolViolation, tlsHandshake, partialFailure, nodeUnavailable
        }
        fileprivate let base: Base

        /// An argument was out of range before any I/O, for example a ttl of zero or less.
        public static var invalidArgument: Self { .init(base: .invalidArgument) }
        /// A cache URL could not be parsed or names an unknown backend.
        public static var invalidURL: Self { .init(base: .invalidURL) }
        /// A configuration value is invalid (a pool size, a node list, a weight, a TLS file).
        public static var invalidConfiguration: Self { .init(base: .invalidConfiguration) }
        /// A value could not be encoded as JSON (for example NaN or infinity). Nothing was written.
        public static var encodingFailed: Self { .init(base: .encodingFailed) }
        /// A stored value is not valid JSON, or does not decode as the requested type.
        public static var decodingFailed: Self { .init(base: .decodingFailed) }
        /// `incr` or `decr` on a value that is not a number of the right kind.
        public static var notNumeric: Self { .init(base: .notNumeric) }
        /// The key holds a Redis type other than a string (`WRONGTYPE`).
        public static var wrongType: Self { .init(base: .wrongType) }
        /// A call was made before ``Cache/connect()`` or after ``Cache/disconnect()``.
        public static var notConnected: Self { .init(base: .notConnected) }
        /// ``Cache/connect()`` was called on a cache that is already connected.
        public static var alreadyConnected: Self { .init(base: .alreadyConnected) }
        /// A connection to a node could not be opened (refused, unreachable, handshake or AUTH failure).
        public static var connectFailed: Self { .init(base: .connectFailed) }
        /// The connection closed before the reply arrived.
        public static var connectionClosed: Self { .init(base: .connectionClosed) }
        /// The node did not answer within the command timeout.
        public static var timeout: Self { .init(base: .timeout) }
        /// No connection of the node's pool became usable within the pool's wait timeout.
        public static var poolTimeout: Self { .init(base: .poolTimeout) }
        /// The node's pool is shutting down.
        public static var poolShutdown: Self { .init(base: .poolShutdown) }
        /// The calling task was cancelled.
        public static var cancelled: Self { .init(base: .cancelled) }
        /// The server replied with an error; ``CacheError/message`` holds its text.
        public static var server: Self { .init(base: .server) }
        /// The server sent bytes that are not valid RESP or not the reply expected.
        public static var protocolViolation: Self { .init(base: .protocolViolation) }
        /// The TLS handshake failed; ``CacheError/message`` says why (for example the certificate check).
        public static var tlsHandshake: Self { .init(base: .tlsHandshake) }
        /// A many-key call failed on some nodes and succeeded on others; see ``CacheError/failures``.
        public static var partialFailure: Self { .init(base: .partialFailure) }
        /// The node is marked down by the failure policy and was not tried.
        public static var nodeUnavailable: Self { .init(base: .nodeUnavailable) }

        public var description: String { self.base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human-readable explanation, for server errors the server's own text.
    public var message: String
    /// The logical key (as passed to the call) the error concerns, if any.
    public var key: String?
    /// The name of the node the error concerns, if any.
    public var node: String?
    /// For ``Code/partialFailure``: each failed node with the keys that went to it and its error.
    public var failures: [CacheNodeFailure]
    /// The lower-level error, if any.
    public var underlyingError: (any Error)?
    /// Where the error was created.
    public var file: String
    /// The line where the error was created.
    public var line: UInt

    /// Creates an error.
    public init(
        _ code: Code,
        _ message: String,
        key: String? = nil,
        node: String? = nil,
        failures: [CacheNodeFailure] = [],
        underlyingError: (any Error)? = nil,
        file: String = #fileID,
        line: UInt = #line
    ) {
        self.code = code
        self.message = message
        self.key = key
        self.node = node
        self.failures = failures
        self.underlyingError = underlyingError
        self.file = file
        self.line = line
    }

    public var description: String {
        var text = "CacheError.\(self.code): \(self.message)"
        if let node = self.node { text += " (node \(node))" }
        if let key = self.key { text += " (key \(String(reflecting: key)))" }
        if let underlying = self.underlyingError { text += " [\(underlying)]" }
        return text
    }

    /// Returns a copy with the key and node filled in where they are not set yet.
    func with(key: String? = nil, node: String? = nil) -> CacheError {
        var copy = self
        if copy.key == nil { copy.key = key }
        if copy.node == nil { copy.node = node }
        return copy
    }
}

/// One node's part of a failed many-key call.
public struct CacheNodeFailure: Sendable, CustomStringConvertible {
    /// The node's name.
    public var node: String
    /// The logical keys that went to the node.
    public var keys: [String]
    /// Why the node's part failed.
    public var error: CacheError

    /// Creates a failure record.
    public init(node: String, keys: [String], error: CacheError) {
        self.node = node
        self.keys = keys
        self.error = error
    }

    public var description: String { "\(self.node): \(self.keys.count) key(s): \(self.error.code): \(self.error.message)" }
}

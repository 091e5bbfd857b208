/// An error thrown by a ``ConnectionPool``.
///
/// Compare ``code`` with `==`; new codes may be added without breaking callers.
public struct ConnectionPoolError: Error, CustomStringConvertible {
    /// The kind of a ``ConnectionPoolError``.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case waitTimeout, connectFailed, poolShutdown, cancelled, invalidConfiguration
        }

        fileprivate let base: Base

        /// No usable connection became available within the configured wait timeout.
        ///
        /// Waiting for a slot is not a node failure: the node may only be busy.
        public static var waitTimeout: Self { .init(base: .waitTimeout) }
        /// The node could not be reached: the last connection attempt failed (see `underlyingError`), no connection
        /// could be opened within the wait timeout (an attempt that neither succeeds nor fails, as with a node that
        /// hangs), or the caller asked not to wait for a reconnect.
        public static var connectFailed: Self { .init(base: .connectFailed) }
        /// The pool has been shut down and accepts no more requests.
        public static var poolShutdown: Self { .init(base: .poolShutdown) }
        /// The task waiting for a connection was cancelled.
        public static var cancelled: Self { .init(base: .cancelled) }
        /// The pool configuration is invalid (see `message`).
        public static var invalidConfiguration: Self { .init(base: .invalidConfiguration) }

        /// The name of the code.
        public var description: String {
            switch self.base {
            case .waitTimeout: "waitTimeout"
            case .connectFailed: "connectFailed"
            case .poolShutdown: "poolShutdown"
            case .cancelled: "cancelled"
            case .invalidConfiguration: "invalidConfiguration"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// A human-readable detail, if any.
    public let message: String?
    /// The lower-layer error that caused this one, such as the connection factory's error.
    public let underlyingError: (any Error)?
    /// The file in which the error was created.
    public let file: StaticString
    /// The line on which the error was created.
    public let line: UInt

    /// Creates a pool error.
    ///
    /// - Parameters:
    ///   - code: What went wrong.
    ///   - message: A human-readable detail.
    ///   - underlyingError: The lower-layer error that caused this one.
    ///   - file: The file in which the error is created.
    ///   - line: The line on which the error is created.
    public init(
        code: Code,
        message: String? = nil,
        underlyingError: (any Error)? = nil,
        file: StaticString = #fileID,
        line: UInt = #line
    ) {
        self.code = code
        self.message = message
        self.underlyingError = underlyingError
        self.file = file
        self.line = line
    }

    /// A description of the error with its code, message and underlying error.
    public var description: String {
        var text = "ConnectionPoolError.\(self.code)"
        if let message = self.message {
            text += ": \(message)"
        }
        if let underlyingError = self.underlyingError {
            text += " (underlying error: \(underlyingError))"
        }
        return text
    }
}

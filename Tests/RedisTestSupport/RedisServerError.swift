/// An error from the test harness: a missing tool, a server that never came up or a command that failed.
///
/// Compare ``code`` with `==`; ``message`` says what happened, often with the tail of the server's log.
public struct RedisServerError: Error, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case toolNotFound, startFailed, notReady, processFailed, timedOut, notOwned, invalidConfiguration
        }

        fileprivate let base: Base

        /// `redis-server`, `redis-cli` or the project's Python venv is not installed: run `make deps`.
        public static var toolNotFound: Self { .init(base: .toolNotFound) }
        /// The `redis-server` process could not be launched or exited while starting.
        public static var startFailed: Self { .init(base: .startFailed) }
        /// The server did not answer before the readiness deadline.
        public static var notReady: Self { .init(base: .notReady) }
        /// A helper process (`redis-cli`, the seed script) exited with a non-zero status.
        public static var processFailed: Self { .init(base: .processFailed) }
        /// A helper process did not finish before its deadline and was killed.
        public static var timedOut: Self { .init(base: .timedOut) }
        /// The operation needs a process this harness started, but the node came from `CACHE_TEST_NODES`.
        public static var notOwned: Self { .init(base: .notOwned) }
        /// `CACHE_TEST_NODES` or another input could not be parsed.
        public static var invalidConfiguration: Self { .init(base: .invalidConfiguration) }

        /// The code's name, such as `toolNotFound`.
        public var description: String {
            switch self.base {
            case .toolNotFound: "toolNotFound"
            case .startFailed: "startFailed"
            case .notReady: "notReady"
            case .processFailed: "processFailed"
            case .timedOut: "timedOut"
            case .notOwned: "notOwned"
            case .invalidConfiguration: "invalidConfiguration"
            }
        }
    }

    /// What kind of failure this is.
    public let code: Code
    /// A human-readable explanation.
    public let message: String
    /// The file that raised the error.
    public let file: StaticString
    /// The line that raised the error.
    public let line: UInt

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: What kind of failure this is.
    ///   - message: A human-readable explanation.
    ///   - file: The file that raised the error.
    ///   - line: The line that raised the error.
    public init(_ code: Code, _ message: String, file: StaticString = #fileID, line: UInt = #line) {
        self.code = code
        self.message = message
        self.file = file
        self.line = line
    }

    /// The code, the message and where the error was raised.
    public var description: String {
        "RedisServerError.\(self.code): \(self.message) (\(self.file):\(self.line))"
    }
}

import ArgumentParser
import Caches

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The exit codes of `caches`, documented in its help.
enum CLIExitCode {
    /// The command did what it was asked.
    static let ok = ExitCode(0)
    /// A miss: `get`, `ttl` and `touch` of a missing key, `add` of a key that exists.
    static let notFound = ExitCode(1)
    /// A usage error: bad arguments, a bad config file or URL, a value that is not JSON.
    static let usage = ExitCode(2)
    /// A node or connection error: a node down, a timeout, a TLS failure, a protocol violation, a failed bench op.
    static let node = ExitCode(3)
    /// The node refused the command: `incr` of a non-number, a wrong type, a stored value that is not JSON.
    static let refused = ExitCode(4)
    /// The command `get-or-set` ran to compute a value exited non-zero (nothing was stored).
    static let commandFailed = ExitCode(5)

    /// The help text's table.
    static let help = """
        Exit codes:
          0  ok
          1  not found: get/ttl/touch of a missing key, add of a key that exists
          2  usage: bad arguments, config file or URL; a value that is not JSON text
          3  node or connection error: node down, timeout, TLS, protocol; health with a node down; bench errors
          4  refused: incr/decr of a non-number, wrong type, a stored value that is not JSON
          5  get-or-set: the command that computes the value failed
        """

    /// The exit code for a cache error.
    static func code(for error: CacheError) -> ExitCode {
        switch error.code {
        case .invalidArgument, .invalidURL, .invalidConfiguration, .encodingFailed: self.usage
        case .notNumeric, .wrongType, .decodingFailed, .server: self.refused
        default: self.node
        }
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    var standardError = StandardError()
    print(text, to: &standardError)
}

/// Standard error as a text stream.
struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var string = string
        string.withUTF8 { bytes in
            _ = Glibc.write(2, bytes.baseAddress, bytes.count)
        }
    }
}

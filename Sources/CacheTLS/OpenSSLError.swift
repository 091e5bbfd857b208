import COpenSSL

/// An error from the TLS layer: a code to compare, a message, and what OpenSSL said.
///
/// Compare ``code`` with `==` against the static codes of ``OpenSSLError/Code``; new codes never break callers.
/// The error never contains a private-key passphrase.
public struct OpenSSLError: Error, CustomStringConvertible {
    /// What kind of TLS failure happened.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: Hashable, Sendable {
            case handshakeFailed
            case certificateVerificationFailed
            case uncleanShutdown
            case invalidConfiguration
            case unreadableFile
            case readFailed
            case writeFailed
            case connectionClosed
        }

        fileprivate let base: Base

        /// The TLS handshake failed for a reason other than certificate verification (for example the peer is not a
        /// TLS server, or no protocol version or cipher is shared).
        public static var handshakeFailed: Self { .init(base: .handshakeFailed) }
        /// The peer's certificate was rejected; ``OpenSSLError/verificationResult`` says why.
        public static var certificateVerificationFailed: Self { .init(base: .certificateVerificationFailed) }
        /// The peer closed the connection without sending a TLS close_notify alert: data may be truncated.
        public static var uncleanShutdown: Self { .init(base: .uncleanShutdown) }
        /// The configuration can't be used (bad CA file, key not matching the certificate, …).
        public static var invalidConfiguration: Self { .init(base: .invalidConfiguration) }
        /// A certificate, key or CA file could not be opened.
        public static var unreadableFile: Self { .init(base: .unreadableFile) }
        /// Decrypting data from the peer failed (for example a fatal alert arrived).
        public static var readFailed: Self { .init(base: .readFailed) }
        /// Encrypting data for the peer failed.
        public static var writeFailed: Self { .init(base: .writeFailed) }
        /// The connection was closed before a buffered write could be sent.
        public static var connectionClosed: Self { .init(base: .connectionClosed) }

        /// The code's name, e.g. `handshakeFailed`.
        public var description: String {
            switch self.base {
            case .handshakeFailed: "handshakeFailed"
            case .certificateVerificationFailed: "certificateVerificationFailed"
            case .uncleanShutdown: "uncleanShutdown"
            case .invalidConfiguration: "invalidConfiguration"
            case .unreadableFile: "unreadableFile"
            case .readFailed: "readFailed"
            case .writeFailed: "writeFailed"
            case .connectionClosed: "connectionClosed"
            }
        }
    }

    /// The kind of failure.
    public let code: Code
    /// A sentence saying what failed, naming the file or peer involved.
    public let message: String
    /// The entries drained from OpenSSL's error queue, oldest first (`ERR_error_string_n` text).
    public let openSSLErrors: [String]
    /// Why the peer certificate was rejected (`X509_verify_cert_error_string`), e.g. "certificate has expired".
    public let verificationResult: String?
    /// The file that created the error.
    public let file: StaticString
    /// The line that created the error.
    public let line: UInt

    /// Creates an error.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: A sentence saying what failed.
    ///   - openSSLErrors: Entries of OpenSSL's error queue.
    ///   - verificationResult: Why the peer certificate was rejected, if it was.
    ///   - file: The file that created the error.
    ///   - line: The line that created the error.
    public init(
        code: Code,
        message: String,
        openSSLErrors: [String] = [],
        verificationResult: String? = nil,
        file: StaticString = #fileID,
        line: UInt = #line
    ) {
        self.code = code
        self.message = message
        self.openSSLErrors = openSSLErrors
        self.verificationResult = verificationResult
        self.file = file
        self.line = line
    }

    /// Creates an error and drains OpenSSL's error queue of this thread into it.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: A sentence saying what failed.
    ///   - verificationResult: Why the peer certificate was rejected, if it was.
    ///   - file: The file that created the error.
    ///   - line: The line that created the error.
    /// - Returns: The error, with ``openSSLErrors`` filled.
    package static func drainingQueue(
        code: Code,
        message: String,
        verificationResult: String? = nil,
        file: StaticString = #fileID,
        line: UInt = #line
    ) -> OpenSSLError {
        OpenSSLError(
            code: code,
            message: message,
            openSSLErrors: Self.drainErrorQueue(),
            verificationResult: verificationResult,
            file: file,
            line: line
        )
    }

    /// Empties OpenSSL's error queue of this thread.
    ///
    /// - Returns: The text of each entry, oldest first.
    package static func drainErrorQueue() -> [String] {
        var errors: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            errors.append(
                withUnsafeTemporaryAllocation(of: CChar.self, capacity: 256) { buffer in
                    ERR_error_string_n(code, buffer.baseAddress, buffer.count)
                    return String(cString: buffer.baseAddress!)
                }
            )
        }
        return errors
    }

    /// The code, message, verification result and OpenSSL errors on one line.
    public var description: String {
        var text = "OpenSSLError(\(self.code)): \(self.message)"
        if let verificationResult = self.verificationResult {
            text += " [certificate verification: \(verificationResult)]"
        }
        if !self.openSSLErrors.isEmpty {
            text += " [OpenSSL: \(self.openSSLErrors.joined(separator: "; "))]"
        }
        return text
    }
}

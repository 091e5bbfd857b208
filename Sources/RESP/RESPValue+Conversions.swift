import NIOCore

// MARK: Creating values

extension RESPValue {
    /// Creates a bulk string holding a string's UTF-8 bytes.
    ///
    /// - Parameters:
    ///   - bulkString: The string.
    public init(bulkString: String) {
        self = .bulkString(ByteBuffer(string: bulkString))
    }

    /// Creates a simple string such as `OK`.
    ///
    /// - Parameters:
    ///   - simpleString: The string, without CR or LF.
    public init(simpleString: String) {
        self = .simpleString(ByteBuffer(string: simpleString))
    }

    /// Creates a simple error such as `ERR unknown command`.
    ///
    /// - Parameters:
    ///   - simpleError: The error line after the `-`, without CR or LF.
    public init(simpleError: String) {
        self = .simpleError(ByteBuffer(string: simpleError))
    }
}

// MARK: Reading values

extension RESPValue {
    /// Whether the value is ``null``, such as the reply to `GET` of a missing key.
    public var isNull: Bool {
        if case .null = self {
            return true
        }
        return false
    }

    /// Whether the value is a simple error or a bulk error.
    public var isError: Bool {
        switch self {
        case .simpleError, .bulkError: true
        default: false
        }
    }

    /// The bytes of a simple string, a bulk string or a verbatim string (without its `txt:` format), else `nil`.
    public var bytes: ByteBuffer? {
        switch self {
        case .simpleString(let bytes), .bulkString(let bytes):
            return bytes
        case .verbatimString(let bytes):
            return bytes.getSlice(at: bytes.readerIndex + 4, length: bytes.readableBytes - 4)
        default:
            return nil
        }
    }

    /// The text of a simple string, a bulk string or a verbatim string, decoded as UTF-8, else `nil`.
    ///
    /// Invalid UTF-8 is repaired with replacement characters; use ``bytes`` for binary values.
    public var string: String? {
        self.bytes.map { String(buffer: $0) }
    }

    /// The number in an integer, or in a simple string, bulk string or big number holding a decimal that fits in
    /// `Int64`, else `nil`.
    ///
    /// `GET` of a counter replies with a bulk string such as `42`; `INCRBY` replies with an integer.
    public var int64: Int64? {
        switch self {
        case .integer(let integer):
            return integer
        case .simpleString(let bytes), .bulkString(let bytes), .bigNumber(let bytes):
            return bytes.withUnsafeReadableBytes { parseRESPInteger($0) }
        default:
            return nil
        }
    }

    /// ``int64`` as an `Int`, if it fits.
    public var int: Int? {
        self.int64.flatMap { Int(exactly: $0) }
    }

    /// The number in a double or an integer, or in a simple or bulk string holding one, else `nil`.
    ///
    /// `INCRBYFLOAT` replies with a bulk string such as `12.25`, `13` or `inf`.
    public var double: Double? {
        switch self {
        case .double(let double):
            return double
        case .integer(let integer):
            return Double(integer)
        case .simpleString(let bytes), .bulkString(let bytes):
            return bytes.withUnsafeReadableBytes { parseRESPDouble($0) }
        default:
            return nil
        }
    }

    /// The truth of a boolean, or of an integer `0` or `1` (RESP2's answer to `EXISTS` or `EXPIRE`), else `nil`.
    public var bool: Bool? {
        switch self {
        case .boolean(let boolean): boolean
        case .integer(0): false
        case .integer(1): true
        default: nil
        }
    }

    /// The elements of an array, a set or a push, else `nil`.
    public var elements: [RESPValue]? {
        switch self {
        case .array(let elements), .set(let elements), .push(let elements): elements
        default: nil
        }
    }

    /// The text of a simple error or a bulk error, such as `WRONGTYPE Operation against a key …`, else `nil`.
    public var errorMessage: String? {
        switch self {
        case .simpleError(let bytes), .bulkError(let bytes): String(buffer: bytes)
        default: nil
        }
    }
}

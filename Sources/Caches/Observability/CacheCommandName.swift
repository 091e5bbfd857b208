import NIOCore

/// The Redis command of an encoded request, found by reading the bytes the encoder just wrote.
///
/// ``CacheNodeClient`` learns which command a request carries without a parameter at every call site: it notes
/// the encoder's writer index, lets the request encode itself, and reads the first command's name back (and, for
/// trace logs, its first argument). Known names map to a fixed index, so per-command metric objects live in an
/// array created once per node; any other name is ``other``.
struct CacheCommandName: Hashable, Sendable, CustomStringConvertible {
    /// The index into ``all``.
    let index: Int

    /// The commands the cache sends, then `other`.
    static let all: [String] = [
        "GET", "MGET", "SET", "SETEX", "MSET", "UNLINK", "EXPIRE", "PERSIST", "INCRBY", "INCRBYFLOAT", "FLUSHDB",
        "PING", "DBSIZE", "other",
    ]
    private static let bytes: [[UInt8]] = Self.all.map { Array($0.utf8) }

    static let get = Self(index: 0)
    static let mget = Self(index: 1)
    static let other = Self(index: Self.all.count - 1)

    var description: String { Self.all[self.index] }

    /// The command written at `offset` of `buffer` and, when `withKey` is set, its first argument.
    ///
    /// A `MULTI` is skipped, so a transaction is named after its first command. Bytes that are not a RESP array
    /// of bulk strings give ``other`` and no key.
    ///
    /// - Parameters:
    ///   - buffer: The encoder's buffer.
    ///   - offset: The writer index before the request was written.
    ///   - withKey: Whether to decode the first argument as a string.
    /// - Returns: The command and its first argument.
    static func read(from buffer: ByteBuffer, at offset: Int, withKey: Bool) -> (command: Self, key: String?) {
        buffer.withUnsafeReadableBytes { bytes -> (command: Self, key: String?) in
            var scanner = Scanner(bytes: bytes, position: offset - buffer.readerIndex)
            guard var count = scanner.arrayHeader(), count > 0, var name = scanner.bulkString() else {
                return (.other, nil)
            }
            if count == 1, name.elementsEqual("MULTI".utf8) {
                guard let next = scanner.arrayHeader(), next > 0, let nextName = scanner.bulkString() else {
                    return (.other, nil)
                }
                count = next
                name = nextName
            }
            let command = Self.bytes.firstIndex { $0.elementsEqual(name) }.map(Self.init(index:)) ?? .other
            guard withKey, count > 1, let key = scanner.bulkString() else { return (command, nil) }
            return (command, String(decoding: key, as: UTF8.self))
        }
    }

    /// Reads RESP array headers and bulk strings from raw bytes, never past their end.
    private struct Scanner {
        let bytes: UnsafeRawBufferPointer
        var position: Int

        /// `*<count>\r\n`
        mutating func arrayHeader() -> Int? {
            self.prefixed(by: UInt8(ascii: "*"))
        }

        /// `$<length>\r\n<bytes>\r\n`
        mutating func bulkString() -> UnsafeRawBufferPointer.SubSequence? {
            guard let length = self.prefixed(by: UInt8(ascii: "$")), length >= 0,
                self.position + length + 2 <= self.bytes.count
            else { return nil }
            let value = self.bytes[self.position..<self.position + length]
            self.position += length + 2
            return value
        }

        /// `<marker><digits>\r\n`, the number.
        private mutating func prefixed(by marker: UInt8) -> Int? {
            guard self.position >= 0, self.position < self.bytes.count, self.bytes[self.position] == marker else {
                return nil
            }
            var index = self.position + 1
            var value = 0
            var digits = 0
            while index < self.bytes.count, self.bytes[index] >= UInt8(ascii: "0"), self.bytes[index] <= UInt8(ascii: "9") {
                value = value &* 10 &+ Int(self.bytes[index] - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 18 else { return nil }
                index += 1
            }
            guard digits > 0, index + 1 < self.bytes.count, self.bytes[index] == UInt8(ascii: "\r"),
                self.bytes[index + 1] == UInt8(ascii: "\n")
            else { return nil }
            self.position = index + 2
            return value
        }
    }
}

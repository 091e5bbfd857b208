import NIOCore

/// Writes RESP commands and values into one `ByteBuffer` that is reused from command to command.
///
/// A channel handler keeps one encoder, calls ``reset()``, writes one or more commands and sends ``buffer``.
/// A command is an array of bulk strings: write its header with ``writeArrayHeader(count:)`` and then each
/// argument with a `writeBulkString` overload. Lengths and integers are written as digits straight into the
/// buffer, so no argument costs an allocation:
///
/// ```swift
/// encoder.reset()
/// encoder.writeArrayHeader(count: 3)
/// encoder.writeBulkString("SETEX")
/// encoder.writeBulkString(key)
/// encoder.writeBulkString(ttlSeconds)
/// ```
///
/// or, the same bytes, `encoder.writeCommand("SETEX", key, ttlSeconds)`.
public struct RESPCommandEncoder: Sendable {
    /// The bytes written since the last ``reset()``.
    ///
    /// Settable so a handler can hand in a buffer of its own allocator; the encoder appends after its bytes.
    public var buffer: ByteBuffer

    /// Creates an encoder that writes into `buffer`, after its existing bytes.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to reuse, usually `channel.allocator.buffer(capacity:)`. Default an empty buffer.
    public init(buffer: ByteBuffer = ByteBuffer()) {
        self.buffer = buffer
    }

    /// Drops the bytes written so far and keeps the buffer's memory for the next command.
    ///
    /// If a copy of ``buffer`` is still alive (a write that has not finished), the next write allocates new
    /// memory instead of changing the bytes that copy sees.
    public mutating func reset() {
        self.buffer.clear()
    }

    // MARK: Commands

    /// Writes a whole command: an array of bulk strings, the name first.
    ///
    /// - Parameters:
    ///   - name: The command name, such as `"GET"`.
    ///   - arguments: The arguments, each a string, bytes, an integer or a double.
    @inlinable
    public mutating func writeCommand<each Argument: RESPBulkStringEncodable>(_ name: StaticString, _ arguments: repeat each Argument) {
        var count = 1
        for _ in repeat each arguments {
            count += 1
        }
        self.buffer.writeRESPArrayHeader(count: count)
        self.buffer.writeRESPBulkString(name)
        for argument in repeat each arguments {
            argument.writeRESPBulkString(into: &self.buffer)
        }
    }

    /// Writes a whole command whose arguments come from a collection, such as `MGET` or `UNLINK` of many keys.
    ///
    /// - Parameters:
    ///   - name: The command name, such as `"MGET"`.
    ///   - arguments: The arguments, all of one type.
    @inlinable
    public mutating func writeCommand<Arguments: Collection>(_ name: StaticString, arguments: Arguments)
    where Arguments.Element: RESPBulkStringEncodable {
        self.buffer.writeRESPArrayHeader(count: arguments.count + 1)
        self.buffer.writeRESPBulkString(name)
        for argument in arguments {
            argument.writeRESPBulkString(into: &self.buffer)
        }
    }

    /// Writes a whole command whose arguments are pairs, such as `MSET key value key value …`.
    ///
    /// - Parameters:
    ///   - name: The command name, such as `"MSET"`.
    ///   - pairs: The pairs, written first then second.
    @inlinable
    public mutating func writeCommand<Pairs: Collection, First: RESPBulkStringEncodable, Second: RESPBulkStringEncodable>(
        _ name: StaticString,
        pairs: Pairs
    ) where Pairs.Element == (First, Second) {
        self.buffer.writeRESPArrayHeader(count: 2 * pairs.count + 1)
        self.buffer.writeRESPBulkString(name)
        for (first, second) in pairs {
            first.writeRESPBulkString(into: &self.buffer)
            second.writeRESPBulkString(into: &self.buffer)
        }
    }

    /// Writes the header of an array of `count` elements, such as a command of `count` arguments.
    ///
    /// - Parameters:
    ///   - count: The number of elements that follow, at least zero.
    public mutating func writeArrayHeader(count: Int) {
        self.buffer.writeRESPArrayHeader(count: count)
    }

    /// Writes a string's UTF-8 bytes as a bulk string.
    ///
    /// - Parameters:
    ///   - string: The command name or argument.
    public mutating func writeBulkString(_ string: String) {
        self.buffer.writeRESPBulkString(string)
    }

    /// Writes a static string, such as a command name, as a bulk string.
    ///
    /// - Parameters:
    ///   - string: The command name or argument.
    public mutating func writeBulkString(_ string: StaticString) {
        self.buffer.writeRESPBulkString(string)
    }

    /// Writes the readable bytes of a buffer as a bulk string.
    ///
    /// - Parameters:
    ///   - bytes: The argument; its reader index does not move.
    public mutating func writeBulkString(_ bytes: ByteBuffer) {
        self.buffer.writeRESPBulkString(bytes)
    }

    /// Writes a collection of bytes as a bulk string.
    ///
    /// - Parameters:
    ///   - bytes: The argument, such as an `[UInt8]` or a `String.UTF8View`.
    @inlinable
    public mutating func writeBulkString(_ bytes: some Collection<UInt8>) {
        self.buffer.writeRESPBulkString(bytes)
    }

    /// Writes an integer in decimal as a bulk string, as Redis expects for TTLs and increments.
    ///
    /// - Parameters:
    ///   - value: The argument.
    public mutating func writeBulkString(_ value: Int64) {
        self.buffer.writeRESPBulkString(value)
    }

    /// Writes an integer in decimal as a bulk string, as Redis expects for TTLs and counts.
    ///
    /// - Parameters:
    ///   - value: The argument.
    public mutating func writeBulkString(_ value: Int) {
        self.buffer.writeRESPBulkString(value)
    }

    /// Writes a double in its shortest round-trip form as a bulk string, as `INCRBYFLOAT` expects.
    ///
    /// - Parameters:
    ///   - value: The argument; see ``NIOCore/ByteBuffer/writeRESPBulkString(_:)-(Double)``.
    public mutating func writeBulkString(_ value: Double) {
        self.buffer.writeRESPBulkString(value)
    }

    // MARK: Values

    /// Writes any RESP value, as a server would send it (see ``NIOCore/ByteBuffer/writeRESPValue(_:)``).
    ///
    /// - Parameters:
    ///   - value: The value to write.
    public mutating func encode(_ value: RESPValue) {
        self.buffer.writeRESPValue(value)
    }
}

import NIOCore

/// A type whose values can be command arguments: each is written as one RESP bulk string.
///
/// ``RESPCommandEncoder/writeCommand(_:_:)`` takes any mix of these.
public protocol RESPBulkStringEncodable {
    /// Writes the value as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    func writeRESPBulkString(into buffer: inout ByteBuffer)
}

// MARK: Conformances

extension String: RESPBulkStringEncodable {
    /// Writes the string's UTF-8 bytes as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    @inlinable
    public func writeRESPBulkString(into buffer: inout ByteBuffer) {
        buffer.writeRESPBulkString(self)
    }
}

extension Substring: RESPBulkStringEncodable {
    /// Writes the substring's UTF-8 bytes as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    @inlinable
    public func writeRESPBulkString(into buffer: inout ByteBuffer) {
        buffer.writeRESPBulkString(self.utf8)
    }
}

extension StaticString: RESPBulkStringEncodable {
    /// Writes the static string's UTF-8 bytes as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    @inlinable
    public func writeRESPBulkString(into buffer: inout ByteBuffer) {
        buffer.writeRESPBulkString(self)
    }
}

extension ByteBuffer: RESPBulkStringEncodable {
    /// Writes the readable bytes as a RESP bulk string, without moving the reader index.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    @inlinable
    public func writeRESPBulkString(into buffer: inout ByteBuffer) {
        buffer.writeRESPBulkString(self)
    }
}

extension Array: RESPBulkStringEncodable where Element == UInt8 {
    /// Writes the bytes as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    @inlinable
    public func writeRESPBulkString(into buffer: inout ByteBuffer) {
        buffer.writeRESPBulkString(self)
    }
}

extension Int: RESPBulkStringEncodable {
    /// Writes the integer in decimal as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    @inlinable
    public func writeRESPBulkString(into buffer: inout ByteBuffer) {
        buffer.writeRESPBulkString(self)
    }
}

extension Int64: RESPBulkStringEncodable {
    /// Writes the integer in decimal as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    @inlinable
    public func writeRESPBulkString(into buffer: inout ByteBuffer) {
        buffer.writeRESPBulkString(self)
    }
}

extension Double: RESPBulkStringEncodable {
    /// Writes the double in its shortest round-trip form as a RESP bulk string.
    ///
    /// - Parameters:
    ///   - buffer: The buffer to append to.
    @inlinable
    public func writeRESPBulkString(into buffer: inout ByteBuffer) {
        buffer.writeRESPBulkString(self)
    }
}

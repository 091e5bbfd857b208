import NIOCore

/// Splits a stream of RESP replies into whole top-level values, each as its undecoded bytes.
///
/// The bytes are validated exactly as ``RESPDecoder`` validates them (same limits, same errors), but no
/// ``RESPValue`` is built: a client hands each reply to the request that waits for it, and the request reads the
/// shape it expects straight from the bytes with ``RESPReply`` (an `MGET` reply goes into the caller's result
/// without an intermediate array of values).
public struct RESPFrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = RESPReply

    private var decoder: RESPDecoder

    /// Creates a frame decoder.
    ///
    /// - Parameters:
    ///   - limits: The bounds to enforce. Default ``RESPDecoder/Limits``' defaults.
    public init(limits: RESPDecoder.Limits = RESPDecoder.Limits()) {
        self.decoder = RESPDecoder(limits: limits)
    }

    /// Takes one complete reply from the start of `buffer`, or returns `nil` when only part of one is buffered.
    ///
    /// - Parameters:
    ///   - buffer: The received bytes; on success the reader index moves past the reply.
    /// - Returns: The reply, or `nil`.
    /// - Throws: ``RESPParsingError`` for bytes that are not valid RESP or exceed the limits.
    public mutating func decode(buffer: inout ByteBuffer) throws -> RESPReply? {
        try self.decoder.decodeFrame(buffer: &buffer).map(RESPReply.init(validated:))
    }

    /// Takes one complete reply after the input ended.
    ///
    /// - Parameters:
    ///   - buffer: The bytes left over.
    ///   - seenEOF: Whether the stream saw end-of-file.
    /// - Returns: The reply, or `nil` if `buffer` is empty.
    /// - Throws: ``RESPParsingError`` with code ``RESPParsingError/Code/truncated`` when an incomplete reply is left.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> RESPReply? {
        if let reply = try self.decode(buffer: &buffer) {
            return reply
        }
        guard buffer.readableBytes == 0 else {
            throw RESPDecoder.truncated(buffer)
        }
        return nil
    }
}

import NIOCore
import RESP
import Testing

@Suite struct RESPScanFramesTests {
    /// Every well-formed value of the decoder's own table, back to back, is scanned into its own end offset.
    @Test func everyCompleteValueGetsItsEnd() throws {
        var decoder = RESPDecoder()
        var text = ""
        var expected: [Int] = []
        for (value, _) in RESPDecoderTests.wellFormed {
            text += value
            expected.append(text.utf8.count)
        }
        var buffer = bytes(text + "$5\r\nhel")
        var ends: [Int] = []
        try decoder.scanFrames(in: &buffer, ends: &ends)
        #expect(ends == expected)
        #expect(String(buffer: buffer) == "$5\r\nhel", "the partial value is left")
    }

    /// A value that arrives in pieces is scanned once: the progress is kept from call to call, relative to the
    /// reader index the next call starts at.
    @Test func aValueArrivingInPiecesKeepsItsProgress() throws {
        var decoder = RESPDecoder()
        var buffer = bytes(":1\r\n*3\r\n$5\r\nhello\r\n$-1")
        var ends: [Int] = []
        try decoder.scanFrames(in: &buffer, ends: &ends)
        #expect(ends == [4])
        #expect(decoder.scannedBytes == 15, "the array header and its first element are scanned")
        buffer.writeString("\r\n:42\r\n+OK\r\n")
        ends.removeAll()
        try decoder.scanFrames(in: &buffer, ends: &ends)
        #expect(ends == [25, 30])
        #expect(buffer.readableBytes == 0)
        #expect(decoder.scannedBytes == 0)
    }

    /// Bytes that are not RESP throw, after the values before them were taken.
    @Test func invalidBytesThrowAfterTheValuesBeforeThem() {
        var decoder = RESPDecoder()
        var buffer = bytes("+OK\r\n:7\r\n?what\r\n")
        var ends: [Int] = []
        #expect(throws: RESPParsingError.self) { try decoder.scanFrames(in: &buffer, ends: &ends) }
        #expect(ends == [5, 9])
        #expect(String(buffer: buffer) == "?what\r\n")
    }

    @Test func limitsApply() {
        var decoder = RESPDecoder(limits: .init(maximumAggregateCount: 2))
        var buffer = bytes("*3\r\n:1\r\n:2\r\n:3\r\n")
        var ends: [Int] = []
        #expect(throws: RESPParsingError.self) { try decoder.scanFrames(in: &buffer, ends: &ends) }
        #expect(ends.isEmpty)
    }
}

@Suite struct RESPRepliesTests {
    static func replies(_ texts: [String]) throws -> RESPReplies {
        var decoder = RESPDecoder()
        var buffer = bytes(texts.joined())
        var ends: [Int] = []
        try decoder.scanFrames(in: &buffer, ends: &ends)
        #expect(ends.count == texts.count)
        return RESPReplies(validated: bytes(texts.joined()), ends: ends)
    }

    @Test func eachReplyIsSlicedOnDemand() throws {
        let replies = try Self.replies(["$5\r\nhello\r\n", "-ERR no\r\n", ":3\r\n", "*1\r\n$1\r\na\r\n"])
        #expect(replies.count == 4)
        #expect(replies.map { String(buffer: $0.bytes) } == ["$5\r\nhello\r\n", "-ERR no\r\n", ":3\r\n", "*1\r\n$1\r\na\r\n"])
        #expect(replies.indices.map { replies.isError(at: $0) } == [false, true, false, false])
        #expect(replies[1].errorMessage == "ERR no")
        #expect(replies[2].integer == 3)
        #expect(replies.bulkStringNulls == nil, "not all bulk strings")
    }

    @Test func repliesToGetsAreReadInPlace() throws {
        let replies = try Self.replies(["$5\r\nhello\r\n", "$-1\r\n", "_\r\n", "$0\r\n\r\n"])
        #expect(replies.bulkStringNulls == 2)
        var read: [String?] = []
        replies.forEachBulkString { index, value in
            #expect(index == read.count)
            read.append(value.map { String(buffer: $0) })
        }
        #expect(read == ["hello", nil, nil, ""])
    }

    @Test func wrappingRepliesCopiesThemBackToBack() throws {
        let replies = RESPReplies([RESPReply(.integer(1)), RESPReply(.simpleString(bytes("OK")))])
        #expect(String(buffer: replies.bytes) == ":1\r\n+OK\r\n")
        #expect(replies[1].isOK)
        #expect(RESPReplies([RESPReply]()).isEmpty)
    }
}

@Suite struct RESPKeyWriterTests {
    /// A key written in one go, with or without a command header before it, is the bulk string of head and tail.
    @Test(arguments: [("app:1:", "key"), ("", ""), ("żółw:", "😀"), ("p:", String(repeating: "x", count: 1000))])
    func aKeyIsOneBulkString(head: String, tail: String) {
        var buffer = ByteBuffer()
        let length = head.utf8.count + tail.utf8.count
        let key = "$\(length)\r\n\(head)\(tail)\r\n"
        #expect(buffer.writeRESPBulkString(head, tail) == key.utf8.count)
        #expect(buffer.writeRESPBulkString(head, tail, after: "*2\r\n$3\r\nGET\r\n") == 13 + key.utf8.count)
        #expect(String(buffer: buffer) == key + "*2\r\n$3\r\nGET\r\n" + key)
    }
}

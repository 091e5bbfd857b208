import NIOCore
import NIOTestUtils
import RESP
import Testing

@Suite struct RESPFrameDecoderTests {
    /// Every well-formed value of the decoder's own table comes out as one frame of exactly its bytes, and the frame
    /// decodes to the same value.
    @Test func framesAreTheValuesBytes() throws {
        for (text, value) in RESPDecoderTests.wellFormed {
            var decoder = RESPFrameDecoder()
            var buffer = bytes(text + "+NEXT\r\n")
            let frame = try #require(try decoder.decode(buffer: &buffer), "no frame for \(String(reflecting: text))")
            #expect(String(buffer: frame.bytes) == text)
            #expect(try frame.value() == value)
            #expect(String(buffer: buffer) == "+NEXT\r\n", "the frame took exactly its bytes")
        }
    }

    @Test func aFrameArrivingInPiecesIsReturnedOnceComplete() throws {
        let text = "*3\r\n$5\r\nhello\r\n$-1\r\n:42\r\n"
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(bytes(text), [RESPReply(validated: bytes(text))])]) {
            RESPFrameDecoder()
        }
    }

    @Test func invalidBytesThrowAsTheDecoderDoes() {
        for text in ["?what\r\n", "$5\r\nhelloXX", "*1\r\n:notanumber\r\n"] {
            var decoder = RESPFrameDecoder()
            var buffer = bytes(text)
            #expect(throws: RESPParsingError.self, "\(String(reflecting: text))") { _ = try decoder.decode(buffer: &buffer) }
        }
    }

    @Test func limitsApply() {
        var decoder = RESPFrameDecoder(limits: .init(maximumAggregateCount: 2))
        var buffer = bytes("*3\r\n:1\r\n:2\r\n:3\r\n")
        #expect(throws: RESPParsingError.self) { _ = try decoder.decode(buffer: &buffer) }
    }

    @Test func aTruncatedFrameAtTheEndIsAnError() {
        var decoder = RESPFrameDecoder()
        var buffer = bytes("$5\r\nhel")
        #expect(throws: RESPParsingError.self) { _ = try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
    }
}

@Suite struct RESPReplyTests {
    static func reply(_ text: String) throws -> RESPReply {
        var decoder = RESPFrameDecoder()
        var buffer = bytes(text)
        let reply = try #require(try decoder.decode(buffer: &buffer))
        #expect(buffer.readableBytes == 0)
        return reply
    }

    @Test func bulkStringsAndNulls() throws {
        #expect(try Self.reply("$5\r\nhello\r\n").bulkStringOrNull == .some(bytes("hello")))
        #expect(try Self.reply("$0\r\n\r\n").bulkStringOrNull == .some(bytes("")))
        #expect(try Self.reply("$-1\r\n").bulkStringOrNull == .some(nil))
        #expect(try Self.reply("_\r\n").bulkStringOrNull == .some(nil))
        // Other shapes are not bulk strings: the caller falls back to value().
        for text in [":1\r\n", "+OK\r\n", "*1\r\n$1\r\na\r\n", "=5\r\ntxt:a\r\n", "|1\r\n+k\r\n+v\r\n$1\r\na\r\n"] {
            #expect(try Self.reply(text).bulkStringOrNull == nil, "\(String(reflecting: text))")
        }
    }

    @Test func integersAndOK() throws {
        #expect(try Self.reply(":0\r\n").integer == 0)
        #expect(try Self.reply(":-2\r\n").integer == -2)
        #expect(try Self.reply(":123456789\r\n").integer == 123_456_789)
        #expect(try Self.reply("$1\r\n1\r\n").integer == nil)
        #expect(try Self.reply("+OK\r\n").isOK)
        #expect(try !Self.reply("+QUEUED\r\n").isOK)
        #expect(try !Self.reply("$2\r\nOK\r\n").isOK)
    }

    @Test func errorsAndPushes() throws {
        let error = try Self.reply("-WRONGTYPE Operation against a key\r\n")
        #expect(error.isError)
        #expect(error.errorMessage == "WRONGTYPE Operation against a key")
        #expect(try Self.reply("!3\r\nERR\r\n").errorMessage == "ERR")
        #expect(try !Self.reply("+OK\r\n").isError)
        #expect(try Self.reply(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n").isPush)
    }

    @Test func arraysOfBulkStringsAreReadInPlace() throws {
        let reply = try Self.reply("*4\r\n$1\r\na\r\n$-1\r\n_\r\n$3\r\nbcd\r\n")
        let shape = try #require(reply.bulkStringArrayShape)
        #expect(shape.count == 4 && shape.nulls == 2)
        var seen: [ByteBuffer?] = []
        var positions: [Int] = []
        reply.forEachBulkString { position, element in
            positions.append(position)
            seen.append(element)
        }
        #expect(positions == [0, 1, 2, 3])
        #expect(seen == [bytes("a"), nil, nil, bytes("bcd")])
        #expect(try Self.reply("*0\r\n").bulkStringArrayShape.map { [$0.count, $0.nulls] } == [0, 0])
    }

    @Test func arraysOfOtherShapesAreNotBulkStringArrays() throws {
        for text in ["*2\r\n$1\r\na\r\n:1\r\n", "*1\r\n*1\r\n$1\r\na\r\n", "$1\r\na\r\n", "%1\r\n$1\r\na\r\n$1\r\nb\r\n"] {
            #expect(try Self.reply(text).bulkStringArrayShape == nil, "\(String(reflecting: text))")
        }
    }
}

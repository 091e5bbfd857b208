import NIOCore
import RESP
import RedisTestSupport
import Testing

@Suite struct RESPCommandEncoderTests {
    // MARK: Commands

    @Test func encodesACommandAsAnArrayOfBulkStrings() {
        var encoder = RESPCommandEncoder()
        encoder.writeCommand("SET", "k", "v")
        #expect(String(buffer: encoder.buffer) == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n")
    }

    @Test func aCommandWithoutArgumentsIsAnArrayOfOne() {
        var encoder = RESPCommandEncoder()
        encoder.writeCommand("PING")
        #expect(String(buffer: encoder.buffer) == "*1\r\n$4\r\nPING\r\n")
    }

    @Test func headerAndArgumentsWriteTheSameBytesAsWriteCommand() {
        let expected = "*7\r\n$5\r\nSETEX\r\n$12\r\n::seedio_str\r\n$2\r\n30\r\n$5\r\n\"Ok!\"\r\n$3\r\n1.5\r\n$2\r\n-7\r\n$3\r\nsub\r\n"
        var encoder = RESPCommandEncoder()
        encoder.writeArrayHeader(count: 7)
        encoder.writeBulkString("SETEX" as StaticString)
        encoder.writeBulkString(ByteBuffer(string: "::seedio_str"))
        encoder.writeBulkString(30)
        encoder.writeBulkString(Array("\"Ok!\"".utf8))
        encoder.writeBulkString(1.5)
        encoder.writeBulkString(Int64(-7))
        encoder.writeBulkString("a sub string".dropFirst(2).prefix(3).utf8)
        #expect(String(buffer: encoder.buffer) == expected)

        var command = RESPCommandEncoder()
        command.writeCommand(
            "SETEX",
            ByteBuffer(string: "::seedio_str"),
            30,
            Array("\"Ok!\"".utf8),
            1.5,
            Int64(-7),
            "a sub string".dropFirst(2).prefix(3)
        )
        #expect(String(buffer: command.buffer) == expected)
    }

    @Test(arguments: [
        (1.0, "1.0"), (-0.0, "-0.0"), (0.1, "0.1"), (0.1 + 0.2, "0.30000000000000004"), (12.25, "12.25"), (1e16, "1e+16"),
        (-2.5e-8, "-2.5e-08"), (Double.leastNonzeroMagnitude, "5e-324"), (-2.2250738585072014e-308, "-2.2250738585072014e-308"),
        (Double.infinity, "inf"), (-Double.infinity, "-inf"),
    ])
    func writesDoublesInTheirShortestRoundTripForm(value: Double, text: String) {
        var encoder = RESPCommandEncoder()
        encoder.writeBulkString(value)
        #expect(String(buffer: encoder.buffer) == "$\(text.utf8.count)\r\n\(text)\r\n")
        #expect(Double(text) == value)
    }

    @Test func byteBufferWritersReturnTheBytesTheyWrote() {
        var buffer = ByteBuffer()
        #expect(buffer.writeRESPArrayHeader(count: 12) == 5)
        #expect(buffer.writeRESPBulkString("héllo") == 4 + 6 + 2)
        #expect(buffer.writeRESPBulkString(Int64.min) == 5 + 20 + 2)
        #expect(buffer.writeRESPBulkString([UInt8]()) == 6)
        #expect(buffer.writeRESPValue(.array([.integer(1), .null])) == 4 + 4 + 5)
        #expect(buffer.readableBytes == 5 + 12 + 27 + 6 + 13)
        #expect(String(buffer: buffer).hasPrefix("*12\r\n$6\r\nhéllo\r\n$20\r\n-9223372036854775808\r\n$0\r\n\r\n*2\r\n:1\r\n$-1\r\n"))
    }

    @Test func bulkStringLengthCountsUTF8Bytes() {
        var encoder = RESPCommandEncoder()
        encoder.writeBulkString("żółw😀")
        // ż ó ł are two bytes each, w one, the emoji four.
        #expect(String(buffer: encoder.buffer) == "$11\r\nżółw😀\r\n")
    }

    @Test func writesBinaryPayloadsUnchanged() {
        let payload: [UInt8] = [0, 13, 10, 255, 36]
        var encoder = RESPCommandEncoder()
        encoder.writeBulkString(payload)
        #expect(Array(encoder.buffer.readableBytesView) == Array("$5\r\n".utf8) + payload + [13, 10])
    }

    @Test func bulkStringOfByteBufferDoesNotMoveItsReaderIndex() {
        var source = ByteBuffer(string: "xxvalue")
        source.moveReaderIndex(forwardBy: 2)
        var encoder = RESPCommandEncoder()
        encoder.writeBulkString(source)
        #expect(String(buffer: encoder.buffer) == "$5\r\nvalue\r\n")
        #expect(source.readerIndex == 2)
    }

    @Test(arguments: [
        Int64(0), 1, 9, 10, 99, 100, -1, -9, -10, 1_234_567_890, Int64(Int32.max) + 1, .max, .min, .max - 1, .min + 1,
    ])
    func writesIntegersInDecimal(value: Int64) {
        let text = String(value)
        var encoder = RESPCommandEncoder()
        encoder.writeBulkString(value)
        #expect(String(buffer: encoder.buffer) == "$\(text.utf8.count)\r\n\(text)\r\n")
        encoder.reset()
        encoder.encode(.integer(value))
        #expect(String(buffer: encoder.buffer) == ":\(text)\r\n")
    }

    @Test func resetKeepsTheMemoryAndDropsTheBytes() {
        var encoder = RESPCommandEncoder(buffer: ByteBufferAllocator().buffer(capacity: 256))
        encoder.writeCommand("GET", "a")
        let capacity = encoder.buffer.capacity
        let address = encoder.buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        encoder.reset()
        #expect(encoder.buffer.readableBytes == 0)
        encoder.writeCommand("GET", "b")
        #expect(String(buffer: encoder.buffer) == "*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
        #expect(encoder.buffer.capacity == capacity)
        #expect(encoder.buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == address)
    }

    @Test func resetDoesNotChangeACopyStillBeingWritten() {
        var encoder = RESPCommandEncoder()
        encoder.writeCommand("GET", "a")
        let inFlight = encoder.buffer
        encoder.reset()
        encoder.writeCommand("DEL", "b")
        #expect(String(buffer: inFlight) == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
        #expect(String(buffer: encoder.buffer) == "*2\r\n$3\r\nDEL\r\n$1\r\nb\r\n")
    }

    @Test func pipelinesSeveralCommandsIntoOneBuffer() {
        var encoder = RESPCommandEncoder()
        encoder.writeCommand("GET", "a")
        encoder.writeCommand("GET", "b")
        #expect(String(buffer: encoder.buffer) == "*2\r\n$3\r\nGET\r\n$1\r\na\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
    }

    // MARK: Values

    static let values: [(RESPValue, String)] = [
        (RESPValue(simpleString: "OK"), "+OK\r\n"),
        (RESPValue(simpleError: "ERR no"), "-ERR no\r\n"),
        (.integer(-3), ":-3\r\n"),
        (RESPValue(bulkString: "hi"), "$2\r\nhi\r\n"),
        (.null, "$-1\r\n"),
        (.array([]), "*0\r\n"),
        (.array([.integer(1), .null]), "*2\r\n:1\r\n$-1\r\n"),
        (.double(1.0), ",1.0\r\n"),
        (.double(-2.5), ",-2.5\r\n"),
        (.double(1e20), ",1e+20\r\n"),
        (.double(.infinity), ",inf\r\n"),
        (.double(-.infinity), ",-inf\r\n"),
        (.boolean(true), "#t\r\n"),
        (.boolean(false), "#f\r\n"),
        (.bigNumber(ByteBuffer(string: "-123456789012345678901234567890")), "(-123456789012345678901234567890\r\n"),
        (.bulkError(ByteBuffer(string: "SYNTAX x")), "!8\r\nSYNTAX x\r\n"),
        (.verbatimString(ByteBuffer(string: "txt:abc")), "=7\r\ntxt:abc\r\n"),
        (.map([(RESPValue(simpleString: "a"), .integer(1))]), "%1\r\n+a\r\n:1\r\n"),
        (.set([.boolean(true)]), "~1\r\n#t\r\n"),
        (.push([RESPValue(bulkString: "message")]), ">1\r\n$7\r\nmessage\r\n"),
    ]

    @Test(arguments: Self.values)
    func encodesEachValue(value: RESPValue, expected: String) {
        var encoder = RESPCommandEncoder()
        encoder.encode(value)
        #expect(String(buffer: encoder.buffer) == expected)
    }

    @Test func nanEncodesAndDecodesAsNaN() throws {
        var encoder = RESPCommandEncoder()
        encoder.encode(.double(.nan))
        #expect(String(buffer: encoder.buffer) == ",nan\r\n")
        var buffer = encoder.buffer
        var decoder = RESPDecoder()
        let value = try #require(try decoder.decode(buffer: &buffer))
        #expect(value.double?.isNaN == true)
    }

    // MARK: Round trip

    @Test(arguments: [UInt64(1), 2, 3, 42, 2026])
    func randomValuesSurviveEncodeThenDecodeInRandomChunks(seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        var values: [RESPValue] = []
        for _ in 0..<50 {
            values.append(Self.randomValue(depth: 0, using: &random))
        }
        var encoder = RESPCommandEncoder()
        for value in values {
            encoder.encode(value)
        }
        let wire = encoder.buffer
        let processor = NIOSingleStepByteToMessageProcessor(RESPDecoder())
        var decoded: [RESPValue] = []
        var offset = 0
        while offset < wire.readableBytes {
            let length = min(wire.readableBytes - offset, Int(random.next() % 40) + 1)
            try processor.process(buffer: wire.getSlice(at: wire.readerIndex + offset, length: length)!) { decoded.append($0) }
            offset += length
        }
        #expect(decoded.count == values.count)
        for (index, (got, sent)) in zip(decoded, values).enumerated() {
            #expect(got == sent, "value \(index) of seed \(seed)")
        }
        #expect(processor.unprocessedBytes == 0)
    }

    /// A random value of every kind except NaN, which never equals itself.
    static func randomValue(depth: Int, using random: inout SplitMix64) -> RESPValue {
        let kinds = depth < 3 ? 14 : 9
        func text() -> ByteBuffer {
            let length = Int(random.next() % 12)
            var buffer = ByteBuffer()
            for _ in 0..<length {
                buffer.writeInteger(UInt8(ascii: "a") + UInt8(random.next() % 26))
            }
            return buffer
        }
        func binary() -> ByteBuffer {
            let length = Int(random.next() % 20)
            var buffer = ByteBuffer()
            for _ in 0..<length {
                buffer.writeInteger(UInt8(truncatingIfNeeded: random.next()))
            }
            return buffer
        }
        func list() -> [RESPValue] {
            (0..<Int(random.next() % 5)).map { _ in Self.randomValue(depth: depth + 1, using: &random) }
        }
        switch Int(random.next() % UInt64(kinds)) {
        case 0: return .simpleString(text())
        case 1: return .simpleError(text())
        case 2: return .integer(Int64(bitPattern: random.next()))
        case 3: return .bulkString(binary())
        case 4: return .null
        case 5: return .double(Double(bitPattern: random.next() & 0x7FEF_FFFF_FFFF_FFFF) * (random.next() % 2 == 0 ? 1 : -1))
        case 6: return .boolean(random.next() % 2 == 0)
        case 7: return .bulkError(binary())
        case 8:
            var payload = ByteBuffer(string: "mkd:")
            var rest = binary()
            payload.writeBuffer(&rest)
            return .verbatimString(payload)
        case 9: return .array(list())
        case 10: return .set(list())
        case 11: return .push(list())
        case 12:
            return .map(
                (0..<Int(random.next() % 4)).map { _ in
                    (Self.randomValue(depth: depth + 1, using: &random), Self.randomValue(depth: depth + 1, using: &random))
                }
            )
        default: return .bigNumber(ByteBuffer(string: String(Int64(bitPattern: random.next()))))
        }
    }
}

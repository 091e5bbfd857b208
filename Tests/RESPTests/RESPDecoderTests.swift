import NIOCore
import NIOTestUtils
import RESP
import Testing

/// A buffer holding the UTF-8 bytes of `text`.
func bytes(_ text: String) -> ByteBuffer {
    ByteBuffer(string: text)
}

/// Decodes exactly one value from `text` and checks that every byte was consumed.
func decodeOne(_ text: String, limits: RESPDecoder.Limits = .init()) throws -> RESPValue? {
    var decoder = RESPDecoder(limits: limits)
    var buffer = bytes(text)
    let value = try decoder.decode(buffer: &buffer)
    if value != nil {
        #expect(buffer.readableBytes == 0, "bytes left after \(String(reflecting: text))")
    }
    return value
}

/// Decodes `text` and returns the code of the error it throws, or `nil` if it does not throw.
func decodingErrorCode(_ text: String, limits: RESPDecoder.Limits = .init()) -> RESPParsingError.Code? {
    var decoder = RESPDecoder(limits: limits)
    var buffer = bytes(text)
    do {
        _ = try decoder.decode(buffer: &buffer)
        return nil
    } catch let error as RESPParsingError {
        return error.code
    } catch {
        Issue.record("unexpected error \(error)")
        return nil
    }
}

@Suite struct RESPDecoderTests {
    // MARK: Each type

    static let wellFormed: [(String, RESPValue)] = [
        ("+OK\r\n", RESPValue(simpleString: "OK")),
        ("+\r\n", RESPValue(simpleString: "")),
        ("-ERR unknown command 'FOO'\r\n", RESPValue(simpleError: "ERR unknown command 'FOO'")),
        (":0\r\n", .integer(0)),
        (":-42\r\n", .integer(-42)),
        (":+7\r\n", .integer(7)),
        (":9223372036854775807\r\n", .integer(.max)),
        (":-9223372036854775808\r\n", .integer(.min)),
        ("$5\r\nhello\r\n", RESPValue(bulkString: "hello")),
        ("$0\r\n\r\n", RESPValue(bulkString: "")),
        ("$4\r\na\r\nb\r\n", RESPValue(bulkString: "a\r\nb")),
        ("$-1\r\n", .null),
        ("*-1\r\n", .null),
        ("_\r\n", .null),
        ("*0\r\n", .array([])),
        ("*2\r\n$1\r\na\r\n:1\r\n", .array([RESPValue(bulkString: "a"), .integer(1)])),
        ("*2\r\n*1\r\n_\r\n$-1\r\n", .array([.array([.null]), .null])),
        (",1.5\r\n", .double(1.5)),
        (",-0.25\r\n", .double(-0.25)),
        (",10\r\n", .double(10)),
        (",1e+20\r\n", .double(1e20)),
        (",2.5E-8\r\n", .double(2.5e-8)),
        (",inf\r\n", .double(.infinity)),
        (",-inf\r\n", .double(-.infinity)),
        ("#t\r\n", .boolean(true)),
        ("#f\r\n", .boolean(false)),
        ("(3492890328409238509324850943850943825024385\r\n", .bigNumber(bytes("3492890328409238509324850943850943825024385"))),
        ("(-12\r\n", .bigNumber(bytes("-12"))),
        ("!21\r\nSYNTAX invalid syntax\r\n", .bulkError(bytes("SYNTAX invalid syntax"))),
        ("=15\r\ntxt:Some string\r\n", .verbatimString(bytes("txt:Some string"))),
        (
            "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n",
            .map([
                (RESPValue(simpleString: "first"), .integer(1)),
                (RESPValue(simpleString: "second"), .integer(2)),
            ])
        ),
        ("%0\r\n", .map([])),
        ("~3\r\n+a\r\n+b\r\n+a\r\n", .set([RESPValue(simpleString: "a"), RESPValue(simpleString: "b"), RESPValue(simpleString: "a")])),
        (
            ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n",
            .push([
                RESPValue(bulkString: "message"), RESPValue(bulkString: "ch"), RESPValue(bulkString: "hi"),
            ])
        ),
    ]

    @Test(arguments: Self.wellFormed)
    func decodesEachType(input: String, expected: RESPValue) throws {
        let value = try #require(try decodeOne(input))
        #expect(value == expected)
    }

    @Test func decodesNaN() throws {
        let value = try #require(try decodeOne(",nan\r\n"))
        guard case .double(let double) = value else {
            Issue.record("expected a double, got \(value)")
            return
        }
        #expect(double.isNaN)
    }

    @Test func dropsAttributesAndReturnsTheValueAfterThem() throws {
        let input = "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.1923\r\n*2\r\n:2039123\r\n:9543892\r\n"
        let value = try #require(try decodeOne(input))
        #expect(value == .array([.integer(2_039_123), .integer(9_543_892)]))
    }

    @Test func dropsAttributesBeforeAScalarReply() throws {
        #expect(try decodeOne("|1\r\n+a\r\n*1\r\n+b\r\n:5\r\n") == .integer(5))
        #expect(try decodeOne("|0\r\n|1\r\n+a\r\n+b\r\n$1\r\nv\r\n") == RESPValue(bulkString: "v"))
        #expect(try decodeOne("|1\r\n+a\r\n+b\r\n") == nil)
    }

    @Test func dropsAttributesInsideAggregates() throws {
        let value = try #require(try decodeOne("*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:5\r\n"))
        #expect(value == .array([RESPValue(bulkString: "v"), .integer(5)]))
    }

    // MARK: Incomplete input

    @Test func returnsNilAndConsumesNothingForEveryPrefix() throws {
        let message = "*4\r\n$3\r\nfoo\r\n%1\r\n+k\r\n,2.5\r\n|1\r\n+a\r\n+b\r\n:12\r\n=7\r\ntxt:abc\r\n"
        let expected = RESPValue.array([
            RESPValue(bulkString: "foo"),
            .map([(RESPValue(simpleString: "k"), .double(2.5))]),
            .integer(12),
            .verbatimString(bytes("txt:abc")),
        ])
        let full = bytes(message)
        for length in 0..<full.readableBytes {
            var prefix = full.getSlice(at: 0, length: length)!
            var decoder = RESPDecoder()
            #expect(try decoder.decode(buffer: &prefix) == nil, "prefix of \(length) bytes")
            #expect(prefix.readableBytes == length, "prefix of \(length) bytes was consumed")
        }
        var whole = full
        var decoder = RESPDecoder()
        #expect(try decoder.decode(buffer: &whole) == expected)
        #expect(whole.readableBytes == 0)
    }

    @Test func verifierFeedsValuesInEveryChunking() throws {
        let mget = Self.mgetReply(count: 30, size: 20)
        let pairs: [(ByteBuffer, [RESPValue])] = [
            (bytes("+OK\r\n"), [RESPValue(simpleString: "OK")]),
            (bytes("$5\r\nhello\r\n$-1\r\n"), [RESPValue(bulkString: "hello"), .null]),
            (bytes("*2\r\n:1\r\n*1\r\n#t\r\n"), [.array([.integer(1), .array([.boolean(true)])])]),
            (
                bytes("-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"),
                [
                    RESPValue(simpleError: "WRONGTYPE Operation against a key holding the wrong kind of value")
                ]
            ),
            (bytes("%1\r\n$1\r\nk\r\n~1\r\n(1\r\n"), [.map([(RESPValue(bulkString: "k"), .set([.bigNumber(bytes("1"))]))])]),
            (
                bytes("|1\r\n+ttl\r\n:3\r\n>2\r\n|0\r\n,2.5\r\n!3\r\nERR\r\n=7\r\ntxt:a\r\n\r\n"),
                [
                    .push([.double(2.5), .bulkError(bytes("ERR"))]), .verbatimString(bytes("txt:a\r\n")),
                ]
            ),
            (mget.wire, [mget.value]),
        ]
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) { RESPDecoder() }
    }

    @Test func decodesOneValueAtATimeAndLeavesTheRest() throws {
        var buffer = bytes(":1\r\n$2\r\nab\r\n*2\r\n:3")
        var decoder = RESPDecoder()
        #expect(try decoder.decode(buffer: &buffer) == .integer(1))
        #expect(try decoder.decode(buffer: &buffer) == RESPValue(bulkString: "ab"))
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(String(buffer: buffer) == "*2\r\n:3")
    }

    @Test func processorDeliversValuesAcrossChunks() throws {
        let processor = NIOSingleStepByteToMessageProcessor(RESPDecoder())
        var received: [RESPValue] = []
        for chunk in ["*2\r\n$3\r\nf", "oo\r\n", "$-1\r\n:4", "2\r\n+PONG\r", "\n"] {
            try processor.process(buffer: bytes(chunk)) { received.append($0) }
        }
        #expect(received == [.array([RESPValue(bulkString: "foo"), .null]), .integer(42), RESPValue(simpleString: "PONG")])
        #expect(processor.unprocessedBytes == 0)
    }

    @Test func hugeCountWithoutItsElementsWaitsForTheBytes() throws {
        // 16 million elements announced, a few bytes present: "incomplete", not an error or a crash.
        #expect(try decodeOne("*16000000\r\n:1\r\n") == nil)
        #expect(try decodeOne("%8000000\r\n") == nil)
        #expect(try decodeOne("$536870912\r\nabc") == nil)
    }

    @Test func aBadElementIsRejectedAsSoonAsItArrivesEvenIfTheAggregateIsIncomplete() throws {
        // The scan checks each element as it arrives; it does not wait for the bytes of all five.
        #expect(decodingErrorCode("*5\r\n:1\r\nZZ") == .invalidTypeMarker)
        #expect(decodingErrorCode("*5\r\n:1\r\n$3\r\nabcdX") == .invalidTerminator)
        #expect(try decodeOne("*5\r\n:1\r\n$3\r\nabc") == nil)
    }

    // MARK: Values arriving in pieces

    /// An `MGET` reply of `count` bulk strings of `size` bytes each, and the value it decodes to.
    static func mgetReply(count: Int, size: Int) -> (wire: ByteBuffer, value: RESPValue) {
        var wire = ByteBuffer(string: "*\(count)\r\n")
        var elements: [RESPValue] = []
        for index in 0..<count {
            let payload = String(repeating: Character(UnicodeScalar(UInt8(ascii: "a") + UInt8(index % 26))), count: size)
            wire.writeString("$\(size)\r\n\(payload)\r\n")
            elements.append(RESPValue(bulkString: payload))
        }
        return (wire, .array(elements))
    }

    @Test(arguments: [1, 7, 1000])
    func aLargeReplyArrivingInPiecesIsScannedOnlyOnce(chunkSize: Int) throws {
        let (wire, expected) = Self.mgetReply(count: 1000, size: 100)
        let elementLength = 3 + 3 + 2 + 100 + 2  // "$100\r\n" + payload + CR LF
        var decoder = RESPDecoder()
        var received = ByteBuffer()
        var scanned = 0
        var offset = 0
        var decoded: RESPValue?
        while offset < wire.readableBytes {
            let length = min(chunkSize, wire.readableBytes - offset)
            received.writeImmutableBuffer(wire.getSlice(at: offset, length: length)!)
            offset += length
            decoded = try decoder.decode(buffer: &received)
            if decoded != nil {
                break
            }
            // Everything but the last, partly received element has been validated and is not looked at again.
            #expect(decoder.scannedBytes >= scanned, "the scan went back at \(offset) bytes")
            #expect(decoder.scannedBytes > received.readableBytes - elementLength, "the scan lags at \(offset) bytes")
            #expect(received.readableBytes == offset, "a partial value was consumed")
            scanned = decoder.scannedBytes
        }
        #expect(offset == wire.readableBytes)
        #expect(decoded == expected)
        #expect(received.readableBytes == 0)
        #expect(decoder.scannedBytes == 0)
    }

    @Test func scanProgressRestartsAfterEachValue() throws {
        var decoder = RESPDecoder()
        var buffer = bytes("*2\r\n:1\r\n")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(decoder.scannedBytes == 8)
        buffer.writeString(":2\r\n*1\r\n+x")
        #expect(try decoder.decode(buffer: &buffer) == .array([.integer(1), .integer(2)]))
        #expect(decoder.scannedBytes == 0)
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(decoder.scannedBytes == 4)
        buffer.writeString("\r\n")
        #expect(try decoder.decode(buffer: &buffer) == .array([RESPValue(simpleString: "x")]))
    }

    @Test func aLongLineArrivingByteByByteIsSearchedOnce() throws {
        // 60,000 bytes of a simple string, one byte per call: the search for CR LF resumes where it stopped.
        var decoder = RESPDecoder()
        var buffer = bytes("+")
        for _ in 0..<60_000 {
            buffer.writeInteger(UInt8(ascii: "z"))
            #expect(try decoder.decode(buffer: &buffer) == nil)
        }
        buffer.writeString("\r")
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeString("\n")
        let value = try #require(try decoder.decode(buffer: &buffer))
        #expect(value.bytes?.readableBytes == 60_000)
    }

    // MARK: Hostile lengths

    static let hostileHeaders: [(String, RESPParsingError.Code)] = [
        ("$999999999999\r\n", .bulkStringTooLong),
        ("$999999999999", .bulkStringTooLong),  // rejected before the line ends
        ("*2147483647\r\n", .aggregateTooLarge),
        ("*2147483647", .aggregateTooLarge),
        ("%9999999999\r\n", .aggregateTooLarge),
        ("$-2\r\n", .invalidLength),
        ("$-1000000\r\n", .invalidLength),
        ("*-2147483648\r\n", .invalidLength),
        ("*-0\r\n", .invalidLength),
        ("$+5\r\n", .invalidLength),
        ("$00000000000000000000005\r\n", .invalidLength),
        ("*9223372036854775808\r\n", .invalidLength),
        ("$-1\rX", .invalidTerminator),
        ("$12\rX", .invalidTerminator),
    ]

    @Test(arguments: Self.hostileHeaders)
    func hostileLengthsAreRejected(input: String, code: RESPParsingError.Code) {
        #expect(decodingErrorCode(input) == code)
    }

    @Test func announcedSizesAreNeverAllocatedBeforeTheirBytesArrive() throws {
        // With the limits lifted, a count or length near 2^61 is accepted as a header. Reserving room for it
        // would trap ("can't allocate"), so returning nil proves nothing in proportion to it was reserved.
        let unlimited = RESPDecoder.Limits(maximumDepth: 4, maximumBulkLength: .max, maximumAggregateCount: .max)
        let huge = Int.max / 4
        #expect(try decodeOne("*\(huge)\r\n:1\r\n$3\r\nabc\r\n", limits: unlimited) == nil)
        #expect(try decodeOne("%\(huge)\r\n+k\r\n", limits: unlimited) == nil)
        #expect(try decodeOne("~\(huge)\r\n*\(huge)\r\n", limits: unlimited) == nil)
        #expect(try decodeOne("$\(Int.max)\r\nabc", limits: unlimited) == nil)
        #expect(try decodeOne("*1\r\n$\(Int.max - 1)\r\n", limits: unlimited) == nil)
        #expect(decodingErrorCode("*\(Int.max)\r\n", limits: unlimited) == .aggregateTooLarge)
    }

    @Test func bulkStringsAreSlicesOfTheInputNotCopies() throws {
        var buffer = bytes("$5\r\nhello\r\n")
        let inputBase = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var decoder = RESPDecoder()
        let value = try #require(try decoder.decode(buffer: &buffer))
        guard case .bulkString(let payload) = value else {
            Issue.record("expected a bulk string, got \(value)")
            return
        }
        let payloadBase = payload.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(payloadBase == inputBase + 4)
        #expect(String(buffer: payload) == "hello")
    }

    // MARK: Malformed input

    static let malformed: [(String, RESPParsingError.Code)] = [
        ("X1\r\n", .invalidTypeMarker),
        (";3\r\nabc\r\n", .invalidTypeMarker),
        ("+OK\rX", .invalidTerminator),
        ("$3\r\nfooXY", .invalidTerminator),
        ("$3\r\nfoo\rX", .invalidTerminator),
        (":12a\r\n", .invalidInteger),
        (":\r\n", .invalidInteger),
        (":-\r\n", .invalidInteger),
        (":9223372036854775808\r\n", .invalidInteger),
        (":-9223372036854775809\r\n", .invalidInteger),
        ("$-2\r\n", .invalidLength),
        ("$abc\r\n", .invalidLength),
        ("*-5\r\n", .invalidLength),
        ("~-1\r\n", .invalidLength),
        ("%-1\r\n", .invalidLength),
        ("!-1\r\n", .invalidLength),
        ("=-1\r\n", .invalidLength),
        ("$99999999999999999999\r\n", .invalidLength),
        ("$?\r\n", .unsupportedStreamedType),
        ("*?\r\n", .unsupportedStreamedType),
        (",abc\r\n", .invalidDouble),
        (",0x1p3\r\n", .invalidDouble),
        (",infinity\r\n", .invalidDouble),
        (",\r\n", .invalidDouble),
        (",1.2.3\r\n", .invalidDouble),
        ("#x\r\n", .invalidBoolean),
        ("#tt\r\n", .invalidBoolean),
        ("#\r\n", .invalidBoolean),
        ("(12a\r\n", .invalidBigNumber),
        ("(\r\n", .invalidBigNumber),
        ("_x\r\n", .invalidNull),
        ("=3\r\nabc\r\n", .invalidVerbatimString),
        ("=5\r\ntxt;a\r\n", .invalidVerbatimString),
        ("*2\r\n:1\r\nZ\r\n", .invalidTypeMarker),
    ]

    @Test(arguments: Self.malformed)
    func rejectsMalformedInput(input: String, code: RESPParsingError.Code) {
        #expect(decodingErrorCode(input) == code)
    }

    @Test func errorPointsAtTheOffendingByte() throws {
        var decoder = RESPDecoder()
        var buffer = bytes(":1\r\n:12a4\r\n")
        #expect(try decoder.decode(buffer: &buffer) == .integer(1))
        let error = try #require(throws: RESPParsingError.self) { try decoder.decode(buffer: &buffer) }
        #expect(error.code == .invalidInteger)
        #expect(String(buffer: error.buffer) == ":12a4\r\n")
        #expect(error.offset == 1)
        #expect(error.description.contains("invalidInteger"))
        #expect(error.description.contains(":12a4"))
        #expect(buffer.readableBytes == 7, "a failed decode must not consume input")
    }

    @Test func errorContextIsCut() throws {
        let longLine = String(repeating: "a", count: 200)
        let error = try #require(throws: RESPParsingError.self) { try decodeOne("-\(longLine)\rX") }
        #expect(error.code == .invalidTerminator)
        #expect(error.buffer.readableBytes == RESPParsingError.maximumContextLength)
        #expect(error.offset == 202)
    }

    // MARK: Limits

    @Test func lineLengthLimit() throws {
        let limits = RESPDecoder.Limits(maximumLineLength: 8)
        #expect(try decodeOne("+12345678\r\n", limits: limits) == RESPValue(simpleString: "12345678"))
        #expect(decodingErrorCode("+123456789\r\n", limits: limits) == .lineTooLong)
        // Without any CR yet: rejected as soon as more than the limit has arrived, not buffered forever.
        #expect(decodingErrorCode("+123456789", limits: limits) == .lineTooLong)
        #expect(try decodeOne("+12345678", limits: limits) == nil)
        #expect(decodingErrorCode(":1234567890\r\n", limits: limits) == .lineTooLong)
    }

    @Test func bulkLengthLimit() throws {
        let limits = RESPDecoder.Limits(maximumBulkLength: 4)
        #expect(try decodeOne("$4\r\nabcd\r\n", limits: limits) == RESPValue(bulkString: "abcd"))
        #expect(decodingErrorCode("$5\r\n", limits: limits) == .bulkStringTooLong)
        #expect(decodingErrorCode("!5\r\nERR x\r\n", limits: limits) == .bulkStringTooLong)
        #expect(decodingErrorCode("=9\r\ntxt:abcde\r\n", limits: limits) == .bulkStringTooLong)
    }

    @Test func aggregateCountLimit() throws {
        let limits = RESPDecoder.Limits(maximumAggregateCount: 2)
        #expect(try decodeOne("*2\r\n:1\r\n:2\r\n", limits: limits) == .array([.integer(1), .integer(2)]))
        #expect(decodingErrorCode("*3\r\n", limits: limits) == .aggregateTooLarge)
        #expect(decodingErrorCode("~3\r\n", limits: limits) == .aggregateTooLarge)
        #expect(decodingErrorCode(">3\r\n", limits: limits) == .aggregateTooLarge)
        #expect(decodingErrorCode("%3\r\n", limits: limits) == .aggregateTooLarge)
        #expect(decodingErrorCode("|3\r\n", limits: limits) == .aggregateTooLarge)
    }

    @Test func depthLimit() throws {
        let limits = RESPDecoder.Limits(maximumDepth: 3)
        #expect(try decodeOne("*1\r\n*1\r\n*1\r\n:1\r\n", limits: limits) == .array([.array([.array([.integer(1)])])]))
        #expect(decodingErrorCode("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", limits: limits) == .nestingTooDeep)
        #expect(decodingErrorCode("*1\r\n%1\r\n~1\r\n>0\r\n", limits: limits) == .nestingTooDeep)
        #expect(decodingErrorCode("*1\r\n", limits: RESPDecoder.Limits(maximumDepth: 0)) == .nestingTooDeep)
        #expect(try decodeOne(":1\r\n", limits: RESPDecoder.Limits(maximumDepth: 0)) == .integer(1))
    }

    @Test func deepNestingWithDefaultLimitsThrowsInsteadOfOverflowingTheStack() {
        let input = String(repeating: "*1\r\n", count: 100_000) + ":1\r\n"
        #expect(decodingErrorCode(input) == .nestingTooDeep)
    }

    // MARK: End of input

    @Test func decodeLastThrowsTruncatedForAPartialValue() throws {
        var decoder = RESPDecoder()
        var buffer = bytes("$5\r\nhel")
        let error = try #require(throws: RESPParsingError.self) { try decoder.decodeLast(buffer: &buffer, seenEOF: true) }
        #expect(error.code == .truncated)
    }

    @Test func decodeLastDecodesCompleteValuesAndEndsWithNil() throws {
        var decoder = RESPDecoder()
        var buffer = bytes("+a\r\n")
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true) == RESPValue(simpleString: "a"))
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true) == nil)
    }
}

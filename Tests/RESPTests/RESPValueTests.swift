import NIOCore
import RESP
import Testing

@Suite struct RESPValueTests {
    // MARK: Equality

    @Test func sameBytesOfDifferentKindsDiffer() {
        #expect(RESPValue(bulkString: "OK") != RESPValue(simpleString: "OK"))
        #expect(RESPValue(simpleError: "ERR") != .bulkError(ByteBuffer(string: "ERR")))
        #expect(RESPValue.array([.integer(1)]) != .set([.integer(1)]))
        #expect(RESPValue.set([.integer(1)]) != .push([.integer(1)]))
        #expect(RESPValue.integer(1) != .double(1))
        #expect(RESPValue.integer(1) != .boolean(true))
        #expect(RESPValue.null != .array([]))
        #expect(RESPValue.null != RESPValue(bulkString: ""))
    }

    @Test func bulkStringsCompareByReadableBytesOnly() {
        var shifted = ByteBuffer(string: "__abc")
        shifted.moveReaderIndex(forwardBy: 2)
        #expect(RESPValue.bulkString(shifted) == RESPValue(bulkString: "abc"))
        #expect(RESPValue.bulkString(shifted) != RESPValue(bulkString: "abd"))
    }

    @Test func mapsCompareInOrder() {
        let a = RESPValue(simpleString: "a")
        let b = RESPValue(simpleString: "b")
        #expect(RESPValue.map([(a, .integer(1)), (b, .integer(2))]) == .map([(a, .integer(1)), (b, .integer(2))]))
        #expect(RESPValue.map([(a, .integer(1)), (b, .integer(2))]) != .map([(b, .integer(2)), (a, .integer(1))]))
        #expect(RESPValue.map([(a, .integer(1))]) != .map([(a, .integer(2))]))
        #expect(RESPValue.map([(a, .integer(1))]) != .map([(a, .integer(1)), (b, .integer(2))]))
    }

    @Test func nanIsNotEqualToItself() {
        #expect(RESPValue.double(.nan) != .double(.nan))
    }

    // MARK: Conversions

    @Test func strings() {
        #expect(RESPValue(bulkString: "żółw").string == "żółw")
        #expect(RESPValue(simpleString: "PONG").string == "PONG")
        #expect(RESPValue.verbatimString(ByteBuffer(string: "txt:Some string")).string == "Some string")
        #expect(RESPValue.verbatimString(ByteBuffer(string: "mkd:")).string == "")
        #expect(RESPValue.null.string == nil)
        #expect(RESPValue.integer(5).string == nil)
        #expect(RESPValue(simpleError: "ERR x").string == nil)
    }

    @Test func bytesOfAVerbatimStringSkipItsFormat() throws {
        let bytes = try #require(RESPValue.verbatimString(ByteBuffer(string: "txt:\u{0}\u{1}")).bytes)
        #expect(Array(bytes.readableBytesView) == [0, 1])
        #expect(RESPValue.array([]).bytes == nil)
    }

    @Test func integers() {
        #expect(RESPValue.integer(-9).int64 == -9)
        #expect(RESPValue(bulkString: "42").int64 == 42)
        #expect(RESPValue(bulkString: "-9223372036854775808").int64 == .min)
        #expect(RESPValue(bulkString: "9223372036854775808").int64 == nil)
        #expect(RESPValue(bulkString: "4x").int64 == nil)
        #expect(RESPValue(bulkString: "").int64 == nil)
        #expect(RESPValue(bulkString: "1.0").int64 == nil)
        #expect(RESPValue(simpleString: "12").int64 == 12)
        #expect(RESPValue.bigNumber(ByteBuffer(string: "123")).int64 == 123)
        #expect(RESPValue.bigNumber(ByteBuffer(string: "123456789012345678901234567890")).int64 == nil)
        #expect(RESPValue.double(1).int64 == nil)
        #expect(RESPValue.null.int64 == nil)
        #expect(RESPValue.integer(7).int == 7)
    }

    @Test func doubles() {
        #expect(RESPValue.double(0.5).double == 0.5)
        #expect(RESPValue.integer(3).double == 3)
        #expect(RESPValue(bulkString: "12.25").double == 12.25)
        #expect(RESPValue(bulkString: "13").double == 13)
        #expect(RESPValue(bulkString: "100000000000000000000").double == 1e20)
        #expect(RESPValue(bulkString: "-inf").double == -.infinity)
        #expect(RESPValue(bulkString: "1e-05").double == 1e-5)
        #expect(RESPValue(bulkString: "twelve").double == nil)
        #expect(RESPValue(bulkString: "0x10").double == nil)
        #expect(RESPValue.null.double == nil)
    }

    @Test func booleans() {
        #expect(RESPValue.boolean(true).bool == true)
        #expect(RESPValue.boolean(false).bool == false)
        #expect(RESPValue.integer(1).bool == true)
        #expect(RESPValue.integer(0).bool == false)
        #expect(RESPValue.integer(2).bool == nil)
        #expect(RESPValue(bulkString: "1").bool == nil)
    }

    @Test func elementsAndErrors() {
        let list: [RESPValue] = [.integer(1), .null]
        #expect(RESPValue.array(list).elements == list)
        #expect(RESPValue.set(list).elements == list)
        #expect(RESPValue.push(list).elements == list)
        #expect(RESPValue.null.elements == nil)
        #expect(RESPValue.map([]).elements == nil)

        let wrongType = "WRONGTYPE Operation against a key holding the wrong kind of value"
        #expect(RESPValue(simpleError: wrongType).errorMessage == wrongType)
        #expect(RESPValue.bulkError(ByteBuffer(string: "SYNTAX x")).errorMessage == "SYNTAX x")
        #expect(RESPValue(simpleString: "OK").errorMessage == nil)
        #expect(RESPValue(simpleError: "ERR").isError)
        #expect(RESPValue.bulkError(ByteBuffer()).isError)
        #expect(!RESPValue(bulkString: "ERR").isError)
        #expect(RESPValue.null.isNull)
        #expect(!RESPValue(bulkString: "").isNull)
    }
}

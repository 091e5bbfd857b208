import CacheRing
import NIOCore
import RESP
import Testing

@testable import Caches

/// The typed commands: the exact bytes each one writes, the name it is counted under, and how it reads replies.
@Suite struct CacheCommandTests {
    static func encoded(_ command: some CacheCommand) -> String {
        var encoder = RESPCommandEncoder()
        command.encode(into: &encoder)
        return String(buffer: encoder.buffer)
    }

    static func reply(_ text: String) throws -> RESPReply {
        var decoder = RESPFrameDecoder()
        var buffer = ByteBuffer(string: text)
        return try #require(try decoder.decode(buffer: &buffer))
    }

    static func bulk(_ text: String) -> String { "$\(text.utf8.count)\r\n\(text)\r\n" }

    static func command(_ arguments: String...) -> String {
        "*\(arguments.count)\r\n" + arguments.map(bulk).joined()
    }

    @Test func singleKeyCommandsWriteTheirBytesAndNames() {
        let value = ByteBuffer(string: "\"v\"")
        let cases: [(any CacheCommand, String, String)] = [
            (GetCommand(storedKey: "p:1:k"), Self.command("GET", "p:1:k"), "GET"),
            (SetCommand(storedKey: "k", value: value, ttl: nil), Self.command("SET", "k", "\"v\""), "SET"),
            (SetCommand(storedKey: "k", value: value, ttl: 60), Self.command("SETEX", "k", "60", "\"v\""), "SETEX"),
            (AddCommand(storedKey: "k", value: value, ttl: nil), Self.command("SET", "k", "\"v\"", "NX"), "SET"),
            (AddCommand(storedKey: "k", value: value, ttl: 5), Self.command("SET", "k", "\"v\"", "EX", "5", "NX"), "SET"),
            (ExpireCommand(storedKey: "k", ttl: 9), Self.command("EXPIRE", "k", "9"), "EXPIRE"),
            (ExpireCommand(storedKey: "k", ttl: nil), Self.command("PERSIST", "k"), "PERSIST"),
            (TTLCommand(storedKey: "k"), Self.command("TTL", "k"), "TTL"),
            (IncrementCommand(storedKey: "k", delta: -3), Self.command("INCRBY", "k", "-3"), "INCRBY"),
            (IncrementFloatCommand(storedKey: "k", delta: 0.5), Self.command("INCRBYFLOAT", "k", "0.5"), "INCRBYFLOAT"),
            (DeleteCommand(storedKey: "k"), Self.command("UNLINK", "k"), "UNLINK"),
            (FlushCommand(), Self.command("FLUSHDB", "ASYNC"), "FLUSHDB"),
            (PingCommand(), Self.command("PING"), "PING"),
            (StatusCommand(), Self.command("PING") + Self.command("DBSIZE"), "PING"),
        ]
        for (command, bytes, name) in cases {
            #expect(Self.encoded(command) == bytes)
            #expect(command.name.description == name)
        }
    }

    @Test func manyKeyCommandsWriteOnlyTheSelectedKeys() {
        let keys = ["a", "b", "c", "d"]
        let prefixed = CacheKeys(head: "p:2:", names: keys)
        #expect(Self.encoded(GetManyCommand(keys: prefixed, selection: .all(4))) == Self.command("MGET", "p:2:a", "p:2:b", "p:2:c", "p:2:d"))
        #expect(Self.encoded(GetManyCommand(keys: prefixed, selection: .some([3, 1]))) == Self.command("MGET", "p:2:d", "p:2:b"))
        #expect(Self.encoded(DeleteManyCommand(keys: keys, selection: .some([2]))) == Self.command("UNLINK", "c"))
        #expect(GetManyCommand(keys: prefixed, selection: .some([3, 1])).key == "p:2:d")

        let entries = keys.map { (key: $0, value: ByteBuffer(string: $0.uppercased())) }
        let plain = SetManyCommand(entries: entries, selection: .some([0, 2]), ttl: nil)
        #expect(Self.encoded(plain) == Self.command("MSET", "a", "A", "c", "C"))
        #expect(plain.replyCount == 1)
    }

    /// With a ttl, every EXPIRE is inside the MULTI…EXEC that stores the values: no key is ever stored without its
    /// ttl (the seed sends the EXPIREs after the MSET, outside any transaction).
    @Test func setManyWithATTLIsOneTransaction() {
        let entries = ["a", "b"].map { (key: $0, value: ByteBuffer(string: "1")) }
        let command = SetManyCommand(entries: entries, selection: .all(2), ttl: 30)
        let expected =
            Self.command("MULTI") + Self.command("MSET", "a", "1", "b", "1") + Self.command("EXPIRE", "a", "30")
            + Self.command("EXPIRE", "b", "30") + Self.command("EXEC")
        #expect(Self.encoded(command) == expected)
        #expect(command.replyCount == 5)
        #expect(command.name == .mset)
    }

    /// A key hashed from its two parts lands where the joined key lands, hash tags included.
    @Test func keysAreRoutedFromTheirPartsAsWhenJoined() throws {
        let ring = try HashRing(nodes: (0..<5).map { HashRing.Node(name: "node-\($0)") }, hash: .md5, hashTag: "{}")
        let names = (0..<500).map { $0 % 7 == 0 ? "user:{\($0 % 13)}:profile" : "key:\($0)" } + ["", "{}", "é:ü"]
        let keys = CacheKeys(head: "forum:2:", names: names)
        for position in 0..<keys.count {
            #expect(keys.nodeIndex(position, on: ring) == ring.nodeIndex(forKey: "forum:2:" + names[position]))
            #expect(keys[position] == "forum:2:" + names[position])
        }
    }

    @Test func connectionSetUpSendsOnlyWhatIsConfigured() {
        let bare = ConnectionSetUpCommand(username: nil, password: nil, database: nil, clientName: nil)
        #expect(Self.encoded(bare) == Self.command("PING"))
        #expect(bare.replyCount == 1)
        let full = ConnectionSetUpCommand(username: "u", password: "p", database: 3, clientName: "svc")
        #expect(
            Self.encoded(full)
                == Self.command("AUTH", "u", "p") + Self.command("SELECT", "3") + Self.command("CLIENT", "SETNAME", "svc")
                + Self.command("PING")
        )
        #expect(full.replyCount == 4)
    }

    @Test func repliesAreReadOrRejected() throws {
        let get = GetCommand(storedKey: "k")
        #expect(try get.decode(Self.reply("$3\r\n\"v\"\r\n")) == ByteBuffer(string: "\"v\""))
        #expect(try get.decode(Self.reply("$-1\r\n")) == nil)
        #expect(get.lookups(in: nil)! == (0, 1))
        let wrongShape = #expect(throws: CacheError.self) { try get.decode(Self.reply(":1\r\n")) }
        #expect(wrongShape?.code == .protocolViolation)

        let add = AddCommand(storedKey: "k", value: ByteBuffer(), ttl: nil)
        #expect(try add.decode(Self.reply("+OK\r\n")))
        #expect(try !add.decode(Self.reply("$-1\r\n")))
        #expect(try ExpireCommand(storedKey: "k", ttl: 1).decode(Self.reply(":1\r\n")))
        #expect(try !ExpireCommand(storedKey: "k", ttl: nil).decode(Self.reply(":0\r\n")))
        #expect(try TTLCommand(storedKey: "k").decode(Self.reply(":-2\r\n")) == -2)
        #expect(try IncrementFloatCommand(storedKey: "k", delta: 1).decode(Self.reply("$4\r\n13.5\r\n")) == 13.5)
        #expect(throws: CacheError.self) { try IncrementFloatCommand(storedKey: "k", delta: 1).decode(Self.reply("$3\r\nabc\r\n")) }

        let mget = GetManyCommand(keys: CacheKeys(head: "", names: ["a", "b", "c"]), selection: .all(3))
        let values = try mget.decode(Self.reply("*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n"))
        #expect(mget.lookups(in: values)! == (2, 1))
        var read: [ByteBuffer?] = []
        values.forEach { _, bytes in read.append(bytes) }
        #expect(read == [ByteBuffer(string: "1"), nil, ByteBuffer(string: "3")])
        // A reply with fewer values than keys is a protocol violation, not a short result.
        #expect(throws: CacheError.self) { try mget.decode(Self.reply("*2\r\n$1\r\n1\r\n$-1\r\n")) }

        let batch = SetManyCommand(entries: [(key: "a", value: ByteBuffer(string: "1"))], selection: .all(1), ttl: 5)
        try batch.decode(Self.reply("*2\r\n+OK\r\n:1\r\n"))
        let failed = #expect(throws: CacheError.self) { try batch.decode(Self.reply("*2\r\n+OK\r\n-WRONGTYPE bad\r\n")) }
        #expect(failed?.code == .wrongType)
    }
}

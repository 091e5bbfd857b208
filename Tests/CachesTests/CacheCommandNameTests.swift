import NIOCore
import RESP
import Testing

@testable import Caches

/// Reading the command name (and key) back from the bytes the encoder wrote, for metrics and trace logs.
@Suite struct CacheCommandNameTests {
    /// Encodes `write` after `prefix` (bytes of earlier requests in the same buffer) and reads it back.
    private func read(prefix: String = "", withKey: Bool = true, _ write: (inout RESPCommandEncoder) -> Void) -> (String, String?) {
        var encoder = RESPCommandEncoder()
        encoder.buffer.writeString(prefix)
        let offset = encoder.buffer.writerIndex
        write(&encoder)
        let (command, key) = CacheCommandName.read(from: encoder.buffer, at: offset, withKey: withKey)
        return (command.description, key)
    }

    @Test func readsTheCommandAndItsKey() {
        #expect(self.read { $0.writeCommand("GET", "forum:2:user:1") } == ("GET", "forum:2:user:1"))
        #expect(self.read { $0.writeCommand("SETEX", "k", 600, "v") } == ("SETEX", "k"))
        #expect(self.read { $0.writeCommand("MGET", "a", "b", "c") } == ("MGET", "a"))
        #expect(self.read { $0.writeCommand("INCRBYFLOAT", "n", "1.5") } == ("INCRBYFLOAT", "n"))
        #expect(self.read { $0.writeCommand("PING") } == ("PING", nil))
    }

    @Test func theKeyIsReadOnlyWhenAsked() {
        #expect(self.read(withKey: false) { $0.writeCommand("GET", "k") } == ("GET", nil))
    }

    @Test func readsAtTheOffsetAfterEarlierRequests() {
        #expect(self.read(prefix: "*2\r\n$3\r\nGET\r\n$1\r\nx\r\n") { $0.writeCommand("UNLINK", "y") } == ("UNLINK", "y"))
    }

    @Test func aTransactionIsNamedAfterItsFirstCommand() {
        let result = self.read { encoder in
            encoder.writeCommand("MULTI")
            encoder.writeCommand("MSET", "a", "1", "b", "2")
            encoder.writeCommand("EXPIRE", "a", 10)
            encoder.writeCommand("EXEC")
        }
        #expect(result == ("MSET", "a"))
    }

    @Test func unknownCommandsAreOther() {
        #expect(self.read { $0.writeCommand("HGETALL", "h") } == ("other", "h"))
        #expect(self.read { $0.writeCommand("get", "k") } == ("other", "k"), "names are matched as the cache writes them")
        #expect(self.read { $0.writeCommand("GETX", "k") } == ("other", "k"))
    }

    @Test func bytesThatAreNotACommandGiveOtherAndNoKey() {
        for garbage in ["", "+OK\r\n", "*", "*2\r", "*2\r\n$3\r\nGE", "*2\r\n$99\r\nGET\r\n", "*x\r\n", "*2\r\n:3\r\n", "*-1\r\n"] {
            let result = self.read { $0.buffer.writeString(garbage) }
            #expect(result == ("other", nil), "\(String(reflecting: garbage))")
        }
        // A command whose key is cut off keeps its name.
        #expect(self.read { $0.buffer.writeString("*2\r\n$3\r\nGET\r\n$5\r\nab") } == ("GET", nil))
    }
}

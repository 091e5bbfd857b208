import Testing

@testable import CacheRing

/// Redis Cluster's key → slot function. `Tests/IntegrationTests/ClusterTests.swift` checks it against a real
/// server's `CLUSTER KEYSLOT` over 100,000 random keys; these are the cases the specification spells out.
@Suite("Cluster slots")
struct ClusterSlotTests {
    @Test("CRC-16/XMODEM of the whole key, modulo 16384, as the Redis documentation's examples")
    func documentedSlots() {
        // CRC-16/XMODEM("123456789") is 0x31C3, the specification's check value.
        #expect(ClusterSlot.slot(forKey: "123456789") == 0x31C3)
        // The cluster tutorial's redirections and CLUSTER KEYSLOT's documented examples.
        #expect(ClusterSlot.slot(forKey: "foo") == 12182)
        #expect(ClusterSlot.slot(forKey: "hello") == 866)
        #expect(ClusterSlot.slot(forKey: "somekey") == 11058)
        #expect(ClusterSlot.slot(forKey: "foo{hash_tag}") == 2515)
        #expect(ClusterSlot.slot(forKey: "") == 0)
    }

    @Test("the hash tag: the first non-empty {…}, else the whole key")
    func hashTags() {
        func slot(_ key: String) -> Int { ClusterSlot.slot(forKey: key) }
        #expect(slot("{user1000}.following") == slot("user1000"))
        #expect(slot("{user1000}.followers") == slot("{user1000}.following"))
        #expect(slot("forum:1:{user:42}") == slot("user:42"))
        // An empty tag hashes the whole key; only the first `{` counts.
        #expect(slot("foo{}{bar}") != slot("bar"))
        #expect(slot("foo{}{bar}") == Self.crcSlot("foo{}{bar}"))
        #expect(slot("foo{{bar}}zap") == slot("{bar"))
        #expect(slot("foo{bar}{zap}") == slot("bar"))
        // No closing brace: the whole key.
        #expect(slot("foo{bar") == Self.crcSlot("foo{bar"))
        #expect(slot("}{") == Self.crcSlot("}{"))
        // Multi-byte UTF-8 inside and around a tag.
        #expect(slot("€{ключ}ü") == slot("ключ"))
    }

    @Test("every slot is within 0..<16384 and the key's bytes decide it, however the string is stored")
    func range() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            let length = Int.random(in: 0..<40, using: &random)
            let key = String((0..<length).map { _ in Character(Unicode.Scalar(UInt8.random(in: 32..<127, using: &random))) })
            let slot = ClusterSlot.slot(forKey: key)
            #expect((0..<ClusterSlot.count).contains(slot))
            // A bridged or substring-backed copy has the same bytes, so the same slot.
            #expect(ClusterSlot.slot(forKey: String(Substring(key))) == slot)
        }
    }

    @Test("a key given as a head and a tail has the slot of the joined key, braces in either part or across them")
    func joiningParts() {
        var random = SystemRandomNumberGenerator()
        // Braces are frequent, so tags within the head, within the tail and across the two all occur.
        let alphabet = Array("ab{}:€".unicodeScalars)
        func randomPart() -> String {
            String(String.UnicodeScalarView((0..<Int.random(in: 0..<8, using: &random)).map { _ in alphabet.randomElement(using: &random)! }))
        }
        for _ in 0..<20_000 {
            var head = randomPart()
            var tail = randomPart()
            let joined = ClusterSlot.slot(forKey: head + tail)
            let parts = head.withUTF8 { head in
                tail.withUTF8 { tail in ClusterSlot.slot(forKeyJoining: UnsafeRawBufferPointer(head), UnsafeRawBufferPointer(tail)) }
            }
            #expect(parts == joined, "head \(head.debugDescription), tail \(tail.debugDescription)")
        }
        // The cases spelled out: a tag across the parts, an empty one across them, a tag in the head.
        func slot(_ head: String, _ tail: String) -> Int {
            var head = head
            var tail = tail
            return head.withUTF8 { head in
                tail.withUTF8 { tail in ClusterSlot.slot(forKeyJoining: UnsafeRawBufferPointer(head), UnsafeRawBufferPointer(tail)) }
            }
        }
        #expect(slot("app:{us", "er}:1") == ClusterSlot.slot(forKey: "user"))
        #expect(slot("app:{", "}:1") == Self.crcSlot("app:{}:1"))
        #expect(slot("{app}:1:", "{user}") == ClusterSlot.slot(forKey: "app"))
        #expect(slot("app:1:", "{user}") == ClusterSlot.slot(forKey: "user"))
        #expect(slot("app:1:", "user") == Self.crcSlot("app:1:user"))
    }

    @Test("eight bytes at a time: the CRC of every length up to 64 bytes, whole or in two parts, is the bit-by-bit CRC")
    func slicedCRC() {
        for length in 0...64 {
            for _ in 0..<20 {
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
                let split = Int.random(in: 0...length)
                let expected = Self.crc(bytes)
                bytes.withUnsafeBytes { all in
                    #expect(ClusterSlot.crc16(all) == expected, "\(bytes)")
                    let head = UnsafeRawBufferPointer(rebasing: all[..<split])
                    let tail = UnsafeRawBufferPointer(rebasing: all[split...])
                    #expect(ClusterSlot.crc16(tail, continuing: ClusterSlot.crc16(head)) == expected, "\(bytes) split at \(split)")
                }
            }
        }
    }

    /// CRC-16/XMODEM of the whole key modulo 16384.
    static func crcSlot(_ key: String) -> Int {
        Int(Self.crc(Array(key.utf8)) & 0x3fff)
    }

    /// CRC-16/XMODEM, bit by bit (independent of the tables the implementation uses).
    static func crc(_ bytes: [UInt8]) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc ^= UInt16(byte) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
        }
        return crc
    }
}

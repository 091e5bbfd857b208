import RedisTestSupport
import Testing

@testable import CacheRing

@Suite struct HashFunctionTests {
    @Test func fixtureCoversEveryFunction() throws {
        let vectors = try KetamaVectors.shared.get()
        let names = Set(HashRing.HashFunction.allCases.map(\.rawValue))
        #expect(names == Set(vectors.hashValues.keys))
        #expect(names.count == 12)
    }

    @Test(arguments: HashRing.HashFunction.allCases)
    func matchesRecordedValues(_ function: HashRing.HashFunction) throws {
        let vectors = try KetamaVectors.shared.get()
        let values = try #require(vectors.hashValues[function.rawValue], "no hash_values for \(function.rawValue)")
        try #require(values.count == 10)
        for value in values {
            let bytes = try value.keyBytes
            #expect(function.hash(bytes) == value.hash, "\(function.rawValue)(\(value.keyHex))")
            let raw = bytes.withUnsafeBytes { function.hash($0) }
            #expect(raw == value.hash, "\(function.rawValue)(\(value.keyHex)) over raw bytes")
        }
    }

    @Test func fnv1a64SignExtendsNonASCIIBytes() {
        // docs/KETAMA.md §8: x86-64 twemproxy sees 0xC3 as 0xFFFFFFC3; an unsigned-byte FNV would give 0xcfa40d89.
        #expect(HashRing.HashFunction.fnv1a_64.hash(Array("café".utf8)) == 0xcef6_bb89)
        #expect(HashRing.HashFunction.fnv1a_64.hash(Array("a".utf8)) == 2_248_273_036)
    }

    @Test func fnv1a64OfEmptyInputIsTheBasis() {
        // The function alone returns the basis; the ring uses 0 for empty keys instead (tested in HashRingTests).
        #expect(HashRing.HashFunction.fnv1a_64.hash([UInt8]()) == 0x8422_2325)
    }

    @Test func nonContiguousCollectionsHashLikeArrays() {
        let key = Array("user:1000:profile".utf8)
        let lazy = key.lazy.map { $0 }
        for function in HashRing.HashFunction.allCases {
            #expect(function.hash(lazy) == function.hash(key), "\(function.rawValue)")
        }
    }

    static let rfc1321: [(String, String)] = [
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("a", "0cc175b9c0f1b6a831c399e269772661"),
        ("abc", "900150983cd24fb0d6963f7d28e17f72"),
        ("message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
        ("abcdefghijklmnopqrstuvwxyz", "c3fcd3d76192e4007dfb496cca67e13b"),
        ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", "d174ab98d277d9f5a5611c2c9f419d9f"),
        (
            "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            "57edf4a22be3c955ac49da2e2107b67a"
        ),
    ]

    @Test func md5MatchesRFC1321() throws {
        for (message, digest) in Self.rfc1321 {
            #expect(MD5.hash(Array(message.utf8)).bytes == (try hexBytes(digest)), "md5(\"\(message)\")")
        }
    }

    @Test func md5HandlesPaddingBoundaries() throws {
        // Lengths around the 56-byte padding limit and the 64-byte block (reference: Python hashlib).
        let expected: [Int: String] = [
            55: "ef1772b6dff9a122358552954ad0df65",
            56: "3b0c8ac703f828b04c6c197006d17218",
            63: "b06521f39153d618550606be297466d5",
            64: "014842d480b571495a4a0363793f7367",
            65: "c743a45e0d2e6a95cb859adae0248435",
            119: "8a7bd0732ed6a28ce75f6dabc90e1613",
            120: "5f61c0ccad4cac44c75ff505e1f1e537",
        ]
        for (length, digest) in expected {
            #expect(MD5.hash([UInt8](repeating: UInt8(ascii: "a"), count: length)).bytes == (try hexBytes(digest)), "length \(length)")
        }
    }

    @Test func md5OfSpecExample() throws {
        // docs/KETAMA.md §4: md5("node-a-0") = debc4121 66182da2 1073b495 6e4ae38e.
        let digest = MD5.hash(Array("node-a-0".utf8))
        #expect(try digest.bytes == hexBytes("debc412166182da21073b4956e4ae38e"))
        #expect([digest[0], digest[1], digest[2], digest[3]] == [0x2141_bcde, 0xa22d_1866, 0x95b4_7310, 0x8ee3_4a6e])
        #expect(HashRing.HashFunction.md5.hash(Array("node-a-0".utf8)) == 0x2141_bcde)
    }
}

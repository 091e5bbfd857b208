/// The key hash functions of twemproxy 0.5.0 (`src/hashkit/`), reimplemented bit for bit.
///
/// Every function returns the `uint32_t` that nutcracker computes on x86-64, where `char` is signed: functions
/// that read bytes through `const char *` without masking see bytes ≥ 0x80 sign-extended (see ``signExtended(_:)``).
/// None of them allocates.
enum KetamaHashes {
    /// A byte as x86-64 C reads it through `(uint32_t)key[i]` with a signed `char`: 0xC3 becomes 0xFFFFFFC3.
    @inline(__always)
    static func signExtended(_ byte: UInt8) -> UInt32 {
        UInt32(bitPattern: Int32(Int8(bitPattern: byte)))
    }

    /// twemproxy's `fnv1a_64`: a 32-bit FNV-1a with the low 32 bits of the 64-bit basis and prime (0x1b3).
    static func fnv1a64(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt32 = 0x8422_2325
        for byte in key {
            hash ^= Self.signExtended(byte)
            hash = hash &* 0x1b3
        }
        return hash
    }

    /// twemproxy's `fnv1_64`: 64-bit FNV-1 with sign-extended bytes, truncated to the low 32 bits.
    static func fnv164(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in key {
            hash = hash &* 0x100_0000_01b3
            hash ^= UInt64(bitPattern: Int64(Int8(bitPattern: byte)))
        }
        return UInt32(truncatingIfNeeded: hash)
    }

    /// twemproxy's `fnv1_32`: standard 32-bit FNV-1 with sign-extended bytes.
    static func fnv132(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in key {
            hash = hash &* 16_777_619
            hash ^= Self.signExtended(byte)
        }
        return hash
    }

    /// twemproxy's `fnv1a_32`: standard 32-bit FNV-1a with sign-extended bytes.
    static func fnv1a32(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt32 = 2_166_136_261
        for byte in key {
            hash ^= Self.signExtended(byte)
            hash = hash &* 16_777_619
        }
        return hash
    }

    /// twemproxy's `md5`: the first four digest bytes as a little-endian integer.
    static func md5(_ key: UnsafeRawBufferPointer) -> UInt32 {
        MD5.hash(key).a
    }

    /// twemproxy's `murmur`: MurmurHash2 with seed `0xdeadbeef * length` (bytes unsigned).
    static func murmur(_ key: UnsafeRawBufferPointer) -> UInt32 {
        let m: UInt32 = 0x5bd1_e995
        let length = UInt32(truncatingIfNeeded: key.count)
        var hash = (0xdead_beef &* length) ^ length
        var offset = 0
        while key.count - offset >= 4 {
            var k = UInt32(littleEndian: key.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            k = k &* m
            k ^= k >> 24
            k = k &* m
            hash = hash &* m
            hash ^= k
            offset += 4
        }
        let rest = key.count - offset
        if rest == 3 {
            hash ^= UInt32(key[offset + 2]) << 16
        }
        if rest >= 2 {
            hash ^= UInt32(key[offset + 1]) << 8
        }
        if rest >= 1 {
            hash ^= UInt32(key[offset])
            hash = hash &* m
        }
        hash ^= hash >> 13
        hash = hash &* m
        hash ^= hash >> 15
        return hash
    }

    /// The reflected CRC-32 table (polynomial 0xEDB88320), as in zlib.
    private static let crc32Table: [UInt32] = (0..<256).map { (index: UInt32) -> UInt32 in
        var crc = index
        for _ in 0..<8 {
            crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1
        }
        return crc
    }

    /// The CRC-16/XMODEM table (polynomial 0x1021, not reflected): the Cluster slot's first table, widened for
    /// twemproxy's 32-bit accumulator.
    private static let crc16Table: [UInt32] = ClusterSlot.crc16Tables[..<256].map { UInt32($0) }

    /// twemproxy's `crc32a`: the standard (zlib) CRC-32.
    static func crc32a(_ key: UnsafeRawBufferPointer) -> UInt32 {
        Self.crc32Table.withUnsafeBufferPointer { table in
            var crc: UInt32 = 0xffff_ffff
            for byte in key {
                crc = table[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8)
            }
            return ~crc
        }
    }

    /// twemproxy's `crc32` (libmemcached's): bits 16...30 of the standard CRC-32, so only 15 bits.
    static func crc32(_ key: UnsafeRawBufferPointer) -> UInt32 {
        (Self.crc32a(key) >> 16) & 0x7fff
    }

    /// twemproxy's `crc16`: CRC-16/XMODEM whose `uint32_t` accumulator is never masked to 16 bits.
    ///
    /// `crc` continues a CRC of earlier bytes (the hash of bytes given in parts).
    static func crc16(_ key: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        Self.crc16Table.withUnsafeBufferPointer { table in
            var crc = crc
            for byte in key {
                crc = (crc << 8) ^ table[Int(((crc >> 8) ^ UInt32(byte)) & 0xff)]
            }
            return crc
        }
    }

    /// twemproxy's `one_at_a_time`: Bob Jenkins' one-at-a-time hash with sign-extended bytes.
    static func oneAtATime(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var hash: UInt32 = 0
        for byte in key {
            hash = hash &+ Self.signExtended(byte)
            hash = hash &+ (hash << 10)
            hash ^= hash >> 6
        }
        hash = hash &+ (hash << 3)
        hash ^= hash >> 11
        hash = hash &+ (hash << 15)
        return hash
    }

    /// Two bytes at `offset` as a little-endian 16-bit value (twemproxy's portable `get16bits`).
    @inline(__always)
    private static func get16(_ key: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(key[offset]) | UInt32(key[offset + 1]) << 8
    }

    /// twemproxy's `hsieh`: Paul Hsieh's SuperFastHash; only the third byte of a 3-byte tail is sign-extended.
    static func hsieh(_ key: UnsafeRawBufferPointer) -> UInt32 {
        guard key.count > 0 else { return 0 }
        var hash: UInt32 = 0
        var offset = 0
        for _ in 0..<(key.count >> 2) {
            hash = hash &+ Self.get16(key, offset)
            let tmp = (Self.get16(key, offset + 2) << 11) ^ hash
            hash = (hash << 16) ^ tmp
            offset += 4
            hash = hash &+ (hash >> 11)
        }
        switch key.count & 3 {
        case 3:
            hash = hash &+ Self.get16(key, offset)
            hash ^= hash << 16
            hash ^= Self.signExtended(key[offset + 2]) << 18
            hash = hash &+ (hash >> 11)
        case 2:
            hash = hash &+ Self.get16(key, offset)
            hash ^= hash << 11
            hash = hash &+ (hash >> 17)
        case 1:
            hash = hash &+ UInt32(key[offset])
            hash ^= hash << 10
            hash = hash &+ (hash >> 1)
        default:
            break
        }
        hash ^= hash << 3
        hash = hash &+ (hash >> 5)
        hash ^= hash << 4
        hash = hash &+ (hash >> 17)
        hash ^= hash << 25
        hash = hash &+ (hash >> 6)
        return hash
    }

    /// Rotates `value` left by `count` bits.
    @inline(__always)
    private static func rotl(_ value: UInt32, _ count: UInt32) -> UInt32 {
        (value << count) | (value >> (32 - count))
    }

    /// twemproxy's `jenkins`: Bob Jenkins' lookup3 `hashlittle` with initval 13 (bytes unsigned).
    static func jenkins(_ key: UnsafeRawBufferPointer) -> UInt32 {
        var length = key.count
        var a = 0xdead_beef &+ UInt32(truncatingIfNeeded: length) &+ 13
        var b = a
        var c = a
        var offset = 0
        while length > 12 {
            a = a &+ UInt32(littleEndian: key.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            b = b &+ UInt32(littleEndian: key.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
            c = c &+ UInt32(littleEndian: key.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self))
            // mix(a, b, c)
            a = a &- c
            a ^= Self.rotl(c, 4)
            c = c &+ b
            b = b &- a
            b ^= Self.rotl(a, 6)
            a = a &+ c
            c = c &- b
            c ^= Self.rotl(b, 8)
            b = b &+ a
            a = a &- c
            a ^= Self.rotl(c, 16)
            c = c &+ b
            b = b &- a
            b ^= Self.rotl(a, 19)
            a = a &+ c
            c = c &- b
            c ^= Self.rotl(b, 4)
            b = b &+ a
            length -= 12
            offset += 12
        }
        guard length > 0 else { return c }
        // The last 1...12 bytes, little-endian into a, b, c; missing bytes count as zero.
        for index in 0..<length {
            let byte = UInt32(key[offset + index]) << UInt32((index & 3) * 8)
            switch index >> 2 {
            case 0: a = a &+ byte
            case 1: b = b &+ byte
            default: c = c &+ byte
            }
        }
        // final(a, b, c)
        c ^= b
        c = c &- Self.rotl(b, 14)
        a ^= c
        a = a &- Self.rotl(c, 11)
        b ^= a
        b = b &- Self.rotl(a, 25)
        c ^= b
        c = c &- Self.rotl(b, 16)
        a ^= c
        a = a &- Self.rotl(c, 4)
        b ^= a
        b = b &- Self.rotl(a, 14)
        c ^= b
        c = c &- Self.rotl(b, 24)
        return c
    }
}

/// The hash slot Redis Cluster (and Valkey Cluster) assigns a key: CRC-16/XMODEM of the key, or of its hash tag,
/// modulo 16384.
///
/// The hash tag follows the Cluster specification, which differs from twemproxy's `hash_tag` (see ``HashRing``):
/// the part between the first `{` and the first `}` after it, when that part is not empty; otherwise the whole key.
/// So `{user1000}.following` and `{user1000}.followers` share a slot, `foo{}{bar}` hashes as a whole, and
/// `foo{{bar}}zap` hashes `{bar`.
///
/// ```swift
/// ClusterSlot.slot(forKey: "foo")                 // 12182, as CLUSTER KEYSLOT foo
/// ClusterSlot.slot(forKey: "forum:1:{user:42}")  // the slot of "user:42"
/// ```
public enum ClusterSlot {
    /// How many slots a cluster has.
    public static let count = 16_384

    /// The slot of a key, as `CLUSTER KEYSLOT` computes it over the key's UTF-8 bytes.
    ///
    /// - Parameter key: The key as stored (for swift-caches, `prefix:version:key`).
    /// - Returns: A slot in `0..<16384`.
    public static func slot(forKey key: String) -> Int {
        if let slot = key.utf8.withContiguousStorageIfAvailable({ Self.slot(forKey: UnsafeRawBufferPointer($0)) }) {
            return slot
        }
        return Array(key.utf8).withUnsafeBytes { Self.slot(forKey: $0) }
    }

    /// The slot of a key given as bytes.
    ///
    /// - Parameter key: The key's bytes.
    /// - Returns: A slot in `0..<16384`.
    public static func slot(forKey key: UnsafeRawBufferPointer) -> Int {
        Int(Self.crc16(Self.hashedPart(of: key)) & 0x3fff)
    }

    /// The slot of the key made of `head` followed by `tail`, without joining them (a stored key's
    /// `prefix:version:` and name). Equal to ``slot(forKey:)-(UnsafeRawBufferPointer)`` of the joined bytes.
    ///
    /// - Parameters:
    ///   - head: The key's first bytes.
    ///   - tail: The bytes that follow.
    /// - Returns: A slot in `0..<16384`.
    public static func slot(forKeyJoining head: UnsafeRawBufferPointer, _ tail: UnsafeRawBufferPointer) -> Int {
        let open = UInt8(ascii: "{")
        let close = UInt8(ascii: "}")
        var hashed: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) = (head, tail)
        if let opening = head.firstIndex(of: open) {
            if let closing = head[(opening + 1)...].firstIndex(of: close) {
                if closing > opening + 1 { hashed = (UnsafeRawBufferPointer(rebasing: head[(opening + 1)..<closing]), .init(start: nil, count: 0)) }
            } else if let closing = tail.firstIndex(of: close), opening + 1 < head.count || closing > 0 {
                // The tag starts in the head and ends in the tail.
                hashed = (UnsafeRawBufferPointer(rebasing: head[(opening + 1)...]), UnsafeRawBufferPointer(rebasing: tail[..<closing]))
            }
        } else if tail.contains(open) {
            let part = Self.hashedPart(of: tail)
            if part.count != tail.count { hashed = (part, .init(start: nil, count: 0)) }
        }
        return Int(Self.crc16(hashed.1, continuing: Self.crc16(hashed.0)) & 0x3fff)
    }

    /// CRC-16/XMODEM (polynomial 0x1021, not reflected) of `bytes`, continuing a CRC of earlier bytes.
    ///
    /// Eight bytes at a time ("slicing by 8"): table `k` holds the CRC of a byte followed by `k` zero bytes, and a
    /// CRC is linear, so each eight bytes take eight lookups that do not wait for each other instead of eight that
    /// do. For the low 16 bits, equal to twemproxy's ``KetamaHashes/crc16(_:continuing:)``.
    static func crc16(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt16 = 0) -> UInt16 {
        Self.crc16Tables.withUnsafeBufferPointer { tables in
            var crc = crc
            var offset = 0
            while bytes.count - offset >= 8 {
                let word = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
                @inline(__always) func byte(_ index: UInt64) -> Int { Int(truncatingIfNeeded: (word >> (index * 8)) & 0xff) }
                let first = Int(truncatingIfNeeded: (crc >> 8) ^ UInt16(byte(0)))
                let second = Int(truncatingIfNeeded: (crc & 0xff) ^ UInt16(byte(1)))
                crc =
                    tables[7 << 8 | first] ^ tables[6 << 8 | second] ^ tables[5 << 8 | byte(2)] ^ tables[4 << 8 | byte(3)]
                    ^ tables[3 << 8 | byte(4)] ^ tables[2 << 8 | byte(5)] ^ tables[1 << 8 | byte(6)] ^ tables[byte(7)]
                offset += 8
            }
            while offset < bytes.count {
                crc = (crc << 8) ^ tables[Int(truncatingIfNeeded: (crc >> 8) ^ UInt16(bytes[offset]))]
                offset += 1
            }
            return crc
        }
    }

    /// Eight tables of 256 entries: table 0 is the CRC of each byte; table `k` that of the byte followed by `k` zero
    /// bytes. Table 0 is also twemproxy's `crc16` table (``KetamaHashes``).
    static let crc16Tables: [UInt16] = {
        var tables = [UInt16](repeating: 0, count: 8 << 8)
        for index in 0..<256 {
            var crc = UInt16(index) << 8
            for _ in 0..<8 { crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1 }
            tables[index] = crc
        }
        for table in 1..<8 {
            for index in 0..<256 {
                let previous = tables[(table - 1) << 8 | index]
                tables[table << 8 | index] = (previous << 8) ^ tables[Int(previous >> 8)]
            }
        }
        return tables
    }()

    /// The bytes the slot is computed from: the non-empty hash tag, or the whole key.
    static func hashedPart(of key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
            close > open + 1
        else { return key }
        return UnsafeRawBufferPointer(rebasing: key[(open + 1)..<close])
    }
}

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
        Int(KetamaHashes.crc16(Self.hashedPart(of: key)) & 0x3fff)
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
        return Int(KetamaHashes.crc16(hashed.1, continuing: KetamaHashes.crc16(hashed.0)) & 0x3fff)
    }

    /// The bytes the slot is computed from: the non-empty hash tag, or the whole key.
    static func hashedPart(of key: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")),
            let close = key[(open + 1)...].firstIndex(of: UInt8(ascii: "}")),
            close > open + 1
        else { return key }
        return UnsafeRawBufferPointer(rebasing: key[(open + 1)..<close])
    }
}

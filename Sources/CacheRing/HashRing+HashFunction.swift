extension HashRing {
    /// The key hash functions of twemproxy 0.5.0, named as in its `hash:` setting.
    ///
    /// Each one returns exactly the 32-bit value that an x86-64 nutcracker computes, including its quirks:
    /// ``fnv1a_64`` is a 32-bit FNV-1a with prime 0x1b3, several functions sign-extend bytes ≥ 0x80, ``crc32``
    /// keeps only 15 bits (so it puts every key on one node: do not use it with ketama) and ``crc16`` is not
    /// masked to 16 bits.
    public enum HashFunction: String, Sendable, CaseIterable {
        /// The default: 32-bit FNV-1a with the low halves of the 64-bit FNV basis and prime.
        case fnv1a_64
        /// 64-bit FNV-1, truncated to 32 bits.
        case fnv1_64
        /// 32-bit FNV-1.
        case fnv1_32
        /// 32-bit FNV-1a.
        case fnv1a_32
        /// The first four bytes of the MD5 digest, little-endian.
        case md5
        /// MurmurHash2.
        case murmur
        /// The standard CRC-32 (as zlib's `crc32`).
        case crc32a
        /// libmemcached's CRC-32 variant: 15 bits only, unusable with ketama.
        case crc32
        /// CRC-16/XMODEM without masking the accumulator.
        case crc16
        /// Bob Jenkins' one-at-a-time hash.
        case one_at_a_time
        /// Paul Hsieh's SuperFastHash.
        case hsieh
        /// Bob Jenkins' lookup3 `hashlittle` with initial value 13.
        case jenkins

        /// Hashes raw bytes with this function.
        ///
        /// This is the function alone: the ring's hash-tag and empty-key rules are applied by
        /// ``HashRing/hash(forKey:)-(UnsafeRawBufferPointer)`` instead. It allocates nothing.
        ///
        /// - Parameter bytes: The bytes to hash.
        /// - Returns: The 32-bit hash twemproxy computes for these bytes.
        public func hash(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
            switch self {
            case .fnv1a_64: KetamaHashes.fnv1a64(bytes)
            case .fnv1_64: KetamaHashes.fnv164(bytes)
            case .fnv1_32: KetamaHashes.fnv132(bytes)
            case .fnv1a_32: KetamaHashes.fnv1a32(bytes)
            case .md5: KetamaHashes.md5(bytes)
            case .murmur: KetamaHashes.murmur(bytes)
            case .crc32a: KetamaHashes.crc32a(bytes)
            case .crc32: KetamaHashes.crc32(bytes)
            case .crc16: KetamaHashes.crc16(bytes)
            case .one_at_a_time: KetamaHashes.oneAtATime(bytes)
            case .hsieh: KetamaHashes.hsieh(bytes)
            case .jenkins: KetamaHashes.jenkins(bytes)
            }
        }

        /// Hashes a byte collection with this function.
        ///
        /// - Parameter bytes: The bytes to hash, e.g. `Array(key.utf8)`.
        /// - Returns: The 32-bit hash twemproxy computes for these bytes.
        @inlinable
        public func hash(_ bytes: some Collection<UInt8>) -> UInt32 {
            if let value = bytes.withContiguousStorageIfAvailable({ self.hash(UnsafeRawBufferPointer($0)) }) {
                return value
            }
            return Array(bytes).withUnsafeBytes { self.hash($0) }
        }
    }
}

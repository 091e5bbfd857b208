/// A small MD5 (RFC 1321) for the ketama continuum and the `md5` key hash.
///
/// It returns the four little-endian state words of the digest instead of 16 bytes, because ketama reads the
/// digest as four little-endian `UInt32` points and the `md5` key hash is the first of them. Hashing a buffer
/// allocates nothing: whole blocks are read in place and the padded tail is built on the stack.
enum MD5 {
    /// The four state words of an MD5 digest; the digest bytes are each word in little-endian order.
    struct Digest: Hashable, Sendable {
        var a: UInt32
        var b: UInt32
        var c: UInt32
        var d: UInt32

        /// The word at `index` (0...3), i.e. digest bytes `4 * index ..< 4 * index + 4` read as little-endian.
        subscript(index: Int) -> UInt32 {
            switch index {
            case 0: return self.a
            case 1: return self.b
            case 2: return self.c
            default:
                precondition(index == 3, "MD5.Digest has four words")
                return self.d
            }
        }

        /// The 16 digest bytes.
        var bytes: [UInt8] {
            var result: [UInt8] = []
            result.reserveCapacity(16)
            for word in [self.a, self.b, self.c, self.d] {
                for shift in stride(from: 0, to: 32, by: 8) {
                    result.append(UInt8(truncatingIfNeeded: word >> UInt32(shift)))
                }
            }
            return result
        }
    }

    /// The per-round additive constants, `floor(abs(sin(i + 1)) * 2^32)`.
    private static let k: [UInt32] = [
        0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee, 0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
        0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be, 0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
        0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa, 0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
        0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed, 0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
        0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c, 0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
        0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05, 0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
        0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039, 0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
        0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1, 0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
    ]

    /// The left-rotation amounts, four per round.
    private static let shifts: [UInt32] = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21]

    /// Computes the MD5 digest of `bytes`.
    ///
    /// - Parameter bytes: The message.
    /// - Returns: The digest as four state words.
    static func hash(_ bytes: UnsafeRawBufferPointer) -> Digest {
        var state = Digest(a: 0x6745_2301, b: 0xefcd_ab89, c: 0x98ba_dcfe, d: 0x1032_5476)
        let count = bytes.count
        let wholeBlocks = count / 64
        if let base = bytes.baseAddress {
            for block in 0..<wholeBlocks {
                Self.compress(&state, block: base + block * 64)
            }
        }
        // The tail, the 0x80 marker and the 64-bit bit length fill one or two more blocks.
        let tailCount = count - wholeBlocks * 64
        let paddedCount = tailCount < 56 ? 64 : 128
        withUnsafeTemporaryAllocation(byteCount: 128, alignment: 8) { tail in
            tail.initializeMemory(as: UInt8.self, repeating: 0)
            if tailCount > 0, let base = bytes.baseAddress {
                tail.baseAddress!.copyMemory(from: base + wholeBlocks * 64, byteCount: tailCount)
            }
            tail[tailCount] = 0x80
            let bitCount = UInt64(truncatingIfNeeded: count) &* 8
            tail.storeBytes(of: bitCount.littleEndian, toByteOffset: paddedCount - 8, as: UInt64.self)
            Self.compress(&state, block: UnsafeRawPointer(tail.baseAddress!))
            if paddedCount == 128 {
                Self.compress(&state, block: UnsafeRawPointer(tail.baseAddress! + 64))
            }
        }
        return state
    }

    /// Computes the MD5 digest of a byte collection.
    ///
    /// - Parameter bytes: The message.
    /// - Returns: The digest as four state words.
    static func hash(_ bytes: some Collection<UInt8>) -> Digest {
        if let digest = bytes.withContiguousStorageIfAvailable({ Self.hash(UnsafeRawBufferPointer($0)) }) {
            return digest
        }
        return Array(bytes).withUnsafeBytes { Self.hash($0) }
    }

    /// Runs the MD5 compression function over one 64-byte block.
    private static func compress(_ state: inout Digest, block: UnsafeRawPointer) {
        var a = state.a
        var b = state.b
        var c = state.c
        var d = state.d
        Self.k.withUnsafeBufferPointer { k in
            Self.shifts.withUnsafeBufferPointer { shifts in
                for i in 0..<64 {
                    var f: UInt32
                    let g: Int
                    switch i >> 4 {
                    case 0:
                        f = (b & c) | (~b & d)
                        g = i
                    case 1:
                        f = (d & b) | (~d & c)
                        g = (5 &* i &+ 1) & 15
                    case 2:
                        f = b ^ c ^ d
                        g = (3 &* i &+ 5) & 15
                    default:
                        f = c ^ (b | ~d)
                        g = (7 &* i) & 15
                    }
                    let word = UInt32(littleEndian: block.loadUnaligned(fromByteOffset: g * 4, as: UInt32.self))
                    f = f &+ a &+ k[i] &+ word
                    a = d
                    d = c
                    c = b
                    let shift = shifts[(i >> 4) << 2 | (i & 3)]
                    b = b &+ ((f << shift) | (f >> (32 - shift)))
                }
            }
        }
        state.a = state.a &+ a
        state.b = state.b &+ b
        state.c = state.c &+ c
        state.d = state.d &+ d
    }
}

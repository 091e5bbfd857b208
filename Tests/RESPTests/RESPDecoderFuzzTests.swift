import NIOCore
import RESP
import RedisTestSupport
import Testing

/// Random and mutated input for ``RESPDecoder``: it must never crash, and each call must return a value, throw a
/// ``RESPParsingError`` or ask for more bytes. A fixed seed per case makes a failure reproducible.
@Suite struct RESPDecoderFuzzTests {
    /// What one decode call made of an input.
    enum Outcome: Equatable, CustomStringConvertible {
        case value(RESPValue, consumed: Int)
        case needsMoreBytes
        case error

        static func == (lhs: Outcome, rhs: Outcome) -> Bool {
            switch (lhs, rhs) {
            case (.needsMoreBytes, .needsMoreBytes), (.error, .error):
                return true
            case (.value(let l, let lc), .value(let r, let rc)):
                // NaN never equals itself: compare such values by their encodings.
                return lc == rc && (l == r || Self.encoding(of: l) == Self.encoding(of: r))
            default:
                return false
            }
        }

        static func encoding(of value: RESPValue) -> ByteBuffer {
            var encoder = RESPCommandEncoder()
            encoder.encode(value)
            return encoder.buffer
        }

        var description: String {
            switch self {
            case .value(let value, let consumed): "value \(value) of \(consumed) bytes"
            case .needsMoreBytes: "needs more bytes"
            case .error: "error"
            }
        }
    }

    /// Small limits, so that mutations reach them too.
    static let tightLimits = RESPDecoder.Limits(maximumDepth: 3, maximumBulkLength: 40, maximumAggregateCount: 6, maximumLineLength: 24)

    /// Bytes that steer mutations towards the grammar: type markers, digits, signs, CR and LF.
    static let interestingBytes = Array("+-:$*_,#(!=%~>|?\r\n0123456789.etfinax".utf8) + [0, 0xFF]

    /// The type markers that a length or count follows.
    static let lengthMarkers = Set("$*%~>|!=".utf8)

    /// Lengths and counts to write after a `$` or `*`, around every boundary the decoder checks.
    static let interestingLengths = [
        "-1", "-2", "0", "1", "2", "3", "7", "40", "41", "999999999999", "2147483647", "9223372036854775807",
        "99999999999999999999", "-0", "+1", "?", "", "00000000000000000000001",
    ]

    /// One decode of `input` (which the call may consume part of); checks what every outcome must satisfy.
    ///
    /// Failures are recorded with `Issue.record` only when they happen: `#expect` on every one of a million
    /// inputs would dominate the run time of a debug build.
    static func decodeOnce(_ decoder: inout RESPDecoder, _ input: inout ByteBuffer) -> Outcome {
        let before = input.readableBytes
        do {
            guard let value = try decoder.decode(buffer: &input) else {
                if input.readableBytes != before {
                    Issue.record("asking for more bytes consumed some")
                }
                return .needsMoreBytes
            }
            let consumed = before - input.readableBytes
            if consumed <= 0 {
                Issue.record("a value consumed no bytes")
            }
            return .value(value, consumed: consumed)
        } catch is RESPParsingError {
            if input.readableBytes != before {
                Issue.record("an error consumed bytes")
            }
            return .error
        } catch {
            Issue.record("unexpected error type \(error)")
            return .error
        }
    }

    /// Decodes `input` in one piece and again in two pieces split at `split`, and checks both agree.
    static func check(_ input: ByteBuffer, split: Int, limits: RESPDecoder.Limits, counts: inout [Int]) {
        var whole = input
        var oneShot = RESPDecoder(limits: limits)
        let first = Self.decodeOnce(&oneShot, &whole)

        var pieces = RESPDecoder(limits: limits)
        var prefix = input.getSlice(at: input.readerIndex, length: split)!
        var second = Self.decodeOnce(&pieces, &prefix)
        if second == .needsMoreBytes {
            var rest = input
            second = Self.decodeOnce(&pieces, &rest)
        }
        switch (first, second) {
        case (.value, .value):
            if first != second {
                Issue.record("one piece and two pieces disagree on \(Array(input.readableBytesView)) split at \(split)")
            }
        case (.needsMoreBytes, .needsMoreBytes), (.error, .error):
            break
        default:
            // The prefix may end before the bytes that make the whole input valid or invalid, never after.
            Issue.record("\(first) in one piece but \(second) in two, for \(Array(input.readableBytesView)) split at \(split)")
        }

        // Then everything after the first value, until the decoder stops.
        var decoder = oneShot
        var outcome = first
        var values = 0
        while case .value = outcome, whole.readableBytes > 0, values < 64 {
            values += 1
            outcome = Self.decodeOnce(&decoder, &whole)
        }
        switch first {
        case .value: counts[0] += 1
        case .needsMoreBytes: counts[1] += 1
        case .error: counts[2] += 1
        }
    }

    /// Valid encodings to mutate: single values and pairs of values of every kind.
    static func corpus(using random: inout SplitMix64) -> [[UInt8]] {
        var corpus: [[UInt8]] = []
        for index in 0..<200 {
            var encoder = RESPCommandEncoder()
            encoder.encode(RESPCommandEncoderTests.randomValue(depth: 0, using: &random))
            if index % 3 == 0 {
                encoder.encode(RESPCommandEncoderTests.randomValue(depth: 0, using: &random))
            }
            corpus.append(Array(encoder.buffer.readableBytesView))
        }
        return corpus
    }

    /// Applies one to three random mutations to `bytes`.
    static func mutate(_ bytes: inout [UInt8], using random: inout SplitMix64) {
        for _ in 0...Int(random.next() % 3) {
            let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count))
            switch random.next() % 7 {
            case 0 where !bytes.isEmpty:
                bytes[position] ^= UInt8(1) << (random.next() % 8)
            case 1 where !bytes.isEmpty:
                bytes[position] = Self.interestingBytes[Int(random.next() % UInt64(Self.interestingBytes.count))]
            case 2:
                bytes.insert(Self.interestingBytes[Int(random.next() % UInt64(Self.interestingBytes.count))], at: position)
            case 3 where !bytes.isEmpty:
                bytes.remove(at: position)
            case 4:
                bytes.removeLast(bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count)))
            case 5:
                // Replace the digits after some `$`, `*`, `%`… with another length.
                guard let marker = bytes[position...].firstIndex(where: { Self.lengthMarkers.contains($0) }) else {
                    break
                }
                var end = marker + 1
                while end < bytes.count && bytes[end] != UInt8(ascii: "\r") {
                    end += 1
                }
                let length = Self.interestingLengths[Int(random.next() % UInt64(Self.interestingLengths.count))]
                bytes.replaceSubrange((marker + 1)..<end, with: Array(length.utf8))
            default:
                // Duplicate a random run, which repeats headers and payloads out of place.
                let length = min(bytes.count - position, Int(random.next() % 16))
                bytes.insert(contentsOf: bytes[position..<(position + length)], at: position)
            }
        }
    }

    @Test(arguments: [UInt64(0xC0FFEE), 0xBADC0DE, 0x5EED, 0xFEED])
    func mutatedAndRandomInputNeverCrashes(seed: UInt64) async {
        var random = SplitMix64(seed: seed)
        let corpus = Self.corpus(using: &random)
        let inputs = 250_000
        var counts = [0, 0, 0]
        var bytes: [UInt8] = []
        var input = ByteBuffer()
        input.reserveCapacity(4096)
        for index in 0..<inputs {
            if index % 2_000 == 0 {
                // Seconds of CPU in a debug build: let the other tests of the process (timers, ttls) run too.
                await Task.yield()
            }
            if index % 10 == 0 {
                // Plain random bytes, biased towards the grammar's.
                bytes.removeAll(keepingCapacity: true)
                for _ in 0..<Int(random.next() % 48) {
                    let choice = random.next()
                    bytes.append(
                        choice % 2 == 0
                            ? Self.interestingBytes[Int(choice / 2 % UInt64(Self.interestingBytes.count))]
                            : UInt8(truncatingIfNeeded: choice >> 8)
                    )
                }
            } else {
                bytes.removeAll(keepingCapacity: true)
                bytes.append(contentsOf: corpus[Int(random.next() % UInt64(corpus.count))])
                Self.mutate(&bytes, using: &random)
            }
            input.clear()
            input.writeBytes(bytes)
            let split = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1))
            let limits = index % 2 == 0 ? RESPDecoder.Limits() : Self.tightLimits
            Self.check(input, split: split, limits: limits, counts: &counts)
        }
        #expect(counts.reduce(0, +) == inputs)
        // The mix must reach every outcome in bulk, or the fuzzing proves little.
        #expect(counts[0] > inputs / 20, "values: \(counts)")
        #expect(counts[1] > inputs / 20, "incomplete: \(counts)")
        #expect(counts[2] > inputs / 20, "errors: \(counts)")
    }
}

import NIOCore

/// One RESP2 or RESP3 value, as a Redis server sends it or as a client writes it.
///
/// String payloads are `ByteBuffer` slices of the buffer they were read from, so decoding a bulk string does not
/// copy its bytes. RESP2's null bulk string (`$-1`) and null array (`*-1`) and RESP3's null (`_`) all decode to
/// ``null``. Properties such as ``string`` and ``int64`` read values as Swift types.
public enum RESPValue: Sendable, Equatable {
    /// A simple string (`+OK`): a line without CR or LF.
    case simpleString(ByteBuffer)
    /// A simple error (`-ERR …`): the line after the `-`, its error code (`ERR`, `WRONGTYPE`) included.
    case simpleError(ByteBuffer)
    /// An integer (`:42`).
    case integer(Int64)
    /// A bulk string (`$3\r\nfoo`): any bytes.
    case bulkString(ByteBuffer)
    /// An array (`*2`) of values.
    case array([RESPValue])
    /// A null: RESP3 `_`, or RESP2 `$-1` and `*-1`.
    case null
    /// A RESP3 double (`,1.5`), including infinities and NaN.
    case double(Double)
    /// A RESP3 boolean (`#t`, `#f`).
    case boolean(Bool)
    /// A RESP3 big number (`(3492890328409238509324850943850943825024385`): its decimal digits, sign included.
    case bigNumber(ByteBuffer)
    /// A RESP3 bulk error (`!21\r\nSYNTAX invalid syntax`).
    case bulkError(ByteBuffer)
    /// A RESP3 verbatim string (`=15\r\ntxt:Some string`): the whole payload, three-byte format and colon included.
    case verbatimString(ByteBuffer)
    /// A RESP3 map (`%2`): key-value pairs in the order received.
    case map([(key: RESPValue, value: RESPValue)])
    /// A RESP3 set (`~2`): elements in the order received.
    case set([RESPValue])
    /// A RESP3 push (`>3`): out-of-band data such as a pub/sub message.
    case push([RESPValue])

    // MARK: Equatable

    /// Whether two values have the same type and the same contents.
    ///
    /// Doubles compare with `==`, so `.double(.nan)` differs from itself; maps compare pair by pair, in order.
    ///
    /// - Parameters:
    ///   - lhs: A value.
    ///   - rhs: Another value.
    /// - Returns: `true` if both are the same kind of value with equal contents.
    public static func == (lhs: RESPValue, rhs: RESPValue) -> Bool {
        switch (lhs, rhs) {
        case (.simpleString(let l), .simpleString(let r)): l == r
        case (.simpleError(let l), .simpleError(let r)): l == r
        case (.integer(let l), .integer(let r)): l == r
        case (.bulkString(let l), .bulkString(let r)): l == r
        case (.array(let l), .array(let r)): l == r
        case (.null, .null): true
        case (.double(let l), .double(let r)): l == r
        case (.boolean(let l), .boolean(let r)): l == r
        case (.bigNumber(let l), .bigNumber(let r)): l == r
        case (.bulkError(let l), .bulkError(let r)): l == r
        case (.verbatimString(let l), .verbatimString(let r)): l == r
        case (.map(let l), .map(let r)): l.elementsEqual(r) { $0.key == $1.key && $0.value == $1.value }
        case (.set(let l), .set(let r)): l == r
        case (.push(let l), .push(let r)): l == r
        default: false
        }
    }
}

// TEMPORARY: replaced by the JSON/ folder (Python-compatible JSON) before merge.
import Foundation
import NIOCore

package enum CacheJSON {
    package static func encode<T: Encodable>(_ value: T) throws -> ByteBuffer {
        let encoder = JSONEncoder()
        return ByteBuffer(bytes: try encoder.encode(value))
    }
    package static func decode<T: Decodable>(_ type: T.Type, from buffer: ByteBuffer) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
    }
    package static func isNull(_ buffer: ByteBuffer) -> Bool {
        String(buffer: buffer).trimmingCharacters(in: .whitespaces) == "null"
    }
}

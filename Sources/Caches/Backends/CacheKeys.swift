import CacheRing
import NIOCore
import RESP

/// The stored keys of a many-key call as their shared head (`prefix:version:`) and the logical names, so that no
/// joined key is built: the names are written after the head straight into the request, and hashed for the ring
/// from a stack buffer.
struct CacheKeys: Sendable {
    /// `prefix:version:`.
    let head: String
    /// The logical keys, as the caller gave them.
    let names: [String]

    var count: Int { self.names.count }

    /// The stored key at `position`, joined (an allocation: for errors, logs and the embedded backends).
    subscript(position: Int) -> String {
        var stored = self.head
        stored.append(self.names[position])
        return stored
    }

    /// The stored key at `position` as a RESP argument.
    func argument(_ position: Int) -> Argument {
        Argument(head: self.head, name: self.names[position])
    }

    /// The node of the key at `position` on `ring`, hashed from the joined bytes on the stack.
    func nodeIndex(_ position: Int, on ring: HashRing) -> Int {
        var head = self.head
        var name = self.names[position]
        return head.withUTF8 { head in
            name.withUTF8 { name in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: head.count + name.count) { buffer in
                    _ = UnsafeMutableBufferPointer(rebasing: buffer[..<head.count]).initialize(from: head)
                    _ = UnsafeMutableBufferPointer(rebasing: buffer[head.count...]).initialize(from: name)
                    return ring.nodeIndex(forKey: UnsafeRawBufferPointer(buffer))
                }
            }
        }
    }

    /// The Redis Cluster slot of every key, in order, each hashed from the head and the name without joining them.
    func slots() -> [UInt16] {
        var head = self.head
        return head.withUTF8 { head in
            let head = UnsafeRawBufferPointer(head)
            return self.names.withUnsafeBufferPointer { names in
                [UInt16](unsafeUninitializedCapacity: names.count) { slots, initialized in
                    for position in names.indices {
                        // Read in place, without a copy of the name.
                        let slot = names[position].utf8.withContiguousStorageIfAvailable {
                            ClusterSlot.slot(forKeyJoining: head, UnsafeRawBufferPointer($0))
                        }
                        slots[position] = UInt16(slot ?? Self.slot(head, names[position]))
                    }
                    initialized = names.count
                }
            }
        }
    }

    /// The slot of a name not stored as contiguous UTF-8 (a bridged string).
    private static func slot(_ head: UnsafeRawBufferPointer, _ name: String) -> Int {
        var name = name
        return name.withUTF8 { ClusterSlot.slot(forKeyJoining: head, UnsafeRawBufferPointer($0)) }
    }

    /// One stored key as a command argument: the head then the name, as one bulk string.
    struct Argument: RESPBulkStringEncodable {
        let head: String
        let name: String

        func writeRESPBulkString(into buffer: inout ByteBuffer) {
            buffer.writeRESPBulkString(self.head, self.name)
        }
    }
}

import ArgumentParser

/// One operation of the `caches bench` mix.
enum BenchOperation: Hashable, Sendable, CustomStringConvertible {
    case get
    case set
    case getMany(Int)
    case setMany(Int)
    case incr
    case deleteMany(Int)

    /// Keys one call touches.
    var keysPerCall: Int {
        switch self {
        case .get, .set, .incr: 1
        case .getMany(let count), .setMany(let count), .deleteMany(let count): count
        }
    }

    /// Whether the operation reads values that a prefill should store first.
    var reads: Bool {
        switch self {
        case .get, .getMany: true
        default: false
        }
    }

    var description: String {
        switch self {
        case .get: "get"
        case .set: "set"
        case .incr: "incr"
        case .getMany(let count): "getMany:\(count)"
        case .setMany(let count): "setMany:\(count)"
        case .deleteMany(let count): "deleteMany:\(count)"
        }
    }

    /// Parses `get,set,getMany:100,setMany:10,incr,deleteMany:10`; a repeated operation gets a bigger share.
    static func parseMix(_ text: String) throws -> [BenchOperation] {
        let operations = try text.split(separator: ",").map { item -> BenchOperation in
            let parts = item.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters() }
            let count = parts.count == 2 ? Int(parts[1]) : 10
            guard let count, count >= 1 else { throw ValidationError("--ops: '\(item)': the key count must be a positive integer") }
            switch parts[0].lowercased() {
            case "get": return .get
            case "set": return .set
            case "incr": return .incr
            case "getmany", "mget": return .getMany(count)
            case "setmany", "mset": return .setMany(count)
            case "deletemany", "del": return .deleteMany(count)
            default: throw ValidationError("--ops: unknown operation '\(parts[0])' (get, set, getMany:K, setMany:K, incr, deleteMany:K)")
            }
        }
        guard !operations.isEmpty else { throw ValidationError("--ops: name at least one operation") }
        return operations
    }
}

extension Substring {
    fileprivate func trimmingCharacters() -> String {
        String(self.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}

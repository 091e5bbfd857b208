extension HashRing {
    /// Points per server before ejection: `KETAMA_POINTS_PER_SERVER`.
    static let pointsPerServer: Float = 160
    /// Points taken from one MD5 digest: `KETAMA_POINTS_PER_HASH`.
    static let pointsPerHash = 4
    /// twemproxy formats each point string into a 273-byte buffer, so it keeps at most 272 bytes of it.
    static let maxPointStringLength = 272

    /// The number of continuum points twemproxy gives a live server, computed in binary32 like its C code.
    ///
    /// `floorf((float)(pct * 160 / 4 * (float)nlive + 0.0000000001)) * 4` with `pct = weight / total_weight`:
    /// every step is a `Float` operation in the same order, and the double epsilon is added in `Double` and
    /// rounded back to `Float`. Because of binary32 rounding, equal weights give 156 points for some node
    /// counts (25, 47, 50, …) instead of 160.
    ///
    /// - Parameters:
    ///   - weight: The server's weight.
    ///   - totalWeight: The total weight of the live servers.
    ///   - liveCount: The number of live servers.
    /// - Returns: The number of points, a multiple of 4.
    static func pointCount(weight: UInt32, totalWeight: UInt32, liveCount: Int) -> Int {
        let share: Float = Float(weight) / Float(totalWeight)
        let perServer: Float = share * Self.pointsPerServer
        let digests: Float = perServer / Float(Self.pointsPerHash)
        let scaled: Float = digests * Float(liveCount)
        let nudged = Float(Double(scaled) + 0.000_000_000_1)
        return Int(nudged.rounded(.down)) * Self.pointsPerHash
    }

    /// twemproxy's server order (`string_compare`): shorter ketama names first, then byte order.
    static func sortsBefore(_ lhs: String, _ rhs: String) -> Bool {
        let lhsCount = lhs.utf8.count
        let rhsCount = rhs.utf8.count
        if lhsCount != rhsCount {
            return lhsCount < rhsCount
        }
        return lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }

    /// Builds the sorted continuum over the live nodes, as twemproxy's `ketama_update` does.
    ///
    /// - Parameters:
    ///   - nodes: All configured nodes, in the caller's order.
    ///   - live: Indices into `nodes` of the live nodes (not empty, no duplicates).
    /// - Returns: The points sorted by value (ties: the server whose name sorts first) and the number of points
    ///   per node in the caller's order (0 for nodes that are not live).
    static func continuum(nodes: [Node], live: [Int]) -> (points: [Point], pointCounts: [Int]) {
        let order = live.sorted { Self.sortsBefore(nodes[$0].name, nodes[$1].name) }
        var totalWeight: UInt32 = 0
        for index in order {
            totalWeight &+= nodes[index].weight
        }
        var pointCounts = [Int](repeating: 0, count: nodes.count)
        // Each point as (value << 32 | rank in `order`): sorting these integers orders equal values by server rank,
        // which is the order glibc's stable qsort leaves them in.
        var keyedPoints: [UInt64] = []
        keyedPoints.reserveCapacity(order.count * Int(Self.pointsPerServer) + 64)
        var pointString: [UInt8] = []
        for (rank, nodeIndex) in order.enumerated() {
            let node = nodes[nodeIndex]
            let count = Self.pointCount(weight: node.weight, totalWeight: totalWeight, liveCount: order.count)
            pointCounts[nodeIndex] = count
            for digestIndex in 0..<(count / Self.pointsPerHash) {
                pointString.removeAll(keepingCapacity: true)
                pointString.append(contentsOf: node.name.utf8)
                pointString.append(UInt8(ascii: "-"))
                pointString.append(contentsOf: String(digestIndex).utf8)
                if pointString.count > Self.maxPointStringLength {
                    pointString.removeLast(pointString.count - Self.maxPointStringLength)
                }
                let digest = pointString.withUnsafeBytes { MD5.hash($0) }
                for word in 0..<Self.pointsPerHash {
                    keyedPoints.append(UInt64(digest[word]) << 32 | UInt64(rank))
                }
            }
        }
        keyedPoints.sort()
        let points = keyedPoints.map { keyed in
            Point(value: UInt32(truncatingIfNeeded: keyed >> 32), node: UInt32(order[Int(truncatingIfNeeded: keyed & 0xffff_ffff)]))
        }
        return (points, pointCounts)
    }
}

import Testing

@testable import CacheRing

@Suite struct HashRingTests {
    static func equalNodes(_ count: Int) -> [HashRing.Node] {
        (0..<count).map { HashRing.Node(host: "10.0.0.\($0 + 1)", port: 6379) }
    }

    // MARK: Ketama names

    @Test func ketamaNameDropsOnlyPort11211() {
        #expect(HashRing.ketamaName(host: "127.0.0.1", port: 7001) == "127.0.0.1:7001")
        #expect(HashRing.ketamaName(host: "127.0.0.1", port: 11211) == "127.0.0.1")
        #expect(HashRing.ketamaName(host: "cache.local", port: 11212) == "cache.local:11212")
        #expect(HashRing.Node(host: "h", port: 11211, weight: 3) == HashRing.Node(name: "h", weight: 3))
    }

    // MARK: Point counts

    @Test func twentyFiveEqualNodesGet156PointsEach() throws {
        let ring = try HashRing(nodes: Self.equalNodes(25))
        #expect(ring.pointCounts == [Int](repeating: 156, count: 25))
        #expect(ring.points.count == 25 * 156)
    }

    @Test func twentyFourEqualNodesGet160PointsEach() throws {
        let ring = try HashRing(nodes: Self.equalNodes(24))
        #expect(ring.pointCounts == [Int](repeating: 160, count: 24))
        #expect(ring.points.count == 24 * 160)
    }

    @Test func equalWeightNodeCountsWith156PointsMatchSpec() {
        // docs/KETAMA.md §3: the n < 200 where binary32 rounding gives 39.999… digests per server.
        let expected = [25, 47, 50, 55, 61, 71, 94, 100, 107, 109, 110, 115, 122, 142, 159, 163, 188, 193]
        var short: [Int] = []
        for n in 1..<200 {
            let count = HashRing.pointCount(weight: 1, totalWeight: UInt32(n), liveCount: n)
            #expect(count == 156 || count == 160, "n = \(n): \(count)")
            if count == 156 {
                short.append(n)
            }
        }
        #expect(short == expected)
    }

    @Test(
        arguments: [
            ([3, 1, 5], [160, 52, 264]),
            ([1, 2, 1], [120, 240, 120]),
            ([1, 1, 2, 5], [68, 68, 140, 352]),
            ([1], [160]),
        ] as [([UInt32], [Int])]
    )
    func weightedPointCounts(_ weights: [UInt32], _ expected: [Int]) throws {
        let nodes = weights.enumerated().map { HashRing.Node(name: "node-\($0.offset)", weight: $0.element) }
        let ring = try HashRing(nodes: nodes)
        #expect(ring.pointCounts == expected)
        #expect(ring.points.count == expected.reduce(0, +))
        for (index, count) in expected.enumerated() {
            #expect(ring.points.filter { $0.nodeIndex == index }.count == count)
        }
    }

    @Test func specMD5ExamplePointsBelongToNodeA() throws {
        let ring = try HashRing(nodes: [.init(name: "node-b"), .init(name: "node-a"), .init(name: "node-c")])
        for value: UInt32 in [0x2141_bcde, 0xa22d_1866, 0x95b4_7310, 0x8ee3_4a6e] {
            let point = try #require(ring.points.first { $0.value == value }, "point \(value) missing")
            #expect(point.nodeIndex == 1)
        }
    }

    @Test func longNamesAreTruncatedLikeTwemproxy() throws {
        // Two names that share their first 272 bytes give identical point strings, so identical points.
        let prefix = String(repeating: "x", count: 272)
        let ring = try HashRing(nodes: [.init(name: prefix + "a"), .init(name: prefix + "b")])
        let first = ring.points.filter { $0.nodeIndex == 0 }.map(\.value).sorted()
        let second = ring.points.filter { $0.nodeIndex == 1 }.map(\.value).sorted()
        #expect(first.count == 160)
        #expect(first == second)
        // Shorter names are hashed whole: two 201-byte names that differ in the last byte get different points.
        let short = String(repeating: "x", count: 200)
        let distinct = try HashRing(nodes: [.init(name: short + "a"), .init(name: short + "b")])
        #expect(
            distinct.points.filter { $0.nodeIndex == 0 }.map(\.value).sorted() != distinct.points.filter { $0.nodeIndex == 1 }.map(\.value).sorted()
        )
    }

    // MARK: Lookup

    @Test func lookupIsTheFirstPointAtOrAfterTheHashWithWrapAround() throws {
        let ring = try HashRing(nodes: [.init(name: "node-a"), .init(name: "node-b", weight: 2), .init(name: "node-c")])
        let points = ring.points
        let first = try #require(points.first)
        let last = try #require(points.last)
        #expect(ring.nodeIndex(forHash: 0) == first.nodeIndex)
        #expect(ring.nodeIndex(forHash: first.value) == first.nodeIndex)
        #expect(ring.nodeIndex(forHash: last.value) == last.nodeIndex)
        #expect(ring.nodeIndex(forHash: UInt32.max) == first.nodeIndex || last.value == UInt32.max)
        for (previous, next) in zip(points, points.dropFirst()) where next.value > previous.value + 1 {
            #expect(ring.nodeIndex(forHash: previous.value + 1) == next.nodeIndex)
            #expect(ring.nodeIndex(forHash: next.value) == ring.points.first { $0.value == next.value }?.nodeIndex)
        }
    }

    @Test func emptyKeyHashesToZeroAndLandsOnTheLowestPoint() throws {
        let ring = try HashRing(nodes: [.init(name: "node-a"), .init(name: "node-b", weight: 2), .init(name: "node-c")])
        #expect(ring.hash(forKey: "") == 0)
        #expect(ring.hash(forKey: [UInt8]()) == 0)
        let lowest = try #require(ring.points.first)
        #expect(ring.nodeIndex(forKey: "") == lowest.nodeIndex)
    }

    @Test func singleNodeRingReturnsNodeZero() throws {
        let ring = try HashRing(nodes: [.init(name: "only", weight: 7)])
        #expect(ring.pointCounts == [160])
        for key in ["", "a", "{x}", "user:1000"] {
            #expect(ring.nodeIndex(forKey: key) == 0)
        }
    }

    @Test func stringAndByteLookupsAgree() throws {
        let ring = try HashRing(nodes: Self.equalNodes(5), hashTag: "{}")
        for index in 0..<500 {
            let key = "obj:\(index):{tag\(index % 7)}"
            let bytes = Array(key.utf8)
            #expect(ring.nodeIndex(forKey: key) == ring.nodeIndex(forKey: bytes))
            #expect(ring.nodeIndex(forKey: key) == ring.nodeIndex(forHash: ring.hash(forKey: key)))
            #expect(ring.nodeIndex(forKey: key.utf8.lazy.map { $0 }) == ring.nodeIndex(forKey: bytes))
        }
    }

    @Test func tieGoesToTheNameThatSortsFirstByLengthThenBytes() throws {
        // docs/KETAMA.md §5: these pairs share a 32-bit point; nutcracker sent its keys to the second name of each pair.
        for (loser, winner) in [("t2517", "t195"), ("t1742", "t919"), ("t570", "t307")] {
            for nodes in [[loser, winner], [winner, loser]] {
                let ring = try HashRing(nodes: nodes.map { HashRing.Node(name: $0) })
                let winnerIndex = try #require(nodes.firstIndex(of: winner))
                let loserValues = Set(ring.points.filter { $0.nodeIndex != winnerIndex }.map(\.value))
                let shared = ring.points.filter { $0.nodeIndex == winnerIndex && loserValues.contains($0.value) }
                try #require(shared.count == 1, "\(loser)/\(winner) should share exactly one point")
                #expect(ring.nodeIndex(forHash: shared[0].value) == winnerIndex, "\(nodes)")
                #expect(ring.nodeIndex(forHash: shared[0].value &- 1) == winnerIndex || ring.points.contains { $0.value == shared[0].value &- 1 })
            }
        }
    }

    // MARK: Hash tags

    @Test(arguments: [
        ("a{b}c", "b"), ("{a}{b}", "a"), ("}{a}", "a"), ("{{a}}", "{a"),
        ("{}{x}", "{}{x}"), ("a{}c{d}", "a{}c{d}"), ("a{bc", "a{bc"), ("{}", "{}"), ("abc", "abc"), ("{", "{"),
        ("user:{42}:profile", "42"),
    ])
    func curlyHashTag(_ key: String, _ hashed: String) throws {
        let ring = try HashRing(nodes: Self.equalNodes(3), hashTag: "{}")
        #expect(ring.hashedBytes(forKey: Array(key.utf8)) == Array(hashed.utf8))
        #expect(ring.hash(forKey: key) == HashRing.HashFunction.fnv1a_64.hash(Array(hashed.utf8)))
        #expect(ring.nodeIndex(forKey: key) == ring.nodeIndex(forKey: hashed))
    }

    @Test(arguments: [("$x$y$", "x"), ("a$bc$d", "bc"), ("$$x$", "$$x$"), ("{a}", "{a}")])
    func dollarHashTag(_ key: String, _ hashed: String) throws {
        let ring = try HashRing(nodes: Self.equalNodes(3), hashTag: "$$")
        #expect(ring.hashedBytes(forKey: Array(key.utf8)) == Array(hashed.utf8))
        #expect(ring.hash(forKey: key) == HashRing.HashFunction.fnv1a_64.hash(Array(hashed.utf8)))
    }

    @Test func withoutHashTagWholeKeyIsHashed() throws {
        let ring = try HashRing(nodes: Self.equalNodes(3))
        #expect(ring.hashedBytes(forKey: Array("a{b}c".utf8)) == Array("a{b}c".utf8))
        #expect(ring.hash(forKey: "a{b}c") == HashRing.HashFunction.fnv1a_64.hash(Array("a{b}c".utf8)))
    }

    @Test func hashFunctionChoiceIsUsed() throws {
        let ring = try HashRing(nodes: Self.equalNodes(3), hash: .murmur)
        #expect(ring.hash(forKey: "foobar") == HashRing.HashFunction.murmur.hash(Array("foobar".utf8)))
        #expect(ring.hash(forKey: "foobar") != HashRing.HashFunction.fnv1a_64.hash(Array("foobar".utf8)))
    }

    // MARK: Ejection

    @Test func ejectionRecomputesSurvivorPoints() throws {
        let nodes: [HashRing.Node] = [.init(name: "node-a"), .init(name: "node-b", weight: 2), .init(name: "node-c")]
        let ring = try HashRing(nodes: nodes, hashTag: "{}")
        let ejected = try #require(ring.withLiveNodes([1, 2]))
        #expect(ejected.pointCounts == [0, 212, 104])
        #expect(ejected.liveNodeIndices == [1, 2])
        #expect(ejected.nodes == nodes)
        // The same points as a ring built from the survivors alone, with indices into the full list.
        let survivors = try HashRing(nodes: [nodes[1], nodes[2]], hashTag: "{}")
        #expect(ejected.points.map(\.value) == survivors.points.map(\.value))
        #expect(ejected.points.map(\.nodeIndex) == survivors.points.map { $0.nodeIndex + 1 })
        // Survivors' points are a prefix of their series, so keys that stayed on a survivor mostly stay put.
        var movedAwayFromSurvivor = 0
        for index in 0..<2000 {
            let key = "key:\(index)"
            let after = ejected.nodeIndex(forKey: key)
            #expect(after != 0)
            if ring.nodeIndex(forKey: key) != 0, after != ring.nodeIndex(forKey: key) {
                movedAwayFromSurvivor += 1
            }
        }
        #expect(movedAwayFromSurvivor < 400)
    }

    @Test func ejectionWithEveryNodeOrNoNode() throws {
        let ring = try HashRing(nodes: [.init(name: "node-a"), .init(name: "node-b", weight: 2), .init(name: "node-c")])
        #expect(ring.liveNodeIndices == [0, 1, 2])
        #expect(ring.withLiveNodes([Int]()) == nil)
        let all = try #require(ring.withLiveNodes([2, 0, 1, 1]))
        #expect(all.points == ring.points)
        #expect(all.pointCounts == ring.pointCounts)
        let one = try #require(ring.withLiveNodes([2]))
        #expect(one.pointCounts == [0, 0, 160])
        #expect(["a", "b", "", "{x}"].allSatisfy { one.nodeIndex(forKey: $0) == 2 })
        let single = try HashRing(nodes: [.init(name: "only")])
        #expect(single.withLiveNodes([0])?.nodeIndex(forKey: "k") == 0)
        #expect(single.withLiveNodes([Int]()) == nil)
    }

    // MARK: Ring diff

    @Test func addingAnEqualNodeOnlyMovesKeysToIt() throws {
        let before = try HashRing(nodes: Self.equalNodes(3))
        let after = try HashRing(nodes: Self.equalNodes(4))
        let keys = (0..<2000).map { "session:\($0 * 7919)" }
        for key in keys {
            let old = before.node(forKey: key)
            let new = after.node(forKey: key)
            #expect(old == new || new == after.nodes[3], "\(key) moved between old nodes")
        }
        let fraction = HashRing.movedFraction(from: before, to: after, sampleKeys: keys)
        #expect(fraction > 0.1 && fraction < 0.45)
        #expect(HashRing.movedFraction(from: before, to: before, sampleKeys: keys) == 0)
        #expect(HashRing.movedFraction(from: before, to: after, sampleKeys: [String]()) == 0)
    }

    // MARK: Errors

    static func expectError(_ code: HashRingError.Code, _ body: () throws(HashRingError) -> HashRing) {
        do {
            _ = try body()
            Issue.record("expected \(code)")
        } catch {
            #expect(error.code == code)
        }
    }

    @Test func invalidConfigurationsThrow() {
        Self.expectError(.noNodes) { () throws(HashRingError) in try HashRing(nodes: []) }
        Self.expectError(.duplicateName) { () throws(HashRingError) in
            try HashRing(nodes: [.init(name: "a"), .init(name: "b"), .init(name: "a", weight: 2)])
        }
        Self.expectError(.duplicateName) { () throws(HashRingError) in
            try HashRing(nodes: [.init(host: "h", port: 11211), .init(name: "h")])
        }
        Self.expectError(.zeroWeight) { () throws(HashRingError) in
            try HashRing(nodes: [.init(name: "a"), .init(name: "b", weight: 0)])
        }
        Self.expectError(.emptyName) { () throws(HashRingError) in try HashRing(nodes: [.init(name: "")]) }
        Self.expectError(.weightOverflow) { () throws(HashRingError) in
            try HashRing(nodes: [.init(name: "a", weight: .max), .init(name: "b")])
        }
        for tag in ["", "{", "{}}", "é{"] {
            Self.expectError(.invalidHashTag) { () throws(HashRingError) in
                try HashRing(nodes: [.init(name: "a")], hashTag: tag)
            }
        }
    }

    @Test func validEdgeConfigurationsBuild() throws {
        // A 2-byte tag may be any two bytes, and the maximum total weight fits.
        _ = try HashRing(nodes: [.init(name: "a")], hashTag: "é")
        let heavy = try HashRing(nodes: [.init(name: "a", weight: .max - 1), .init(name: "b")])
        #expect(heavy.pointCounts[0] == 320)
        #expect(heavy.pointCounts[1] == 0)
        #expect(HashRingError(.zeroWeight, message: "x").description == "HashRingError.zeroWeight: x")
    }
}

/// A ketama consistent-hash ring that places keys exactly where twemproxy (nutcracker) 0.5.0 places them.
///
/// The ring is bit-exact with a twemproxy pool configured with `distribution: ketama`: the same ketama names
/// (``ketamaName(host:port:)``), the same binary32 point counts (so 25 equal nodes get 156 points each, not 160),
/// the same MD5 points, the same tie rule (the server whose name sorts first by length, then bytes, wins), the
/// same key hash with its x86-64 sign extension (``HashFunction``), the same `hash_tag` rule, hash 0 for an
/// empty hashed part and node 0 without hashing for a one-node pool. It was checked against the placements a
/// real nutcracker made (`Tests/CacheRingTests/Fixtures/ketama-vectors.json`).
///
/// Node indices always refer to ``nodes`` in the order the caller gave them, never to twemproxy's internal
/// sorted order. To model `auto_eject_hosts`, derive a ring over the live nodes with ``withLiveNodes(_:)``:
/// like twemproxy it recomputes every survivor's point count.
///
/// A lookup is a binary search over one flat sorted array of points and allocates nothing.
///
/// ```swift
/// let ring = try HashRing(nodes: [.init(name: "node-a"), .init(name: "node-b", weight: 2), .init(name: "node-c")],
///                         hashTag: "{}")
/// let index = ring.nodeIndex(forKey: "user:{42}:profile")   // hashed part "42"
/// ```
public struct HashRing: Sendable {
    /// A point of the continuum: a 32-bit position owned by one node.
    public struct Point: Sendable, Hashable {
        /// The position on the ring.
        public let value: UInt32
        /// The owner, as an index into ``HashRing/nodes``.
        @usableFromInline
        let node: UInt32

        /// The owner, as an index into ``HashRing/nodes``.
        public var nodeIndex: Int { Int(self.node) }

        init(value: UInt32, node: UInt32) {
            self.value = value
            self.node = node
        }
    }

    /// All configured nodes, in the caller's order; lookups return indices into this array.
    public let nodes: [Node]
    /// The key hash function.
    public let hashFunction: HashFunction
    /// The two-byte hash tag (such as `"{}"`), or `nil` to hash whole keys.
    public let hashTag: String?
    /// The indices (into ``nodes``, ascending) of the nodes that own points: all of them unless the ring was made
    /// with ``withLiveNodes(_:)``.
    public let liveNodeIndices: [Int]
    /// The number of continuum points of each node, in the caller's order (0 for a node that is not live).
    public let pointCounts: [Int]
    /// The continuum: every point, sorted by value; among equal values the first one wins a lookup.
    public let points: [Point]

    /// The opening hash-tag byte.
    private let tagOpen: UInt8
    /// The closing hash-tag byte.
    private let tagClose: UInt8
    /// Whether the ring has a hash tag.
    private let hasTag: Bool

    /// Creates a ring over all the given nodes.
    ///
    /// - Parameters:
    ///   - nodes: The servers; their order does not change the placement, only which index a lookup returns.
    ///   - hash: The key hash function (twemproxy's `hash:`), `fnv1a_64` by default.
    ///   - hashTag: twemproxy's `hash_tag:`: exactly two bytes such as `"{}"`, or `nil`.
    /// - Throws: ``HashRingError`` with code `noNodes`, `emptyName`, `duplicateName`, `zeroWeight`,
    ///   `weightOverflow` or `invalidHashTag`.
    public init(nodes: [Node], hash: HashFunction = .fnv1a_64, hashTag: String? = nil) throws(HashRingError) {
        guard !nodes.isEmpty else {
            throw HashRingError(.noNodes)
        }
        var names = Set<[UInt8]>()
        var totalWeight: UInt32 = 0
        for node in nodes {
            guard !node.name.isEmpty else {
                throw HashRingError(.emptyName)
            }
            // Ketama names are byte strings: compare their UTF-8, not Unicode-equivalent Strings.
            guard names.insert(Array(node.name.utf8)).inserted else {
                throw HashRingError(.duplicateName, message: "duplicate ketama name \"\(node.name)\"")
            }
            guard node.weight > 0 else {
                throw HashRingError(.zeroWeight, message: "node \"\(node.name)\" has weight 0")
            }
            let (sum, overflow) = totalWeight.addingReportingOverflow(node.weight)
            guard !overflow else {
                throw HashRingError(.weightOverflow, message: "the total weight exceeds \(UInt32.max)")
            }
            totalWeight = sum
        }
        var tagOpen: UInt8 = 0
        var tagClose: UInt8 = 0
        if let hashTag {
            let bytes = Array(hashTag.utf8)
            guard bytes.count == 2 else {
                throw HashRingError(.invalidHashTag, message: "hash tag \"\(hashTag)\" is \(bytes.count) bytes, not 2")
            }
            tagOpen = bytes[0]
            tagClose = bytes[1]
        }
        self.init(
            validatedNodes: nodes,
            hash: hash,
            hashTag: hashTag,
            tagOpen: tagOpen,
            tagClose: tagClose,
            live: Array(nodes.indices)
        )
    }

    /// Creates a ring from validated settings.
    private init(validatedNodes nodes: [Node], hash: HashFunction, hashTag: String?, tagOpen: UInt8, tagClose: UInt8, live: [Int]) {
        let (points, pointCounts) = Self.continuum(nodes: nodes, live: live)
        self.nodes = nodes
        self.hashFunction = hash
        self.hashTag = hashTag
        self.tagOpen = tagOpen
        self.tagClose = tagClose
        self.hasTag = hashTag != nil
        self.liveNodeIndices = live
        self.pointCounts = pointCounts
        self.points = points
    }

    // MARK: Ejection

    /// Returns the ring twemproxy builds when only some nodes are live (`auto_eject_hosts: true`).
    ///
    /// The points are recomputed over the live nodes only: their count and total weight change, so survivors
    /// get more points (weights 1,2,1 without a weight-1 node give 212 and 104 points, not 240 and 120). Each
    /// node's points are a prefix of the same series, so most keys stay put. Indices keep referring to
    /// ``nodes``.
    ///
    /// - Parameter indices: Indices into ``nodes`` of the live nodes; duplicates are ignored.
    /// - Returns: The ring over the live nodes, or `nil` when no node is live (twemproxy then fails requests).
    /// - Precondition: Every index is in `nodes.indices`.
    public func withLiveNodes(_ indices: some Sequence<Int>) -> HashRing? {
        var live = Set<Int>()
        for index in indices {
            precondition(self.nodes.indices.contains(index), "node index \(index) is out of range")
            live.insert(index)
        }
        guard !live.isEmpty else {
            return nil
        }
        return HashRing(
            validatedNodes: self.nodes,
            hash: self.hashFunction,
            hashTag: self.hashTag,
            tagOpen: self.tagOpen,
            tagClose: self.tagClose,
            live: live.sorted()
        )
    }

    // MARK: Lookup

    /// Returns the index (into ``nodes``) of the node that owns a key.
    ///
    /// A one-node ring returns 0 without hashing. Otherwise the hashed part of the key (``hash(forKey:)-(String)``)
    /// is looked up on the continuum. Allocates nothing for native strings.
    ///
    /// - Parameter key: The key; its UTF-8 bytes are hashed.
    /// - Returns: An index into ``nodes`` of a live node.
    public func nodeIndex(forKey key: String) -> Int {
        if self.nodes.count == 1 {
            return 0
        }
        if let index = key.utf8.withContiguousStorageIfAvailable({ self.nodeIndex(forKey: UnsafeRawBufferPointer($0)) }) {
            return index
        }
        return Array(key.utf8).withUnsafeBytes { self.nodeIndex(forKey: $0) }
    }

    /// Returns the index (into ``nodes``) of the node that owns a key given as raw bytes.
    ///
    /// - Parameter key: The key bytes.
    /// - Returns: An index into ``nodes`` of a live node.
    public func nodeIndex(forKey key: UnsafeRawBufferPointer) -> Int {
        if self.nodes.count == 1 {
            return 0
        }
        return self.nodeIndex(forHash: self.hash(forKey: key))
    }

    /// Returns the index (into ``nodes``) of the node that owns a key given as a byte collection.
    ///
    /// - Parameter key: The key bytes, such as `[UInt8]` or a `Substring.UTF8View`.
    /// - Returns: An index into ``nodes`` of a live node.
    @inlinable
    public func nodeIndex(forKey key: some Collection<UInt8>) -> Int {
        if let index = key.withContiguousStorageIfAvailable({ self.nodeIndex(forKey: UnsafeRawBufferPointer($0)) }) {
            return index
        }
        return Array(key).withUnsafeBytes { self.nodeIndex(forKey: $0) }
    }

    /// Returns the node that owns a key.
    ///
    /// - Parameter key: The key; its UTF-8 bytes are hashed.
    /// - Returns: The owning node.
    public func node(forKey key: String) -> Node {
        self.nodes[self.nodeIndex(forKey: key)]
    }

    /// Returns the owner of the first point at or after a hash, wrapping to the first point (`ketama_dispatch`).
    ///
    /// This is the continuum search alone, without the one-node rule of ``nodeIndex(forKey:)-(String)``.
    ///
    /// - Parameter hash: A key hash.
    /// - Returns: An index into ``nodes``.
    public func nodeIndex(forHash hash: UInt32) -> Int {
        self.points.withUnsafeBufferPointer { points in
            // Lower bound (the first point whose value is >= hash), branch-free: `base` stays the last index
            // known to be < hash, or 0.
            var base = 0
            var remaining = points.count
            while remaining > 1 {
                let half = remaining >> 1
                base = points[base &+ half].value < hash ? base &+ half : base
                remaining = remaining &- half
            }
            let lowerBound = points[base].value < hash ? base &+ 1 : base
            return Int(points[lowerBound == points.count ? 0 : lowerBound].node)
        }
    }

    // MARK: Diagnostics

    /// Returns the part of a key that is hashed: the text inside the hash tag, or the whole key.
    ///
    /// With tag `{}`: the first `{`, then the first `}` after it; if both exist and enclose at least one byte,
    /// those bytes, else the whole key (`a{b}c` → `b`, `{}{x}` → whole key, `{{a}}` → `{a`).
    ///
    /// - Parameter key: The key bytes.
    /// - Returns: The range of `key` that is hashed.
    public func hashedRange(ofKey key: UnsafeRawBufferPointer) -> Range<Int> {
        let whole = 0..<key.count
        guard self.hasTag, let open = key.firstIndex(of: self.tagOpen) else {
            return whole
        }
        guard let close = key[(open + 1)...].firstIndex(of: self.tagClose), close - open > 1 else {
            return whole
        }
        return (open + 1)..<close
    }

    /// Returns the bytes of a key that are hashed (see ``hashedRange(ofKey:)``).
    ///
    /// - Parameter key: The key bytes.
    /// - Returns: The hashed bytes.
    public func hashedBytes(forKey key: some Collection<UInt8>) -> [UInt8] {
        let bytes = Array(key)
        return bytes.withUnsafeBytes { Array(bytes[self.hashedRange(ofKey: $0)]) }
    }

    /// Returns the 32-bit hash twemproxy looks up for a key: 0 when the hashed part is empty.
    ///
    /// A one-node pool does not hash at all; this still returns the value a larger pool would use.
    ///
    /// - Parameter key: The key bytes.
    /// - Returns: The pool hash.
    public func hash(forKey key: UnsafeRawBufferPointer) -> UInt32 {
        let range = self.hashedRange(ofKey: key)
        if range.isEmpty {
            return 0
        }
        return self.hashFunction.hash(UnsafeRawBufferPointer(rebasing: key[range]))
    }

    /// Returns the 32-bit hash twemproxy looks up for a key: 0 when the hashed part is empty.
    ///
    /// - Parameter key: The key; its UTF-8 bytes are hashed.
    /// - Returns: The pool hash.
    public func hash(forKey key: String) -> UInt32 {
        if let value = key.utf8.withContiguousStorageIfAvailable({ self.hash(forKey: UnsafeRawBufferPointer($0)) }) {
            return value
        }
        return Array(key.utf8).withUnsafeBytes { self.hash(forKey: $0) }
    }

    /// Returns the 32-bit hash twemproxy looks up for a key given as a byte collection.
    ///
    /// - Parameter key: The key bytes.
    /// - Returns: The pool hash.
    @inlinable
    public func hash(forKey key: some Collection<UInt8>) -> UInt32 {
        if let value = key.withContiguousStorageIfAvailable({ self.hash(forKey: UnsafeRawBufferPointer($0)) }) {
            return value
        }
        return Array(key).withUnsafeBytes { self.hash(forKey: $0) }
    }

    /// Returns the fraction of sample keys whose node (compared by ketama name) differs between two rings.
    ///
    /// Use it to preview a topology change ("ring diff"): adding a node to an n-node ring should move about
    /// 1/(n+1) of the keys.
    ///
    /// - Parameters:
    ///   - from: The current ring.
    ///   - to: The proposed ring.
    ///   - sampleKeys: The keys to place on both rings.
    /// - Returns: Moved keys divided by sampled keys, or 0 for no keys.
    public static func movedFraction(from: HashRing, to: HashRing, sampleKeys: some Sequence<String>) -> Double {
        var sampled = 0
        var moved = 0
        for key in sampleKeys {
            sampled += 1
            if from.node(forKey: key).name != to.node(forKey: key).name {
                moved += 1
            }
        }
        return sampled == 0 ? 0 : Double(moved) / Double(sampled)
    }
}

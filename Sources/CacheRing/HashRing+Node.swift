extension HashRing {
    /// A server of the ring: its ketama name (its identity on the ring) and its weight.
    public struct Node: Sendable, Hashable {
        /// The ketama name: the string whose MD5 digests place this node's points (see ``HashRing/ketamaName(host:port:)``).
        public var name: String
        /// The weight; a node's share of the points is its weight over the total weight of the live nodes.
        public var weight: UInt32

        /// Creates a node with an explicit ketama name, like a twemproxy `host:port:weight name` entry.
        ///
        /// - Parameters:
        ///   - name: The ketama name.
        ///   - weight: The weight (at least 1).
        public init(name: String, weight: UInt32 = 1) {
            self.name = name
            self.weight = weight
        }

        /// Creates an unnamed node, like a twemproxy `host:port:weight` entry.
        ///
        /// - Parameters:
        ///   - host: The host exactly as written in the configuration (it is hashed, never resolved).
        ///   - port: The port; 11211 is left out of the ketama name.
        ///   - weight: The weight (at least 1).
        public init(host: String, port: Int, weight: UInt32 = 1) {
            self.init(name: HashRing.ketamaName(host: host, port: port), weight: weight)
        }
    }

    /// The ketama name twemproxy hashes for an unnamed `host:port:weight` server.
    ///
    /// It is `host:port`, or `host` alone when the port is 11211 (libmemcached compatibility). The weight is
    /// never part of it. twemproxy uses the port text as written in its configuration; this spells the port in
    /// decimal without leading zeros, so a configuration that writes `07001` needs an explicit name instead.
    ///
    /// - Parameters:
    ///   - host: The host exactly as written in the configuration.
    ///   - port: The port.
    /// - Returns: The ketama name.
    public static func ketamaName(host: String, port: Int) -> String {
        port == 11211 ? host : "\(host):\(port)"
    }
}

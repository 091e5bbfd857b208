extension RedisServer {
    /// A cache URL over `servers`, in order: `redis://host:port,host:port[/database][?options]`.
    ///
    /// The one ring-URL builder of the tests. With `tls`, the scheme is `rediss://` and the hosts are the servers'
    /// TLS ports.
    ///
    /// - Parameters:
    ///   - servers: The nodes, in ring order.
    ///   - database: The database number, or nil for none in the URL.
    ///   - tls: Whether to connect to the TLS ports.
    ///   - options: Query options as `name=value`, in order (`names=node-a,node-b`, `timeout=0.5`).
    /// - Returns: The URL text.
    public static func cacheURL(
        _ servers: [RedisServer],
        database: Int? = nil,
        tls: Bool = false,
        options: [String] = []
    ) -> String {
        let hosts = servers.map { "\($0.host):\(tls ? ($0.tlsPort ?? 0) : $0.port)" }.joined(separator: ",")
        let path = database.map { "/\($0)" } ?? ""
        let query = options.filter { !$0.isEmpty }.joined(separator: "&")
        return (tls ? "rediss://" : "redis://") + hosts + path + (query.isEmpty ? "" : "?" + query)
    }
}

extension RedisServer {
    /// Starts a server, runs `body` with it and stops it afterwards, also when `body` throws.
    ///
    /// - Parameters:
    ///   - password: The default user's password (`--requirepass`).
    ///   - aclUser: An extra ACL user with all permissions.
    ///   - tls: TLS files; see ``TLSFiles``.
    ///   - extraArguments: More `redis-server` arguments.
    ///   - allowExternal: Whether a node from `CACHE_TEST_NODES` may be used instead.
    ///   - isolation: The caller's actor isolation.
    ///   - body: The work to do with the server.
    /// - Returns: What `body` returns.
    /// - Throws: The error of ``start(password:aclUser:tls:extraArguments:allowExternal:)`` or of `body`.
    public static func withServer<T>(
        password: String? = nil,
        aclUser: (name: String, password: String)? = nil,
        tls: TLSFiles? = nil,
        extraArguments: [String] = [],
        allowExternal: Bool = true,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (RedisServer) async throws -> T
    ) async throws -> T {
        let server = try await Self.start(
            password: password,
            aclUser: aclUser,
            tls: tls,
            extraArguments: extraArguments,
            allowExternal: allowExternal
        )
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Starts `count` servers with the same options, runs `body` with them and stops them all afterwards, also
    /// when `body` or a later start throws.
    ///
    /// With `CACHE_TEST_NODES` naming at least `count` nodes (and no options), those are used instead.
    ///
    /// - Parameters:
    ///   - count: How many servers, at least 1.
    ///   - password: The default user's password (`--requirepass`).
    ///   - aclUser: An extra ACL user with all permissions.
    ///   - tls: TLS files; see ``TLSFiles``.
    ///   - extraArguments: More `redis-server` arguments.
    ///   - allowExternal: Whether nodes from `CACHE_TEST_NODES` may be used instead.
    ///   - isolation: The caller's actor isolation.
    ///   - body: The work to do with the servers, in start order.
    /// - Returns: What `body` returns.
    /// - Throws: The error of ``start(password:aclUser:tls:extraArguments:allowExternal:)`` or of `body`.
    public static func withServers<T>(
        count: Int,
        password: String? = nil,
        aclUser: (name: String, password: String)? = nil,
        tls: TLSFiles? = nil,
        extraArguments: [String] = [],
        allowExternal: Bool = true,
        isolation: isolated (any Actor)? = #isolation,
        _ body: ([RedisServer]) async throws -> T
    ) async throws -> T {
        precondition(count >= 1, "withServers needs at least one server")
        let plain = password == nil && aclUser == nil && tls == nil && extraArguments.isEmpty
        if allowExternal && plain, let external = try ExternalNodes.configured(), external.nodes.count >= count {
            return try await body(Array(external.nodes.prefix(count)))
        }
        var servers: [RedisServer] = []
        do {
            for _ in 0..<count {
                servers.append(
                    try await Self.start(
                        password: password,
                        aclUser: aclUser,
                        tls: tls,
                        extraArguments: extraArguments,
                        allowExternal: false
                    )
                )
            }
            let result = try await body(servers)
            await Self.stopAll(servers)
            return result
        } catch {
            await Self.stopAll(servers)
            throw error
        }
    }

    private static func stopAll(_ servers: [RedisServer]) async {
        for server in servers {
            await server.stop()
        }
    }
}

// TEMPORARY: a stand-in for `CacheConfiguration.load(fromFile:environment:)` until the config-file helper's
// `Sources/Caches/Configuration/CacheConfiguration+ConfigFile.swift` lands. The lead deletes this file at merge.
// It reads JSON files only (YAML files are refused) and only the keys the CLI and its tests use.
import Caches

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension CacheConfiguration {
    /// TEMPORARY stub of the config-file loader: JSON only, no environment overrides.
    static func load(fromFile path: String, environment: [String: String]? = nil) async throws -> CacheConfiguration {
        func fail(_ message: String) -> CacheError { CacheError(.invalidConfiguration, "\(path): \(message)") }
        guard path.hasSuffix(".json") else {
            throw fail("the temporary config stub reads only .json files; YAML arrives with the config-file loader")
        }
        guard let file = fopen(path, "rb") else { throw fail("cannot open the file") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        let root: JSONValue
        do { root = try JSONParser.parse(bytes) } catch { throw fail("not JSON: \(error)") }
        guard case .object(let top) = root else { throw fail("the top level must be an object") }

        func int(_ value: JSONValue?) -> Int? { if case .int(let int)? = value { int } else { nil } }
        func string(_ value: JSONValue?) -> String? { if case .string(let text)? = value { text } else { nil } }
        func object(_ value: JSONValue?) -> JSONObject? { if case .object(let object)? = value { object } else { nil } }
        func tls(_ value: JSONValue?) -> CacheTLSConfiguration? {
            guard let tls = object(value), tls["enabled"] != .bool(false) else { return nil }
            return CacheTLSConfiguration(
                trust: string(tls["caFile"]).map { .caFile($0) } ?? .system,
                certificateFile: string(tls["certificateFile"]),
                keyFile: string(tls["keyFile"]),
                serverName: string(tls["serverName"]),
                verification: string(tls["verification"]).flatMap(CacheTLSConfiguration.Verification.init(rawValue:)) ?? .full
            )
        }

        var configuration = CacheConfiguration(backend: .redis)
        if let defaults = object(top["defaults"]) {
            configuration.defaultTTL = int(defaults["ttl"])
            if let version = int(defaults["version"]) { configuration.defaultVersion = CacheVersion(version) }
            if let version = string(defaults["version"]) { configuration.defaultVersion = CacheVersion(version) }
            configuration.keyPrefix = string(defaults["keyPrefix"]) ?? ""
        }
        if let ring = object(top["ring"]) {
            if let hash = string(ring["hash"]) {
                guard let function = CacheHashFunction(rawValue: hash) else { throw fail("ring.hash: unknown hash \(hash)") }
                configuration.ring.hash = function
            }
            configuration.ring.hashTag = string(ring["hashTag"])
        }
        if let pool = object(top["pool"]) {
            if let minimum = int(pool["minConnections"]) { configuration.pool.minimumConnections = minimum }
            if let maximum = int(pool["maxConnections"]) { configuration.pool.maximumConnections = maximum }
        }
        configuration.tls = tls(top["tls"])
        guard case .array(let nodes)? = top["nodes"] else { throw fail("nodes: missing") }
        for (index, value) in nodes.enumerated() {
            guard let node = object(value), let host = string(node["host"]) else { throw fail("nodes[\(index)].host: missing") }
            let weight = int(node["weight"]) ?? 1
            guard weight >= 1 else { throw fail("nodes[\(index)].weight: must be at least 1, got \(weight)") }
            configuration.nodes.append(
                CacheNodeConfiguration(
                    name: string(node["name"]),
                    host: host,
                    port: int(node["port"]) ?? 6379,
                    weight: UInt32(weight),
                    database: int(node["db"]),
                    username: string(node["username"]),
                    password: string(node["password"]),
                    tls: tls(node["tls"])
                )
            )
        }
        try configuration.validate()
        return configuration
    }
}

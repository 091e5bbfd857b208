import ArgumentParser
import Caches

/// Options every subcommand that talks to a cache shares: where the configuration comes from, and the output format.
struct CacheOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The config file (YAML or JSON).", valueName: "file"))
    var config: String = "config/local.yaml"

    @Option(
        name: .long,
        help: ArgumentHelp(
            "A cache URL instead of a config file, e.g. redis://127.0.0.1:6379/0 or 'redis://h1:7001,h2:7002?weights=1,2'.",
            valueName: "url"
        )
    )
    var url: String?

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    /// The configuration from `--url` when given, else from `--config`.
    func makeConfiguration() async throws -> CacheConfiguration {
        if let url = self.url {
            return try CacheConfiguration(url: CacheURL(url))
        }
        return try await loadConfigurationFile(self.config)
    }

    /// A cache over the configuration; not connected yet.
    func makeCache(keyPrefix: String? = nil) async throws -> Cache {
        var configuration = try await self.makeConfiguration()
        if let keyPrefix, configuration.keyPrefix.isEmpty { configuration.keyPrefix = keyPrefix }
        return try Cache(configuration: configuration)
    }

    /// Connects a cache, runs `body` and disconnects, also when `body` throws.
    func withCache<Result>(_ body: (Cache) async throws -> Result) async throws -> Result {
        let cache = try await self.makeCache()
        return try await cache.withConnection(body)
    }
}

/// Reads a config file, or says that this build cannot (the package trait `ConfigFiles` is off).
func loadConfigurationFile(_ path: String) async throws -> CacheConfiguration {
    #if ConfigFiles
        return try await CacheConfiguration.load(fromFile: path)
    #else
        throw CacheError(
            .invalidConfiguration,
            "\(path): this caches was built without config files (package trait ConfigFiles); give --url instead"
        )
    #endif
}

import ArgumentParser
import Caches

/// The `caches` command: operate and measure a sharded cache from a shell.
@main
struct CachesCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caches",
        abstract: "Operate a swift-caches cache: read and write keys, locate them on the ring, check node health, run the demo.",
        discussion: """
            Examples:
              caches demo --url 'redis://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003?weights=1,2,1&names=a,b,c'
              caches set greeting '"hello"' --ttl 60 --url redis://127.0.0.1:6379
              caches get greeting --url redis://127.0.0.1:6379 --json
              caches ring locate user:1 user:2 --url 'redis://h1:7001,h2:7002'
              caches health --url 'redis://h1:7001,h2:7002'
            """,
        subcommands: [DemoCommand.self, HealthCommand.self]
    )
}

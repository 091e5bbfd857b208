import ArgumentParser
import Caches

/// Options every subcommand that talks to a cache shares.
struct CacheOptions: ParsableArguments {
    @Option(name: .long, help: "The cache URL, e.g. redis://127.0.0.1:6379/0 or redis://h1:7001,h2:7002?weights=1,2.")
    var url: String = "redis://127.0.0.1:6379"

    @Flag(name: .long, help: "Print JSON instead of text.")
    var json = false

    func makeCache() throws -> Cache {
        try Cache(url: self.url)
    }
}

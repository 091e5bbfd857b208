import Caches

@main
struct CachesCLI {
    static func main() async throws {
        let url = CommandLine.arguments.dropFirst().first ?? "redis://127.0.0.1:7777/0"
        let cache = try Cache(url: url, keyPrefix: "smoke")
        try await cache.connect()
        try await cache.set("a", "hello")
        print(try await cache.get("a", as: String.self) as Any)
        print(try await cache.incr("n", by: 5))
        try await cache.setMany(["x": 1, "y": 2], ttl: 10)
        print(try await cache.getMany(["x", "y", "z"], as: Int.self))
        let clock = ContinuousClock()
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for c in 0..<50 {
                group.addTask {
                    for i in 0..<2000 {
                        _ = try await cache.get("k\(c)-\(i % 10)", as: String.self)
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = clock.now - start
        print("100000 gets in \(elapsed)")
        try await cache.disconnect()
    }
}

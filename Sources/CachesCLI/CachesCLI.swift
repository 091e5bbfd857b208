import Caches

@main
struct CachesCLI {
    static func main() async throws {
        print("caches")
    }
}

import Caches

// Everything a service needs without config files, ServiceLifecycle, metrics or tracing: a cache from a URL.
let cache = try Cache(url: "memory://trait-free")
try await cache.connect()
try await cache.set("greeting", "hello", ttl: 60)
let value: String? = try await cache.get("greeting")
try await cache.disconnect()
guard value == "hello" else {
    fatalError("memory:// did not read back its value: \(String(describing: value))")
}
print("trait-free Caches: ok")

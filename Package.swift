// swift-tools-version:6.1
import PackageDescription

/// Settings shared by every target of the package.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "swift-caches",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Caches", targets: ["Caches"]),
        // Unstable, for the micro-benchmarks in Benchmarks/ only: the codec and the ring on their own. Their API
        // may change in any release; depend on `Caches`.
        .library(name: "_CachesRESPForBenchmarks", targets: ["RESP"]),
        .library(name: "_CachesRingForBenchmarks", targets: ["CacheRing"]),
        .executable(name: "caches", targets: ["CachesCLI"]),
    ],
    // Optional parts a service can leave out (`.package(url: …, traits: [])`); the default keeps them all.
    traits: [
        .trait(
            name: "ConfigFiles",
            description: "YAML and JSON config files and their watcher (swift-configuration, Yams, swift-system)"
        ),
        .trait(
            name: "ServiceLifecycleSupport",
            description: "Cache conforms to ServiceLifecycle's Service and stops on graceful shutdown"
        ),
        .trait(name: "MetricsSupport", description: "Per-node counters, timers and gauges through swift-metrics"),
        .trait(
            name: "Tracing",
            description: "Spans for every Cache call through swift-distributed-tracing (the tracer of CacheConfiguration)"
        ),
        .default(enabledTraits: ["ConfigFiles", "ServiceLifecycleSupport", "MetricsSupport", "Tracing"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Config files. No traits: the YAML and JSON snapshots of swift-configuration reject lists of mappings
        // (`nodes:`), so Caches parses both formats with Yams into its own FileConfigSnapshot.
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: []),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        // RESP2/RESP3 codec: values, a bounded decoder and an encoder into one reused buffer.
        .target(
            name: "RESP",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        // Ketama consistent-hash ring, bit-exact with twemproxy. Pure value types, no I/O.
        .target(name: "CacheRing", swiftSettings: swiftSettings),
        // The system's OpenSSL 3 (Debian's libssl-dev) with shims for its macros.
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // A client TLS channel handler on SwiftNIO over OpenSSL memory BIOs.
        .target(
            name: "CacheTLS",
            dependencies: [
                "COpenSSL",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // A generic per-node connection pool: no RESP, no sockets.
        .target(
            name: "CachePool",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        // The public library.
        .target(
            name: "Caches",
            dependencies: [
                "RESP", "CacheRing", "CacheTLS", "CachePool",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration", condition: .when(traits: ["ConfigFiles"])),
                .product(name: "SystemPackage", package: "swift-system", condition: .when(traits: ["ConfigFiles"])),
                .product(name: "Yams", package: "Yams", condition: .when(traits: ["ConfigFiles"])),
                .product(name: "Metrics", package: "swift-metrics", condition: .when(traits: ["MetricsSupport"])),
                .product(
                    name: "ServiceLifecycle",
                    package: "swift-service-lifecycle",
                    condition: .when(traits: ["ServiceLifecycleSupport"])
                ),
                .product(name: "Tracing", package: "swift-distributed-tracing", condition: .when(traits: ["Tracing"])),
            ],
            swiftSettings: swiftSettings
        ),
        // The `caches` command line tool.
        .executableTarget(
            name: "CachesCLI",
            dependencies: [
                "Caches", "CacheRing",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            swiftSettings: swiftSettings
        ),
        // Starts and stops real loopback redis-server processes for the integration tests.
        .target(
            name: "RedisTestSupport",
            dependencies: [
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            path: "Tests/RedisTestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RESPTests",
            dependencies: [
                "RESP", "RedisTestSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOTestUtils", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CacheRingTests",
            dependencies: ["CacheRing", "RedisTestSupport"],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CacheTLSTests",
            dependencies: [
                "CacheTLS", "RedisTestSupport", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CachePoolTests",
            dependencies: [
                "CachePool", .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"), .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CachesTests",
            dependencies: [
                "Caches", "CacheRing", "RESP", "RedisTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Configuration", package: "swift-configuration", condition: .when(traits: ["ConfigFiles"])),
                .product(name: "Logging", package: "swift-log"),
                .product(
                    name: "ServiceLifecycle",
                    package: "swift-service-lifecycle",
                    condition: .when(traits: ["ServiceLifecycleSupport"])
                ),
                .product(
                    name: "ServiceLifecycleTestKit",
                    package: "swift-service-lifecycle",
                    condition: .when(traits: ["ServiceLifecycleSupport"])
                ),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing", condition: .when(traits: ["Tracing"])),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "IntegrationTests",
            dependencies: [
                "Caches", "CachePool", "CacheRing", "RESP", "RedisTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics", condition: .when(traits: ["MetricsSupport"])),
                .product(name: "MetricsTestKit", package: "swift-metrics", condition: .when(traits: ["MetricsSupport"])),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing", condition: .when(traits: ["Tracing"])),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

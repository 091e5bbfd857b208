// swift-tools-version:6.1
import PackageDescription

// Micro-benchmarks of the hot paths, with allocation counts: `cd Benchmarks && swift package benchmark`.
// Thresholds live in Thresholds/; `swift package benchmark baseline check --check-absolute-path Thresholds` checks them.
let package = Package(
    name: "swift-caches-benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-caches", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
    ],
    targets: [
        .executableTarget(
            name: "CacheBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "Caches", package: "swift-caches"),
                .product(name: "_CachesRESPForBenchmarks", package: "swift-caches"),
                .product(name: "_CachesRingForBenchmarks", package: "swift-caches"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
            ],
            path: "Benchmarks/CacheBenchmarks",
            swiftSettings: [.enableUpcomingFeature("ExistentialAny"), .enableUpcomingFeature("MemberImportVisibility")],
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    ]
)

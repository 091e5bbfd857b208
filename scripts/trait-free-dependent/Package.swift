// swift-tools-version:6.1
// A service that depends on Caches with every default trait off: `make check` builds it (scripts/check-traits.sh) and
// checks that neither Yams, swift-configuration, swift-system, ServiceLifecycle, swift-metrics nor
// swift-distributed-tracing was compiled.
import PackageDescription

let package = Package(
    name: "trait-free-dependent",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "swift-caches", path: "../..", traits: [])
    ],
    targets: [
        .executableTarget(
            name: "TraitFreeProbe",
            dependencies: [.product(name: "Caches", package: "swift-caches")]
        )
    ]
)

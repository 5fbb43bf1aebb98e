// swift-tools-version:6.0
// A client that depends on swift-tint *by version*, as a user's package would. SwiftPM rejects unsafe build
// flags in versioned dependencies, so this builds only if swift-tint's manifest stays clean as a checkout.
// Scripts/check_versioned_import.sh tags a copy of the repository and points SWIFT_TINT_URL at it.
import PackageDescription

let url = Context.environment["SWIFT_TINT_URL"] ?? "https://github.com/swift-tint/swift-tint"

let package = Package(
    name: "Consumer",
    dependencies: [.package(url: url, from: "0.1.0")],
    targets: [
        .executableTarget(name: "Consumer", dependencies: [
            .product(name: "Tensor", package: "swift-tint"),
            .product(name: "Autodiff", package: "swift-tint"),
            .product(name: "LanguageModel", package: "swift-tint"),
            .product(name: "OPT", package: "swift-tint"),
            .product(name: "ModelZoo", package: "swift-tint"),
            .product(name: "TinT", package: "swift-tint"),
            .product(name: "ICL", package: "swift-tint"),
        ])
    ]
)

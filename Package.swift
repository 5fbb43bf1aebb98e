// swift-tools-version:6.0
import PackageDescription

// Fast by default, importable always.
//
// swiftc targets baseline x86-64 (SSE2) unless told otherwise, and then `addingProduct` becomes a libm
// call per lane. When this package is the root of a build (or used by path, branch or revision), every
// target is compiled for x86-64-v3 (AVX2+FMA) and the kernels take their FMA path (`SIMD_FMA`).
// When it is a versioned dependency (a checkout under `.build/checkouts/`), SwiftPM forbids unsafe flags,
// so the manifest stays clean and the kernels use their portable SSE2 path; such a client gets the fast
// path with `--toolset Scripts/toolset-x86-64-v3.json` (see README). `TINT_PORTABLE=1` forces the
// portable path in a root build, which is how CI checks the fallback.
let packageDirectory = Context.packageDirectory
let isCheckout = packageDirectory.contains("/checkouts/")
let portable = isCheckout || Context.environment["TINT_PORTABLE"] == "1"

var simdSettings: [SwiftSetting] = []
// TensorAVX512 holds only the AVX-512 GEMM micro-kernel, compiled for x86-64-v4; Tensor calls it only after
// checking at run time that the CPU has AVX-512 (TINT_AVX512), so the package still runs on AVX2-only machines.
var avx512Settings: [SwiftSetting] = []
var tensorSettings: [SwiftSetting] = []
#if arch(x86_64)
if !portable {
    // -fno-math-errno lets `squareRoot()` on SIMD vectors become one vsqrtps instead of a per-lane
    // errno-checking libm call (Swift never reads errno).
    simdSettings = [.unsafeFlags(["-Xcc", "-march=x86-64-v3", "-Xcc", "-fno-math-errno"]), .define("SIMD_FMA")]
    avx512Settings = [.unsafeFlags(["-Xcc", "-march=x86-64-v4", "-Xcc", "-fno-math-errno"]), .define("SIMD_FMA")]
    tensorSettings = [.define("TINT_AVX512")]
}
#elseif arch(arm64)
simdSettings = [.define("SIMD_FMA")]  // NEON always has fused multiply-add
#endif

// A fused multiply-add without FMA hardware is a libm call; linking libm is a safe setting.
let libm: [LinkerSetting] = [.linkedLibrary("m", .when(platforms: [.linux]))]

// TINT_MPI=1 adds the pipelined executor's MPI transport and its launcher (Docs/DISTRIBUTED.md): a system-library
// target over Open MPI's `mpi.h` (pkg-config `ompi-c`; Debian `libopenmpi-dev`), its Swift wrapper and the `tint-mpi`
// executable. Without it the package builds and tests with the Swift toolchain alone.
let mpi = Context.environment["TINT_MPI"] == "1"

let package = Package(
    name: "swift-tint",
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Autodiff", targets: ["Autodiff"]),
        .library(name: "LanguageModel", targets: ["LanguageModel"]),
        .library(name: "OPT", targets: ["OPT"]),
        .library(name: "GPT2", targets: ["GPT2"]),
        .library(name: "Llama", targets: ["Llama"]),
        .library(name: "ModelZoo", targets: ["ModelZoo"]),
        .library(name: "TinT", targets: ["TinT"]),
        .library(name: "ICL", targets: ["ICL"]),
        .executable(name: "tint", targets: ["TintCLI"]),
        .executable(name: "Bench", targets: ["Bench"]),
    ],
    targets: [
        .target(name: "TensorAVX512", swiftSettings: avx512Settings, linkerSettings: libm),
        .target(name: "Tensor", dependencies: ["TensorAVX512"], swiftSettings: simdSettings + tensorSettings,
                linkerSettings: libm),
        .target(name: "Autodiff", dependencies: ["Tensor"], swiftSettings: simdSettings),
        .target(name: "LanguageModel", dependencies: ["Tensor", "Autodiff"], swiftSettings: simdSettings),
        .target(name: "OPT", dependencies: ["Tensor", "Autodiff", "LanguageModel"], swiftSettings: simdSettings),
        .target(name: "GPT2", dependencies: ["Tensor", "Autodiff", "LanguageModel"], swiftSettings: simdSettings),
        .target(name: "Llama", dependencies: ["Tensor", "Autodiff", "LanguageModel"], swiftSettings: simdSettings),
        .target(name: "ModelZoo", dependencies: ["LanguageModel", "OPT", "GPT2", "Llama"], swiftSettings: simdSettings),
        .target(name: "TinT", dependencies: ["Tensor", "Autodiff", "LanguageModel", "OPT", "GPT2", "Llama"], swiftSettings: simdSettings),
        .target(name: "ICL", dependencies: ["LanguageModel", "Tensor", "Autodiff", "TinT"], swiftSettings: simdSettings),
        .executableTarget(name: "TintCLI", dependencies: ["Tensor", "Autodiff", "LanguageModel", "OPT", "GPT2", "Llama", "ModelZoo", "TinT", "ICL"],
                          resources: [.copy("DemoModel"), .copy("DemoData")], swiftSettings: simdSettings),
        .executableTarget(name: "Bench", dependencies: ["Tensor", "Autodiff", "LanguageModel", "OPT", "GPT2", "Llama", "ModelZoo", "TinT"],
                          swiftSettings: simdSettings),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"], swiftSettings: simdSettings),
        .testTarget(name: "OPTTests", dependencies: ["OPT", "LanguageModel", "ModelZoo", "Autodiff", "Tensor"], resources: [.copy("Fixtures")],
                    swiftSettings: simdSettings),
        .testTarget(name: "ZooTests", dependencies: ["ModelZoo", "GPT2", "Llama", "OPT", "LanguageModel", "Autodiff", "Tensor"],
                    resources: [.copy("Fixtures")], swiftSettings: simdSettings),
        .testTarget(name: "AutodiffTests", dependencies: ["Autodiff", "Tensor"], swiftSettings: simdSettings),
        .testTarget(name: "TinTTests", dependencies: ["TinT", "OPT", "GPT2", "Llama", "LanguageModel", "Autodiff", "Tensor"], swiftSettings: simdSettings),
        .testTarget(name: "ICLTests", dependencies: ["ICL", "LanguageModel", "Autodiff", "Tensor", "OPT", "Llama", "TinT"], resources: [.copy("Fixtures")],
                    swiftSettings: simdSettings),
        .testTarget(name: "TintCLITests", dependencies: ["TintCLI", "ModelZoo"], resources: [.copy("Data")],
                    swiftSettings: simdSettings),
    ]
)

if mpi {
    // `tint dynamic-eval --distributed` (TintCLI imports TinTMPI when it can) and the `tint-mpi check` harness.
    package.targets.first { $0.name == "TintCLI" }!.dependencies.append("TinTMPI")
    package.products.append(.executable(name: "tint-mpi", targets: ["TintMPI"]))
    package.targets += [
        .systemLibrary(name: "CMPI", path: "Sources/CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .target(name: "TinTMPI", dependencies: ["CMPI", "TinT"], swiftSettings: simdSettings),
        .executableTarget(name: "TintMPI", dependencies: ["TinTMPI", "TinT", "OPT", "LanguageModel", "Tensor", "Autodiff"],
                          swiftSettings: simdSettings),
    ]
}

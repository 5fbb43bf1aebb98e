// `swift run -c release Bench <subcommand> [options]`: performance measurements for swift-tint.
// Each subcommand lives in its own file (GEMMBench.swift, …) and parses its own options.
import Foundation

let subcommands: [(name: String, summary: String, run: ([String]) throws -> Void)] = [
    ("gemm", "fp32 GEMM GFLOP/s at square and transformer shapes, 1 and 2 threads, vs a naive loop", GEMMBench.run),
    ("lm", "--family opt|gpt2|llama: 125M-class forward (1x512, 4x512) and forward+backward (1x512), 1 and 2 threads, vs PyTorch", LMBench.run),
    ("opt", "the same as `lm --family opt` (OPT-125M)", LMBench.runOPT),
    ("hsim", "H_sim-split linear layer vs dense D_sim×D_sim and a naive per-head version, paper sizes", HSimBench.run),
    ("autodiff", "forward vs forward+backward through the Autodiff tape: OPT-125M-shaped block and 2-layer model", AutodiffBench.run),
    ("regions", "one parallel region's cost: items on 1 thread vs DispatchQueue.concurrentPerform vs the WorkerPool", RegionBench.run),
    ("tint", "the whole TinT for an OPT-125M-shaped aux: compile, one TinT forward at T 256/512, params, peak memory", TinTBench.run),
]

@MainActor func usage() -> String {
    "usage: Bench <subcommand> [options]\n" + subcommands.map { "  \($0.name)\t\($0.summary)" }.joined(separator: "\n")
        + "\nRun `Bench <subcommand> --help` for its options."
}

let args = Array(CommandLine.arguments.dropFirst())
guard let name = args.first, let sub = subcommands.first(where: { $0.name == name }) else {
    print(usage())
    exit(args.isEmpty || args.first == "--help" ? 0 : 2)
}
do {
    try sub.run(Array(args.dropFirst()))
} catch {
    FileHandle.standardError.write(Data("Bench \(name): \(error)\n".utf8))
    exit(1)
}

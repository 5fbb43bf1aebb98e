import Autodiff
import Foundation
import LanguageModel
import OPT
import Tensor
import TinT
import TinTMPI

/// `tint-mpi check`: one TinT forward of a random OPT-shaped aux model with this rank's stage (Docs/DISTRIBUTED.md),
/// repeated `--repeat` times (as dynamic evaluation runs one per block). The last rank writes the logits and the
/// read-back bit for bit to `--out` (atomically, only after the last run), so runs with different rank counts can be
/// compared with `cmp`; every rank prints its stage, prefix bytes, peak RSS and time.
struct PipelineCheck {
    static let help = """
        usage: mpirun -np N tint-mpi check [--shape tiny|opt-125m] [--layers L] [--tokens T] [--steps S] [--sim-layers K]
                                         [--lr ETA] [--double] [--threads N] [--repeat R] [--peer-timeout SECONDS] [--out FILE]
          --shape          tiny: D 32, 4 heads, FFN 64, vocab 96, 4 layers (default); opt-125m: OPT-125M's shape, 12 layers
          --layers L       aux layers (default: the shape's)
          --tokens T       sequence length (default 24; half train, half eval)
          --steps S        inner SGD steps (default 1);  --sim-layers K  layers simulated backward (default all)
          --double         compute in Double (default Float)
          --threads N      kernel threads per rank (default 1)
          --repeat R       TinT forwards to run (default 1); the kill test uses many
          --peer-timeout S longest wait for a neighbour, in seconds (default 600)
          --out FILE       the last rank writes the logits before/after and the read-back weights here (without it
                           nothing is read back: what the memory figures are measured with)
        Weights are random, made per parameter name, so each rank makes only its stage's.
        """

    let world: MPIWorld
    var shape = "tiny", layers: Int? = nil, tokens = 24, steps = 1, simulatedLayers: Int? = nil, learningRate = 1e-3
    var double = false, threads = 1, repeats = 1, peerTimeout = 600.0, out: String? = nil

    init(_ args: [String], world: MPIWorld) throws {
        self.world = world
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw PipelineCheckError("\(args[i - 1]) needs a value") }
            return args[i]
        }
        func int(_ name: String) throws -> Int {
            let v = try value()
            guard let n = Int(v), n >= 0 else { throw PipelineCheckError("\(name) needs a non-negative integer, got '\(v)'") }
            return n
        }
        while i < args.count {
            switch args[i] {
            case "--shape": shape = try value()
            case "--layers": layers = try int("--layers")
            case "--tokens": tokens = try int("--tokens")
            case "--steps": steps = try int("--steps")
            case "--sim-layers": simulatedLayers = try int("--sim-layers")
            case "--lr": learningRate = try Double(value()) ?? { throw PipelineCheckError("--lr needs a number") }()
            case "--double": double = true
            case "--threads": threads = try int("--threads")
            case "--repeat": repeats = try int("--repeat")
            case "--peer-timeout": peerTimeout = try Double(value()) ?? { throw PipelineCheckError("--peer-timeout needs seconds") }()
            case "--out": out = try value()
            default: throw PipelineCheckError("unknown option '\(args[i])'\n\(Self.help)")
            }
            i += 1
        }
        guard ["tiny", "opt-125m"].contains(shape) else { throw PipelineCheckError("--shape must be tiny or opt-125m, got '\(shape)'") }
    }

    func run() throws {
        if double { try run(Double.self) } else { try run(Float.self) }
    }

    func run<S: TensorScalar>(_: S.Type) throws {
        Threading.maxThreads = max(threads, 1)
        var c = OPTConfig()  // OPT-125M
        if shape == "tiny" {
            c.hiddenSize = 32; c.wordEmbedProjDim = 32; c.ffnDim = 64; c.numAttentionHeads = 4; c.vocabSize = 96
            c.maxPositionEmbeddings = 64; c.numHiddenLayers = 4
        }
        if let layers { c.numHiddenLayers = layers }
        let graph = try AuxGraph(opt: c)
        var config = shape == "tiny" ? TinTConfig(rowsPerPrefix: 4, simHeads: 10) : TinTConfig()
        config.learningRate = learningRate
        config.steps = steps
        config.simulatedLayers = simulatedLayers
        let program = try TinTCompiler.compile(graph, config: config, scalar: S.self)
        let partition = try TinTPartition(balancing: graph, stageCount: world.size)
        if world.rank == 0 { say("partition of \(c.numHiddenLayers) layers over \(world.size) rank\(world.size == 1 ? "" : "s") by parameter count:\n\(partition)") }

        var rng = TensorRNG(seed: 7)
        let ids = (0..<tokens).map { _ in Int(rng.next() % UInt64(c.vocabSize - 4)) + 4 }
        let mask = (0..<tokens).map { $0 < tokens / 2 }
        try world.agree(on: PipelineFingerprint(build: try MPIWorld.executableIdentity(), program: program, partition: partition,
                                                inputs: "\(ids) \(shape) repeat \(repeats)"))

        let parameters = try Self.randomParameters(graph, names: partition.parameterNames(stage: world.rank, graph: graph), as: S.self)
        let executor = try TinTExecutor(program: program, parameters: parameters, partition: partition, stage: world.rank)
        let transport = MPITransport(world: world, timeout: peerTimeout)
        var outcome: DescentOutcome<S>? = nil, seconds: [Double] = []
        for k in 0..<max(repeats, 1) {
            let start = Date()
            outcome = try executor.runStage(ids: ids, trainMask: mask, countsTarget: { $0 < mask.count && mask[$0] },
                                            readBack: out != nil && k == max(repeats, 1) - 1, transport: world.size > 1 ? transport : nil)
            seconds.append(Date().timeIntervalSince(start))
            if repeats > 1 && k == 0 { say("rank \(world.rank) pid \(getpid()): first of \(repeats) runs done") }  // the kill test waits for it
        }
        let l = partition.layers[world.rank]
        let times = seconds.count <= 4 ? seconds.map { String(format: "%.3f", $0) }.joined(separator: " ")
            : "best \(String(format: "%.3f", seconds.min()!))"
        say("rank \(world.rank): layers \(l.lowerBound)..<\(l.upperBound), prefixes \(mib(executor.prefixBytes)) MiB, "
              + "peak RSS \(String(format: "%.1f", peakRSSMiB())) MiB, run \(times) s")
        if let outcome, let out {
            var entries: [(name: String, tensor: Tensor<S>?)] = [("logits before", outcome.logitsBefore), ("logits after", outcome.logitsAfter)]
            if let p = outcome.parameters { entries += p.names.sorted().map { ($0, p[$0]) } }
            let bytes = PipelineMessage(kind: .readBack, step: 0, entries: entries).encoded()
            try Data(bytes).write(to: URL(fileURLWithPath: out), options: .atomic)  // all or nothing
            say("rank \(world.rank): wrote \(out) (\(bytes.count) bytes)")
        }
    }

    /// Random weights for `names` only, each from its own seed (a hash of the name), so every rank makes the same
    /// values for a name without making the others': N(0, 0.02²), layer-norm scales 1 + N(0, 0.02²).
    static func randomParameters<S: TensorScalar>(_ graph: AuxGraph, names: Set<String>, as: S.Type) throws -> ParameterSet<S> {
        var p = ParameterSet<S>()
        let shapes = graph.parameterShapes
        for name in names.sorted() {
            guard let shape = shapes[name] else { continue }
            var rng = TensorRNG(seed: PipelineFingerprint.hash(name))
            var t = try Tensor<Float>.normal(shape, std: 0.02, using: &rng)
            if name.contains("layer_norm.weight") { t = t + 1 }
            try p.insert(name, t.converted(to: S.self))
        }
        return p
    }

}

/// Writes a line to stdout at once (unbuffered: mpirun interleaves the ranks' lines as they come).
func say(_ line: String) { FileHandle.standardOutput.write(Data((line + "\n").utf8)) }

func mib(_ bytes: Int) -> String { String(format: "%.1f", Double(bytes) / 1048576) }

func peakRSSMiB() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024
}

struct PipelineCheckError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

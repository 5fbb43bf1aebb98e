// `Bench lm --family opt|gpt2|llama` (`Bench opt` is `Bench lm --family opt`): a 125M-class model of one family
// (random weights) — forward on 1×512 and 4×512 tokens and forward + backward (gradients of every parameter) on
// 1×512 — at 1 and 2 threads, optionally next to PyTorch `transformers` (Scripts/bench_torch.py lm --family …,
// run in the same invocation with --torch-python, or read from --torch FILE).
// Methodology (shared with the script): one warm-up call, then per round the fastest of `--calls` calls;
// best and median over `--rounds` rounds.
import Autodiff
import Foundation
import GPT2
import LanguageModel
import Llama
import OPT
import Tensor

enum LMBench {
    struct Result: Codable {
        var caseName: String, batch: Int, tokens: Int, threads: Int
        var bestMs: Double, medianMs: Double, roundsMs: [Double]
        var torchBestMs: Double?, torchMedianMs: Double?
        /// Our best / PyTorch's best (≤ 1 means faster than PyTorch).
        var ratio: Double?
    }

    struct Report: Codable {
        var bench = "lm"
        var family: String
        var machine: MachineInfo
        var config: String
        var rounds: Int, calls: Int
        var torchFramework: String?
        var results: [Result]
    }

    /// The model shape every family is described by; a family maps it onto its own config type.
    struct Shape {
        var layers, hidden, heads, kvHeads, ffn, vocab, positions: Int

        /// The 125M-class default of each family (`quick`: a tiny smoke-test model).
        static func defaults(family: String, quick: Bool) throws -> Shape {
            if quick {
                return Shape(layers: 2, hidden: 128, heads: 4, kvHeads: family == "llama" ? 2 : 4, ffn: 512,
                             vocab: 1000, positions: 2048)
            }
            switch family {
            case "opt": return Shape(layers: 12, hidden: 768, heads: 12, kvHeads: 12, ffn: 3072, vocab: 50272, positions: 2048)
            case "gpt2": return Shape(layers: 12, hidden: 768, heads: 12, kvHeads: 12, ffn: 3072, vocab: 50257, positions: 1024)
            case "llama": return Shape(layers: 12, hidden: 768, heads: 12, kvHeads: 4, ffn: 2048, vocab: 32000, positions: 2048)
            default: throw BenchError("unknown family \(family); families: \(families.joined(separator: ", "))")
            }
        }

        var text: String {
            "\(layers) layers, D \(hidden), \(heads) heads" + (kvHeads != heads ? " (\(kvHeads) KV heads)" : "")
                + ", FFN \(ffn), vocabulary \(vocab)"
        }
    }

    static let families = ["opt", "gpt2", "llama"]

    /// The one place a family name becomes a model: its config type, filled from `s`, and `init(config:seed:)`.
    static func makeModel(family: String, shape s: Shape) throws -> any CausalLM {
        switch family {
        case "opt":
            var c = OPTConfig()
            c.numHiddenLayers = s.layers
            c.hiddenSize = s.hidden
            c.wordEmbedProjDim = s.hidden
            c.numAttentionHeads = s.heads
            c.ffnDim = s.ffn
            c.vocabSize = s.vocab
            c.maxPositionEmbeddings = s.positions
            try c.validate()
            return try OPTModel(config: c, seed: 0)
        case "gpt2":
            var c = GPT2Config()
            c.nLayer = s.layers
            c.nEmbd = s.hidden
            c.nHead = s.heads
            c.nInner = s.ffn
            c.vocabSize = s.vocab
            c.nPositions = s.positions
            if let bos = c.bosTokenID, bos >= s.vocab { c.bosTokenID = s.vocab - 1 }  // --quick's small vocabulary
            if let eos = c.eosTokenID, eos >= s.vocab { c.eosTokenID = s.vocab - 1 }
            try c.validate()
            return try GPT2Model(config: c, seed: 0)
        case "llama":
            var c = LlamaConfig()
            c.numHiddenLayers = s.layers
            c.hiddenSize = s.hidden
            c.numAttentionHeads = s.heads
            c.numKeyValueHeads = s.kvHeads
            c.headDim = s.hidden / s.heads
            c.intermediateSize = s.ffn
            c.vocabSize = s.vocab
            c.maxPositionEmbeddings = s.positions
            c.tieWordEmbeddings = false
            try c.validate()
            return try LlamaModel(config: c, seed: 0)
        default:
            throw BenchError("unknown family \(family); families: \(families.joined(separator: ", "))")
        }
    }

    static let help = """
        usage: Bench lm --family opt|gpt2|llama [--threads 1,2] [--rounds N] [--calls N] [--shapes BxT,...]
                        [--backward-shapes BxT,...] [--layers N] [--hidden D] [--heads H] [--kv-heads H] [--ffn F]
                        [--vocab V] [--positions P] [--torch-python PYTHON | --torch FILE] [--json FILE]
                        [--cpu-time] [--quick]
               Bench opt [options]   is   Bench lm --family opt [options]
          --family NAME         opt (OPT-125M: 12 layers, D 768, 12 heads, FFN 3072, vocab 50272),
                                gpt2 (GPT-2 small: 12 layers, D 768, 12 heads, FFN 3072, vocab 50257, 1024 positions),
                                llama (Llama-style: 12 layers, D 768, 12 heads, 4 KV heads, FFN 2048, vocab 32000,
                                untied head)
          --threads LIST        thread counts (default 1,2)
          --rounds N            rounds per case (default 3); each keeps the fastest of --calls calls (default 2)
          --shapes LIST         forward shapes, batch x tokens (default 1x512,4x512)
          --backward-shapes L   forward+backward shapes (default 1x512)
          --layers/--hidden/--heads/--kv-heads/--ffn/--vocab/--positions   override the family's default shape
                                (--kv-heads: llama only)
          --torch-python PY     after our measurements, run Scripts/bench_torch.py lm --family … with this Python
                                (e.g. .venv-bench/bin/python) on the same cases and print the ratios
          --torch FILE          read PyTorch results written earlier by `bench_torch.py lm --json FILE`
          --json FILE           also write the results as JSON
          --cpu-time            time with the process CPU-time clock (meaningful at 1 thread only): per-core
                                cost on a loaded machine; passed on to bench_torch.py
          --quick               smoke run: 2 layers, D 128, 1x64 tokens, 1 round
        """

    /// `Bench opt …`: the same as `Bench lm --family opt …`.
    static func runOPT(_ args: [String]) throws {
        if args.contains("--family") { throw BenchError("Bench opt takes no --family; use Bench lm --family NAME") }
        try run(["--family", "opt"] + args)
    }

    static func run(_ args: [String]) throws {
        if args.contains("--help") { print(help); return }
        let o = try Options(args, valued: ["--family", "--threads", "--rounds", "--calls", "--shapes", "--backward-shapes",
                                           "--layers", "--hidden", "--heads", "--kv-heads", "--ffn", "--vocab",
                                           "--positions", "--torch-python", "--torch", "--json"],
                            flags: ["--quick", "--cpu-time"])
        cpuTime = o.has("--cpu-time")
        let quick = o.has("--quick")
        guard let family = o["--family"] else { throw BenchError("--family is required: \(families.joined(separator: ", "))") }
        let d = try Shape.defaults(family: family, quick: quick)
        let heads = try o.int("--heads", default: d.heads)
        let shape = Shape(layers: try o.int("--layers", default: d.layers), hidden: try o.int("--hidden", default: d.hidden),
                          heads: heads, kvHeads: try o.int("--kv-heads", default: family == "llama" ? d.kvHeads : heads),
                          ffn: try o.int("--ffn", default: d.ffn), vocab: try o.int("--vocab", default: d.vocab),
                          positions: try o.int("--positions", default: d.positions))
        if family != "llama" && shape.kvHeads != shape.heads { throw BenchError("--kv-heads applies to llama only") }
        let threads = try o.intList("--threads", default: [1, 2])
        let rounds = try o.int("--rounds", default: quick ? 1 : 3)
        let calls = try o.int("--calls", default: quick ? 1 : 2)
        let shapes = try parseShapes(o["--shapes"] ?? (quick ? "1x64" : "1x512,4x512"))
        let backwardShapes = try parseShapes(o["--backward-shapes"] ?? (quick ? "1x64" : "1x512"))
        let shapeText = shape.text

        FileHandle.standardError.write(Data("Bench lm --family \(family): initialising \(shapeText)…\n".utf8))
        let model = try makeModel(family: family, shape: shape)
        var rng = TensorRNG(seed: 1)
        func ids(_ b: Int, _ t: Int) -> TokenBatch {
            let rows = (0..<b).map { _ in (0..<t).map { _ in 3 + Int(rng.next() % UInt64(shape.vocab - 3)) } }
            return try! TokenBatch(rows: rows)
        }

        var results: [Result] = []
        for n in threads {
            Threading.maxThreads = n
            for (b, t) in shapes {
                let batch = ids(b, t)
                let times = try measure(rounds: rounds, calls: calls) { _ = try model.logits(batch) }
                results.append(Result(caseName: "forward \(b)x\(t)", batch: b, tokens: t, threads: n,
                                      bestMs: times.min()!, medianMs: median(times), roundsMs: times))
                report(results.last!)
            }
            for (b, t) in backwardShapes {
                let batch = ids(b, t)
                let times = try measure(rounds: rounds, calls: calls) {
                    _ = try valueAndGradient(of: model.parameters) { p in try model.loss(batch, parameters: p) }
                }
                results.append(Result(caseName: "forward+backward \(b)x\(t)", batch: b, tokens: t, threads: n,
                                      bestMs: times.min()!, medianMs: median(times), roundsMs: times))
                report(results.last!)
            }
        }
        Threading.maxThreads = 0

        var torchFramework: String? = nil
        var torchJSON: Data? = nil
        if let python = o["--torch-python"] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("bench-torch-\(family)-\(getpid()).json")
            let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent("Scripts/bench_torch.py").path
            let p = Process()
            p.executableURL = URL(fileURLWithPath: python)
            p.arguments = [script, "lm", "--family", family, "--threads", threads.map(String.init).joined(separator: ","),
                           "--rounds", "\(rounds)", "--calls", "\(calls)",
                           "--shapes", shapes.map { "\($0.0)x\($0.1)" }.joined(separator: ","),
                           "--backward-shapes", backwardShapes.map { "\($0.0)x\($0.1)" }.joined(separator: ","),
                           "--vocab", "\(shape.vocab)", "--hidden", "\(shape.hidden)",
                           "--layers", "\(shape.layers)", "--heads", "\(shape.heads)", "--kv-heads", "\(shape.kvHeads)",
                           "--ffn", "\(shape.ffn)", "--positions", "\(shape.positions)", "--json", file.path]
            if cpuTime { p.arguments!.append("--cpu-time") }
            p.standardOutput = FileHandle.standardError
            try p.run()
            p.waitUntilExit()
            guard p.terminationStatus == 0 else { throw BenchError("bench_torch.py exited with \(p.terminationStatus)") }
            torchJSON = try Data(contentsOf: file)
            try? FileManager.default.removeItem(at: file)
        } else if let path = o["--torch"] {
            torchJSON = try Data(contentsOf: URL(fileURLWithPath: path))
        }
        if let torchJSON {
            let torch = try JSONDecoder().decode(TorchReport.self, from: torchJSON)
            torchFramework = torch.framework + ", attention \(torch.attention)"
            for i in results.indices {
                if let r = torch.results.first(where: { $0.case == results[i].caseName && $0.threads == results[i].threads }) {
                    results[i].torchBestMs = r.best_ms
                    results[i].torchMedianMs = r.median_ms
                    results[i].ratio = results[i].bestMs / r.best_ms
                }
            }
        }

        print("Bench lm --family \(family) — \(shapeText); best and median of \(rounds) rounds (fastest of \(calls) calls each)"
              + (cpuTime ? "; process CPU time" : "; wall time"))
        if let torchFramework { print("PyTorch: \(torchFramework)") }
        print(pad("case", 24, right: false) + pad("threads", 8) + pad("best ms", 10) + pad("median ms", 11)
              + pad("torch best", 12) + pad("torch med", 11) + pad("ratio", 8))
        for r in results {
            print(pad(r.caseName, 24, right: false) + pad("\(r.threads)", 8) + pad(fmt(r.bestMs), 10)
                  + pad(fmt(r.medianMs), 11) + pad(r.torchBestMs.map { fmt($0) } ?? "-", 12)
                  + pad(r.torchMedianMs.map { fmt($0) } ?? "-", 11) + pad(r.ratio.map { fmt($0, 2) } ?? "-", 8))
        }
        if let path = o["--json"] {
            try writeJSON(Report(family: family, machine: .current(), config: shapeText, rounds: rounds, calls: calls,
                                 torchFramework: torchFramework, results: results), to: path)
        }
    }

    struct TorchReport: Decodable {
        struct Row: Decodable { var `case`: String; var threads: Int; var best_ms: Double; var median_ms: Double }
        var framework: String
        var attention: String
        var results: [Row]
    }

    static func parseShapes(_ s: String) throws -> [(Int, Int)] {
        try s.split(separator: ",").map { item in
            let d = item.lowercased().split(separator: "x").compactMap { Int($0) }
            guard d.count == 2, d.allSatisfy({ $0 > 0 }) else { throw BenchError("bad shape \(item); use BxT, e.g. 1x512") }
            return (d[0], d[1])
        }
    }

    nonisolated(unsafe) static var cpuTime = false

    /// Seconds on the clock in use: wall (monotonic) or the process's CPU time.
    static func clock() -> Double {
        guard cpuTime else { return now() }
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// One warm-up call, then `rounds` rounds of the fastest of `calls` calls, in milliseconds.
    static func measure(rounds: Int, calls: Int, _ body: () throws -> Void) throws -> [Double] {
        try body()
        var out: [Double] = []
        for _ in 0..<rounds {
            var best = Double.infinity
            for _ in 0..<calls {
                let t0 = clock()
                try body()
                best = min(best, clock() - t0)
            }
            out.append(best * 1e3)
        }
        return out
    }

    static func report(_ r: Result) {
        FileHandle.standardError.write(Data("  threads \(r.threads)  \(r.caseName): best \(fmt(r.bestMs)) ms, median \(fmt(r.medianMs)) ms\n".utf8))
    }
}

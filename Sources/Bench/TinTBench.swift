// `Bench tint`: the whole TinT for an OPT-shaped aux model (random weights; OPT-125M by default: D_sim 3072, K 256, H_sim 12,
// 12 layers, one step, forward reuse): compile time, prefix-encoding time, one TinT forward pass at T = 256 and
// 512 (half train, half eval), its product FLOPs as the compiled program runs them (TinTFlopCounter) and the
// GFLOP/s that makes next to a GEMM timed in the same run, the aux model's own forward and the approximate-GD
// oracle (Autodiff forward + backward + forward) at the same T for scale, parameters, peak memory. Larger shapes
// get a memory plan that fits this machine (TinTMemoryPlan), printed with its modelled peak.
import Foundation
import LanguageModel
import ModelZoo
import OPT
import Tensor
import TinT

enum TinTBench {
    struct Result: Codable {
        var tokens: Int, threads: Int
        var tintSeconds: [Double], auxForwardSeconds: [Double], oracleSeconds: [Double]
        var tintBest: Double, tintMedian: Double, auxBest: Double, oracleBest: Double?, ratioBest: Double
        /// Product FLOPs of one TinT forward: simulator layers and glue (head logits, loss gradient).
        var layerFlops: Int, glueFlops: Int
        /// (layer + glue FLOPs) / time, at the best and the median round.
        var tintGFlopsBest: Double, tintGFlopsMedian: Double
        /// The reference GEMM (`gemmShape`, same thread count) timed between the rounds: best and median round.
        var gemmShape: String, gemmGFlopsBest: Double, gemmGFlopsMedian: Double
        /// TinT's median GFLOP/s over GEMM's median.
        var fractionOfGEMM: Double
        /// max |TinT − oracle| / max |oracle| of the logit change (after − before) and of the logits after the step
        /// (nil with `--no-oracle`).
        var changeErrorVsOracle: Double?, logitErrorVsOracle: Double?
    }

    struct Report: Codable {
        var bench = "tint"
        var machine: MachineInfo
        var shape: String
        var compileSeconds: Double, encodeSeconds: Double
        var parameters: Int, auxParameters: Int
        var peakRSSMiB: Double
        /// How the prefixes were kept, and their bytes.
        var prefixStorage: String, prefixMiB: Double
        var results: [Result]
    }

    static let help = """
        usage: Bench tint [--shape NAME] [--tokens 256,512] [--threads 2] [--rounds N] [--layers L] [--json FILE] [--quick]
                         [--cpu-time] [--prefix-storage native|bfloat16|float16] [--no-oracle] [--low-memory]
          --shape NAME     an OPT shape (default opt-125m): \(optShapes.joined(separator: ", ")); TinT with the
                           defaults for its width (`tint params --shape`), which it prints
          --tokens LIST    sequence lengths (default 256,512); the first half of each sequence is the train part
          --threads LIST   thread counts (default 2)
          --rounds N       TinT forward passes per length (default 3; --quick 1)
          --layers L       aux layers (default: the shape's)
          --no-oracle      skip the approximate-GD oracle (its Autodiff tape holds weights and gradients: for shapes
                           whose oracle does not fit beside TinT)
          --low-memory     hold the aux weights and the prefixes once each: the aux forward is timed first, the aux
                           model freed once encoded (no read-back base), and one round consumes the executor
                           (TinTExecutor.consumingRun); implies --no-oracle and one round, one length, one thread count
          --json FILE      also write the results as JSON
          --quick          D_aux 96, 2 layers, T 64 (smoke test)
          --prefix-storage how the executor keeps the prefix tensors (native = fp32, PrefixStorage). Without it and
                           --low-memory, the first of fp32, float16, float16 with --low-memory whose modelled peak
                           memory (TinTMemoryPlan) fits this machine's RAM, which it prints; the oracle then runs
                           only with fp32
          --cpu-time       time with the thread's CPU-time clock (needs --threads 1: every kernel then runs on the
                           calling thread): per-core cost on a loaded machine
        """

    /// The shapes `--shape` takes: the OPT family's (the aux model is an `OPTModel` with random weights).
    static var optShapes: [String] { ReleasedShapes.names.filter { $0.hasPrefix("opt-") } }

    static func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    /// The memory plan: as the options say, or else the first that fits this machine's RAM by the model
    /// (``TinTMemoryPlan``), printed with its modelled peak either way.
    static func memoryPlan(_ o: Options, program: TinTProgram<Float>, tokens: Int) throws -> TinTMemoryPlan {
        let budget = Double(ProcessInfo.processInfo.physicalMemory), gib = Double(1 << 30)
        let plan: TinTMemoryPlan
        if let name = o["--prefix-storage"] {
            guard let storage = PrefixStorage(rawValue: name) else { throw BenchError("--prefix-storage takes native, bfloat16 or float16") }
            plan = TinTMemoryPlan(storage: storage, lowMemory: o.has("--low-memory"))
        } else if o.has("--low-memory") {
            plan = TinTMemoryPlan(storage: .float16, lowMemory: true)
        } else {
            guard let picked = TinTMemoryPlan.pick(program: program, tokens: tokens, budget: budget) else {
                let least = TinTMemoryPlan(storage: .float16, lowMemory: true).modelledBytes(program: program, tokens: tokens)
                throw BenchError("TinT at T \(tokens) needs about \(fmt(TinTMemoryPlan.residue * least / gib, 1)) GiB even with f16 "
                                 + "prefixes and --low-memory; this machine has \(fmt(budget / gib, 1)) GiB")
            }
            plan = picked
        }
        let modelled = TinTMemoryPlan.residue * plan.modelledBytes(program: program, tokens: tokens)
        print("memory plan: \(plan)\(o["--prefix-storage"] == nil && !o.has("--low-memory") ? " (picked: the first that fits)" : ""); "
              + "modelled peak \(fmt(modelled / gib, 1)) GiB of \(fmt(budget / gib, 1)) GiB")
        if modelled > budget { print("warning: the modelled peak exceeds this machine's RAM") }
        return plan
    }

    static func run(_ args: [String]) throws {
        if args.contains("--help") { print(help); return }
        let o = try Options(args, valued: ["--tokens", "--threads", "--rounds", "--layers", "--json", "--prefix-storage", "--shape"],
                            flags: ["--quick", "--cpu-time", "--no-oracle", "--low-memory"])
        let quick = o.has("--quick")
        var withOracle = !o.has("--no-oracle")
        let shapeName = o["--shape"] ?? "opt-125m"
        guard optShapes.contains(shapeName), var c = try ReleasedShapes.config(shapeName) as? OPTConfig else {
            throw BenchError("--shape must be one of \(optShapes.joined(separator: ", ")), got '\(shapeName)'")
        }
        c.numHiddenLayers = try o.int("--layers", default: quick ? 2 : c.numHiddenLayers)
        if quick {
            c.hiddenSize = 96; c.wordEmbedProjDim = 96; c.ffnDim = 384; c.numAttentionHeads = 6; c.vocabSize = 4096
        }
        let tokensList = try o.intList("--tokens", default: quick ? [64] : [256, 512])
        let threadsList = try o.intList("--threads", default: [2])
        var rounds = try o.int("--rounds", default: quick ? 1 : 3)
        if o.has("--cpu-time") {
            guard threadsList == [1] else { throw BenchError("--cpu-time needs --threads 1") }
            useThreadCPUTime = true
        }
        let machine = MachineInfo.current()
        let graph = try AuxGraph(opt: c)
        // OPT-125M keeps the configuration every earlier figure used (S 3, H_sim 12: TinTConfig()); other shapes
        // take the defaults for their width, as `tint params --shape` does.
        let config = shapeName == "opt-125m" && !quick ? TinTConfig() : try TinTDefaults(graph: graph).config
        let shape = "\(quick ? "quick" : shapeName): D_aux \(c.hiddenSize), \(c.numHiddenLayers) layers, FFN \(c.ffnDim), "
            + "vocab \(c.vocabSize); S \(config.rowsPerPrefix), H_sim \(config.simHeads), 1 step, forward reuse"
        print("Bench tint — \(machine.cpu), \(machine.cores) cores, \(machine.build)")
        print(shape)

        var t0 = now()
        let program = try TinTCompiler.compile(graph, config: config)
        let compileSeconds = now() - t0
        let plan = try memoryPlan(o, program: program, tokens: tokensList.max()!)
        if plan.lowMemory {
            guard tokensList.count == 1 && threadsList.count == 1 else {
                throw BenchError("--low-memory runs once: give one --tokens and one --threads value")
            }
            if rounds != 1 { print("low memory: 1 round (the run consumes the executor)"); rounds = 1 }
        }
        if withOracle && (plan.lowMemory || (o["--prefix-storage"] == nil && plan.storage != .native)) {
            print("the approximate-GD oracle is skipped: " + (plan.lowMemory ? "it needs the aux model, which low memory frees"
                                                              : "its tape would not fit beside this plan"))
            withOracle = false
        }
        // Each length's sequence: the same draws whenever it is made (the low-memory aux forward makes it early).
        func sequence(_ T: Int, _ rng: inout TensorRNG) -> [Int] { (0..<T).map { _ in Int(rng.next() % UInt64(c.vocabSize - 4)) + 4 } }
        t0 = now()
        var model: OPTModel? = try OPTModel(config: c, seed: 0)
        print("aux model built with random weights in \(fmt(now() - t0, 1)) s; peak RSS \(fmt(peakRSSMiB() / 1024, 2)) GiB")
        // With low memory the aux model's forward is timed now: the model is freed once encoded.
        var auxBeforeEncoding: [Double] = []
        if plan.lowMemory, let model {
            Threading.maxThreads = threadsList[0]
            var rng = TensorRNG(seed: 7)
            let ids = sequence(tokensList[0], &rng)
            let s = now()
            _ = try model.logits(ids)
            auxBeforeEncoding = [now() - s]
        }
        t0 = now()
        var executor: TinTExecutor<Float>? = try TinTExecutor(
            program: program, parameters: model!.parameters, prefixStorage: plan.storage,
            partition: try TinTPartition.single(graph), stage: 0, readBackBase: !plan.lowMemory)
        let encodeSeconds = now() - t0
        if plan.lowMemory { model = nil }
        let report = program.parameterReport, prefixBytes = executor!.prefixBytes
        print("compile \(fmt(compileSeconds, 2)) s, prefix encoding \(fmt(encodeSeconds, 2)) s, prefixes kept as \(plan.storage.rawValue): "
              + "\(fmt(Double(prefixBytes) / 1048576, 1)) MiB; peak RSS \(fmt(peakRSSMiB() / 1024, 2)) GiB")
        print(report)

        var results: [Result] = []
        var rng = TensorRNG(seed: 7)
        for threads in threadsList {
            Threading.maxThreads = threads
            for T in tokensList {
                let ids = sequence(T, &rng)
                let mask = (0..<T).map { $0 < T / 2 }
                let counter = TinTFlopCounter()
                var gemm = GEMMReference(m: T, k: c.hiddenSize, n: c.ffnDim)
                var tint: [Double] = [], aux = auxBeforeEncoding, oracle: [Double] = [], gemmSeconds: [Double] = []
                var (changeError, logitError): (Double?, Double?) = (nil, nil)
                if plan.lowMemory {
                    // The one round counts the products too (the counter adds a few integers per product).
                    let s = now()
                    _ = try executor.take()!.consumingRun(ids: ids, trainMask: mask, countsTarget: { _ in true }, flops: counter)
                    tint.append(now() - s)
                    gemmSeconds.append(gemm.fastest())
                } else {
                    let executor = executor!, model = model!
                    // Scoped so the two outcomes' logits are freed before the timed rounds (peak RSS).
                    (changeError, logitError) = try { () throws -> (Double?, Double?) in
                        let outcome = try executor.run(ids: ids, trainMask: mask, countsTarget: { _ in true }, flops: counter)
                        guard withOracle else { return (nil, nil) }
                        // The oracle's tape would sit on top of the row buffers the executor keeps for its next run:
                        // free them first, so peak RSS is the larger of the two, not their sum.
                        executor.releaseRetainedBuffers()
                        let reference = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
                        return (relativeError(try outcome.logitsAfter - outcome.logitsBefore, try reference.logitsAfter - reference.logitsBefore),
                                relativeError(outcome.logitsAfter, reference.logitsAfter))
                    }()
                    for _ in 0..<rounds {
                        var s = now()
                        _ = try executor.run(ids: ids, trainMask: mask)
                        tint.append(now() - s)
                        s = now()
                        _ = try model.logits(ids)
                        aux.append(now() - s)
                        gemmSeconds.append(gemm.fastest())
                    }
                    // The oracle rounds after TinT's, with the executor's kept buffers freed (as above).
                    executor.releaseRetainedBuffers()
                    for _ in 0..<(withOracle ? rounds : 0) {
                        let s = now()
                        _ = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
                        oracle.append(now() - s)
                    }
                }
                let flops = Double(counter.totalFlops)
                let gemmGF = gemmSeconds.map { gemm.flops / $0 / 1e9 }
                let r = Result(tokens: T, threads: threads, tintSeconds: tint, auxForwardSeconds: aux, oracleSeconds: oracle,
                               tintBest: tint.min()!, tintMedian: median(tint), auxBest: aux.min()!, oracleBest: oracle.min(),
                               ratioBest: tint.min()! / aux.min()!, layerFlops: counter.layerFlops, glueFlops: counter.glueFlops,
                               tintGFlopsBest: flops / tint.min()! / 1e9, tintGFlopsMedian: flops / median(tint) / 1e9,
                               gemmShape: gemm.label, gemmGFlopsBest: gemmGF.max()!, gemmGFlopsMedian: median(gemmGF),
                               fractionOfGEMM: flops / median(tint) / 1e9 / median(gemmGF),
                               changeErrorVsOracle: changeError, logitErrorVsOracle: logitError)
                results.append(r)
                print("T \(T), \(threads) thread(s): TinT forward best \(fmt(r.tintBest, 2)) s, median \(fmt(r.tintMedian, 2)) s "
                      + "(\(rounds) rounds); aux forward best \(fmt(r.auxBest * 1000, 1)) ms; ratio \(fmt(r.ratioBest, 0))×; "
                      + (r.oracleBest.map { "approximate-GD oracle best \(fmt($0 * 1000, 1)) ms; " } ?? "")
                      + "peak RSS so far \(fmt(peakRSSMiB() / 1024, 2)) GiB")
                print("  FLOPs \(fmt(flops / 1e9, 1)) G (layers \(fmt(Double(r.layerFlops) / 1e9, 1)) G, head \(fmt(Double(r.glueFlops) / 1e9, 1)) G): "
                      + "\(fmt(r.tintGFlopsBest)) GFLOP/s best, \(fmt(r.tintGFlopsMedian)) median; GEMM \(gemm.label) "
                      + "\(fmt(r.gemmGFlopsBest)) best, \(fmt(r.gemmGFlopsMedian)) median; TinT at \(fmt(100 * r.fractionOfGEMM, 0))% of GEMM (medians)")
                if let changeError, let logitError {
                    print("  vs the approximate-GD oracle: logit change \(String(format: "%.2e", changeError)), "
                          + "logits after \(String(format: "%.2e", logitError)) (max-abs relative)")
                }
            }
        }
        let out = Report(machine: machine, shape: shape, compileSeconds: compileSeconds, encodeSeconds: encodeSeconds,
                         parameters: report.total, auxParameters: report.auxParameters, peakRSSMiB: peakRSSMiB(),
                         prefixStorage: plan.storage.rawValue, prefixMiB: Double(prefixBytes) / 1048576, results: results)
        if let path = o["--json"] { try writeJSON(out, to: path) }
    }
}

/// max |a − b| / max |b|.
func relativeError(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
    let x = a.scalars, y = b.scalars
    var diff: Float = 0, scale: Float = 0
    for i in x.indices { diff = max(diff, abs(x[i] - y[i])); scale = max(scale, abs(y[i])) }
    return Double(diff) / Double(max(scale, .leastNormalMagnitude))
}

/// A GEMM of a transformer shape timed in the TinT run (its thread count, its machine load), as TinT's throughput
/// reference: a round is the fastest of ≥ 3 calls taking ≥ 0.2 s, as in `Bench gemm`.
struct GEMMReference {
    let m: Int, k: Int, n: Int
    let a: [Float], b: [Float]
    var c: [Float]

    init(m: Int, k: Int, n: Int) {
        self.m = m; self.k = k; self.n = n
        var rng = TensorRNG(seed: 42)
        a = (try? Tensor<Float>.uniform([m, k], low: -1, high: 1, using: &rng).scalars) ?? []
        b = (try? Tensor<Float>.uniform([k, n], low: -1, high: 1, using: &rng).scalars) ?? []
        c = [Float](repeating: 0, count: m * n)
    }

    var flops: Double { 2 * Double(m) * Double(k) * Double(n) }
    var label: String { "\(m)x\(k)·\(k)x\(n)" }

    /// Seconds of the fastest call.
    mutating func fastest() -> Double {
        let (m, k, n) = (m, k, n)
        return a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    fastestCall(minSeconds: 0.2, minCalls: 3) {
                        gemm(m: m, n: n, k: k, a: ap.baseAddress!, aRowStride: k, aColStride: 1, b: bp.baseAddress!,
                             bRowStride: n, bColStride: 1, c: cp.baseAddress!, ldc: n)
                    }.0
                }
            }
        }
    }
}

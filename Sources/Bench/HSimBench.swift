// `Bench hsim`: the H_sim-split linear layer (TinT's cross-head mix + per-head block map) against a dense
// D_sim×D_sim layer and a naive per-head implementation, at the paper's sizes. For each (H, T) it reports time,
// useful GFLOP/s, parameters, the measured speedup over the dense layer and the fraction of the theoretical
// FLOP ratio D²/(D²/H + D·H) that speedup realises (the target: ≥ 70% at H = 12).
import Foundation
import Tensor
import TinT

enum HSimBench {
    struct Result: Codable {
        var width: Int, heads: Int, tokens: Int, threads: Int
        var denseMs: Double, splitMs: Double, naiveMs: Double
        var denseGFlops: Double, splitGFlops: Double, naiveGFlops: Double
        var denseParams: Int, splitParams: Int
        var theoreticalRatio: Double, speedup: Double, realised: Double, speedupVsNaive: Double
    }

    struct Report: Codable {
        var bench = "hsim"
        var machine: MachineInfo
        var methodology: String
        var results: [Result]
    }

    static let help = """
        usage: Bench hsim [--width D] [--heads 4,12,24,48] [--tokens 256,768] [--threads 1,2] [--rounds N]
                          [--min-time S] [--json FILE] [--quick] [--breakdown] [--modules]
          --width D        D_sim (default 3072)
          --heads LIST     H values (default 4,12,24,48)
          --tokens LIST    T values (rows) (default 256,768)
          --threads LIST   thread counts (default 1,2)
          --rounds N       rounds; each reports its fastest call, the best round is kept (default 3; --quick 1)
          --min-time S     each round runs ≥ 3 calls and ≥ S seconds (default 0.3; --quick 0.05)
          --json FILE      also write the results as JSON
          --quick          D 768, H 12, T 64, one round (smoke test)
          --breakdown      also time the mix alone and the block maps alone
          --modules        instead: time each TinT simulator module at the OPT-125M shape (D_aux 768, S 3,
                           H_sim 12) on the first --tokens value, fp32
        """

    static func run(_ args: [String]) throws {
        if args.contains("--help") { print(help); return }
        let o = try Options(args, valued: ["--width", "--heads", "--tokens", "--threads", "--rounds", "--min-time", "--json"],
                            flags: ["--quick", "--breakdown", "--modules"])
        let quick = o.has("--quick")
        let width = try o.int("--width", default: quick ? 768 : 3072)
        let headsList = try o.intList("--heads", default: quick ? [12] : [4, 12, 24, 48])
        let tokensList = try o.intList("--tokens", default: quick ? [64] : [256, 768])
        let threadsList = try o.intList("--threads", default: [1, 2])
        let rounds = try o.int("--rounds", default: quick ? 1 : 3)
        let minTime = o["--min-time"].flatMap(Double.init) ?? (quick ? 0.05 : 0.3)
        for h in headsList where width % h != 0 { throw BenchError("--width \(width) is not divisible by H = \(h)") }

        if o.has("--modules") {
            try moduleTimings(tokens: tokensList[0], threads: threadsList, minTime: minTime, rounds: rounds)
            return
        }
        let machine = MachineInfo.current()
        print("Bench hsim — \(machine.cpu), \(machine.cores) cores, \(machine.build)")
        print("D_sim = \(width); time = best of \(rounds) rounds (each the fastest call of ≥ 3 calls and ≥ \(minTime) s)")
        print("useful flops: dense 2·T·D², split 2·T·(D²/H + D·H); 'realised' = speedup / (D²/(D²/H + D·H))")
        print(["thr", "H", "T", "dense ms", "split ms", "naive ms", "dense GF/s", "split GF/s", "naive GF/s",
               "params dense", "params split", "theory", "speedup", "realised", "vs naive"]
            .enumerated().map { pad($0.element, [3, 3, 5, 9, 9, 9, 10, 10, 10, 12, 12, 7, 8, 8, 8][$0.offset]) }
            .joined(separator: " "))

        var rng = TensorRNG(seed: 42)
        var results: [Result] = []
        let denseWeight = try Tensor<Float>.normal([width, width], std: 0.02, using: &rng)
        let denseBias = try Tensor<Float>.normal([width], std: 0.1, using: &rng)
        for heads in headsList {
            let layer = try HSimSplitLinear<Float>.random(width: width, heads: heads, using: &rng)
            for tokens in tokensList {
                let x = try Tensor<Float>.normal([tokens, width], std: 1, using: &rng)
                var yDense = try Tensor<Float>.zeros([tokens, width])
                for threads in threadsList {
                    Threading.maxThreads = threads
                    var sink: Float = 0
                    func best(_ body: () -> Void) -> Double {
                        (0..<rounds).map { _ in fastestCall(minSeconds: minTime, minCalls: 3, body).0 }.min()!
                    }
                    let tDense = best {
                        x.withUnsafeBufferPointer { xp in denseWeight.withUnsafeBufferPointer { wp in
                            yDense.withUnsafeMutableBufferPointer { yp in
                                gemm(m: tokens, n: width, k: width, a: xp.baseAddress!, aRowStride: width, aColStride: 1,
                                     b: wp.baseAddress!, bRowStride: width, bColStride: 1, c: yp.baseAddress!, ldc: width)
                                let b = denseBias.scalars
                                for i in 0..<tokens { for j in 0..<width { yp[i * width + j] += b[j] } }
                            }
                        } }
                    }
                    var ySplit = try Tensor<Float>.zeros([tokens, width])
                    let tSplit = best { try! layer(x, into: &ySplit) }
                    sink += ySplit.scalars[0]
                    let tNaive = best { sink += naivePerHead(layer, x).scalars[0] }
                    if sink.isNaN { print("(nan)") }
                    if o.has("--breakdown") {
                        let mixOnly = try HSimSplitLinear<Float>(width: width, heads: heads, mix: layer.mix)
                        let blockOnly = try HSimSplitLinear<Float>(width: width, heads: heads, block: layer.block)
                        let tMix = best { try! mixOnly(x, into: &ySplit) }
                        let tBlock = best { try! blockOnly(x, into: &ySplit) }
                        print("    breakdown: mix alone \(fmt(tMix * 1e3, 2)) ms (\(fmt(2 * Double(tokens * width * heads) / tMix / 1e9)) GF/s), "
                              + "block maps alone \(fmt(tBlock * 1e3, 2)) ms (\(fmt(2 * Double(tokens * width * layer.headWidth) / tBlock / 1e9)) GF/s)")
                    }
                    let denseFlops = 2 * Double(tokens) * Double(width) * Double(width)
                    let splitFlops = 2 * Double(tokens) * Double(layer.multiplyAddsPerRow)
                    let theory = denseFlops / splitFlops
                    let speedup = tDense / tSplit
                    let r = Result(width: width, heads: heads, tokens: tokens, threads: threads,
                                   denseMs: tDense * 1e3, splitMs: tSplit * 1e3, naiveMs: tNaive * 1e3,
                                   denseGFlops: denseFlops / tDense / 1e9, splitGFlops: splitFlops / tSplit / 1e9,
                                   naiveGFlops: splitFlops / tNaive / 1e9,
                                   denseParams: width * width + width, splitParams: layer.parameterCount,
                                   theoreticalRatio: theory, speedup: speedup, realised: speedup / theory,
                                   speedupVsNaive: tNaive / tSplit)
                    results.append(r)
                    print([String(threads), String(heads), String(tokens), fmt(r.denseMs, 2), fmt(r.splitMs, 2),
                           fmt(r.naiveMs, 2), fmt(r.denseGFlops), fmt(r.splitGFlops), fmt(r.naiveGFlops),
                           String(r.denseParams), String(r.splitParams), fmt(theory, 2), fmt(speedup, 2),
                           fmt(100 * r.realised, 0) + "%", fmt(r.speedupVsNaive, 2) + "x"]
                        .enumerated().map { pad($0.element, [3, 3, 5, 9, 9, 9, 10, 10, 10, 12, 12, 7, 8, 8, 8][$0.offset]) }
                        .joined(separator: " "))
                }
            }
        }
        Threading.maxThreads = 0
        if let path = o["--json"] {
            try writeJSON(Report(machine: machine, methodology: "best of \(rounds) rounds of fastest call (≥3 calls, ≥\(minTime)s)",
                                 results: results), to: path)
        }
    }

    /// The per-head implementation the reference's PyTorch modules amount to: the cross-head mix as one small
    /// `(T×H)·(H×H)` product per within-head coordinate on a gathered copy, then per head a contiguous copy of
    /// its columns, a `(T×d)·(d×d)` product and a copy back into the output ("stack").
    static func naivePerHead(_ layer: HSimSplitLinear<Float>, _ x: Tensor<Float>) -> Tensor<Float> {
        let T = x.shape[0], W = layer.width, H = layer.heads, d = layer.headWidth
        let mix = layer.mix!.scalars, block = layer.block!.scalars, bias = layer.bias!.scalars
        let xs = x.scalars
        var z = [Float](repeating: 0, count: T * W)
        var gathered = [Float](repeating: 0, count: T * H), mixed = [Float](repeating: 0, count: T * H)
        var coeff = [Float](repeating: 0, count: H * H)
        for r in 0..<d {
            for t in 0..<T { for h in 0..<H { gathered[t * H + h] = xs[t * W + h * d + r] } }
            for h in 0..<H { for hp in 0..<H { coeff[h * H + hp] = mix[(h * H + hp) * d + r] } }
            gemm(m: T, n: H, k: H, a: gathered, aRowStride: H, aColStride: 1, b: coeff, bRowStride: H, bColStride: 1,
                 c: &mixed, ldc: H)
            for t in 0..<T { for h in 0..<H { z[t * W + h * d + r] = mixed[t * H + h] } }
        }
        var y = [Float](repeating: 0, count: T * W)
        var head = [Float](repeating: 0, count: T * d), out = [Float](repeating: 0, count: T * d)
        for h in 0..<H {
            for t in 0..<T { for r in 0..<d { head[t * d + r] = z[t * W + h * d + r] } }
            block.withUnsafeBufferPointer { bp in
                gemm(m: T, n: d, k: d, a: head, aRowStride: d, aColStride: 1, b: bp.baseAddress! + h * d * d,
                     bRowStride: d, bColStride: 1, c: &out, ldc: d)
            }
            for t in 0..<T { for r in 0..<d { y[t * W + h * d + r] = out[t * d + r] + bias[h * d + r] } }
        }
        return try! Tensor(shape: [T, W], scalars: y)
    }

    /// Times every simulator module on an OPT-125M-shaped configuration (random aux weights and state).
    static func moduleTimings(tokens t: Int, threads: [Int], minTime: Double, rounds: Int) throws {
        let config = SimulatorSpec(auxWidth: 768, auxHeads: 12, auxMaxPositions: 2048, rowsPerPrefix: 3, simHeads: 12)
        let D = config.auxWidth, W = config.simWidth
        var rng = TensorRNG(seed: 1)
        let w = try Tensor<Float>.normal([D, D], std: 0.03, using: &rng), b = try Tensor<Float>.normal([D], std: 0.1, using: &rng)
        let p = try LinearPrefixLayout.encode(weight: w, bias: b, config: config)
        let pln = try LinearPrefixLayout.encodeLayerNorm(gamma: try Tensor<Float>.ones([D]), beta: b, config: config)
        let tokens = try Tensor<Float>.normal([t, W], std: 1, using: &rng)
        let state = try TinTState(prefixes: p, tokens: tokens, trainMask: (0..<t).map { $0 < t / 2 })
        let lnState = try TinTState(prefixes: pln, tokens: tokens, trainMask: state.trainMask)
        var exact = config
        exact.layerNormBackward = .exact
        exact.activationBackward = .exact
        let lf = try LinearForward<Float>(config: config, inputWidth: D, outputWidth: D)
        let lbd = try LinearBackwardDescent<Float>(config: config, inputWidth: D, outputWidth: D)
        let af = try AttentionForward<Float>(config: config)
        let abd = try AttentionBackwardDescent<Float>(config: config)
        let lnf = try LayerNormForward<Float>(config: config)
        let lnbd = try LayerNormBackwardDescent<Float>(config: config)
        let lnbx = try LayerNormBackward<Float>(config: exact)
        let actf = try ActivationForward<Float>(config: config, activation: .relu)
        let actb = try ActivationBackward<Float>(config: config, activation: .relu)
        let cases: [(String, ParameterCount, (inout TinTState<Float>) throws -> Void, TinTState<Float>)] = [
            ("LinearForward", lf.parameterCount, { try lf.apply(&$0) }, state),
            ("LinearBackwardDescent", lbd.parameterCount, { try lbd.apply(&$0) }, state),
            ("AttentionForward", af.parameterCount, { try af.apply(&$0, query: p, key: p, value: p) }, state),
            ("AttentionBackwardDescent", abd.parameterCount, { try abd.apply(&$0) }, state),
            ("LayerNormForward", lnf.parameterCount, { try lnf.apply(&$0) }, lnState),
            ("LayerNormBackwardDescent", lnbd.parameterCount, { try lnbd.apply(&$0) }, lnState),
            ("LayerNormBackward (.exact)", lnbx.parameterCount, { try lnbx.apply(&$0) }, lnState),
            ("ActivationForward", actf.parameterCount, { try actf.apply(&$0) }, state),
            ("ActivationBackward", actb.parameterCount, { try actb.apply(&$0) }, state),
        ]
        print("Bench hsim --modules — OPT-125M shape (D_sim \(W), K \(config.prefixCount), H_sim 12), T = \(t), fp32; "
              + "time per apply (module built once), best of \(rounds) rounds")
        print(pad("module", 28, right: false) + pad("threads", 8) + pad("ms", 10) + pad("weights", 12) + pad("prefixes", 12))
        for (name, count, run, start) in cases {
            for th in threads {
                Threading.maxThreads = th
                let best = (0..<rounds).map { _ in fastestCall(minSeconds: minTime, minCalls: 3) {
                    var s = start
                    try! run(&s)
                }.0 }.min()!
                print(pad(name, 28, right: false) + pad(String(th), 8) + pad(fmt(best * 1e3, 2), 10)
                      + pad(String(count.moduleWeights), 12) + pad(String(count.prefixStorage), 12))
            }
        }
        Threading.maxThreads = 0
    }
}

// `Bench autodiff`: forward, forward+backward and their ratio for an OPT-125M-shaped pre-LN decoder block
// (T=512, D=768, 12 heads, FFN 3072, ReLU) and for a whole 2-layer model (embeddings, 2 blocks, final layer norm,
// tied LM head over V=50272, summed cross-entropy), in Float through the Autodiff tape.
// Scripts/bench_torch.py times the same computations in PyTorch; Scripts/compare_autodiff.sh interleaves both.
//
// Methodology: a round is the fastest call of ≥ minCalls calls taking ≥ minSeconds together; we report the best
// and the median round. "forward" runs under noGrad (inference: nothing recorded); "forward (tape)" records the
// graph; "fwd+bwd" records and then back-propagates to every parameter (and releases the graph).
import Foundation
import Tensor
import Autodiff

enum AutodiffBench {
    struct Config: Codable {
        var tokens = 512, width = 768, heads = 12, ffn = 3072, vocab = 50272, positions = 2050, layers = 2
    }

    struct Result: Codable {
        var what: String
        var threads: Int
        var forwardMs: Double, forwardTapeMs: Double, forwardBackwardMs: Double
        var ratio: Double, ratioVsTapeForward: Double
        /// The fastest round of each: best fwd+bwd / best forward.
        var bestForwardMs: Double, bestForwardBackwardMs: Double, bestRatio: Double
        /// The block's forward written on Tensor directly (no Variable): the baseline of the noGrad forward.
        var tensorOnlyForwardMs: Double?
        var rounds: [[Double]]  // per round: forward, forward (tape), fwd+bwd[, Tensor-only forward] seconds
        var gflop: Double
    }

    struct Report: Codable {
        var bench = "autodiff"
        var machine: MachineInfo
        var cpuTime: Bool
        var config: Config
        var rounds: Int, minSeconds: Double, minCalls: Int
        var methodology: String
        var results: [Result]
    }

    static let help = """
        usage: Bench autodiff [--what block,model] [--threads 1,2] [--rounds N] [--min-time S] [--tokens T] [--json FILE]
                              [--quick] [--cpu-time]
          --what LIST     block (one decoder block, seed gradient on its output) and/or model (2 layers + LM head + CE);
                          or head alone: the model's LM head + cross-entropy op by op (where its backward time goes)
          --threads LIST  thread counts (default 1,2)
          --rounds N      rounds (default 3; --quick: 1)
          --min-time S    each timing runs ≥ 3 calls and ≥ S seconds (default 1; --quick: 0)
          --tokens T      sequence length (default 512)
          --json FILE     also write the results as JSON
          --quick         one short round at T=128
          --cpu-time      time with the thread's CPU-time clock (1 thread only): per-core speed on a loaded machine
        """

    static func run(_ args: [String]) throws {
        if args.contains("--help") { print(help); return }
        let o = try Options(args, valued: ["--what", "--threads", "--rounds", "--min-time", "--tokens", "--json"],
                            flags: ["--quick", "--cpu-time"])
        let quick = o.has("--quick")
        var config = Config()
        config.tokens = try o.int("--tokens", default: quick ? 128 : 512)
        let rounds = try o.int("--rounds", default: quick ? 1 : 3)
        let threadCounts = try o.intList("--threads", default: [1, 2])
        let minSeconds = try o["--min-time"].map { s -> Double in
            guard let x = Double(s), x >= 0 else { throw BenchError("--min-time needs seconds, got \(s)") }
            return x
        } ?? (quick ? 0 : 1)
        let minCalls = quick ? 1 : 3
        if o.has("--cpu-time") {
            guard threadCounts == [1] else { throw BenchError("--cpu-time needs --threads 1") }
            useThreadCPUTime = true
        }
        let what = (o["--what"] ?? "block,model").split(separator: ",").map(String.init)
        for w in what where !["block", "model", "head"].contains(w) { throw BenchError("--what: unknown \(w)") }
        if what.contains("head") {
            guard what == ["head"] else { throw BenchError("--what head runs on its own") }
            try headBreakdown(config, rounds: rounds, threads: threadCounts, minSeconds: minSeconds, minCalls: minCalls)
            return
        }

        let machine = MachineInfo.current()
        print("Bench autodiff — \(machine.date), \(machine.cpu), \(machine.cores) cores, build: \(machine.build)")
        print("OPT-125M shapes: T=\(config.tokens) D=\(config.width) heads=\(config.heads) FFN=\(config.ffn) V=\(config.vocab), Float")
        print("best / median over \(rounds) round(s); a round = fastest call of ≥ \(minCalls) calls and ≥ \(minSeconds) s")
        print("ratio = (fwd+bwd) / forward under noGrad; tape ratio = (fwd+bwd) / forward recording the tape")
        if useThreadCPUTime { print("timing: calling thread's CPU time (descheduled time excluded)") }
        print("Tensor fwd = the block's forward written on Tensor directly (what the noGrad Variable forward wraps)")
        print("")
        print(pad("what", 8, right: false) + pad("thr", 4) + pad("fwd ms", 10) + pad("fwd(tape) ms", 14)
              + pad("fwd+bwd ms", 12) + pad("ratio", 7) + pad("tape ratio", 12) + pad("fwd+bwd GF/s", 14)
              + pad("Tensor fwd ms", 14) + pad("best fwd", 10) + pad("best f+b", 12) + pad("best ratio", 11))

        var results: [Result] = []
        for w in what {
            let bench = try Workload(w, config)
            var times = [Int: [[Double]]]()
            for _ in 0..<rounds {
                for t in threadCounts {
                    Threading.maxThreads = t
                    var failure: Error?
                    func timed(_ body: () throws -> Void) -> Double {
                        fastestCall(minSeconds: minSeconds, minCalls: minCalls) {
                            do { try body() } catch { failure = error }
                        }.0
                    }
                    let f = timed { _ = try noGrad { try bench.forward() } }
                    let ft = timed { _ = try bench.forward() }
                    let fb = timed { try bench.forwardBackward() }
                    let tensorOnly = w == "block" ? [timed { _ = try bench.forwardTensorOnly() }] : []
                    if let failure { throw failure }
                    times[t, default: []].append([f, ft, fb] + tensorOnly)
                }
            }
            Threading.maxThreads = 0
            for t in threadCounts {
                let r = times[t]!
                let med = (0..<r[0].count).map { i in median(r.map { $0[i] }) }
                let best = (0..<r[0].count).map { i in r.map { $0[i] }.min()! }
                let res = Result(what: w, threads: t, forwardMs: med[0] * 1e3, forwardTapeMs: med[1] * 1e3,
                                 forwardBackwardMs: med[2] * 1e3, ratio: med[2] / med[0], ratioVsTapeForward: med[2] / med[1],
                                 bestForwardMs: best[0] * 1e3, bestForwardBackwardMs: best[2] * 1e3,
                                 bestRatio: best[2] / best[0],
                                 tensorOnlyForwardMs: med.count > 3 ? med[3] * 1e3 : nil,
                                 rounds: r, gflop: bench.gflop)
                results.append(res)
                print(pad(w, 8, right: false) + pad("\(t)", 4) + pad(fmt(res.forwardMs), 10) + pad(fmt(res.forwardTapeMs), 14)
                      + pad(fmt(res.forwardBackwardMs), 12) + pad(fmt(res.ratio, 2), 7) + pad(fmt(res.ratioVsTapeForward, 2), 12)
                      + pad(fmt(3 * bench.gflop / med[2]), 14) + pad(res.tensorOnlyForwardMs.map { fmt($0) } ?? "-", 14)
                      + pad(fmt(res.bestForwardMs), 10) + pad(fmt(res.bestForwardBackwardMs), 12) + pad(fmt(res.bestRatio, 2), 11))
            }
        }
        print("(median over rounds, then the fastest round of each; fwd+bwd GF/s counts 3× the forward matmul FLOPs)")
        if let path = o["--json"] {
            try writeJSON(Report(machine: machine, cpuTime: useThreadCPUTime, config: config, rounds: rounds, minSeconds: minSeconds, minCalls: minCalls,
                                 methodology: "round = fastest of >= minCalls calls taking >= minSeconds; medians over rounds",
                                 results: results), to: path)
            print("wrote \(path)")
        }
    }

    /// `--what head`: the tied LM head and summed cross-entropy of the model, timed piece by piece (best and median
    /// round, ms), so the model's backward/forward excess can be attributed: the forward product h·Eᵀ, the loss,
    /// the loss's pullback, the two gradient products ∇h = ∇z·E and ∇E = ∇zᵀ·h, and the whole head through the tape.
    static func headBreakdown(_ c: Config, rounds: Int, threads: [Int], minSeconds: Double, minCalls: Int) throws {
        var rng = TensorRNG(seed: 11)
        let e = try Tensor<Float>.normal([c.vocab, c.width], std: 0.02, using: &rng)
        let h = try Tensor<Float>.normal([c.tokens, c.width], using: &rng)
        let targets = (0..<c.tokens).map { i in i == c.tokens - 1 ? -100 : Int(rng.next() % UInt64(c.vocab)) }
        let z = try h.linear(weight: e)
        let zv = Variable(z, requiresGradient: true)
        let dz = try crossEntropy(logits: zv, targets: targets, reduction: .sum).gradient(for: zv)
        let flop = 2 * Double(c.tokens) * Double(c.width) * Double(c.vocab)
        let dzc = dz.contiguous(), hc = h.contiguous()
        let out = UnsafeMutablePointer<Float>.allocate(capacity: c.vocab * c.width)
        out.initialize(repeating: 0, count: c.vocab * c.width)
        defer { out.deallocate() }
        let pieces: [(String, Bool, () throws -> Void)] = [
            ("forward h·Eᵀ", true, { _ = try h.linear(weight: e) }),
            ("loss (logsumexp, no grad)", false, { _ = try noGrad { try crossEntropy(logits: Variable(z), targets: targets, reduction: .sum) } }),
            ("loss + its pullback", false, {
                let v = Variable(z, requiresGradient: true)
                _ = try crossEntropy(logits: v, targets: targets, reduction: .sum).gradient(for: v)
            }),
            ("∇h = ∇z·E", true, { _ = try dz.matmul(e) }),
            ("∇E = ∇zᵀ·h", true, { _ = try dz.matmul(h, transposeA: true, transposeB: false) }),
            ("∇E, C preallocated", true, {  // the same GEMM without the first-touch page faults of a fresh result
                dzc.withUnsafeBufferPointer { a in
                    hc.withUnsafeBufferPointer { b in
                        gemm(transposeA: true, transposeB: false, m: c.vocab, n: c.width, k: c.tokens,
                             a: a.baseAddress!, lda: c.vocab, b: b.baseAddress!, ldb: c.width,
                             c: out, ldc: c.width)
                    }
                }
            }),
            ("head fwd (no grad)", false, {
                _ = try noGrad { try crossEntropy(logits: Variable(h).linear(weight: Variable(e)), targets: targets, reduction: .sum) }
            }),
            ("head fwd+bwd (tape)", false, {
                let hv = Variable(h, requiresGradient: true), ev = Variable(e, requiresGradient: true)
                let loss = try crossEntropy(logits: hv.linear(weight: ev), targets: targets, reduction: .sum)
                _ = try loss.gradients(for: [hv, ev])
            }),
        ]
        print(pad("LM head piece", 28, right: false) + pad("thr", 4) + pad("best ms", 10) + pad("median ms", 11) + pad("GF/s", 8))
        for t in threads {
            Threading.maxThreads = t
            for (name, isGEMM, body) in pieces {
                var failure: Error?
                var times: [Double] = []
                for _ in 0..<rounds {
                    times.append(fastestCall(minSeconds: minSeconds, minCalls: minCalls) {
                        do { try body() } catch { failure = error }
                    }.0)
                }
                if let failure { throw failure }
                let best = times.min()!, med = median(times)
                print(pad(name, 28, right: false) + pad("\(t)", 4) + pad(fmt(best * 1e3), 10) + pad(fmt(med * 1e3), 11)
                      + pad(isGEMM ? fmt(flop / med / 1e9) : "-", 8))
            }
        }
        Threading.maxThreads = 0
    }

    /// One benchmarked computation with its parameters and inputs.
    struct Workload {
        let kind: String
        let config: Config
        let params: ParameterSet<Float>
        let input: Tensor<Float>      // block: x [T, D]
        let seed: Tensor<Float>       // block: ∂L/∂y
        let tokens: [Int], targets: [Int]

        init(_ kind: String, _ c: Config) throws {
            self.kind = kind
            config = c
            var rng = TensorRNG(seed: 7)
            var specs: [(String, [Int])] = []
            let layers = kind == "block" ? 1 : c.layers
            if kind == "model" {
                specs += [("model.decoder.embed_tokens.weight", [c.vocab, c.width]),
                          ("model.decoder.embed_positions.weight", [c.positions, c.width])]
            }
            for l in 0..<layers { specs += blockSpecs("model.decoder.layers.\(l).", c) }
            if kind == "model" {
                specs += [("model.decoder.final_layer_norm.weight", [c.width]), ("model.decoder.final_layer_norm.bias", [c.width])]
            }
            var p = ParameterSet<Float>()
            for (name, shape) in specs {
                let t: Tensor<Float> = name.hasSuffix("norm.weight") ? try .ones(shape)
                    : try .normal(shape, std: name.hasSuffix("bias") ? 0.01 : 0.02, using: &rng)
                try p.insert(name, t)
            }
            params = p
            input = try .normal([c.tokens, c.width], using: &rng)
            seed = try .normal([c.tokens, c.width], std: 1e-3, using: &rng)
            tokens = (0..<c.tokens).map { _ in Int(rng.next() % UInt64(c.vocab)) }
            targets = Array(tokens.dropFirst()) + [-100]
        }

        /// Matmul FLOPs of one forward pass.
        var gflop: Double {
            let t = Double(config.tokens), d = Double(config.width), f = Double(config.ffn)
            let block = 2 * t * d * (4 * d + 2 * f) + 2 * 2 * t * t * d
            return kind == "block" ? block / 1e9 : (Double(config.layers) * block + 2 * t * d * Double(config.vocab)) / 1e9
        }

        func forward() throws -> Variable<Float> {
            try forward(params.constantsUnlessRecording())
        }

        func forward(_ p: VariableSet<Float>) throws -> Variable<Float> {
            if kind == "block" { return try decoderBlock(Variable(input), p, "model.decoder.layers.0.", config) }
            let t = config.tokens
            var h = try p["model.decoder.embed_tokens.weight"].embedding(tokens, shape: [t])
                + p["model.decoder.embed_positions.weight"].sliced(axis: 0, 2..<(t + 2))  // OPT's position offset 2
            for l in 0..<config.layers { h = try decoderBlock(h, p, "model.decoder.layers.\(l).", config) }
            h = try h.layerNorm(weight: p["model.decoder.final_layer_norm.weight"], bias: p["model.decoder.final_layer_norm.bias"])
            let logits = try h.linear(weight: p["model.decoder.embed_tokens.weight"])  // tied head: h·Eᵀ
            return try crossEntropy(logits: logits, targets: targets, reduction: .sum)
        }

        func forwardTensorOnly() throws -> Tensor<Float> {
            try decoderBlockTensor(input, params, "model.decoder.layers.0.", config)
        }

        func forwardBackward() throws {
            let vars = try params.variables()
            let y = try forward(vars)
            let all = vars.names.map { try! vars[$0] }
            _ = try y.gradients(for: all, seed: kind == "block" ? seed : nil)
        }
    }

    static func blockSpecs(_ l: String, _ c: Config) -> [(String, [Int])] {
        var s: [(String, [Int])] = []
        for n in ["self_attn_layer_norm", "final_layer_norm"] { s += [(l + n + ".weight", [c.width]), (l + n + ".bias", [c.width])] }
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"] {
            s += [(l + "self_attn." + n + ".weight", [c.width, c.width]), (l + "self_attn." + n + ".bias", [c.width])]
        }
        s += [(l + "fc1.weight", [c.ffn, c.width]), (l + "fc1.bias", [c.ffn]), (l + "fc2.weight", [c.width, c.ffn]),
              (l + "fc2.bias", [c.width])]
        return s
    }

    /// `decoderBlock` written directly on Tensor (no Variable), to show what the noGrad wrapper costs.
    static func decoderBlockTensor(_ x: Tensor<Float>, _ p: ParameterSet<Float>, _ l: String, _ c: Config) throws -> Tensor<Float> {
        let t = x.shape[0], d = c.width, dh = d / c.heads
        func w(_ n: String) throws -> Tensor<Float> { try p.tensor(l + n) }
        let a = try x.layerNorm(weight: w("self_attn_layer_norm.weight"), bias: w("self_attn_layer_norm.bias"))
        func heads(_ n: String) throws -> Tensor<Float> {
            try a.linear(weight: w("self_attn.\(n).weight"), bias: w("self_attn.\(n).bias"))
                .reshaped([t, c.heads, dh]).permuted([1, 0, 2])
        }
        let scores = try (heads("q_proj") * (1 / Float(dh).squareRoot())).matmul(try heads("k_proj").transposed())
        let probabilities = try (scores + causalMask(queries: t, as: Float.self)).softmax()
        let o = try probabilities.matmul(try heads("v_proj"))
        var h = try x + o.permuted([1, 0, 2]).reshaped([t, d])
            .linear(weight: w("self_attn.out_proj.weight"), bias: w("self_attn.out_proj.bias"))
        let m = try h.layerNorm(weight: w("final_layer_norm.weight"), bias: w("final_layer_norm.bias"))
        h = try h + m.linear(weight: w("fc1.weight"), bias: w("fc1.bias")).relu()
            .linear(weight: w("fc2.weight"), bias: w("fc2.bias"))
        return h
    }

    /// A pre-LN OPT decoder layer: x + attn(LN(x)), then h + fc2(relu(fc1(LN(h)))).
    static func decoderBlock(_ x: Variable<Float>, _ p: VariableSet<Float>, _ l: String, _ c: Config) throws -> Variable<Float> {
        let t = x.shape[0], d = c.width, dh = d / c.heads
        func w(_ n: String) throws -> Variable<Float> { try p[l + n] }
        let a = try x.layerNorm(weight: w("self_attn_layer_norm.weight"), bias: w("self_attn_layer_norm.bias"))
        func heads(_ n: String) throws -> Variable<Float> {
            try a.linear(weight: w("self_attn.\(n).weight"), bias: w("self_attn.\(n).bias"))
                .reshaped([t, c.heads, dh]).permuted([1, 0, 2])
        }
        let o = try scaledDotProductAttention(query: heads("q_proj"), key: heads("k_proj"), value: heads("v_proj"), causal: true)
        var h = try x + o.permuted([1, 0, 2]).reshaped([t, d])
            .linear(weight: w("self_attn.out_proj.weight"), bias: w("self_attn.out_proj.bias"))
        let m = try h.layerNorm(weight: w("final_layer_norm.weight"), bias: w("final_layer_norm.bias"))
        h = try h + m.linear(weight: w("fc1.weight"), bias: w("fc1.bias")).relu()
            .linear(weight: w("fc2.weight"), bias: w("fc2.bias"))
        return h
    }
}

extension ParameterSet {
    /// Trainable variables when the tape is recording, constants otherwise (so a recording forward pass has
    /// something to record).
    func constantsUnlessRecording() throws -> VariableSet<Scalar> {
        isGradientRecordingEnabled ? try variables() : constants
    }
}

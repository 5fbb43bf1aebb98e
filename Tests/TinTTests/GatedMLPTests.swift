import Testing
import LanguageModel
import Tensor
import Autodiff
@testable import TinT

/// The gated-MLP units on a tiny random gated MLP of width F = 2·D (two chunks, summed by the test as the glue
/// does), against Autodiff: the forward, `∇x`, and the Descent's update of the gate, up and down weights and biases
/// (the gradient of `Σ_{t∈train} ⟨y_t, ∇y_t⟩`).
@Suite struct GatedMLPTests {
    static let cases: [(Activation, Int)] = [(.silu, 0), (.gelu, 1), (.relu, 2), (.silu, 3)]

    func autodiffActivation(_ f: Activation, _ v: Variable<Double>) -> Variable<Double> {
        switch f {
        case .relu: return v.relu()
        case .gelu: return v.gelu()
        case .geluTanh: return v.geluTanh()
        case .silu: return v.silu()
        }
    }

    /// `[x, 1]` so a bias is the last column of an augmented weight.
    func augmented(_ x: Tensor<Double>) -> Tensor<Double> {
        let t = x.shape[0], d = x.shape[1]
        var s = [Double]()
        for i in 0..<t { s += x.scalars[(i * d)..<((i + 1) * d)] + [1] }
        return try! Tensor(shape: [t, d + 1], scalars: s)
    }

    struct Errors { var forward = 0.0, inputGradient = 0.0, gate = 0.0, up = 0.0, down = 0.0, downBias = 0.0 }

    /// Relative errors (to max(1, scale)) of the TinT result against the oracle.
    func run<S: TensorScalar>(_: S.Type, _ f: Activation, _ ci: Int, _ rule: TinTConfig.ActivationBackward) throws -> Errors {
        var config = smallConfigs[ci].with(gates: testGates(S.self)).with(learningRate: 0.01)
        config.activationBackward = rule
        let D = config.auxWidth, F = 2 * D, t = 9, eta = config.learningRate
        let mask = (0..<t).map { $0 < 6 }
        let x: Tensor<Double> = randn([t, D], seed: 11)
        let gy: Tensor<Double> = randn([t, D], seed: 12)
        // Augmented gate/up weights [F, D + 1] (bias last); down [D, F] with bias bd.
        let wg: Tensor<Double> = randn([F, D + 1], seed: 13, std: 1 / Double(D).squareRoot())
        let wu: Tensor<Double> = randn([F, D + 1], seed: 14, std: 1 / Double(D).squareRoot())
        let wd: Tensor<Double> = randn([D, F], seed: 15, std: 1 / Double(F).squareRoot())
        let bd: Tensor<Double> = randn([D], seed: 16, std: 0.1)
        let xa = augmented(x)

        // Oracle: y = Wd (σ(xa Wgᵀ) ⊙ (xa Wuᵀ))ᵀ + bd; weight gradients with ∇y on the train rows only.
        func mlp(_ xv: Variable<Double>, _ g: Variable<Double>, _ u: Variable<Double>, _ d: Variable<Double>) throws -> Variable<Double> {
            let p = try autodiffActivation(f, try xv.matmul(g.transposed())) * (try xv.matmul(u.transposed()))
            return try p.matmul(d.transposed())
        }
        let trainGy = try Tensor(shape: gy.shape, scalars: gy.scalars.enumerated().map { mask[$0.offset / D] ? $0.element : 0 })
        let oracle = try valueAndGradient(at: [xa, wg, wu, wd], seed: trainGy) { try mlp($0[0], $0[1], $0[2], $0[3]) }
        let yExpected = oracle.value  // + bd below
        let gxExpected = try valueAndGradient(at: [xa, wg, wu, wd], seed: gy) { try mlp($0[0], $0[1], $0[2], $0[3]) }.gradients[0]

        // TinT: per chunk j, encode the D × D blocks.
        func block(_ w: Tensor<Double>, rows: Range<Int>, cols: Range<Int>) -> Tensor<Double> {
            try! w.sliced(axis: 0, rows).sliced(axis: 1, cols).contiguous()
        }
        func enc(_ w: Tensor<Double>, _ b: Tensor<Double>?) throws -> Tensor<S> {
            try LinearPrefixLayout.encode(weight: w, bias: b, config: config).converted()
        }
        let forward = try GatedMLPForward<S>(config: config, activation: f)
        var y = try Tensor<Double>.zeros([t, D]), gx = try Tensor<Double>.zeros([t, D])
        var e = Errors()
        var gateGrad = [Double](repeating: 0, count: F * (D + 1)), upGrad = gateGrad
        var downGrad = [Double](repeating: 0, count: D * F), downBiasGrad = [Double](repeating: 0, count: D)
        for j in 0..<2 {
            let r = (j * D)..<((j + 1) * D)
            let pg = try enc(block(wg, rows: r, cols: 0..<D), block(wg, rows: r, cols: D..<(D + 1)).reshaped([D]))
            let pu = try enc(block(wu, rows: r, cols: 0..<D), block(wu, rows: r, cols: D..<(D + 1)).reshaped([D]))
            let pd = try enc(block(wd, rows: 0..<D, cols: r), j == 0 ? bd : nil)
            var state: TinTState<S> = randomState(config, prefixes: pg, tokens: t, seed: 17 + UInt64(j), mask: mask)
            try state.tokens.assign(x.converted(to: S.self), axis: 1, 0..<D)
            try forward.apply(&state, gate: pg, up: pu, down: pd)
            y = try y + columns(state.tokens, 0, D).converted(to: Double.self)
            // Backward ∥ Descent on the post-Forward rows with ∇y in the signal.
            try state.tokens.assign(gy.converted(to: S.self), axis: 1, 0..<D)
            let backward = try GatedMLPBackward<S>(config: config, activation: f, updateBias: (true, true, j == 0))
            let (ng, nu, nd) = try backward.apply(&state, gate: pg, up: pu, down: pd)
            gx = try gx + columns(state.tokens, 0, D).converted(to: Double.self)
            // Gradient = (old − new)/η, written back into the full-width layouts.
            func grad(_ old: Tensor<S>, _ new: Tensor<S>) throws -> (Tensor<Double>, Tensor<Double>) {
                let (w0, b0) = try LinearPrefixLayout.decode(old.converted(to: Double.self), inputWidth: D, outputWidth: D, config: config)
                let (w1, b1) = try LinearPrefixLayout.decode(new.converted(to: Double.self), inputWidth: D, outputWidth: D, config: config)
                return (try (w0 - w1) * (1 / eta), try (b0 - b1) * (1 / eta))
            }
            let (ggw, ggb) = try grad(pg, ng), (guw, gub) = try grad(pu, nu), (gdw, gdb) = try grad(pd, nd)
            for (i, row) in r.enumerated() {
                for c in 0..<D {
                    gateGrad[row * (D + 1) + c] = ggw.scalars[i * D + c]
                    upGrad[row * (D + 1) + c] = guw.scalars[i * D + c]
                }
                gateGrad[row * (D + 1) + D] = ggb.scalars[i]
                upGrad[row * (D + 1) + D] = gub.scalars[i]
            }
            for o in 0..<D { for (i, col) in r.enumerated() { downGrad[o * F + col] = gdw.scalars[o * D + i] } }
            if j == 0 { downBiasGrad = gdb.scalars } else { #expect(maxAbs(gdb) == 0, "only chunk 0 moves b_d") }
        }
        let yFull = try Tensor(shape: [t, D], scalars: zip(yExpected.scalars, (0..<(t * D)).map { bd.scalars[$0 % D] }).map { $0 + $1 })
        func rel(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double { maxDiff(a, b) / max(1, maxAbs(b)) }
        e.forward = rel(y, yFull)
        e.inputGradient = rel(gx, columns(gxExpected, 0, D))
        e.gate = rel(try Tensor(shape: [F, D + 1], scalars: gateGrad), oracle.gradients[1])
        e.up = rel(try Tensor(shape: [F, D + 1], scalars: upGrad), oracle.gradients[2])
        e.down = rel(try Tensor(shape: [D, F], scalars: downGrad), oracle.gradients[3])
        let bdExpected = try Tensor(shape: [D], scalars: (0..<D).map { o in (0..<t).reduce(0.0) { $0 + (mask[$1] ? gy.scalars[$1 * D + o] : 0) } })
        e.downBias = rel(try Tensor(shape: [D], scalars: downBiasGrad), bdExpected)
        return e
    }

    @Test(arguments: cases) func exactDouble(f: Activation, ci: Int) throws {
        let e = try run(Double.self, f, ci, .exact)
        for (name, v) in [("forward", e.forward), ("∇x", e.inputGradient), ("gate", e.gate), ("up", e.up), ("down", e.down), ("b_d", e.downBias)] {
            #expect(v <= 1e-9, "\(name): \(v)")
        }
    }

    /// fp32 with the paper's tanh gates and the exact activation backward: ≤ 1e-5. (The update is read back as
    /// (W − W')/η, so its fp32 error is the weight's rounding over η: η = 0.01 and |W| ≲ 0.5 keep it ≤ 1e-5.)
    @Test(arguments: cases) func exactFloat(f: Activation, ci: Int) throws {
        let e = try run(Float.self, f, ci, .exact)
        #expect(e.forward <= 1e-5, "forward: \(e.forward)")
        #expect(e.inputGradient <= 1e-5, "∇x: \(e.inputGradient)")
        #expect(e.gate <= 1e-5 && e.up <= 1e-5 && e.down <= 1e-5 && e.downBias <= 1e-5, "\(e)")
    }

    /// The paper's finite difference (N = 1000), fp32: the activation tests' bound, 1e-2 relative; only ∇g (the gate
    /// weights and ∇x) carries the O(1/N) error, up and down stay exact.
    @Test(arguments: cases) func finiteDifferenceFloat(f: Activation, ci: Int) throws {
        let e = try run(Float.self, f, ci, .finiteDifference(1000))
        #expect(e.forward <= 1e-5, "forward: \(e.forward)")
        #expect(e.gate <= 1e-2 && e.inputGradient <= 1e-2, "\(e)")
        #expect(e.up <= 1e-5 && e.down <= 1e-5, "\(e)")
    }
}

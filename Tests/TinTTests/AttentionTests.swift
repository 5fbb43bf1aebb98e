import Testing
import Tensor
import Autodiff
@testable import TinT

/// Causal softmax probabilities per head: `A[a][i][j]` for queries/keys `[T, D]`, `heads` heads.
func naiveCausalProbabilities(_ q: Tensor<Double>, _ k: Tensor<Double>, heads: Int, scale: Double) -> [[[Double]]] {
    let t = q.shape[0], D = q.shape[1], dh = D / heads
    let qs = q.scalars, ks = k.scalars
    return (0..<heads).map { a in
        (0..<t).map { i in
            var s = (0..<t).map { j -> Double in
                guard j <= i else { return -.infinity }
                var dot = 0.0
                for c in 0..<dh { dot += qs[i * D + a * dh + c] * ks[j * D + a * dh + c] }
                return dot * scale
            }
            let m = s.max()!
            s = s.map { $0 == -.infinity ? 0 : Foundation_exp($0 - m) }
            let z = s.reduce(0, +)
            return s.map { $0 / z }
        }
    }
}

func Foundation_exp(_ x: Double) -> Double { Double.exp(x) }

/// `Σ_j A[i][j] v_j` (or `Σ_j A[j][i] v_j` when transposed) per head.
func naiveApply(_ a: [[[Double]]], _ v: Tensor<Double>, transposed: Bool) -> Tensor<Double> {
    let t = v.shape[0], D = v.shape[1], heads = a.count, dh = D / heads
    let vs = v.scalars
    var out = [Double](repeating: 0, count: t * D)
    for h in 0..<heads { for i in 0..<t { for j in 0..<t {
        let w = transposed ? a[h][j][i] : a[h][i][j]
        if w == 0 { continue }
        for c in 0..<dh { out[i * D + h * dh + c] += w * vs[j * D + h * dh + c] }
    } } }
    return try! Tensor(shape: [t, D], scalars: out)
}

@Suite struct AttentionTests {
    struct Setup<S: TensorScalar> {
        let config: SimulatorSpec
        let wq: Tensor<Double>, bq: Tensor<Double>, wk: Tensor<Double>, bk: Tensor<Double>, wv: Tensor<Double>, bv: Tensor<Double>
        let pq: Tensor<S>, pk: Tensor<S>, pv: Tensor<S>
        let scale: Double
    }

    func setup<S: TensorScalar>(_: S.Type, _ ci: Int) -> Setup<S> {
        let config = smallConfigs[ci].with(gates: testGates(S.self)).with(learningRate: 0.05)
        let D = config.auxWidth, std = 1 / Double(D).squareRoot()
        let wq: Tensor<Double> = randn([D, D], seed: 1, std: 2 * std), bq: Tensor<Double> = randn([D], seed: 2, std: 0.3)
        let wk: Tensor<Double> = randn([D, D], seed: 3, std: 2 * std), bk: Tensor<Double> = randn([D], seed: 4, std: 0.3)
        let wv: Tensor<Double> = randn([D, D], seed: 5, std: std), bv: Tensor<Double> = randn([D], seed: 6, std: 0.3)
        func enc(_ w: Tensor<Double>, _ b: Tensor<Double>) -> Tensor<S> {
            try! LinearPrefixLayout.encode(weight: w, bias: b, config: config).converted()
        }
        return Setup(config: config, wq: wq, bq: bq, wk: wk, bk: bk, wv: wv, bv: bv, pq: enc(wq, bq), pk: enc(wk, bk),
                     pv: enc(wv, bv), scale: 1 / Double(config.auxHeadWidth).squareRoot())
    }

    static let cases: [(Int, Int)] = [(0, 1), (1, 9), (2, 13), (3, 6)]

    func forward<S: TensorScalar>(_: S.Type, _ ci: Int, _ t: Int) throws {
        let s = setup(S.self, ci)
        let c = s.config, D = c.auxWidth, W = c.simWidth, mem = c.attentionMemory
        let before: TinTState<S> = randomState(c, prefixes: s.pv, tokens: t, seed: 7)
        var state = before
        try AttentionForward<S>(config: c).apply(&state, query: s.pq, key: s.pk, value: s.pv)
        let x = columns(before.tokens, 0, D).converted(to: Double.self)
        let q = naiveLinear(x, s.wq, s.bq), k = naiveLinear(x, s.wk, s.bk), v = naiveLinear(x, s.wv, s.bv)
        let o = naiveApply(naiveCausalProbabilities(q, k, heads: c.auxHeads, scale: s.scale), v, transposed: false)
        let tol = exactTolerance(S.self)
        #expect(maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), o) <= tol * max(1, maxAbs(o)), "attention output")
        #expect(maxDiff(columns(state.tokens, mem, D).converted(to: Double.self), q) <= tol * max(1, maxAbs(q)), "Qx in memory")
        #expect(maxDiff(columns(state.tokens, mem + D, D).converted(to: Double.self), k) <= tol * max(1, maxAbs(k)), "Kx in memory")
        #expect(maxDiff(columns(state.tokens, mem + 2 * D, D), columns(before.tokens, 0, D)) <= tol, "x in memory")
        if mem > D { #expect(maxDiff(columns(state.tokens, D, mem - D), columns(before.tokens, D, mem - D)) <= tol) }
        #expect(maxDiff(state.prefixes, s.pv) <= tol * maxAbs(s.pv))
        _ = W
    }

    @Test(arguments: cases) func forwardDouble(ci: Int, t: Int) throws { try forward(Double.self, ci, t) }
    @Test(arguments: cases) func forwardFloat(ci: Int, t: Int) throws { try forward(Float.self, ci, t) }

    /// A state after the forward (memory filled) with a random `∇o` in the signal.
    func backwardState<S: TensorScalar>(_ s: Setup<S>, _ t: Int, mask: [Bool]) throws -> (TinTState<S>, Tensor<Double>, Tensor<Double>) {
        let c = s.config, D = c.auxWidth
        var state: TinTState<S> = randomState(c, prefixes: s.pv, tokens: t, seed: 8, mask: mask)
        try AttentionForward<S>(config: c).apply(&state, query: s.pq, key: s.pk, value: s.pv)
        let go: Tensor<S> = randn([t, D], seed: 9)
        try state.tokens.assign(go, axis: 1, 0..<D)
        let mem = c.attentionMemory
        let a = naiveCausalProbabilities(columns(state.tokens, mem, D).converted(), columns(state.tokens, mem + D, D).converted(),
                                         heads: c.auxHeads, scale: s.scale)
        let gv = naiveApply(a, go.converted(), transposed: true)
        return (state, gv, columns(state.tokens, mem + 2 * D, D).converted())
    }

    func backward<S: TensorScalar>(_: S.Type, _ ci: Int, _ t: Int) throws {
        let s = setup(S.self, ci)
        let c = s.config, D = c.auxWidth
        let (before, gv, _) = try backwardState(s, t, mask: testMasks(t)[0])
        let module = try AttentionBackward<S>(config: c)
        var state = before
        try module.applyValueGradient(&state)
        let tol = exactTolerance(S.self)
        #expect(maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), gv) <= tol * max(1, maxAbs(gv)), "∇v = Aᵀ∇o")
        state = before
        try module.apply(&state)
        let gx = naiveMatmul(gv, s.wv)
        #expect(maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), gx) <= tol * max(1, maxAbs(gx)), "W_Vᵀ∇v")
        let rest = c.simWidth - D
        #expect(maxDiff(columns(state.tokens, D, rest), columns(before.tokens, D, rest)) <= tol, "memory kept")
    }

    @Test(arguments: cases) func backwardDouble(ci: Int, t: Int) throws { try backward(Double.self, ci, t) }
    @Test(arguments: cases) func backwardFloat(ci: Int, t: Int) throws { try backward(Float.self, ci, t) }

    @Test(arguments: cases) func descentAndBackwardDescent(ci: Int, t: Int) throws {
        let s = setup(Double.self, ci)
        let c = s.config, D = c.auxWidth
        for mask in testMasks(t) {
            let (before, gv, x) = try backwardState(s, t, mask: mask)
            let (we, be) = naiveDescent(s.wv, s.bv, gy: gv, x: x, mask: mask, eta: c.learningRate)
            var state = before
            try AttentionDescent<Double>(config: c).apply(&state)
            var (w1, b1) = try LinearPrefixLayout.decode(state.prefixes, inputWidth: D, outputWidth: D, config: c)
            #expect(maxDiff(w1, we) <= 1e-10 && maxDiff(b1, be) <= 1e-10, "W_V, b_V updated; mask \(mask)")
            state = before
            try AttentionBackwardDescent<Double>(config: c).apply(&state)
            (w1, b1) = try LinearPrefixLayout.decode(state.prefixes, inputWidth: D, outputWidth: D, config: c)
            #expect(maxDiff(w1, we) <= 1e-10 && maxDiff(b1, be) <= 1e-10)
            let gx = naiveMatmul(gv, s.wv)
            #expect(maxDiff(columns(state.tokens, 0, D), gx) <= 1e-10 * max(1, maxAbs(gx)))
        }
    }
}

/// The Backward modules against Autodiff's VJPs: linear `Wᵀ∇y`, and attention's value path with the
/// probabilities detached (`scaledDotProductAttention(detachProbabilities:)`), through `W_V`.
@Suite struct AutodiffOracleTests {
    @Test(arguments: [0, 1, 2, 3]) func attentionBackwardMatchesDetachedVJP(ci: Int) throws {
        let config = smallConfigs[ci].with(gates: .hard)
        let D = config.auxWidth, H = config.auxHeads, dh = config.auxHeadWidth, t = 11
        let wq: Tensor<Double> = randn([D, D], seed: 1, std: 0.4), wk: Tensor<Double> = randn([D, D], seed: 2, std: 0.4)
        let wv: Tensor<Double> = randn([D, D], seed: 3, std: 0.2)
        let bq: Tensor<Double> = randn([D], seed: 4), bk: Tensor<Double> = randn([D], seed: 5), bv: Tensor<Double> = randn([D], seed: 6)
        let enc = { (w: Tensor<Double>, b: Tensor<Double>) in try LinearPrefixLayout.encode(weight: w, bias: b, config: config) }
        var state: TinTState<Double> = randomState(config, prefixes: try enc(wv, bv), tokens: t, seed: 7)
        let x = columns(state.tokens, 0, D)
        try AttentionForward<Double>(config: config).apply(&state, query: try enc(wq, bq), key: try enc(wk, bk), value: try enc(wv, bv))
        let go: Tensor<Double> = randn([t, D], seed: 8)
        try state.tokens.assign(go, axis: 1, 0..<D)
        try AttentionBackward<Double>(config: config).apply(&state)

        func heads(_ v: Variable<Double>) throws -> Variable<Double> { try v.reshaped([t, H, dh]).permuted([1, 0, 2]) }
        let expected = try valueAndGradient(at: x, seed: go) { xv in
            let q = try xv.linear(weight: Variable(wq), bias: Variable(bq))
            let k = try xv.linear(weight: Variable(wk), bias: Variable(bk))
            let v = try xv.linear(weight: Variable(wv), bias: Variable(bv))
            let o = try scaledDotProductAttention(query: try heads(q), key: try heads(k), value: try heads(v), causal: true,
                                                  detachProbabilities: true)
            return try o.permuted([1, 0, 2]).reshaped([t, D])
        }
        // With A detached, the gradient reaching x through Q and K is zero, so the VJP is W_Vᵀ Aᵀ ∇o exactly.
        #expect(maxDiff(columns(state.tokens, 0, D), expected.gradient) <= 1e-10 * max(1, maxAbs(expected.gradient)))
    }

    @Test(arguments: [0, 1, 2, 3]) func linearBackwardMatchesVJP(ci: Int) throws {
        let config = smallConfigs[ci].with(gates: .hard)
        let D = config.auxWidth, t = 5
        let w: Tensor<Double> = randn([D, D], seed: 1), b: Tensor<Double> = randn([D], seed: 2)
        var state: TinTState<Double> = randomState(config, prefixes: try LinearPrefixLayout.encode(weight: w, bias: b, config: config),
                                                   tokens: t, seed: 3)
        let gy = columns(state.tokens, 0, D)
        try LinearBackward<Double>(config: config, inputWidth: D, outputWidth: D).apply(&state)
        let x: Tensor<Double> = randn([t, D], seed: 4)
        let g = try valueAndGradient(at: x, seed: gy) { try $0.linear(weight: Variable(w), bias: Variable(b)) }.gradient
        #expect(maxDiff(columns(state.tokens, 0, D), g) <= 1e-10 * max(1, maxAbs(g)))
    }
}

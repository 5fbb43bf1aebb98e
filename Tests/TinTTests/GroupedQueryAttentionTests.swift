import Testing
import Tensor
import Autodiff
import LanguageModel
@testable import TinT

/// Grouped-query attention through expanded K/V prefixes: the forward equals `Layers.attention` with `kvHeads`;
/// `GroupedValueBackwardDescent`'s V Descent equals the gradient of the kv-head `W_V, b_V` under value-only
/// (detached-probability) backprop, its Backward equals the value-path `∇x`, and the replicas stay equal.
@Suite struct GroupedQueryAttentionTests {
    /// (config index, H_kv): G = 3, 2, 3, 2.
    static let cases: [(Int, Int)] = [(0, 1), (1, 2), (2, 2), (3, 2)]

    func run<S: TensorScalar>(_: S.Type, _ ci: Int, _ kv: Int) throws -> (forward: Double, descent: Double, backward: Double, spread: Double) {
        let config = smallConfigs[ci].with(gates: testGates(S.self)).with(learningRate: 0.01)
        let D = config.auxWidth, H = config.auxHeads, dh = config.auxHeadWidth, t = 10, eta = config.learningRate
        let mask = (0..<t).map { $0 < 6 }
        let x: Tensor<Double> = randn([t, D], seed: 21)
        let wq: Tensor<Double> = randn([D, D], seed: 22, std: 0.4), bq: Tensor<Double> = randn([D], seed: 23, std: 0.1)
        let wk: Tensor<Double> = randn([kv * dh, D], seed: 24, std: 0.4), bk: Tensor<Double> = randn([kv * dh], seed: 25, std: 0.1)
        let wv: Tensor<Double> = randn([kv * dh, D], seed: 26, std: 0.3), bv: Tensor<Double> = randn([kv * dh], seed: 27, std: 0.1)
        let go: Tensor<Double> = randn([t, D], seed: 28)
        let scale = 1 / Double(dh).squareRoot()

        // Oracle: Layers.attention with kvHeads, probabilities detached (value-only backprop).
        func attention(_ xv: Variable<Double>, _ wvv: Variable<Double>, _ bvv: Variable<Double>) throws -> Variable<Double> {
            let q = try xv.linear(weight: Variable(wq), bias: Variable(bq)).reshaped([1, t, D])
            let k = try xv.linear(weight: Variable(wk), bias: Variable(bk)).reshaped([1, t, kv * dh])
            let v = try xv.linear(weight: wvv, bias: bvv).reshaped([1, t, kv * dh])
            return try Layers.attention(q: q, k: k, v: v, heads: H, kvHeads: kv, scale: scale, keyMask: nil,
                                        detachProbabilities: true).reshaped([t, D])
        }
        // ∇o vanishes after the train prefix, as the loss over train targets gives it (Docs/TINT.md §8, Masks):
        // then TinT's Σ_{t∈train} ∇v_t x_tᵀ is the whole gradient, ∇v_t = Σ_{j≥t} A_{j,t}∇o_j being 0 at eval t.
        let trainGo = try Tensor(shape: go.shape, scalars: go.scalars.enumerated().map { mask[$0.offset / D] ? $0.element : 0 })
        let descentOracle = try valueAndGradient(at: [x, wv, bv], seed: trainGo) { try attention($0[0], $0[1], $0[2]) }

        // TinT: expanded K and V prefixes.
        func enc(_ w: Tensor<Double>, _ b: Tensor<Double>?) throws -> Tensor<S> {
            try LinearPrefixLayout.encode(weight: w, bias: b, config: config).converted()
        }
        let ek = try GroupedQueryAttention.expand(weight: wk, bias: bk, heads: H, kvHeads: kv, headWidth: dh)
        let ev = try GroupedQueryAttention.expand(weight: wv, bias: bv, heads: H, kvHeads: kv, headWidth: dh)
        let pv = try enc(ev.weight, ev.bias)
        var state: TinTState<S> = randomState(config, prefixes: pv, tokens: t, seed: 29, mask: mask)
        try state.tokens.assign(x.converted(to: S.self), axis: 1, 0..<D)
        try AttentionForward<S>(config: config).apply(&state, query: try enc(wq, bq), key: try enc(ek.weight, ek.bias), value: pv)
        func rel(_ a: Tensor<Double>, _ b: Tensor<Double>) -> Double { maxDiff(a, b) / max(1, maxAbs(b)) }
        let forward = rel(columns(state.tokens, 0, D).converted(to: Double.self), descentOracle.value)

        try state.tokens.assign(trainGo.converted(to: S.self), axis: 1, 0..<D)
        try GroupedValueBackwardDescent<S>(config: config, kvHeads: kv).apply(&state)
        let backward = rel(columns(state.tokens, 0, D).converted(to: Double.self), descentOracle.gradients[0])
        let (w1, b1) = try LinearPrefixLayout.decode(state.prefixes.converted(to: Double.self), inputWidth: D, outputWidth: D, config: config)
        let c = try GroupedQueryAttention.collapse(weight: w1, bias: b1, heads: H, kvHeads: kv, headWidth: dh)
        let gw = try (wv - c.weight) * (1 / eta), gb = try (bv - c.bias!) * (1 / eta)
        let descent = max(rel(gw, descentOracle.gradients[1]), rel(gb, descentOracle.gradients[2]))
        return (forward, descent, backward, c.spread)
    }

    @Test(arguments: cases) func double(ci: Int, kv: Int) throws {
        let e = try run(Double.self, ci, kv)
        #expect(e.forward <= 1e-10 && e.backward <= 1e-10 && e.descent <= 1e-9 && e.spread <= 1e-12, "\(e)")
    }

    /// fp32, tanh(10) gates (all options are exact for attention): ≤ 1e-5. The gradient is read back as
    /// (W − W')/η, whose fp32 rounding is |W|·6e-8/η ≈ 2e-6 at η = 0.01.
    @Test(arguments: cases) func float(ci: Int, kv: Int) throws {
        let e = try run(Float.self, ci, kv)
        #expect(e.forward <= 1e-5 && e.backward <= 1e-5 && e.descent <= 1e-5 && e.spread <= 1e-6, "\(e)")
    }

    @Test func expandCollapseRoundTrip() throws {
        let w: Tensor<Double> = randn([2 * 4, 6], seed: 1), b: Tensor<Double> = randn([8], seed: 2)
        let e = try GroupedQueryAttention.expand(weight: w, bias: b, heads: 6, kvHeads: 2, headWidth: 4)
        #expect(e.weight.shape == [24, 6])
        // Query head 4 (group 1) holds kv head 1's rows.
        #expect(maxDiff(try e.weight.sliced(axis: 0, 16..<20).contiguous(), try w.sliced(axis: 0, 4..<8).contiguous()) == 0)
        let c = try GroupedQueryAttention.collapse(weight: e.weight, bias: e.bias, heads: 6, kvHeads: 2, headWidth: 4)
        #expect(maxDiff(c.weight, w) == 0 && maxDiff(c.bias!, b) == 0 && c.spread == 0)
        #expect(throws: TinTError.self) { _ = try GroupedQueryAttention.expand(weight: w, bias: b, heads: 5, kvHeads: 2, headWidth: 4) }
    }
}

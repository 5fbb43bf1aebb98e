import Testing
import Tensor
import Autodiff
import LanguageModel
@testable import TinT

/// Rotary attention forward against `Layers.attention` with `Layers.rotary` (the Llama family's ops: rotate_half
/// layout, θ from the config), and the rotated `q', k'` left in the attention memory.
@Suite struct RotaryAttentionTests {
    /// (config index, θ).
    static let cases: [(Int, Double)] = [(0, 10_000), (1, 500_000), (2, 10_000), (3, 100)]

    func run<S: TensorScalar>(_: S.Type, _ ci: Int, _ theta: Double) throws -> (output: Double, query: Double, key: Double) {
        let config = smallConfigs[ci].with(gates: testGates(S.self))
        let D = config.auxWidth, H = config.auxHeads, dh = config.auxHeadWidth, t = 13, A = config.attentionMemory
        let x: Tensor<Double> = randn([t, D], seed: 31)
        let wq: Tensor<Double> = randn([D, D], seed: 32, std: 0.4), bq: Tensor<Double> = randn([D], seed: 33, std: 0.1)
        let wk: Tensor<Double> = randn([D, D], seed: 34, std: 0.4), bk: Tensor<Double> = randn([D], seed: 35, std: 0.1)
        let wv: Tensor<Double> = randn([D, D], seed: 36, std: 0.3), bv: Tensor<Double> = randn([D], seed: 37, std: 0.1)

        // Oracle in S (the rope table's rounding is S's, as the model's), compared in Double.
        let rope = try RotaryEmbedding<S>(positions: Array(0..<t), headDim: dh, theta: theta)
        func proj(_ w: Tensor<Double>, _ b: Tensor<Double>) throws -> Variable<S> {
            try Variable(x.converted(to: S.self)).linear(weight: Variable(w.converted(to: S.self)), bias: Variable(b.converted(to: S.self))).reshaped([1, t, D])
        }
        let q = try Layers.rotary(try proj(wq, bq), rope), k = try Layers.rotary(try proj(wk, bk), rope)
        let o = try Layers.attention(q: q, k: k, v: try proj(wv, bv), heads: H, scale: S(1 / Double(dh).squareRoot()), keyMask: nil)

        func enc(_ w: Tensor<Double>, _ b: Tensor<Double>) throws -> Tensor<S> {
            try LinearPrefixLayout.encode(weight: w, bias: b, config: config).converted()
        }
        let rq = try RotaryAttention.rotateHalfRows(weight: wq, bias: bq, headWidth: dh)
        let rk = try RotaryAttention.rotateHalfRows(weight: wk, bias: bk, headWidth: dh)
        let pv = try enc(wv, bv)
        var state: TinTState<S> = randomState(config, prefixes: pv, tokens: t, seed: 38)
        try state.tokens.assign(x.converted(to: S.self), axis: 1, 0..<D)
        try RotaryAttentionForward<S>(config: config, theta: theta).apply(
            &state, query: try enc(wq, bq), rotatedQuery: try enc(rq.weight, rq.bias!), key: try enc(wk, bk),
            rotatedKey: try enc(rk.weight, rk.bias!), value: pv)
        func rel(_ a: Tensor<S>, _ b: Variable<S>) throws -> Double {
            let e = try b.value.reshaped([t, D]).converted(to: Double.self)
            return maxDiff(a.converted(to: Double.self), e) / max(1, maxAbs(e))
        }
        return (try rel(columns(state.tokens, 0, D), o), try rel(columns(state.tokens, A, D), q),
                try rel(columns(state.tokens, A + D, D), k))
    }

    @Test(arguments: cases) func double(ci: Int, theta: Double) throws {
        let e = try run(Double.self, ci, theta)
        #expect(e.output <= 1e-10 && e.query <= 1e-10 && e.key <= 1e-10, "\(e)")
    }

    @Test(arguments: cases) func float(ci: Int, theta: Double) throws {
        let e = try run(Float.self, ci, theta)
        #expect(e.output <= 1e-5 && e.query <= 1e-5 && e.key <= 1e-5, "\(e)")
    }

    /// `P_rot·W` computes rotate_half: checked on one head against the definition.
    @Test func rotateHalfRows() throws {
        let w: Tensor<Double> = randn([8, 3], seed: 1), b: Tensor<Double> = randn([8], seed: 2)
        let r = try RotaryAttention.rotateHalfRows(weight: w, bias: b, headWidth: 4)
        // Head 1, i = 0 → −row 6; i = 3 → row 5.
        #expect(r.weight.scalars[4 * 3 + 1] == -w.scalars[6 * 3 + 1] && r.weight.scalars[7 * 3 + 2] == w.scalars[5 * 3 + 2])
        #expect(r.bias!.scalars[4] == -b.scalars[6] && r.bias!.scalars[7] == b.scalars[5])
        #expect(throws: TinTError.self) { _ = try RotaryAttention.rotateHalfRows(weight: w, bias: b, headWidth: 3) }
    }
}

import LanguageModel
import Tensor

/// A gated (GLU) channel layer on token rows: `update(x) = proj(σ(gate(x) + P_g) ⊙ (up(x) + P_u)) + residual(x)`,
/// every map an `H_sim`-split `HSimSplitLinear` (mix-only in every construction we build), `σ` elementwise, `⊙`
/// the elementwise product of the two hidden rows. `P_g`, `P_u` are optional per-token feature rows (`[T_max, W]`,
/// row `t` added to token `t`): the rotary construction reads its cos/sin features through them, the way the
/// paper's position one-hot enters a layer. This is the layer that makes the simulator a GLU transformer, like
/// Llama itself (Docs/TINT.md §9.2).
struct SimulatorGLU<Scalar: TensorScalar>: Sendable {
    /// nil: a zero gate stream (only meaningful with `gateFeatures`).
    let gate: HSimSplitLinear<Scalar>?
    /// nil: a zero up stream (only meaningful with `upFeatures`).
    let up: HSimSplitLinear<Scalar>?
    let activation: Activation
    /// nil: the identity.
    let proj: HSimSplitLinear<Scalar>?
    let residual: HSimSplitLinear<Scalar>?
    var gateFeatures: Tensor<Scalar>? = nil
    var upFeatures: Tensor<Scalar>? = nil

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func update(_ state: TinTState<Scalar>, group: RowGroup) throws -> Tensor<Scalar>? {
        // Prefix rows are never updated by a GLU layer (its gate is zero there), but stay well-defined.
        let x = group == .prefixes ? state.prefixes : state.tokens
        let n = x.shape[0], W = x.shape[1]
        var g: Tensor<Scalar> = try Tensor.zeros(x.shape), u: Tensor<Scalar> = try Tensor.zeros(x.shape)
        gate?.apply(x, into: &g, accumulate: false)
        up?.apply(x, into: &u, accumulate: false)
        if group == .tokens {
            try addFeatures(gateFeatures, state, into: &g)
            try addFeatures(upFeatures, state, into: &u)
        }
        applyActivation(activation, &g)
        g.withUnsafeMutableBufferPointer { gp in
            u.withUnsafeBufferPointer { up in for i in 0..<(n * W) { gp[i] *= up[i] } }
        }
        var out: Tensor<Scalar>
        if let proj { out = try Tensor.zeros(x.shape); proj.apply(g, into: &out, accumulate: false) } else { out = g }
        if let residual { residual.apply(x, into: &out, accumulate: true) }
        return out
    }

    /// Adds row `position(t)` of the feature table to token row `t`.
    private func addFeatures(_ f: Tensor<Scalar>?, _ state: TinTState<Scalar>, into t: inout Tensor<Scalar>) throws {
        guard let f else { return }
        let n = state.tokenCount, W = f.shape[1]
        try require(n <= f.shape[0], rule: "sequenceLength", "the token count must be ≤ the feature table's rows",
                    "T=\(n), rows=\(f.shape[0])")
        f.withUnsafeBufferPointer { fp in
            t.withUnsafeMutableBufferPointer { tp in
                for r in 0..<n {
                    let src = state.position(r) * W, dst = r * W
                    for i in 0..<W { tp[dst + i] += fp[src + i] }
                }
            }
        }
    }

    /// The four maps' weights. Feature tables are inputs (counted once by whoever owns them, like the aux
    /// positions), not per-layer weights.
    /// The product FLOPs ``update(_:group:)`` executes on `rows` rows (``TinTFlopCounter``).
    func flops(rows: Int) -> Int { [gate, up, proj, residual].reduce(0) { $0 + ($1?.flops(rows: rows) ?? 0) } }

    var parameterCount: ParameterCount {
        ParameterCount(constructed: [gate, up, proj, residual].reduce(0) { $0 + ($1?.parameterCount ?? 0) })
    }
}

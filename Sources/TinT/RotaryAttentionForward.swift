import Foundation
import Tensor
import LanguageModel

/// Rotary position embeddings on the simulator (Docs/TINT.md §10): compile-time helpers.
public enum RotaryAttention {
    /// `P_rot·W` (and `P_rot·b`): in each head of width `headWidth`, row `i < d/2` becomes `−row(i + d/2)` and row
    /// `i ≥ d/2` becomes `row(i − d/2)`, so `(P_rot W)x = rotate_half(Wx)` (`transformers`' layout). Encoded as one more
    /// prefix tensor, it lets a `LinearForward` compute `rotate_half(Qx)` directly: a permutation inside a head, which
    /// no cross-head mix can express, costs nothing in the strided prefix layout.
    public static func rotateHalfRows<S: TensorScalar>(weight: Tensor<S>, bias: Tensor<S>?, headWidth d: Int) throws
        -> (weight: Tensor<S>, bias: Tensor<S>?) {
        guard weight.rank == 2, d > 0, d % 2 == 0, weight.shape[0] % d == 0 else {
            throw TinTError.invalidArgument(module: "RotaryAttention",
                                            reason: "needs a [heads·d, d_in] map with an even head width d; got \(weight.shape), d=\(d)")
        }
        let rows = weight.shape[0], dIn = weight.shape[1], half = d / 2
        let w = weight.contiguous().scalars, b = bias?.contiguous().scalars
        var rw = [S](repeating: 0, count: rows * dIn), rb = [S](repeating: 0, count: rows)
        for r in 0..<rows {
            let i = r % d, base = r - i
            let (src, sign): (Int, S) = i < half ? (base + i + half, -1) : (base + i - half, 1)
            for c in 0..<dIn { rw[r * dIn + c] = sign * w[src * dIn + c] }
            if let b { rb[r] = sign * b[src] }
        }
        return (try Tensor(shape: [rows, dIn], scalars: rw), b == nil ? nil : try Tensor(shape: [rows], scalars: rb))
    }
}

/// Forward of causal self-attention with rotary position embeddings (Docs/TINT.md §10), `q' = q⊙cos + rotate_half(q)⊙sin`
/// (the same for `k`), the angles those of `LanguageModel.RotaryEmbedding` (θ, scaling) at position = token index.
/// Eight layers, with `A = D_sim − 3D` the attention memory:
/// 1. `LinearForward` (Q prefixes): `Qx → A`; 2. `LinearForward` (`P_rot·W_Q` prefixes): `rot(Qx) → A + D`;
/// 3. a GLU layer: `A ← Qx⊙cos + rot(Qx)⊙sin`, four hidden groups `σ(±Qx)⊙(±cos)`, `σ(±rot Qx)⊙(±sin)` with the
///    cos/sin rows read from a per-position feature table through the up stream (the identity σ(z) − σ(−z) = z makes
///    each product exact);
/// 4. `LinearForward` (K): `Kx → A + D`; 5. `LinearForward` (`P_rot·W_K`): `rot(Kx) → A + 2D`;
/// 6. the GLU layer for keys: `A + D ← k'`; 7. `LinearForward` (V): `Vx` to the signal, `x` stored at `A + 2D`;
/// 8. the softmax layer of `AttentionForward`.
///
/// Token rows end as after `AttentionForward`, with the rotated `q', k'` in memory: `[Vx-attention ; … ; q' ; k' ; x]`.
/// The Backward and Descent are `AttentionBackward`/`AttentionDescent` unchanged: value-only backprop never
/// differentiates the scores, and the transposed-softmax layer recomputes `A` from the stored, already rotated, `q', k'`.
public struct RotaryAttentionForward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The score scale (default `1/√(D_aux/H_aux)`).
    public let scale: Double
    /// `[T_aux, D_sim]`: row t holds `[cos ; −cos ; sin ; −sin]` at position t, each D wide in the hidden groups'
    /// coordinates. An input of the simulator like the paper's position one-hot: counted once (`featureCount`),
    /// shared by every rotary layer.
    public let features: Tensor<Scalar>
    let qProjection: LinearForward<Scalar>, qRotated: LinearForward<Scalar>
    let kProjection: LinearForward<Scalar>, kRotated: LinearForward<Scalar>
    let vProjection: LinearForward<Scalar>
    let rotateQ: GatedLayer<Scalar>, rotateK: GatedLayer<Scalar>
    let softmax: GatedLayer<Scalar>

    /// Builds the module for head width `D_aux/H_aux` (even) and the rope's `theta` and `scaling`, with a feature
    /// table for positions `0..<config.auxMaxPositions`.
    public init(config: SimulatorSpec, theta: Double, scaling: RopeScaling = .none, scale: Double? = nil) throws {
        try config.validate()
        let D = config.auxWidth, A = config.attentionMemory, W = config.simWidth, T = config.auxMaxPositions
        try config.validateMap(inputWidth: D, outputWidth: D)
        try config.validateRegion("attention memory", offset: A, width: 3 * D, unit: config.prefixCount)
        try config.validateRegion("attention memory", offset: A, width: 3 * D, unit: config.simHeadWidth)
        self.config = config
        self.scale = scale ?? 1 / Double(config.auxHeadWidth).squareRoot()
        func linear(_ input: Int, _ output: Int, memory: LinearMemory, keep: Bool) throws -> LinearForward<Scalar> {
            try LinearForward(config: config, inputWidth: D, outputWidth: D, inputOffset: input, outputOffset: output,
                              memory: memory, keepInput: keep)
        }
        qProjection = try linear(0, A, memory: .none, keep: true)
        qRotated = try linear(0, A + D, memory: .none, keep: true)
        kProjection = try linear(0, A + D, memory: .none, keep: true)
        kRotated = try linear(0, A + 2 * D, memory: .none, keep: true)
        vProjection = try linear(0, 0, memory: .at(A + 2 * D), keep: false)

        // The feature table, with the angles computed as LanguageModel.RotaryEmbedding computes them.
        let dh = config.auxHeadWidth, half = dh / 2
        let rope = try RotaryEmbedding<Scalar>(positions: [0], headDim: dh, theta: theta, scaling: scaling)
        var table = [Scalar](repeating: 0, count: T * W)
        for t in 0..<T {
            for c in 0..<D {
                let angle = Double(Scalar(t) * rope.inverseFrequencies[(c % dh) % half])
                let cs = Scalar(Foundation.cos(angle)), sn = Scalar(Foundation.sin(angle))
                table[t * W + c] = cs; table[t * W + D + c] = -cs
                table[t * W + 2 * D + c] = sn; table[t * W + 3 * D + c] = -sn
            }
        }
        features = try Tensor(shape: [T, W], scalars: table)
        rotateQ = try Self.rotationLayer(config, plain: A, rotated: A + D, output: A, features: features)
        rotateK = try Self.rotationLayer(config, plain: A + D, rotated: A + 2 * D, output: A + D, features: features)
        softmax = tokenLayer(.attention(try auxAttentionBody(config, queryOffset: A, keyOffset: A + D,
                                                             kind: .softmax(scale: self.scale))), config)
    }

    /// `output ← z⊙cos + r⊙sin` for `z` at `plain`, `r` at `rotated`: gate groups `[z ; −z ; r ; −r]`, up groups the
    /// features `[cos ; −cos ; sin ; −sin]`, σ = ReLU (any σ with σ(z) − σ(−z) = z gives the same), output map the sum.
    static func rotationLayer(_ config: SimulatorSpec, plain: Int, rotated: Int, output: Int, features: Tensor<Scalar>) throws
        -> GatedLayer<Scalar> {
        let W = config.simWidth, H = config.simHeads, D = config.auxWidth
        let z = simHeads(config, plain, D), r = simHeads(config, rotated, D), out = simHeads(config, output, D)
        let n = z.count
        var gate = MixBuilder<Scalar>(width: W, heads: H), proj = MixBuilder<Scalar>(width: W, heads: H)
        for (g, (src, sign)) in [(z, Scalar(1)), (z, Scalar(-1)), (r, Scalar(1)), (r, Scalar(-1))].enumerated() {
            for (i, h) in src.enumerated() {
                gate.route(from: h, to: g * n + i, sign)
                proj.route(from: g * n + i, to: out.lowerBound + i)
            }
        }
        let body = SimulatorGLU(gate: try gate.build(), up: nil, activation: .relu, proj: try proj.build(),
                                residual: try simResidual(config, replaced: [out]), gateFeatures: nil, upFeatures: features)
        return tokenLayer(.glu(body), config)
    }

    /// Runs the eight layers. `query`, `key`, `value` are the Q, K, V prefix tensors; `rotatedQuery`, `rotatedKey`
    /// those of `RotaryAttention.rotateHalfRows` of W_Q, W_K. The state's prefixes afterwards are the V prefixes.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>, query: Tensor<Scalar>, rotatedQuery: Tensor<Scalar>,
                      key: Tensor<Scalar>, rotatedKey: Tensor<Scalar>, value: Tensor<Scalar>) throws {
        try state.validate(config, module: "RotaryAttentionForward")
        for (p, name) in [(query, "query"), (rotatedQuery, "rotatedQuery"), (key, "key"), (rotatedKey, "rotatedKey"), (value, "value")] {
            try requireShape(p, [config.prefixCount, config.simWidth], module: "RotaryAttentionForward", what: name)
        }
        state.prefixes = query.contiguous(); try qProjection.apply(&state)
        state.prefixes = rotatedQuery.contiguous(); try qRotated.apply(&state)
        try rotateQ.apply(&state)
        state.prefixes = key.contiguous(); try kProjection.apply(&state)
        state.prefixes = rotatedKey.contiguous(); try kRotated.apply(&state)
        try rotateK.apply(&state)
        state.prefixes = value.contiguous(); try vProjection.apply(&state)
        try softmax.apply(&state)
    }

    /// `T_aux·D_sim`: the feature table, an input shared by every rotary layer (not in `parameterCount`).
    public var featureCount: Int { features.count }

    /// Five `LinearForward`s (five prefix tensors), two rotation GLU layers and the softmax layer.
    public var parameterCount: ParameterCount {
        [qProjection, qRotated, kProjection, kRotated, vProjection].reduce(ParameterCount()) { $0 + $1.parameterCount }
            + rotateQ.parameterCount + rotateK.parameterCount + softmax.parameterCount
    }
}

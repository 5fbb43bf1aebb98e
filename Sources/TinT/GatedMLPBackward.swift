import LanguageModel
import Tensor

/// Backward (∥ Descent) of one gated-MLP chunk (Docs/TINT.md §9.3). Token rows enter with `∇y` in the signal and the
/// Forward's memory `[· ; g ; p ; … ; x]`; they leave with this chunk's `∇x = W_gᵀ∇g + W_uᵀ∇u` in the signal (the
/// chunks' signals are summed by glue). Seven layers:
/// 1. down: `LinearBackward(∥Descent)` with `∇y` and `p`: `∇p = W_dᵀ∇y` to the signal (`W_d −= ηΣ∇y pᵀ`);
/// 2. `LinearForward` with the up block from `x`: `u` to `[2D, 3D)` (recomputed: the row has no fifth slot);
/// 3. a `GLULayer`: `∇u = σ(g) ⊙ ∇p` to `[2D, 3D)` and `w = u ⊙ ∇p` (exact product) to the signal;
/// 4. the activation backward at `h = g`: the signal `w` becomes `∇g = σ'(g) ⊙ w` (finite difference
///    `N·(σ(g + w/N) − σ(g))`, or exact, per `config.activationBackward`);
/// 5. up: `LinearBackward(∥Descent)` with `∇u` and `x`: `W_uᵀ∇u` to `[D, 2D)`;
/// 6. gate: `LinearBackward(∥Descent)` with `∇g` and `x`: `W_gᵀ∇g` to the signal;
/// 7. a mix-only layer adding `[D, 2D)` into the signal.
///
/// Every Backward uses the pre-update weights (each map's Descent runs in the same layer as its Backward, and the
/// recomputation of `u` precedes up's Descent). Exact except step 4's finite difference.
public struct GatedMLPBackward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// σ.
    public let activation: Activation
    /// Whether the three maps are updated (Backward ∥ Descent) or only backpropagated through.
    public let descend: Bool
    let down: GatedLayer<Scalar>
    let upRecompute: LinearForward<Scalar>
    let products: GLULayer<Scalar>
    let activationBackward: GatedLayer<Scalar>
    let up: GatedLayer<Scalar>
    let gate: GatedLayer<Scalar>
    let sum: GatedLayer<Scalar>

    /// Builds the module. `descend: false` gives Backward only (frozen maps). `updateBias` says which maps' bias
    /// slots descend: a map without bias, or a chunk other than 0 for the down map, must not move its bias.
    public init(config: SimulatorSpec, activation: Activation, descend: Bool = true,
                updateBias: (gate: Bool, up: Bool, down: Bool) = (true, true, true)) throws {
        try config.validate()
        let D = config.auxWidth, s = GatedMLPSlots(config)
        self.config = config
        self.activation = activation
        self.descend = descend
        func linear(gradient: Int, output: Int, memory: Int, bias: Bool) throws -> GatedLayer<Scalar> {
            descend
                ? try LinearBackwardDescent<Scalar>(config: config, inputWidth: D, outputWidth: D, gradientOffset: gradient,
                                                    outputOffset: output, memory: .at(memory), updateBias: bias).layer
                : try LinearBackward<Scalar>(config: config, inputWidth: D, outputWidth: D, gradientOffset: gradient,
                                             outputOffset: output).layer
        }
        down = try linear(gradient: s.signal, output: s.signal, memory: s.product, bias: updateBias.down)
        upRecompute = try LinearForward(config: config, inputWidth: D, outputWidth: D, inputOffset: s.input,
                                        outputOffset: s.product, memory: .none, keepInput: true)
        products = try GLULayer(config: config, activation: activation, products: [
            GLUProduct(.activated, gate: s.gate, up: s.signal, output: s.product),  // ∇u = σ(g) ⊙ ∇p
            GLUProduct(.exact, gate: s.product, up: s.signal, output: s.signal),   // w = u ⊙ ∇p
        ])
        activationBackward = try activationBackwardLayer(config, activation, inputOffset: s.gate)
        up = try linear(gradient: s.product, output: s.gate, memory: s.input, bias: updateBias.up)
        gate = try linear(gradient: s.signal, output: s.signal, memory: s.input, bias: updateBias.gate)
        // out = x + (the [D, 2D) heads routed into the signal heads): a residual-only layer.
        var r = MixBuilder<Scalar>(width: config.simWidth, heads: config.simHeads)
        for (a, b) in zip(simHeads(config, s.gate, D), simHeads(config, s.signal, D)) { r.route(from: a, to: b) }
        sum = tokenLayer(.mlp(SimulatorMLP(fc: nil, activation: nil, proj: nil, residual: try r.build())), config)
    }

    /// Runs the seven layers with the chunk's prefix tensors (each loaded before the layers that read it) and
    /// returns them after the Descent (unchanged, up to the gates' `G_old`, when `descend` is false).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    @discardableResult
    public func apply(_ state: inout TinTState<Scalar>, gate gp: Tensor<Scalar>, up upp: Tensor<Scalar>,
                      down dp: Tensor<Scalar>) throws -> (gate: Tensor<Scalar>, up: Tensor<Scalar>, down: Tensor<Scalar>) {
        try state.validate(config, module: "GatedMLPBackward")
        for (name, p) in [("gate", gp), ("up", upp), ("down", dp)] {
            try requireShape(p, [config.prefixCount, config.simWidth], module: "GatedMLPBackward", what: name)
        }
        state.prefixes = dp.contiguous()
        try down.apply(&state)
        let newDown = state.prefixes
        state.prefixes = upp.contiguous()
        try upRecompute.apply(&state)
        try products.apply(&state)
        try activationBackward.apply(&state)
        try up.apply(&state)
        let newUp = state.prefixes
        state.prefixes = gp.contiguous()
        try gate.apply(&state)
        let newGate = state.prefixes
        try sum.apply(&state)
        return (newGate, newUp, newDown)
    }

    /// Three linear Backward(∥Descent) layers with their prefix tensors, the recomputing `LinearForward` (its
    /// prefix tensor is the up block already counted), the product GLU layer, the activation backward and the sum.
    public var parameterCount: ParameterCount {
        let P = ParameterCount(prefixStorage: config.prefixCount * config.simWidth)
        var c = down.parameterCount + up.parameterCount + gate.parameterCount + 3 * P
        c += ParameterCount(constructed: upRecompute.parameterCount.constructed, position: upRecompute.parameterCount.position,
                            gates: upRecompute.parameterCount.gates)
        return c + products.parameterCount + activationBackward.parameterCount + sum.parameterCount
    }
}

import LanguageModel
import Tensor

/// Where the gated product `p = σ(g) ⊙ u` keeps its operands in the token rows (Docs/TINT.md §9.3): three D-wide
/// slots, which `S ≥ 3` always provides (`D_sim = (S+1)·D`).
struct GatedProductSlots {
    /// `p` after Forward; `∇p` on entry to Backward, `∇g` after.
    let signal = 0
    /// The gate pre-activation `g` (kept by Forward, read by Backward).
    let gate: Int
    /// The up value `u` (kept by Forward); `∇u` after Backward.
    let up: Int

    init(_ config: SimulatorSpec) {
        gate = config.auxWidth
        up = 2 * config.auxWidth
    }
}

/// Forward of the gated (GLU) product of a gated MLP, `p = σ(g) ⊙ u` for one chunk of at most D_aux coordinates
/// (Docs/TINT.md §9.3): the token rows enter with `g` at `[D, 2D)` and `u` at `[2D, 3D)` (the glue places the
/// node's two inputs there, a narrower chunk zero padded: σ(0)·0 = 0) and leave with `p` in the signal and `g`, `u`
/// kept for the Backward. One GLU layer with one `.activated` group. Exact.
///
/// The maps around it (`gate_proj`, `up_proj`, `down_proj`) are ordinary linear nodes with their own
/// Forward/Backward ∥ Descent, so a gated MLP moves all three maps with no module of its own.
public struct GatedProductForward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// σ.
    public let activation: Activation
    let glu: GLULayer<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec, activation: Activation) throws {
        try config.validate()
        let s = GatedProductSlots(config)
        self.config = config
        self.activation = activation
        glu = try GLULayer(config: config, activation: activation,
                           products: [GLUProduct(.activated, gate: s.gate, up: s.up, output: s.signal)])
    }

    /// Runs the layer (the prefixes are not read).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "GatedProductForward")
        try glu.apply(&state)
    }

    /// One GLU layer's constructed weights and gates.
    public var parameterCount: ParameterCount { glu.parameterCount }
}

/// Backward of the gated product (Docs/TINT.md §9.3): the rows stored by `GatedProductForward` with `∇p` in the
/// signal leave with `∇g = σ'(g) ⊙ u ⊙ ∇p` in the signal and `∇u = σ(g) ⊙ ∇p` at `[2D, 3D)`. Two layers:
/// 1. a GLU layer: `∇u = σ(g) ⊙ ∇p` (`.activated`) to `[2D, 3D)` and `w = u ⊙ ∇p` (`.exact`, the identity
///    σ(z) − σ(−z) = z) to the signal, both reading the layer's input;
/// 2. the activation backward at `h = g`: the signal `w` becomes `σ'(g) ⊙ w` (finite difference
///    `N·(σ(g + w/N) − σ(g))` as for a plain activation, or exact, per `config.activationBackward`).
///
/// Exact except step 2's finite difference. The product has no parameters, so there is no Descent.
public struct GatedProductBackward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// σ.
    public let activation: Activation
    let products: GLULayer<Scalar>
    let activationBackward: GatedLayer<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails (the two products take
    /// `3·D_aux/d` of the H_sim hidden heads, which every valid S ≥ 3 leaves room for).
    public init(config: SimulatorSpec, activation: Activation) throws {
        try config.validate()
        let s = GatedProductSlots(config)
        self.config = config
        self.activation = activation
        products = try GLULayer(config: config, activation: activation, products: [
            GLUProduct(.activated, gate: s.gate, up: s.signal, output: s.up),  // ∇u = σ(g) ⊙ ∇p
            GLUProduct(.exact, gate: s.up, up: s.signal, output: s.signal),    // w = u ⊙ ∇p
        ])
        activationBackward = try activationBackwardLayer(config, activation, inputOffset: s.gate)
    }

    /// Runs the two layers (the prefixes are not read).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "GatedProductBackward")
        try products.apply(&state)
        try activationBackward.apply(&state)
    }

    /// The product GLU layer and the activation-backward layer.
    public var parameterCount: ParameterCount { products.parameterCount + activationBackward.parameterCount }
}

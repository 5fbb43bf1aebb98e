import LanguageModel
import Tensor

/// Where one gated-MLP chunk keeps its activations in the token rows (Docs/TINT.md §9.3): four D-wide slots, which
/// `S ≥ 3` always provides (`D_sim = (S+1)·D`).
struct GatedMLPSlots {
    /// The signal: `x` on entry, `y` after Forward; `∇y` on entry to Backward, `∇x` after.
    let signal = 0
    /// The gate pre-activation `g = W_g x + b_g`.
    let gate: Int
    /// `p = σ(g) ⊙ u` after Forward (`u = W_u x + b_u` is recomputed by the Backward).
    let product: Int
    /// The input `x` (the linear memory, `D_sim − D`).
    let input: Int

    init(_ config: SimulatorSpec) {
        gate = config.auxWidth
        product = 2 * config.auxWidth
        input = config.linearMemory
    }
}

/// Forward of one D-wide chunk of a gated MLP `y = W_d (σ(W_g x + b_g) ⊙ (W_u x + b_u)) + b_d` (SwiGLU with σ =
/// SiLU; GELU/ReLU variants), Docs/TINT.md §9.3. Four layers:
/// 1. `LinearForward` with the gate block: `g` to `[D, 2D)`, `x` stored at `D_sim − D`, the signal kept;
/// 2. `LinearForward` with the up block: `u` to `[2D, 3D)`, everything else kept;
/// 3. a `GLULayer` with σ: `p = σ(g) ⊙ u` replaces `u` (one hidden group, exact);
/// 4. `LinearForward` with the down block reading `p`: `y` to the signal, `p` kept.
///
/// Token rows end with `[y ; g ; p ; … ; x]`. Exact. A gated MLP of width `F` is `⌈F/D⌉` chunks (the last zero
/// padded, which is exact: σ(0)·0 = 0 and the padded down columns are zero); chunk `j` holds rows `[jD, (j+1)D)`
/// of `W_g`, `W_u` (and of `b_g`, `b_u`) and columns `[jD, (j+1)D)` of `W_d`; the output is the sum of the
/// chunks' signals (glue), `b_d` held by chunk 0 only.
public struct GatedMLPForward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// σ.
    public let activation: Activation
    let gate: LinearForward<Scalar>
    let up: LinearForward<Scalar>
    let glu: GLULayer<Scalar>
    let down: LinearForward<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails (D_aux must satisfy the
    /// `mapWidths` rule for a D × D block, as every simulated square map does).
    public init(config: SimulatorSpec, activation: Activation) throws {
        try config.validate()
        let D = config.auxWidth, slots = GatedMLPSlots(config)
        self.config = config
        self.activation = activation
        gate = try LinearForward(config: config, inputWidth: D, outputWidth: D, inputOffset: slots.signal,
                                 outputOffset: slots.gate, memory: .at(slots.input), keepInput: true)
        up = try LinearForward(config: config, inputWidth: D, outputWidth: D, inputOffset: slots.signal,
                               outputOffset: slots.product, memory: .none, keepInput: true)
        glu = try GLULayer(config: config, activation: activation,
                           products: [GLUProduct(.activated, gate: slots.gate, up: slots.product, output: slots.product)])
        down = try LinearForward(config: config, inputWidth: D, outputWidth: D, inputOffset: slots.product,
                                 outputOffset: slots.signal, memory: .none, keepInput: true)
    }

    /// Runs the four layers. `gate`, `up`, `down` are the chunk's prefix tensors (`LinearPrefixLayout`, D × D
    /// blocks), each loaded into the prefix rows before its layer; the state's prefixes afterwards are `down`'s.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>, gate gp: Tensor<Scalar>, up upp: Tensor<Scalar>,
                      down dp: Tensor<Scalar>) throws {
        try state.validate(config, module: "GatedMLPForward")
        state.prefixes = gp.contiguous()
        try gate.apply(&state)
        state.prefixes = upp.contiguous()
        try up.apply(&state)
        try glu.apply(&state)
        state.prefixes = dp.contiguous()
        try down.apply(&state)
    }

    /// Three `LinearForward`s (three prefix tensors) and one GLU layer.
    public var parameterCount: ParameterCount {
        gate.parameterCount + up.parameterCount + glu.parameterCount + down.parameterCount
    }
}

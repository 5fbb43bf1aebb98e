import Tensor

/// The value-path gradient layer: `∇v_i = Σ_{j ≥ i} A_{j,i} ∇o_j` per aux head, with `A` recomputed from the
/// stored `Qx, Kx` under the forward's causal mask (`attentionBackward: .valueOnly`; A is treated as a constant,
/// which is the exact value-path VJP for any train mask).
func valueGradientLayer<S: TensorScalar>(_ config: SimulatorSpec, scale: Double) throws -> GatedLayer<S> {
    let mem = config.attentionMemory
    let body: SimulatorAttention<S> = try auxAttentionBody(config, queryOffset: mem, keyOffset: mem + config.auxWidth,
                                                           kind: .softmaxTransposed(scale: scale))
    return tokenLayer(.attention(body), config)
}

/// Backward of causal self-attention through the value path (Docs/TINT.md §3): token rows holding `∇o` (the
/// gradient w.r.t. the attention output before `W_O`) and the attention memory `[Qx ; Kx ; x]` get
/// `W_Vᵀ(Aᵀ∇o)` in the signal (stop-gradient through the scores: no `∂A/∂Q`, `∂A/∂K` terms). The state's
/// prefixes must hold `W_V, b_V`. Two layers: the transposed-softmax layer, then `LinearBackward`.
public struct AttentionBackward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The attention score scale (the forward's).
    public let scale: Double
    let valueGradient: GatedLayer<Scalar>
    let linear: LinearBackward<Scalar>

    /// Builds the module; `scale` must be the forward's (default `1/√(D_aux/H_aux)`).
    public init(config: SimulatorSpec, scale: Double? = nil) throws {
        try config.validate()
        self.config = config
        self.scale = scale ?? 1 / Double(config.auxHeadWidth).squareRoot()
        valueGradient = try valueGradientLayer(config, scale: self.scale)
        linear = try LinearBackward(config: config, inputWidth: config.auxWidth, outputWidth: config.auxWidth)
    }

    /// Only the first layer: the signal `∇o` becomes `∇v = Aᵀ∇o`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func applyValueGradient(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "AttentionBackward")
        try valueGradient.apply(&state)
    }

    /// Both layers: the signal `∇o` becomes `W_Vᵀ Aᵀ∇o`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try applyValueGradient(&state)
        try linear.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount { valueGradient.parameterCount + linear.parameterCount }
}

/// Descent of causal self-attention (Docs/TINT.md §3): `W_V ← W_V − ηΣ_{t∈train} ∇v_t x_tᵀ`,
/// `b_V ← b_V − ηΣ_{t∈train} ∇v_t` with `∇v = Aᵀ∇o` from the value-gradient layer and `x` from the attention
/// memory. `W_Q`, `W_K` are not updated. The state's prefixes must hold `W_V, b_V`.
public struct AttentionDescent<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The attention score scale (the forward's).
    public let scale: Double
    let valueGradient: GatedLayer<Scalar>
    let linear: LinearDescent<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec, scale: Double? = nil) throws {
        try config.validate()
        self.config = config
        self.scale = scale ?? 1 / Double(config.auxHeadWidth).squareRoot()
        valueGradient = try valueGradientLayer(config, scale: self.scale)
        linear = try LinearDescent(config: config, inputWidth: config.auxWidth, outputWidth: config.auxWidth,
                                   memory: .at(config.attentionMemory + 2 * config.auxWidth))
    }

    /// The value-gradient layer, then the Descent layer on the V prefixes (token rows end with `∇v`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "AttentionDescent")
        try valueGradient.apply(&state)
        try linear.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount { valueGradient.parameterCount + linear.parameterCount }
}

/// Backward ∥ Descent of causal self-attention: the value-gradient layer, then `LinearBackwardDescent` on the V
/// prefixes (token rows get `W_Vᵀ∇v` with the pre-update `W_V`, prefixes the updated `W_V, b_V`).
public struct AttentionBackwardDescent<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The attention score scale (the forward's).
    public let scale: Double
    let valueGradient: GatedLayer<Scalar>
    let linear: LinearBackwardDescent<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails. `updateBias: false`
    /// keeps `b_V` as it is (a value map without bias).
    public init(config: SimulatorSpec, scale: Double? = nil, updateBias: Bool = true) throws {
        try config.validate()
        self.config = config
        self.scale = scale ?? 1 / Double(config.auxHeadWidth).squareRoot()
        valueGradient = try valueGradientLayer(config, scale: self.scale)
        linear = try LinearBackwardDescent(config: config, inputWidth: config.auxWidth, outputWidth: config.auxWidth,
                                           memory: .at(config.attentionMemory + 2 * config.auxWidth), updateBias: updateBias)
    }

    /// Runs the module's layers on `state` (see the type's description for what the prefixes must hold).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "AttentionBackwardDescent")
        try valueGradient.apply(&state)
        try linear.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount { valueGradient.parameterCount + linear.parameterCount }
}

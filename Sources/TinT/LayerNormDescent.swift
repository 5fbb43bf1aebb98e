import Tensor

/// Descent of a layer norm (Docs/TINT.md §3): `LinearDescent` on the `diag(γ), β` prefixes with `x̂` read from the
/// layer-norm memory. `.biasOnly` (default): `β ← β − ηΣ_{t∈train}∇y_t`. `.full`: also the reference's dense
/// update `diag(γ) − ηΣ∇y x̂ᵀ`.
public struct LayerNormDescent<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    let linear: LinearDescent<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec) throws {
        try config.validate()
        self.config = config
        linear = try LinearDescent(config: config, inputWidth: config.auxWidth, outputWidth: config.auxWidth,
                                   memory: .at(config.layerNormMemory), biasOnly: config.layerNormUpdate == .biasOnly)
    }

    /// Runs the module's layers on `state` (see the type's description for what the prefixes must hold).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "LayerNormDescent")
        try linear.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount { linear.parameterCount }
}

/// Backward ∥ Descent of a layer norm: `LinearBackwardDescent` on the LN prefixes (tokens `γ⊙∇y`, prefixes
/// updated), then the normalisation-Jacobian layers on the token rows.
public struct LayerNormBackwardDescent<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    let linear: LinearBackwardDescent<Scalar>
    let jacobian: [GatedLayer<Scalar>]

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails. An RMS norm has no β:
    /// its Descent updates nothing unless `layerNormUpdate == .full`.
    public init(config: SimulatorSpec, kind: NormKind = .layerNorm) throws {
        try config.validate()
        self.config = config
        linear = try LinearBackwardDescent(config: config, inputWidth: config.auxWidth, outputWidth: config.auxWidth,
                                           memory: .at(config.layerNormMemory),
                                           biasOnly: config.layerNormUpdate == .biasOnly, updateBias: kind == .layerNorm)
        jacobian = try layerNormJacobianLayers(config, kind: kind)
    }

    /// Runs the module's layers on `state` (see the type's description for what the prefixes must hold).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "LayerNormBackwardDescent")
        try linear.apply(&state)
        for l in jacobian { try l.apply(&state) }
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount {
        jacobian.reduce(linear.parameterCount) { $0 + $1.parameterCount }
    }
}

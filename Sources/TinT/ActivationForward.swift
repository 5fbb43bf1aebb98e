import LanguageModel
import Tensor

/// Forward of an activation σ (Docs/TINT.md §3): one MLP layer whose first map selects the signal heads, then σ;
/// the residual stores the pre-activation `h` at `D_sim − D` and keeps every other head. Exact (σ(0) = 0).
public struct ActivationForward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The simulated activation function.
    public let activation: Activation
    let layer: GatedLayer<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec, activation: Activation) throws {
        try config.validate()
        let D = config.auxWidth
        self.config = config
        self.activation = activation
        let signal = simHeads(config, 0, D), mem = simHeads(config, config.linearMemory, D)
        var fc = MixBuilder<Scalar>(width: config.simWidth, heads: config.simHeads)
        fc.keep(signal)
        let mlp = SimulatorMLP(fc: try fc.build(), activation: activation, proj: nil,
                               residual: try simResidual(config, replaced: [signal], copies: [(signal, mem)]))
        layer = tokenLayer(.mlp(mlp), config)
    }

    /// Runs the module's layers on `state` (see the type's description for what the prefixes must hold).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "ActivationForward")
        try layer.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount { layer.parameterCount }
}

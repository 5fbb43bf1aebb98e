import Tensor

/// Forward of an activation σ (Docs/TINT.md §3): one MLP layer whose first map selects the signal heads, then σ;
/// the residual stores the pre-activation `h` at `D_sim − D` and keeps every other head. Exact (σ(0) = 0).
public struct ActivationForward<Scalar: TensorScalar>: Sendable {
    public let config: TinTConfig
    public let activation: AuxActivation
    let layer: GatedLayer<Scalar>

    public init(config: TinTConfig, activation: AuxActivation) throws {
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

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "ActivationForward")
        try layer.apply(&state)
    }

    public var parameterCount: ParameterCount { layer.parameterCount }
}

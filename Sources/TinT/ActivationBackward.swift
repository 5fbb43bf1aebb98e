import LanguageModel
import Tensor

/// Backward of an activation σ (Docs/TINT.md §3): the signal `∇a` becomes `∇h`, with `h` read from `D_sim − D`.
/// `.finiteDifference(N)` (default): one MLP layer — `fc` forms `[h + ∇a/N ; h]`, σ, `proj` forms
/// `N·(σ(h + ∇a/N) − σ(h))`; error `O(1/N)` (exact for ReLU except where `|h| < |∇a|/N`). `.exact`: `σ'(h)⊙∇a`.
public struct ActivationBackward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The simulated activation function.
    public let activation: Activation
    let layer: GatedLayer<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec, activation: Activation) throws {
        try config.validate()
        let D = config.auxWidth, W = config.simWidth, H = config.simHeads
        self.config = config
        self.activation = activation
        let signal = simHeads(config, 0, D), mem = simHeads(config, config.linearMemory, D)
        let keep: HSimSplitLinear<Scalar>? = try simResidual(config, replaced: [signal])
        switch config.activationBackward {
        case .exact:
            layer = tokenLayer(.exact(ExactBackwardLayer(rule: .activation(activation), signalWidth: D,
                                                         inputOffset: config.linearMemory, residual: keep)), config)
        case .finiteDifference(let n):
            let c = signal.count
            var fc = MixBuilder<Scalar>(width: W, heads: H), proj = MixBuilder<Scalar>(width: W, heads: H)
            for (i, (s, m)) in zip(signal, mem).enumerated() {
                fc.route(from: m, to: i); fc.route(from: s, to: i, Scalar(1 / n))
                fc.route(from: m, to: c + i)
                proj.route(from: i, to: s, Scalar(n)); proj.route(from: c + i, to: s, Scalar(-n))
            }
            layer = tokenLayer(.mlp(SimulatorMLP(fc: try fc.build(), activation: activation, proj: try proj.build(),
                                                 residual: keep)), config)
        }
    }

    /// Runs the module's layers on `state` (see the type's description for what the prefixes must hold).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "ActivationBackward")
        try layer.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount { layer.parameterCount }
}

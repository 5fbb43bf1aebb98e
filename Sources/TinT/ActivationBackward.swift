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
        self.config = config
        self.activation = activation
        layer = try activationBackwardLayer(config, activation, inputOffset: config.linearMemory)
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

/// The activation-backward layer (Docs/TINT.md §3): the signal `∇a` (`[0, D)`) becomes `σ'(h)⊙∇a` with `h` read at
/// `inputOffset` (D wide, aligned to the H_sim head width); every other head is kept. `.finiteDifference(N)`: `fc`
/// forms `[h + ∇a/N ; h]`, σ, `proj` forms `N·(σ(h + ∇a/N) − σ(h))`; `.exact`: `σ'(h)⊙∇a` directly. Shared by
/// `ActivationBackward` (h in the linear memory) and the gated-MLP Backward (h = the gate pre-activation).
func activationBackwardLayer<S: TensorScalar>(_ config: SimulatorSpec, _ activation: Activation,
                                              inputOffset: Int) throws -> GatedLayer<S> {
    let D = config.auxWidth, W = config.simWidth, H = config.simHeads
    try config.validateRegion("activation input", offset: inputOffset, width: D, unit: config.simHeadWidth)
    try require(inputOffset >= D, rule: "offsets", "the activation input must not overlap the signal",
                "offset=\(inputOffset), D_aux=\(D)")
    let signal = simHeads(config, 0, D), mem = simHeads(config, inputOffset, D)
    let keep: HSimSplitLinear<S>? = try simResidual(config, replaced: [signal])
    switch config.activationBackward {
    case .exact:
        return tokenLayer(.exact(ExactBackwardLayer(rule: .activation(activation), signalWidth: D,
                                                    inputOffset: inputOffset, residual: keep)), config)
    case .finiteDifference(let n):
        let c = signal.count
        var fc = MixBuilder<S>(width: W, heads: H), proj = MixBuilder<S>(width: W, heads: H)
        for (i, (s, m)) in zip(signal, mem).enumerated() {
            fc.route(from: m, to: i); fc.route(from: s, to: i, S(1 / n))
            fc.route(from: m, to: c + i)
            proj.route(from: i, to: s, S(n)); proj.route(from: c + i, to: s, S(-n))
        }
        return tokenLayer(.mlp(SimulatorMLP(fc: try fc.build(), activation: activation, proj: try proj.build(),
                                            residual: keep)), config)
    }
}

import Tensor

/// The layers that turn `g = γ⊙∇y` in the signal into `J_f·g` for `f(x) = (x − μ)/σ`, reading `x` at
/// `D_sim − D` and `x̂` at `D_sim − 2D` of the layer-norm memory (Docs/TINT.md §3).
func layerNormJacobianLayers<S: TensorScalar>(_ config: SimulatorSpec, kind: NormKind = .layerNorm) throws -> [GatedLayer<S>] {
    let D = config.auxWidth, mem = config.layerNormMemory
    let signal = simHeads(config, 0, D), xMem = simHeads(config, mem + D, D), xhatMem = simHeads(config, mem, D)
    let keep: HSimSplitLinear<S>? = try simResidual(config, replaced: [signal])
    switch config.layerNormBackward {
    case .exact:
        let rule: ExactBackwardLayer<S>.Rule = kind == .layerNorm ? .layerNorm(epsilon: config.layerNormEpsilon)
            : .rmsNorm(epsilon: config.layerNormEpsilon)
        let exact = ExactBackwardLayer<S>(rule: rule, signalWidth: D,
                                          inputOffset: mem + D, residual: keep)
        return [tokenLayer(.exact(exact), config)]
    case .firstOrder(let n):
        // z = x + g/N; f(z); N·(f(z) − x̂).
        var shift = MixBuilder<S>(width: config.simWidth, heads: config.simHeads)
        for (s, x) in zip(signal, xMem) { shift.route(from: s, to: s, S(1 / n)); shift.route(from: x, to: s) }
        var diff = MixBuilder<S>(width: config.simWidth, heads: config.simHeads)
        for (s, xh) in zip(signal, xhatMem) { diff.route(from: s, to: s, S(n)); diff.route(from: xh, to: s, S(-n)) }
        return [
            tokenLayer(.mlp(SimulatorMLP(fc: try shift.build(), activation: nil, proj: nil, residual: keep)), config),
            tokenLayer(.norm(SimulatorLayerNorm(signalWidth: D, epsilon: config.layerNormEpsilon, centered: kind.centered,
                                                residual: keep)), config),
            tokenLayer(.mlp(SimulatorMLP(fc: try diff.build(), activation: nil, proj: nil, residual: keep)), config),
        ]
    }
}

/// Backward of a layer norm (Docs/TINT.md §3): `LinearBackward` with `diag(γ)` gives `g = γ⊙∇y`, then the
/// normalisation Jacobian: `.firstOrder(N)` — three layers computing `N·(f(x + g/N) − f(x))` (error `O(1/N)`)
/// — or `.exact`. The state's prefixes hold the LN prefixes; the token rows hold `∇y` and the layer-norm memory.
public struct LayerNormBackward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    let linear: LinearBackward<Scalar>
    let jacobian: [GatedLayer<Scalar>]

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec, kind: NormKind = .layerNorm) throws {
        try config.validate()
        self.config = config
        linear = try LinearBackward(config: config, inputWidth: config.auxWidth, outputWidth: config.auxWidth)
        jacobian = try layerNormJacobianLayers(config, kind: kind)
    }

    /// Runs the module's layers on `state` (see the type's description for what the prefixes must hold).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "LayerNormBackward")
        try linear.apply(&state)
        for l in jacobian { try l.apply(&state) }
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount {
        jacobian.reduce(linear.parameterCount) { $0 + $1.parameterCount }
    }
}

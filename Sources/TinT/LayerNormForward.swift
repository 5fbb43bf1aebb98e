import Tensor

/// Heads of the `H_sim`-split maps covering `[offset, offset + width)`.
func simHeads(_ config: SimulatorSpec, _ offset: Int, _ width: Int) -> Range<Int> {
    headRange(offset, width, unit: config.simHeadWidth)
}

/// A residual over `H_sim` heads that keeps every head outside `replaced` and copies `copies` (source → target
/// head ranges of equal length).
func simResidual<S: TensorScalar>(_ config: SimulatorSpec, replaced: [Range<Int>], copies: [(Range<Int>, Range<Int>)] = [])
    throws -> HSimSplitLinear<S>? {
    var r = MixBuilder<S>(width: config.simWidth, heads: config.simHeads)
    let targets = copies.map(\.1)
    for h in 0..<config.simHeads where !(replaced + targets).contains(where: { $0.contains(h) }) { r.route(from: h, to: h) }
    for (src, dst) in copies { for (a, b) in zip(src, dst) { r.route(from: a, to: b) } }
    return try r.build()
}

/// Which normalisation a norm module simulates.
public enum NormKind: Sendable, Equatable, Hashable {
    /// `(x − μ)/√(σ² + ε)`, then `γ⊙· + β`.
    case layerNorm
    /// `x/√(mean(x²) + ε)`, then `γ⊙·` (β is zero).
    case rmsNorm

    var centered: Bool { self == .layerNorm }
}

/// Forward of a layer norm `y = γ⊙x̂ + β` (Docs/TINT.md §3): a normalisation layer (the signal becomes `x̂`, the
/// raw `x` is copied to `D_sim − D`), then `LinearForward` with the `diag(γ), β` prefixes storing `x̂` at
/// `D_sim − 2D`. The state's prefixes must hold `LinearPrefixLayout.encodeLayerNorm(γ, β)`. Exact.
public struct LayerNormForward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// Layer norm or RMS norm.
    public let kind: NormKind
    let normalize: GatedLayer<Scalar>
    let linear: LinearForward<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec, kind: NormKind = .layerNorm) throws {
        try config.validate()
        let D = config.auxWidth, mem = config.layerNormMemory
        try config.validateRegion("layer-norm memory", offset: mem, width: 2 * D, unit: config.simHeadWidth)
        self.config = config
        self.kind = kind
        let signal = simHeads(config, 0, D), xMem = simHeads(config, mem + D, D)
        let body = SimulatorLayerNorm<Scalar>(signalWidth: D, epsilon: config.layerNormEpsilon, centered: kind.centered,
                                              residual: try simResidual(config, replaced: [signal], copies: [(signal, xMem)]))
        normalize = tokenLayer(.norm(body), config)
        linear = try LinearForward(config: config, inputWidth: D, outputWidth: D, memory: .at(mem))
    }

    /// Runs the module's layers on `state` (see the type's description for what the prefixes must hold).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "LayerNormForward")
        try normalize.apply(&state)
        try linear.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount { normalize.parameterCount + linear.parameterCount }
}

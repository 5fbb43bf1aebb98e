import Tensor

/// The Backward layer body of a linear map: token rows query the prefixes; head `(s, c)` has query = gradient
/// chunk `s`, key = `e_p`, value = the prefix's slot `s` chunk `c`, so it returns chunk `c` of
/// `Σ_{i in slot s} ∇y_i w_i`; the output map sums the slots. The residual keeps every head outside the
/// gradient and output regions.
func linearBackwardBody<S: TensorScalar>(_ L: LinearHeads, gradientOffset: Int, outputOffset: Int) throws -> SimulatorAttention<S> {
    let gHead = gradientOffset / L.K, oHead = outputOffset / L.K
    var q = MixBuilder<S>(width: L.W, heads: L.H)
    for s in 0..<L.R { for c in 0..<L.C { q.route(from: gHead + s, to: L.weight(s, c)) } }
    var v = MixBuilder<S>(width: L.W, heads: L.H)
    v.keep(0..<(L.R * L.C))
    var o = MixBuilder<S>(width: L.W, heads: L.H)
    for s in 0..<L.R { for c in 0..<L.C { o.route(from: L.weight(s, c), to: oHead + c) } }
    let replaced = Set(gHead..<(gHead + L.R)).union(oHead..<(oHead + L.C))
    var r = MixBuilder<S>(width: L.W, heads: L.H)
    for h in 0..<L.H where !replaced.contains(h) { r.route(from: h, to: h) }
    return SimulatorAttention(
        width: L.W, heads: L.H,
        query: AttentionStream(map: try q.build(), position: nil),
        key: AttentionStream(map: nil, position: .prefixIndex(prefixCount: L.K, coefficients: L.coefficients(L.weightHeads))),
        value: AttentionStream(map: try v.build(), position: nil),
        output: try o.build(), residual: try r.build(), kind: .linear, pattern: .tokensToPrefixes)
}

/// Backward of a linear map (Docs/TINT.md §3): token rows holding `∇y` (`d_out` wide, at `gradientOffset`) get
/// `Wᵀ∇y` (`d_in` wide, at `outputOffset`) from the prefixes holding `W`; the rest of the gradient region is
/// cleared, every other head kept, prefix rows kept. Exact.
public struct LinearBackward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The simulated map's input and output widths (d_in, d_out).
    public let inputWidth: Int, outputWidth: Int
    /// Where ∇y is read and Wᵀ∇y written in the token rows.
    public let gradientOffset: Int, outputOffset: Int
    let layer: GatedLayer<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec, inputWidth: Int, outputWidth: Int, gradientOffset: Int = 0, outputOffset: Int = 0) throws {
        try config.validate()
        try config.validateMap(inputWidth: inputWidth, outputWidth: outputWidth)
        try config.validateRegion("gradient", offset: gradientOffset, width: outputWidth, unit: config.prefixCount)
        try config.validateRegion("output", offset: outputOffset, width: inputWidth, unit: config.prefixCount)
        self.config = config
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        self.gradientOffset = gradientOffset
        self.outputOffset = outputOffset
        let L = LinearHeads(config, inputWidth: inputWidth, outputWidth: outputWidth)
        let body: SimulatorAttention<Scalar> = try linearBackwardBody(L, gradientOffset: gradientOffset, outputOffset: outputOffset)
        layer = GatedLayer(old: Gate(prefixCount: L.K, onPrefixes: true, onTokens: false, kind: config.gates),
                           [GatedBranch(gate: Gate(prefixCount: L.K, onPrefixes: false, onTokens: true, kind: config.gates),
                                        body: .attention(body))])
    }

    /// Runs the layer on `state` (whose prefixes hold `W`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "LinearBackward")
        try layer.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount {
        layer.parameterCount + ParameterCount(prefixStorage: config.prefixCount * config.simWidth)
    }
}

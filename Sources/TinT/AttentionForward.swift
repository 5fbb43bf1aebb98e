import Tensor

/// The softmax layer shared by AttentionForward and AttentionBackward (Docs/TINT.md §3): `H_sim` heads; TinT
/// head `a < H_aux` selects, with the cross-head mix alone, aux head `a`'s coordinates of `Qx` (at
/// `queryOffset`), `Kx` (at `keyOffset`) and the value (the signal) — they sit at the same within-head
/// coordinates — and its output map writes them back to aux head `a`'s coordinates of the signal. The residual
/// keeps every non-signal head. Heads `≥ H_aux` are idle.
func auxAttentionBody<S: TensorScalar>(_ config: SimulatorSpec, queryOffset: Int, keyOffset: Int, kind: AttentionKind) throws
    -> SimulatorAttention<S> {
    let W = config.simWidth, H = config.simHeads, d = config.simHeadWidth, dh = config.auxHeadWidth, D = config.auxWidth
    var q = MixBuilder<S>(width: W, heads: H), k = MixBuilder<S>(width: W, heads: H)
    var v = MixBuilder<S>(width: W, heads: H), o = MixBuilder<S>(width: W, heads: H)
    for a in 0..<config.auxHeads {
        let c = a * dh, coords = (c % d)..<(c % d + dh)
        q.route(from: (queryOffset + c) / d, to: a, coordinates: coords)
        k.route(from: (keyOffset + c) / d, to: a, coordinates: coords)
        v.route(from: c / d, to: a, coordinates: coords)
        o.route(from: a, to: c / d, coordinates: coords)
    }
    var r = MixBuilder<S>(width: W, heads: H)
    r.keep((D / d)..<H)
    return SimulatorAttention(width: W, heads: H, query: AttentionStream(map: try q.build(), position: nil),
                              key: AttentionStream(map: try k.build(), position: nil),
                              value: AttentionStream(map: try v.build(), position: nil),
                              output: try o.build(), residual: try r.build(), kind: kind, pattern: .causalTokens)
}

/// Tokens replaced by `body`'s update, prefixes kept.
func tokenLayer<S: TensorScalar>(_ body: LayerBody<S>, _ config: SimulatorSpec) -> GatedLayer<S> {
    GatedLayer(old: Gate(prefixCount: config.prefixCount, onPrefixes: true, onTokens: false, kind: config.gates),
               [GatedBranch(gate: Gate(prefixCount: config.prefixCount, onPrefixes: false, onTokens: true, kind: config.gates),
                            body: body)])
}

/// Forward of causal multi-head self-attention (Docs/TINT.md §3). One linear core computes `Qx`, `Kx`, `Vx`
/// from the Q, K and V prefixes (three layers sharing the query/key/value and position maps; their output stages
/// place `Qx` at `D_sim − 3D`, `Kx` at `D_sim − 2D`, and `Vx` in the signal with `x` stored at `D_sim − D`), then a
/// softmax layer with `H_sim` heads reproduces every aux head with the aux scale. Token rows end with the
/// attention output (before `W_O`) in the signal and `[Qx ; Kx ; x]` in the attention memory. Exact.
public struct AttentionForward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The score scale (default `1/√(D_aux/H_aux)`).
    public let scale: Double
    let core: LinearForwardCore<Scalar>
    let stages: [LinearForwardStage<Scalar>]
    let projections: [GatedLayer<Scalar>]
    let softmax: GatedLayer<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec, scale: Double? = nil) throws {
        try config.validate()
        let D = config.auxWidth, mem = config.attentionMemory
        try config.validateMap(inputWidth: D, outputWidth: D)
        try config.validateRegion("attention memory", offset: mem, width: 3 * D, unit: config.prefixCount)
        try config.validateRegion("attention memory", offset: mem, width: 3 * D, unit: config.simHeadWidth)
        self.config = config
        self.scale = scale ?? 1 / Double(config.auxHeadWidth).squareRoot()
        let L = LinearHeads(config, inputWidth: D, outputWidth: D)
        let core = try LinearForwardCore<Scalar>(L, inputOffset: 0)
        let stages: [LinearForwardStage<Scalar>] = [try LinearForwardStage(L, inputOffset: 0, outputOffset: mem, memoryOffset: nil, keepInput: true),
                  try LinearForwardStage(L, inputOffset: 0, outputOffset: mem + D, memoryOffset: nil, keepInput: true),
                  try LinearForwardStage(L, inputOffset: 0, outputOffset: 0, memoryOffset: mem + 2 * D, keepInput: false)]
        self.core = core
        self.stages = stages
        projections = stages.map { $0.layer(core: core, L, gates: config.gates) }
        let body: SimulatorAttention<Scalar> = try auxAttentionBody(config, queryOffset: mem, keyOffset: mem + D,
                                                                   kind: .softmax(scale: self.scale))
        softmax = tokenLayer(.attention(body), config)
    }

    /// Runs the four layers; `query`, `key`, `value` are the Q, K, V prefix tensors (`LinearPrefixLayout`), each
    /// loaded into the prefix rows before its layer. The state's prefixes afterwards are the V prefixes (as
    /// carried through the softmax layer's gates).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>, query: Tensor<Scalar>, key: Tensor<Scalar>, value: Tensor<Scalar>) throws {
        try state.validate(config, module: "AttentionForward")
        for (layer, prefixes) in zip(projections, [query, key, value]) {
            try requireShape(prefixes, [config.prefixCount, config.simWidth], module: "AttentionForward", what: "prefixes")
            state.prefixes = prefixes.contiguous()
            try layer.apply(&state)
        }
        try softmax.apply(&state)
    }

    /// The shared core once, three output stages, the softmax layer, the gates of the four layers, and three
    /// prefix tensors.
    public var parameterCount: ParameterCount {
        var c = core.parameterCount + softmax.parameterCount
        for l in projections { c += ParameterCount(gates: l.old.parameterCount + l.branches[0].gate.parameterCount) }
        for s in stages { c += s.parameterCount }
        return c + ParameterCount(prefixStorage: 3 * config.prefixCount * config.simWidth)
    }
}

import Tensor

/// The Descent layer body of a linear map: prefix rows query the train tokens. Weight head `(s, c)`: query
/// `e_p`, key = gradient chunk `s`, value = `−η·x^(c)` from the memory; bias head `j`: query `e_p`, key `e_0`
/// on tokens, value `−η·∇y^(j)`. Prefix `p` receives `−ηΣ_{t∈train} ∇y_{t,sK+p} x_t^(c)` in its slot-`s`
/// chunk-`c` head and prefix 0 receives `−ηΣ∇y` in its bias heads; the output map is the identity.
/// `updateBias: false` leaves the bias heads dead (a map without bias, or one MLP chunk of several that must not
/// all move the shared bias).
func linearDescentBody<S: TensorScalar>(_ L: LinearHeads, gradientOffset: Int, memoryOffset: Int,
                                        learningRate eta: Double, biasOnly: Bool,
                                        updateBias: Bool = true) throws -> SimulatorAttention<S> {
    let gHead = gradientOffset / L.K, mHead = memoryOffset / L.K
    let biasHeads = updateBias ? L.biasHeads : []
    let live = biasOnly ? biasHeads : L.weightHeads + biasHeads
    var k = MixBuilder<S>(width: L.W, heads: L.H)
    if !biasOnly { for s in 0..<L.R { for c in 0..<L.C { k.route(from: gHead + s, to: L.weight(s, c)) } } }
    var v = MixBuilder<S>(width: L.W, heads: L.H)
    if !biasOnly { for s in 0..<L.R { for c in 0..<L.C { v.route(from: mHead + c, to: L.weight(s, c), S(-eta)) } } }
    if updateBias { for j in 0..<L.R { v.route(from: gHead + j, to: L.bias(j), S(-eta)) } }
    return SimulatorAttention(
        width: L.W, heads: L.H,
        query: AttentionStream(map: nil, position: .prefixIndex(prefixCount: L.K, coefficients: L.coefficients(live))),
        key: AttentionStream(map: try k.build(),
                             position: updateBias ? .tokenUnit(prefixCount: L.K, width: L.K,
                                                               coefficients: L.coefficients(biasHeads)) : nil),
        value: AttentionStream(map: try v.build(), position: nil),
        output: nil, residual: nil, kind: .linear, pattern: .prefixesToTrainTokens)
}

/// Descent of a linear map (Docs/TINT.md §3): the prefixes holding `W, b` become
/// `W − ηΣ_{t∈train} ∇y_t x_tᵀ` and `b − ηΣ_{t∈train} ∇y_t`, with `∇y` at `gradientOffset` and `x` at the memory
/// offset of the token rows. Token rows are kept. Eval tokens and prefix↔prefix pairs are masked out.
/// `biasOnly` updates `b` alone (layer norm's default). Exact.
public struct LinearDescent<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The simulated map's input and output widths (d_in, d_out).
    public let inputWidth: Int, outputWidth: Int
    /// Where ∇y and the stored x are read in the token rows.
    public let gradientOffset: Int, memoryOffset: Int
    /// Whether only the bias is updated.
    public let biasOnly: Bool
    /// Whether the bias is updated (false for a map without bias).
    public let updateBias: Bool
    let layer: GatedLayer<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails. `updateBias: false`
    /// keeps the bias slot as it is.
    public init(config: SimulatorSpec, inputWidth: Int, outputWidth: Int, gradientOffset: Int = 0,
                memory: LinearMemory = .standard, biasOnly: Bool = false, updateBias: Bool = true) throws {
        try config.validate()
        try config.validateMap(inputWidth: inputWidth, outputWidth: outputWidth)
        guard let mem = memory.offset(config) else {
            throw TinTError.invalidArgument(module: "LinearDescent", reason: "Descent needs the memory region holding x")
        }
        try config.validateRegion("gradient", offset: gradientOffset, width: outputWidth, unit: config.prefixCount)
        try config.validateRegion("memory", offset: mem, width: inputWidth, unit: config.prefixCount)
        self.config = config
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        self.gradientOffset = gradientOffset
        self.memoryOffset = mem
        self.biasOnly = biasOnly
        self.updateBias = updateBias
        let L = LinearHeads(config, inputWidth: inputWidth, outputWidth: outputWidth)
        let body: SimulatorAttention<Scalar> = try linearDescentBody(L, gradientOffset: gradientOffset, memoryOffset: mem,
                                                                     learningRate: config.learningRate, biasOnly: biasOnly,
                                                                     updateBias: updateBias)
        layer = GatedLayer(old: Gate(prefixCount: L.K, onPrefixes: true, onTokens: true, kind: config.gates),
                           [GatedBranch(gate: Gate(prefixCount: L.K, onPrefixes: true, onTokens: false, kind: config.gates),
                                        body: .attention(body))])
    }

    /// Runs the layer on `state` (prefixes holding `W, b`; token rows holding `∇y` and `x`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "LinearDescent")
        try layer.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount {
        layer.parameterCount + ParameterCount(prefixStorage: config.prefixCount * config.simWidth)
    }
}

/// Backward ∥ Descent of a linear map in one layer (Docs/TINT.md §3): both branches read the same input, token
/// rows take the Backward result (`Wᵀ∇y`, computed with the pre-update `W`) and prefix rows the Descent result.
public struct LinearBackwardDescent<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The simulated map's input and output widths (d_in, d_out).
    public let inputWidth: Int, outputWidth: Int
    /// Where ∇y is read, Wᵀ∇y written and x read (memory) in the token rows.
    public let gradientOffset: Int, outputOffset: Int, memoryOffset: Int
    /// Whether only the bias is updated.
    public let biasOnly: Bool
    let layer: GatedLayer<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails. `updateBias: false`
    /// keeps the bias slot as it is.
    public init(config: SimulatorSpec, inputWidth: Int, outputWidth: Int, gradientOffset: Int = 0, outputOffset: Int = 0,
                memory: LinearMemory = .standard, biasOnly: Bool = false, updateBias: Bool = true) throws {
        let d = try LinearDescent<Scalar>(config: config, inputWidth: inputWidth, outputWidth: outputWidth,
                                          gradientOffset: gradientOffset, memory: memory, biasOnly: biasOnly,
                                          updateBias: updateBias)
        try config.validateRegion("output", offset: outputOffset, width: inputWidth, unit: config.prefixCount)
        self.config = config
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        self.gradientOffset = gradientOffset
        self.outputOffset = outputOffset
        self.memoryOffset = d.memoryOffset
        self.biasOnly = biasOnly
        let L = LinearHeads(config, inputWidth: inputWidth, outputWidth: outputWidth)
        let backward: SimulatorAttention<Scalar> = try linearBackwardBody(L, gradientOffset: gradientOffset,
                                                                          outputOffset: outputOffset)
        layer = GatedLayer(old: Gate(prefixCount: L.K, onPrefixes: true, onTokens: false, kind: config.gates), [
            GatedBranch(gate: Gate(prefixCount: L.K, onPrefixes: false, onTokens: true, kind: config.gates),
                        body: .attention(backward)),
            d.layer.branches[0],
        ])
    }

    /// Runs the layer: token rows get `Wᵀ∇y`, prefixes get `W − ηΣ∇y xᵀ`, `b − ηΣ∇y`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "LinearBackwardDescent")
        try layer.apply(&state)
    }

    /// Constructed weights, position maps, gates and prefix storage (Docs/TINT.md §7).
    public var parameterCount: ParameterCount {
        layer.parameterCount + ParameterCount(prefixStorage: config.prefixCount * config.simWidth)
    }
}

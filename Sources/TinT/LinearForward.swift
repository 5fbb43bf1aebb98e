import Tensor

/// Where a linear simulator module keeps the input it needs later.
public enum LinearMemory: Sendable, Equatable, Hashable {
    /// The configuration's linear memory, `D_sim − D_aux`.
    case standard
    /// At this coordinate offset.
    case at(Int)
    /// Nowhere (no memory write).
    case none

    func offset(_ config: SimulatorSpec) -> Int? {
        switch self {
        case .standard: return config.linearMemory
        case .at(let o): return o
        case .none: return nil
        }
    }
}

/// The heads of a linear-attention layer for a map `d_in → d_out` (Docs/TINT.md §3): weight head `(s, c)` is
/// head `s·C + c` — the prefix head holding slot `s`, chunk `c` — and bias head `j` is head `R·C + j`.
struct LinearHeads {
    let K: Int, W: Int, H: Int, C: Int, R: Int
    init(_ config: SimulatorSpec, inputWidth: Int, outputWidth: Int) {
        K = config.prefixCount; W = config.simWidth; H = config.linearHeads
        C = inputWidth / K; R = outputWidth / K
    }
    func weight(_ s: Int, _ c: Int) -> Int { s * C + c }
    func bias(_ j: Int) -> Int { R * C + j }
    var weightHeads: [Int] { Array(0..<(R * C)) }
    var biasHeads: [Int] { Array((R * C)..<(R * C + R)) }
    /// Per-head coefficients: 1 on `heads`, 0 elsewhere.
    func coefficients<S: TensorScalar>(_ heads: [Int]) -> [S] {
        var c = [S](repeating: 0, count: H)
        for h in heads { c[h] = 1 }
        return c
    }
}

/// The query, key and value streams of a linear Forward layer reading its input at `inputOffset`
/// (shared by the three applications in `AttentionForward`).
struct LinearForwardCore<Scalar: TensorScalar>: Sendable {
    let query: AttentionStream<Scalar>
    let key: AttentionStream<Scalar>
    let value: AttentionStream<Scalar>

    init(_ L: LinearHeads, inputOffset: Int) throws {
        let inHead = inputOffset / L.K
        // Query: input chunk c into every weight head (s, c); bias heads read e_0 from the token position.
        var q = MixBuilder<Scalar>(width: L.W, heads: L.H)
        for s in 0..<L.R { for c in 0..<L.C { q.route(from: inHead + c, to: L.weight(s, c)) } }
        query = AttentionStream(map: try q.build(),
                                position: .tokenUnit(prefixCount: L.K, width: L.K, coefficients: L.coefficients(L.biasHeads)))
        // Key: the prefix's own weight heads; bias heads use e_p.
        var k = MixBuilder<Scalar>(width: L.W, heads: L.H)
        k.keep(0..<(L.R * L.C))
        key = AttentionStream(map: try k.build(),
                              position: .prefixIndex(prefixCount: L.K, coefficients: L.coefficients(L.biasHeads)))
        // Value: e_p on weight heads (so head (s,c) returns the partial products in output order); the bias
        // chunk on bias heads.
        var v = MixBuilder<Scalar>(width: L.W, heads: L.H)
        for j in 0..<L.R { v.route(from: L.bias(j), to: L.bias(j)) }
        value = AttentionStream(map: try v.build(),
                                position: .prefixIndex(prefixCount: L.K, coefficients: L.coefficients(L.weightHeads)))
    }

    var parameterCount: ParameterCount { query.parameterCount + key.parameterCount + value.parameterCount }
}

/// One output stage of a linear Forward layer: where `Wx + b` goes, where the input is stored, what is kept.
struct LinearForwardStage<Scalar: TensorScalar>: Sendable {
    let output: HSimSplitLinear<Scalar>?
    let residual: HSimSplitLinear<Scalar>?

    init(_ L: LinearHeads, inputOffset: Int, outputOffset: Int, memoryOffset: Int?, keepInput: Bool) throws {
        let inHead = inputOffset / L.K, outHead = outputOffset / L.K
        var o = MixBuilder<Scalar>(width: L.W, heads: L.H)
        for s in 0..<L.R {
            for c in 0..<L.C { o.route(from: L.weight(s, c), to: outHead + s) }
            o.route(from: L.bias(s), to: outHead + s)
        }
        output = try o.build()
        let outputHeads = outHead..<(outHead + L.R), inputHeads = inHead..<(inHead + L.C)
        let memHeads = memoryOffset.map { ($0 / L.K)..<($0 / L.K + L.C) } ?? 0..<0
        var r = MixBuilder<Scalar>(width: L.W, heads: L.H)
        for h in 0..<L.H {
            if outputHeads.contains(h) { continue }
            if memHeads.contains(h) { r.route(from: inHead + (h - memHeads.lowerBound), to: h); continue }
            if inputHeads.contains(h) && !keepInput { continue }
            r.route(from: h, to: h)
        }
        residual = try r.build()
    }

    var parameterCount: ParameterCount {
        ParameterCount(constructed: (output?.parameterCount ?? 0) + (residual?.parameterCount ?? 0))
    }

    /// The layer: tokens replaced by this stage's output, prefixes kept.
    func layer(core: LinearForwardCore<Scalar>, _ L: LinearHeads, gates kind: GateKind) -> GatedLayer<Scalar> {
        let attention = SimulatorAttention(width: L.W, heads: L.H, query: core.query, key: core.key, value: core.value,
                                           output: output, residual: residual, kind: .linear, pattern: .tokensToPrefixes)
        return GatedLayer(old: Gate(prefixCount: L.K, onPrefixes: true, onTokens: false, kind: kind),
                          [GatedBranch(gate: Gate(prefixCount: L.K, onPrefixes: false, onTokens: true, kind: kind),
                                       body: .attention(attention))])
    }
}

/// Forward of a linear map `y = Wx + b` (Docs/TINT.md §3): one linear-attention layer in which token rows query
/// the prefixes holding `W, b`. Token rows get `Wx + b` at `outputOffset` and `x` at the memory offset; every
/// other head is preserved (the input region too when `keepInput`); prefix rows are kept. Exact.
public struct LinearForward<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// The simulated map's input and output widths (d_in, d_out).
    public let inputWidth: Int, outputWidth: Int
    /// Where the input is read and the output written in the token rows.
    public let inputOffset: Int, outputOffset: Int
    /// Where `x` is stored, or nil.
    public let memoryOffset: Int?
    let core: LinearForwardCore<Scalar>
    let stage: LinearForwardStage<Scalar>
    let layer: GatedLayer<Scalar>

    /// Builds the module; throws `TinTError.ruleViolation` when a hyperparameter rule fails.
    public init(config: SimulatorSpec, inputWidth: Int, outputWidth: Int, inputOffset: Int = 0, outputOffset: Int = 0,
                memory: LinearMemory = .standard, keepInput: Bool = false) throws {
        try config.validate()
        try config.validateMap(inputWidth: inputWidth, outputWidth: outputWidth)
        let K = config.prefixCount, mem = memory.offset(config)
        try config.validateRegion("input", offset: inputOffset, width: inputWidth, unit: K)
        try config.validateRegion("output", offset: outputOffset, width: outputWidth, unit: K)
        let out = outputOffset..<(outputOffset + outputWidth), inp = inputOffset..<(inputOffset + inputWidth)
        if let mem {
            try config.validateRegion("memory", offset: mem, width: inputWidth, unit: K)
            let m = mem..<(mem + inputWidth)
            try require(!m.overlaps(out) && !(keepInput && m.overlaps(inp)), rule: "offsets",
                        "the memory region must not overlap the output (or a kept input)",
                        "memory=\(m), output=\(out), input=\(inp)")
        }
        try require(!(keepInput && inp.overlaps(out)), rule: "offsets", "a kept input must not overlap the output",
                    "input=\(inp), output=\(out)")
        self.config = config
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        self.inputOffset = inputOffset
        self.outputOffset = outputOffset
        self.memoryOffset = mem
        let L = LinearHeads(config, inputWidth: inputWidth, outputWidth: outputWidth)
        core = try LinearForwardCore(L, inputOffset: inputOffset)
        stage = try LinearForwardStage(L, inputOffset: inputOffset, outputOffset: outputOffset, memoryOffset: mem,
                                       keepInput: keepInput)
        layer = stage.layer(core: core, L, gates: config.gates)
    }

    /// Runs the layer on `state` (whose prefixes hold `W, b` in `LinearPrefixLayout`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "LinearForward")
        try layer.apply(&state)
    }

    /// Constructed weights, position maps, gates, and one prefix tensor.
    public var parameterCount: ParameterCount {
        layer.parameterCount + ParameterCount(prefixStorage: config.prefixCount * config.simWidth)
    }
}

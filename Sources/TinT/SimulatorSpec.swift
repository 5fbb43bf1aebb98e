import Tensor

/// What a simulator module is built for: TinT's hyperparameters (``TinTConfig``) paired with the aux model's
/// shape (D_aux, H_aux, T_aux and the norms' ε), which the compiler reads from the ``AuxGraph``. The derived
/// quantities (D_sim, K, head widths, memory offsets) are computed properties; ``validate()`` checks every rule
/// of Docs/TINT.md §5. The configuration's fields read (and write) through the spec (`spec.simHeads`).
@dynamicMemberLookup
public struct SimulatorSpec: Sendable, Equatable, Hashable {
    /// TinT's own hyperparameters.
    public var config: TinTConfig
    /// D_aux, the auxiliary model's hidden size.
    public var auxWidth: Int
    /// H_aux, the auxiliary model's attention heads — more exactly, the heads of width D_aux/H_aux that one attention
    /// module runs; a model whose heads·head_dim ≠ D_aux runs its attention in chunks of this many heads.
    public var auxHeads: Int
    /// T_aux, the auxiliary model's maximum sequence length.
    public var auxMaxPositions: Int
    /// The ε of the norm a module simulates (norm modules are built per ε).
    public var layerNormEpsilon: Double

    /// A spec from the aux shape and a configuration.
    public init(config: TinTConfig, auxWidth: Int, auxHeads: Int, auxMaxPositions: Int, layerNormEpsilon: Double = 1e-5) {
        self.config = config
        self.auxWidth = auxWidth
        self.auxHeads = auxHeads
        self.auxMaxPositions = auxMaxPositions
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// A spec from the aux shape and the configuration's fields (the paper's defaults), for building single
    /// modules directly (tests, benchmarks).
    public init(auxWidth: Int, auxHeads: Int, auxMaxPositions: Int, rowsPerPrefix: Int = 3, simHeads: Int = 12,
                learningRate: Double = 1e-4, simulatedLayers: Int? = nil, steps: Int = 1,
                reuseForward: Bool = true, reuseBackward: Bool = false, referenceCompatible: Bool = false,
                layerNormBackward: TinTConfig.LayerNormBackward = .firstOrder(1000),
                activationBackward: TinTConfig.ActivationBackward = .finiteDifference(1000),
                gates: GateKind = .tanh(10), layerNormUpdate: TinTConfig.LayerNormUpdate = .biasOnly,
                attentionBackward: TinTConfig.AttentionBackward = .valueOnly, layerNormEpsilon: Double = 1e-5) {
        self.init(config: TinTConfig(rowsPerPrefix: rowsPerPrefix, simHeads: simHeads, learningRate: learningRate,
                                     simulatedLayers: simulatedLayers, steps: steps, reuseForward: reuseForward,
                                     reuseBackward: reuseBackward, referenceCompatible: referenceCompatible,
                                     layerNormBackward: layerNormBackward, activationBackward: activationBackward,
                                     gates: gates, layerNormUpdate: layerNormUpdate, attentionBackward: attentionBackward),
                  auxWidth: auxWidth, auxHeads: auxHeads, auxMaxPositions: auxMaxPositions, layerNormEpsilon: layerNormEpsilon)
    }

    /// The spec of `graph` with `config`: D_aux and T_aux are the graph's, H_aux the heads of the graph's head width
    /// that fill D_aux (the graph's own H_aux unless heads·head_dim ≠ D_aux, Docs/TINT.md §11.1), ε its first norm's
    /// (1e-5 when it has none; norm modules are rebuilt per node ε).
    public init(graph: AuxGraph, config: TinTConfig) {
        self.init(config: config, auxWidth: graph.hiddenWidth, auxHeads: graph.simulatorHeads, auxMaxPositions: graph.maxPositions,
                  layerNormEpsilon: graph.normEpsilons.first ?? 1e-5)
    }

    /// The configuration's fields.
    public subscript<T>(dynamicMember keyPath: WritableKeyPath<TinTConfig, T>) -> T {
        get { config[keyPath: keyPath] }
        set { config[keyPath: keyPath] = newValue }
    }

    /// This spec with another norm ε.
    func with(epsilon: Double) -> SimulatorSpec { var s = self; s.layerNormEpsilon = epsilon; return s }

    /// D_sim = D_aux·(S+1).
    public var simWidth: Int { auxWidth * (config.rowsPerPrefix + 1) }
    /// K = D_aux/S, the number of prefix rows.
    public var prefixCount: Int { auxWidth / max(config.rowsPerPrefix, 1) }
    /// H_lin = D_sim/K, the heads (of width K) of every linear-attention layer.
    public var linearHeads: Int { simWidth / max(prefixCount, 1) }
    /// D_sim/H_sim, the head width of softmax attention, MLP and normalisation layers.
    public var simHeadWidth: Int { simWidth / max(config.simHeads, 1) }
    /// D_aux/H_aux, one aux attention head's width.
    public var auxHeadWidth: Int { auxWidth / max(auxHeads, 1) }
    /// Where LinearForward stores its input (and ActivationForward its pre-activation): D_sim − D_aux.
    public var linearMemory: Int { simWidth - auxWidth }
    /// Where LayerNormForward stores x̂ (x follows at +D_aux): D_sim − 2·D_aux.
    public var layerNormMemory: Int { simWidth - 2 * auxWidth }
    /// Where AttentionForward stores Qx (Kx at +D_aux, x at +2·D_aux): D_sim − 3·D_aux.
    public var attentionMemory: Int { simWidth - 3 * auxWidth }

    /// Checks every hyperparameter rule; throws `TinTError.ruleViolation` naming the first that fails.
    public func validate() throws {
        let D = auxWidth, S = config.rowsPerPrefix
        try require(D > 0 && auxHeads > 0 && auxMaxPositions > 0 && config.simHeads > 0 && config.steps >= 0, rule: "positive",
                    "D_aux, H_aux, T_aux, H_sim must be positive and steps ≥ 0",
                    "D_aux=\(D), H_aux=\(auxHeads), T_aux=\(auxMaxPositions), H_sim=\(config.simHeads), steps=\(config.steps)")
        try require(S >= 3, rule: "rowsPerPrefix",
                    "S ≥ 3: the attention memory needs 3·D_aux coordinates above the signal", "S=\(S)")
        try require(D % S == 0, rule: "prefixCount", "D_aux must be divisible by S (K = D_aux/S)",
                    "D_aux=\(D), S=\(S)")
        try require(simWidth % config.simHeads == 0, rule: "simHeadsDivide", "D_sim = D_aux·(S+1) must be divisible by H_sim",
                    "D_sim=\(simWidth), H_sim=\(config.simHeads)")
        try require(D % simHeadWidth == 0, rule: "simHeadWidth", "the head width D_sim/H_sim must divide D_aux",
                    "D_sim/H_sim=\(simHeadWidth), D_aux=\(D)")
        try require(D % auxHeads == 0 && auxHeads <= config.simHeads && simHeadWidth % auxHeadWidth == 0, rule: "auxHeads",
                    "H_aux must divide D_aux, H_aux ≤ H_sim, and D_aux/H_aux must divide D_sim/H_sim",
                    "D_aux=\(D), H_aux=\(auxHeads), H_sim=\(config.simHeads), D_sim/H_sim=\(simHeadWidth)")
        try require(config.learningRate.isFinite, rule: "positive", "η must be finite", "η=\(config.learningRate)")
        try require(layerNormEpsilon > 0 && layerNormEpsilon.isFinite, rule: "positive", "ε must be positive",
                    "ε=\(layerNormEpsilon)")
        if case .firstOrder(let n) = config.layerNormBackward {
            try require(n > 0 && n.isFinite, rule: "positive", "the finite-difference scale N must be positive", "N=\(n)")
        }
        if case .finiteDifference(let n) = config.activationBackward {
            try require(n > 0 && n.isFinite, rule: "positive", "the finite-difference scale N must be positive", "N=\(n)")
        }
        if case .tanh(let g) = config.gates {
            try require(g > 0 && g.isFinite, rule: "positive", "the gate scale g must be positive", "g=\(g)")
        }
        if let n = config.simulatedLayers {
            try require(n >= 0, rule: "positive", "n_sim must be ≥ 0", "n_sim=\(n)")
        }
    }

    /// Checks the rules for one simulated linear map `d_in → d_out` (Docs/TINT.md §5, rule `mapWidths`).
    public func validateMap(inputWidth: Int, outputWidth: Int) throws {
        let K = prefixCount
        try require(inputWidth > 0 && outputWidth > 0 && inputWidth % K == 0 && outputWidth % K == 0,
                    rule: "mapWidths", "a simulated map's input and output widths must be positive multiples of K",
                    "d_in=\(inputWidth), d_out=\(outputWidth), K=\(K)")
        let R = outputWidth / K, C = inputWidth / K
        try require(R * inputWidth + outputWidth <= simWidth, rule: "mapWidths",
                    "the R = d_out/K weight rows of d_in entries plus the bias must fit a prefix: R·d_in + d_out ≤ D_sim",
                    "R=\(R), d_in=\(inputWidth), d_out=\(outputWidth), D_sim=\(simWidth)")
        try require(R * (C + 1) <= linearHeads, rule: "mapWidths",
                    "a linear-attention layer needs R·(d_in/K + 1) ≤ H_lin = D_sim/K heads",
                    "R=\(R), d_in/K=\(C), H_lin=\(linearHeads)")
    }

    /// Checks that a region `[offset, offset + width)` of a row is aligned to `unit` and inside the row.
    func validateRegion(_ name: String, offset: Int, width: Int, unit: Int) throws {
        try require(offset >= 0 && offset % unit == 0 && width % unit == 0 && offset + width <= simWidth,
                    rule: "offsets", "region '\(name)' must be aligned to \(unit) and lie inside the D_sim-wide row",
                    "offset=\(offset), width=\(width), D_sim=\(simWidth)")
    }

    /// Checks that a token sequence fits the aux model's positions.
    func validateSequence(_ length: Int) throws {
        try require(length <= auxMaxPositions, rule: "sequenceLength", "the sequence length must be ≤ T_aux",
                    "T=\(length), T_aux=\(auxMaxPositions)")
    }
}

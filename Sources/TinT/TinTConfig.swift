import Tensor

/// The gate nonlinearity that makes a layer keep prefix rows and replace (or update) token rows.
public enum GateKind: Sendable, Equatable, Hashable {
    /// `tanh(g·z)` for the indicator `z ∈ {0, 1}`, as in the paper (g = 10 there).
    case tanh(Double)
    /// Exact 0/1 gates.
    case hard
}

/// The TinT hyperparameters (Docs/TINT.md §5): the simulator's shape, the inner learning rate, and the
/// approximation options. The derived quantities (D_sim, K, head widths, memory offsets) are computed
/// properties; `validate()` checks every rule.
public struct TinTConfig: Sendable, Equatable, Hashable {
    // The approximation options (Docs/TINT.md §4). They are nested because the modules LayerNormBackward,
    // ActivationBackward and AttentionBackward use the plain names.

    /// How the layer-norm backward applies the normalisation Jacobian.
    public enum LayerNormBackward: Sendable, Equatable, Hashable {
        /// The paper's first-order (finite-difference) approximation `N·(f(x + g/N) − f(x))`.
        case firstOrder(Double)
        /// The exact Jacobian-vector product, computed directly (for oracles and ablations).
        case exact
    }

    /// How the activation backward forms `σ'(h)⊙∇a`.
    public enum ActivationBackward: Sendable, Equatable, Hashable {
        /// The paper's finite difference `N·(σ(h + ∇a/N) − σ(h))`.
        case finiteDifference(Double)
        /// `σ'(h)⊙∇a` computed directly (for oracles and ablations).
        case exact
    }

    /// Which layer-norm parameters the Descent module updates.
    public enum LayerNormUpdate: Sendable, Equatable, Hashable {
        /// β only (the paper's default).
        case biasOnly
        /// β and the `diag(γ)` prefix matrix, with the reference's dense update `−ηΣ∇y x̂ᵀ`.
        case full
    }

    /// The backward rule for attention. TinT only propagates through the value path.
    public enum AttentionBackward: Sendable, Equatable, Hashable {
        /// Stop-gradient through the attention scores: `∇v = Aᵀ∇o`; `W_Q`, `W_K` are not updated.
        case valueOnly
    }

    /// D_aux, the auxiliary model's hidden size.
    public var auxWidth: Int
    /// H_aux, the auxiliary model's attention heads.
    public var auxHeads: Int
    /// T_aux, the auxiliary model's maximum sequence length.
    public var auxMaxPositions: Int
    /// S, weight rows stacked per prefix.
    public var rowsPerPrefix: Int
    /// H_sim, heads of the softmax-attention, MLP and normalisation layers.
    public var simHeads: Int
    /// η, the inner learning rate.
    public var learningRate: Double
    /// n_sim, the number of top aux layers simulated backward (nil: all).
    public var simulatedLayers: Int?
    /// n_steps, the number of SGD steps.
    public var steps: Int
    /// Reuse the first pass's Forward modules for the final forward.
    public var reuseForward: Bool
    /// Reuse step 1's Backward modules in later steps.
    public var reuseBackward: Bool
    /// Reproduce the reference code's two quirks (4η MLP output bias, unmasked last position).
    public var referenceCompatible: Bool
    /// LN backward: `.firstOrder(N)` (default N = 1000) or `.exact`.
    public var layerNormBackward: LayerNormBackward
    /// Activation backward: `.finiteDifference(N)` (default N = 1000) or `.exact`.
    public var activationBackward: ActivationBackward
    /// Gates: `.tanh(g)` (default g = 10) or `.hard`.
    public var gates: GateKind
    /// LN Descent: `.biasOnly` (default) or `.full`.
    public var layerNormUpdate: LayerNormUpdate
    /// Attention backward: `.valueOnly` (the only rule).
    public var attentionBackward: AttentionBackward
    /// The aux layer norms' ε.
    public var layerNormEpsilon: Double

    /// A configuration with the paper's defaults for the options.
    public init(auxWidth: Int, auxHeads: Int, auxMaxPositions: Int, rowsPerPrefix: Int = 3, simHeads: Int = 12,
                learningRate: Double = 1e-4, simulatedLayers: Int? = nil, steps: Int = 1,
                reuseForward: Bool = true, reuseBackward: Bool = false, referenceCompatible: Bool = false,
                layerNormBackward: LayerNormBackward = .firstOrder(1000),
                activationBackward: ActivationBackward = .finiteDifference(1000),
                gates: GateKind = .tanh(10), layerNormUpdate: LayerNormUpdate = .biasOnly,
                attentionBackward: AttentionBackward = .valueOnly, layerNormEpsilon: Double = 1e-5) {
        self.auxWidth = auxWidth
        self.auxHeads = auxHeads
        self.auxMaxPositions = auxMaxPositions
        self.rowsPerPrefix = rowsPerPrefix
        self.simHeads = simHeads
        self.learningRate = learningRate
        self.simulatedLayers = simulatedLayers
        self.steps = steps
        self.reuseForward = reuseForward
        self.reuseBackward = reuseBackward
        self.referenceCompatible = referenceCompatible
        self.layerNormBackward = layerNormBackward
        self.activationBackward = activationBackward
        self.gates = gates
        self.layerNormUpdate = layerNormUpdate
        self.attentionBackward = attentionBackward
        self.layerNormEpsilon = layerNormEpsilon
    }

    /// D_sim = D_aux·(S+1).
    public var simWidth: Int { auxWidth * (rowsPerPrefix + 1) }
    /// K = D_aux/S, the number of prefix rows.
    public var prefixCount: Int { auxWidth / max(rowsPerPrefix, 1) }
    /// H_lin = D_sim/K, the heads (of width K) of every linear-attention layer.
    public var linearHeads: Int { simWidth / max(prefixCount, 1) }
    /// D_sim/H_sim, the head width of softmax attention, MLP and normalisation layers.
    public var simHeadWidth: Int { simWidth / max(simHeads, 1) }
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
        let D = auxWidth, S = rowsPerPrefix
        try require(D > 0 && auxHeads > 0 && auxMaxPositions > 0 && simHeads > 0 && steps >= 0, rule: "positive",
                    "D_aux, H_aux, T_aux, H_sim must be positive and steps ≥ 0",
                    "D_aux=\(D), H_aux=\(auxHeads), T_aux=\(auxMaxPositions), H_sim=\(simHeads), steps=\(steps)")
        try require(S >= 3, rule: "rowsPerPrefix",
                    "S ≥ 3: the attention memory needs 3·D_aux coordinates above the signal", "S=\(S)")
        try require(D % S == 0, rule: "prefixCount", "D_aux must be divisible by S (K = D_aux/S)",
                    "D_aux=\(D), S=\(S)")
        try require(simWidth % simHeads == 0, rule: "simHeadsDivide", "D_sim = D_aux·(S+1) must be divisible by H_sim",
                    "D_sim=\(simWidth), H_sim=\(simHeads)")
        try require(D % simHeadWidth == 0, rule: "simHeadWidth", "the head width D_sim/H_sim must divide D_aux",
                    "D_sim/H_sim=\(simHeadWidth), D_aux=\(D)")
        try require(D % auxHeads == 0 && auxHeads <= simHeads && simHeadWidth % auxHeadWidth == 0, rule: "auxHeads",
                    "H_aux must divide D_aux, H_aux ≤ H_sim, and D_aux/H_aux must divide D_sim/H_sim",
                    "D_aux=\(D), H_aux=\(auxHeads), H_sim=\(simHeads), D_sim/H_sim=\(simHeadWidth)")
        try require(learningRate.isFinite, rule: "positive", "η must be finite", "η=\(learningRate)")
        try require(layerNormEpsilon > 0 && layerNormEpsilon.isFinite, rule: "positive", "ε must be positive",
                    "ε=\(layerNormEpsilon)")
        if case .firstOrder(let n) = layerNormBackward {
            try require(n > 0 && n.isFinite, rule: "positive", "the finite-difference scale N must be positive", "N=\(n)")
        }
        if case .finiteDifference(let n) = activationBackward {
            try require(n > 0 && n.isFinite, rule: "positive", "the finite-difference scale N must be positive", "N=\(n)")
        }
        if case .tanh(let g) = gates {
            try require(g > 0 && g.isFinite, rule: "positive", "the gate scale g must be positive", "g=\(g)")
        }
        if let n = simulatedLayers {
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

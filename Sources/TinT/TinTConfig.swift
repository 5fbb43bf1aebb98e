import Tensor

/// The gate nonlinearity that makes a layer keep prefix rows and replace (or update) token rows.
public enum GateKind: Sendable, Equatable, Hashable {
    /// `tanh(g·z)` for the indicator `z ∈ {0, 1}`, as in the paper (g = 10 there).
    case tanh(Double)
    /// Exact 0/1 gates.
    case hard
}

/// TinT's own hyperparameters (Docs/TINT.md §5): S, H_sim, the inner learning rate η, n_sim, the steps, the
/// reuse flags and the approximation options. The aux model's shape is not here: the compiler reads it from
/// the graph and pairs it with this configuration in a ``SimulatorSpec``, which derives D_sim, K, the head widths
/// and the memory offsets and checks every rule. `Codable` with snake_case keys (see TinTConfig+Codable.swift).
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
    /// The paper's defaults for every option (S = 3, H_sim = 12, η = 1e-4, N = 1000, g = 10, β-only norm
    /// Descent). The aux shape (D_aux, H_aux, T_aux, ε) is not a TinT hyperparameter: it comes from the graph
    /// (``SimulatorSpec``).
    public init(rowsPerPrefix: Int = 3, simHeads: Int = 12,
                learningRate: Double = 1e-4, simulatedLayers: Int? = nil, steps: Int = 1,
                reuseForward: Bool = true, reuseBackward: Bool = false, referenceCompatible: Bool = false,
                layerNormBackward: LayerNormBackward = .firstOrder(1000),
                activationBackward: ActivationBackward = .finiteDifference(1000),
                gates: GateKind = .tanh(10), layerNormUpdate: LayerNormUpdate = .biasOnly,
                attentionBackward: AttentionBackward = .valueOnly) {
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
    }
}

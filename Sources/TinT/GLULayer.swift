import LanguageModel
import Tensor

/// One product a `GLULayer` forms in the token rows: `output ← σ(a) ⊙ b` (`.activated`) or `output ← a ⊙ b`
/// (`.exact`), where `a` is read at `gate`, `b` at `up`, each `width` coordinates (offsets and width multiples of
/// the H_sim head width).
public struct GLUProduct: Sendable, Equatable, Hashable {
    /// What the product is.
    public enum Kind: Sendable, Equatable, Hashable {
        /// `σ(a) ⊙ b`: one hidden group of `width`.
        case activated
        /// `a ⊙ b`, exact for every σ the layer may use: `σ(a)⊙b + σ(−a)⊙(−b) = (σ(a) − σ(−a))⊙b = a⊙b`
        /// (Docs/TINT.md §9.2). Two hidden groups of `width`.
        case exact
    }
    /// `.activated` or `.exact`.
    public var kind: Kind
    /// Where `a` is read.
    public var gate: Int
    /// Where `b` is read.
    public var up: Int
    /// Where the product is written (it may overlap the inputs: every branch reads the layer's input).
    public var output: Int
    /// The coordinates of each operand (nil: D_aux).
    public var width: Int?

    /// A product description.
    public init(_ kind: Kind, gate: Int, up: Int, output: Int, width: Int? = nil) {
        self.kind = kind
        self.gate = gate
        self.up = up
        self.output = output
        self.width = width
    }

    /// Hidden H_sim heads the product takes.
    func hiddenHeads(_ config: SimulatorSpec) -> Int {
        (width ?? config.auxWidth) / config.simHeadWidth * (kind == .exact ? 2 : 1)
    }
}

/// A GLU simulator layer (Docs/TINT.md §9.2): token rows get each product's result at its output region; every
/// other head is kept; prefix rows are kept. The hidden row is the simulator's width, so the products together
/// may use up to `H_sim` heads (`.activated`: `width/d`, `.exact`: `2·width/d`, `d = D_sim/H_sim`). Exact in
/// Double with hard gates (the `.exact` identity holds to rounding: `σ(a)b − σ(−a)b` loses at most one ulp of
/// `|σ(a)b| + |σ(−a)b|`).
///
/// Constructed weights: the gate, up and output mixes and the residual, `4·D_sim·H_sim` (fewer when a map is
/// empty), plus two gates.
public struct GLULayer<Scalar: TensorScalar>: Sendable {
    /// The configuration the layer was built for.
    public let config: SimulatorSpec
    /// The layer's σ.
    public let activation: Activation
    /// The products, in hidden-group order.
    public let products: [GLUProduct]
    let layer: GatedLayer<Scalar>

    /// Builds the layer; throws `TinTError.ruleViolation` (`offsets`) when a region is misaligned, outside the
    /// row, or the products need more than `H_sim` hidden heads, or two outputs overlap.
    public init(config: SimulatorSpec, activation: Activation, products: [GLUProduct]) throws {
        try config.validate()
        let W = config.simWidth, H = config.simHeads, d = config.simHeadWidth
        var gate = MixBuilder<Scalar>(width: W, heads: H), up = MixBuilder<Scalar>(width: W, heads: H)
        var proj = MixBuilder<Scalar>(width: W, heads: H)
        var next = 0
        var outputs: [Range<Int>] = []
        for p in products {
            let w = p.width ?? config.auxWidth
            for (name, o) in [("GLU gate", p.gate), ("GLU up", p.up), ("GLU output", p.output)] {
                try config.validateRegion(name, offset: o, width: w, unit: d)
            }
            let need = p.hiddenHeads(config)
            try require(next + need <= H, rule: "offsets", "a GLU layer's products must fit the H_sim hidden heads",
                        "needed=\(next + need), H_sim=\(H)")
            let out = simHeads(config, p.output, w)
            try require(!outputs.contains { $0.overlaps(out) }, rule: "offsets", "GLU outputs must not overlap",
                        "output=\(p.output)")
            outputs.append(out)
            let a = simHeads(config, p.gate, w), b = simHeads(config, p.up, w)
            let signs: [Scalar] = p.kind == .exact ? [1, -1] : [1]
            for sign in signs {
                for (i, (ha, hb)) in zip(a, b).enumerated() {
                    gate.route(from: ha, to: next + i, sign)
                    up.route(from: hb, to: next + i, sign)
                    proj.route(from: next + i, to: out.lowerBound + i)
                }
                next += a.count
            }
        }
        self.config = config
        self.activation = activation
        self.products = products
        let body = SimulatorGLU(gate: try gate.build(), up: try up.build(), activation: activation, proj: try proj.build(),
                                residual: try simResidual(config, replaced: outputs))
        layer = tokenLayer(.glu(body), config)
    }

    /// Runs the layer on `state` (the prefixes are not read).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "GLULayer")
        try layer.apply(&state)
    }

    /// Constructed weights and gates (no position maps, no prefixes).
    public var parameterCount: ParameterCount { layer.parameterCount }
}

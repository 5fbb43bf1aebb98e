import Autodiff
import LanguageModel
import Tensor

/// A linear map `y = Wx + b` of the auxiliary model, by the names of its parameters and how the checkpoint stores
/// them: the weight `[out, in]` (`nn.Linear`, ``LinearWeightLayout/outIn``) or `[in, out]` (GPT-2's `Conv1D`,
/// `.inOut`), and optionally only the output coordinates `outputSlice` of a fused parameter (GPT-2's `c_attn` holds
/// Q, K and V side by side: columns `[0, D)`, `[D, 2D)`, `[2D, 3D)`). Nothing is copied into another layout: the
/// executor's prefix loader and read-back go through ``weightMatrix(_:)`` and ``storing(weight:bias:into:)``.
public struct AuxLinear: Sendable, Equatable, Hashable {
    /// The weight's parameter name.
    public var weight: String
    /// The bias's parameter name, or nil for a map without bias.
    public var bias: String?
    /// d_in.
    public var inputWidth: Int
    /// d_out (of this map; the stored parameter may be wider, see ``outputSlice``).
    public var outputWidth: Int
    /// How the weight is stored.
    public var layout: LinearWeightLayout
    /// The stored parameter's output coordinates this map uses (nil: all of them, `outputWidth` wide).
    public var outputSlice: Range<Int>?
    /// The stored parameter's full output width.
    public var storedOutputWidth: Int

    /// A linear map description.
    public init(weight: String, bias: String?, inputWidth: Int, outputWidth: Int, layout: LinearWeightLayout = .outIn,
                outputSlice: Range<Int>? = nil, storedOutputWidth: Int? = nil) {
        self.weight = weight
        self.bias = bias
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
        self.layout = layout
        self.outputSlice = outputSlice
        self.storedOutputWidth = storedOutputWidth ?? outputSlice.map(\.upperBound) ?? outputWidth
    }

    /// The stored weight's shape.
    public var weightShape: [Int] { layout == .outIn ? [storedOutputWidth, inputWidth] : [inputWidth, storedOutputWidth] }
    /// The stored bias's shape.
    public var biasShape: [Int] { [storedOutputWidth] }
    /// This map's coordinates in the stored parameter.
    public var outputs: Range<Int> { outputSlice ?? 0..<storedOutputWidth }

    /// This map's `[d_out, d_in]` weight read out of the stored tensor.
    public func weightMatrix<S: TensorScalar>(_ stored: Tensor<S>) throws -> Tensor<S> {
        switch layout {
        case .outIn: return try stored.sliced(axis: 0, outputs).contiguous()
        case .inOut: return try stored.sliced(axis: 1, outputs).transposed().contiguous()
        }
    }

    /// This map's `[d_out]` bias read out of the stored tensor.
    public func biasVector<S: TensorScalar>(_ stored: Tensor<S>) throws -> Tensor<S> {
        try stored.sliced(axis: 0, outputs).contiguous()
    }

    /// The stored weight with this map's part replaced by `weight` (`[d_out, d_in]`), in the stored layout.
    public func storing<S: TensorScalar>(weight w: Tensor<S>, into stored: Tensor<S>) throws -> Tensor<S> {
        var out = stored.contiguous()
        switch layout {
        case .outIn: try out.assign(w, axis: 0, outputs)
        case .inOut: try out.assign(try w.transposed().contiguous(), axis: 1, outputs)
        }
        return out
    }

    /// The stored bias with this map's part replaced by `bias`.
    public func storing<S: TensorScalar>(bias b: Tensor<S>, into stored: Tensor<S>) throws -> Tensor<S> {
        var out = stored.contiguous()
        try out.assign(b, axis: 0, outputs)
        return out
    }

    /// `x·Wᵀ + b` with this map's part of the stored parameters (the Autodiff oracle's linear).
    public func apply<S: TensorScalar>(_ x: Variable<S>, _ p: VariableSet<S>) throws -> Variable<S> {
        var w = try p[weight], b = try bias.map { try p[$0] }
        if outputSlice != nil {
            w = try w.sliced(axis: layout == .outIn ? 0 : 1, outputs)
            b = try b?.sliced(axis: 0, outputs)
        }
        return try Layers.linear(x, weight: w, bias: b, layout: layout)
    }
}

/// One operation of the auxiliary model graph (Docs/TINT.md §8).
public enum AuxOp: Sendable, Equatable, Hashable {
    /// The token embedding rows `E[ids]` (no inputs; width = the table's width).
    case tokenEmbedding(weight: String)
    /// Learned positions: row `t + offset` of the table for token `t` (no inputs).
    case positionEmbedding(weight: String, offset: Int)
    /// `y = Wx + b`. `trainable: false` maps (e.g. OPT's `project_in`/`project_out`) are backpropagated
    /// through but never updated.
    case linear(AuxLinear, trainable: Bool)
    /// `γ⊙(x − μ)/√(σ² + ε) + β`; nil names mean the identity γ or zero β (no affine parameters).
    case layerNorm(weight: String?, bias: String?, epsilon: Double)
    /// `γ⊙x/√(mean(x²) + ε)` (`NormUnit`, the layer-norm modules without centring).
    case rmsNorm(weight: String?, epsilon: Double)
    /// Causal multi-head self-attention with the query/key/value maps; the output map is a separate `.linear`.
    /// Scores are scaled by `1/√(width/heads)`.
    case causalSelfAttention(query: AuxLinear, key: AuxLinear, value: AuxLinear, heads: Int)
    /// Causal self-attention with grouped-query heads and/or rotary positions (Llama): `kvHeads` key/value heads
    /// shared by `heads / kvHeads` query heads each, Q and K rotated per head before the scores, scores scaled by
    /// `1/√headDim` (`AttentionUnit`: rotary Forward and the grouped value Descent, Docs/TINT.md §10–11; heads whose
    /// widths sum to more or less than D_aux run in chunks of D_aux/headDim heads, §12).
    case attention(AuxAttention)
    /// `act(inputs[0]) ⊙ inputs[1]`: the gated (GLU) product of a gated MLP, `down(act(gate·x) ⊙ up·x)`
    /// (`GatedProductUnit`, a GLU layer, Docs/TINT.md §9.3).
    case gatedProduct(Activation)
    /// An elementwise activation (the layer library's `Activation`: ReLU, both GELUs, SiLU; `ActivationUnit`).
    case activation(Activation)
    /// The sum of the inputs (residual connections).
    case add
}

/// Rotary position embeddings of an attention op (`transformers`' `rotate_half` layout).
public struct AuxRotary: Sendable, Equatable, Hashable {
    /// The rotated width of each head.
    public var headDim: Int
    /// The base θ.
    public var theta: Double
    /// The frequency scaling.
    public var scaling: RopeScaling

    /// A rotary description.
    public init(headDim: Int, theta: Double, scaling: RopeScaling = .none) {
        self.headDim = headDim
        self.theta = theta
        self.scaling = scaling
    }

    public func hash(into h: inout Hasher) {
        h.combine(headDim)
        h.combine(theta)
    }
}

/// Attention with grouped-query heads and/or rotary positions (see ``AuxOp/attention(_:)``); the output map is a
/// separate `.linear`.
public struct AuxAttention: Sendable, Equatable, Hashable {
    /// The query map (`heads·headDim` outputs).
    public var query: AuxLinear
    /// The key map (`kvHeads·headDim` outputs).
    public var key: AuxLinear
    /// The value map (`kvHeads·headDim` outputs).
    public var value: AuxLinear
    /// Query heads.
    public var heads: Int
    /// Key/value heads (dividing `heads`).
    public var kvHeads: Int
    /// The width of one head.
    public var headDim: Int
    /// Rotary positions on Q and K, if any.
    public var rotary: AuxRotary?

    /// An attention description.
    public init(query: AuxLinear, key: AuxLinear, value: AuxLinear, heads: Int, kvHeads: Int, headDim: Int, rotary: AuxRotary?) {
        self.query = query
        self.key = key
        self.value = value
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim
        self.rotary = rotary
    }
}

/// A node of the auxiliary graph: an operation, the nodes it reads, and where it sits in the model.
public struct AuxNode: Sendable, Equatable, Hashable {
    /// A readable name (`layers.3.fc1`), used in errors and reports.
    public var name: String
    /// The operation.
    public var op: AuxOp
    /// Indices of the input nodes (each earlier in the graph).
    public var inputs: [Int]
    /// The decoder layer the node belongs to; nil for nodes below every layer (embeddings, `project_in`).
    /// Nodes above every layer (final norm, `project_out`) carry the layer count.
    public var layer: Int?
    /// The output width.
    public var width: Int
}

/// The auxiliary model as a graph of simple operations (Docs/TINT.md §8): what the TinT compiler turns into
/// simulator layers. Nodes are in topological order; the graph's output is the last hidden state, which a
/// frozen head tied to the token embedding turns into logits.
public struct AuxGraph: Sendable, Equatable {
    /// The nodes, each reading only earlier nodes.
    public private(set) var nodes: [AuxNode] = []
    /// D_aux, the width of the residual stream.
    public var hiddenWidth: Int
    /// H_aux, the attention heads.
    public var heads: Int
    /// T_aux, the longest sequence.
    public var maxPositions: Int
    /// The number of decoder layers.
    public var layerCount: Int
    /// The tied output head: logits = hidden · headᵀ (`[vocab, width(output)]`).
    public var headWeight: String
    /// The node whose value the head reads.
    public var output: Int = -1
    /// The shapes of the lookup tables (token and position embeddings, an untied head): frozen aux parameters
    /// the executor reads directly.
    public var tableShapes: [String: [Int]] = [:]

    /// An empty graph with the model's shape.
    public init(hiddenWidth: Int, heads: Int, maxPositions: Int, layerCount: Int, headWeight: String) {
        self.hiddenWidth = hiddenWidth
        self.heads = heads
        self.maxPositions = maxPositions
        self.layerCount = layerCount
        self.headWeight = headWeight
    }

    /// Appends a node and returns its index; throws when an input is not an earlier node.
    @discardableResult
    public mutating func append(_ name: String, _ op: AuxOp, inputs: [Int] = [], layer: Int?, width: Int) throws -> Int {
        for i in inputs where i < 0 || i >= nodes.count {
            throw TinTError.invalidArgument(module: "AuxGraph", reason: "node '\(name)' reads node \(i), which does not exist yet")
        }
        nodes.append(AuxNode(name: name, op: op, inputs: inputs, layer: layer, width: width))
        return nodes.count - 1
    }
}

extension AuxOp {
    /// Either attention op as one description (`causalSelfAttention` is the case `kvHeads = heads` without rotary
    /// positions), or nil for every other op.
    var attentionDescription: AuxAttention? {
        switch self {
        case .causalSelfAttention(let q, let k, let v, let heads):
            return AuxAttention(query: q, key: k, value: v, heads: heads, kvHeads: heads, headDim: q.outputWidth / max(heads, 1),
                                rotary: nil)
        case .attention(let a): return a
        default: return nil
        }
    }
}

extension AuxGraph {
    /// The heads the simulator's attention modules run (``SimulatorSpec/auxHeads``): `D_aux/d_h` for the head width
    /// `d_h` of the graph's first attention node when it divides D_aux (the graph's H_aux when heads·d_h = D_aux);
    /// otherwise H_aux, and the attention unit refuses the node. An attention of another total width runs in
    /// chunks of that many heads (`AttentionUnit`, Docs/TINT.md §11.1).
    var simulatorHeads: Int {
        guard let dh = nodes.lazy.compactMap({ $0.op.attentionDescription?.headDim }).first,
              dh > 0, hiddenWidth % dh == 0 else { return heads }
        return hiddenWidth / dh
    }

    /// The distinct ε of the graph's norms, in order of first appearance.
    public var normEpsilons: [Double] {
        var out: [Double] = []
        for node in nodes {
            switch node.op {
            case .layerNorm(_, _, let e), .rmsNorm(_, let e): if !out.contains(e) { out.append(e) }
            default: break
            }
        }
        return out
    }
}

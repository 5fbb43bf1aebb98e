import LanguageModel
import Tensor

/// A linear map `y = Wx + b` of the auxiliary model, by the names of its parameters.
public struct AuxLinear: Sendable, Equatable, Hashable {
    /// The weight's parameter name (`[outputWidth, inputWidth]`).
    public var weight: String
    /// The bias's parameter name (`[outputWidth]`), or nil for a map without bias.
    public var bias: String?
    /// d_in.
    public var inputWidth: Int
    /// d_out.
    public var outputWidth: Int

    /// A linear map description.
    public init(weight: String, bias: String?, inputWidth: Int, outputWidth: Int) {
        self.weight = weight
        self.bias = bias
        self.inputWidth = inputWidth
        self.outputWidth = outputWidth
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
    /// `γ⊙x/√(mean(x²) + ε)` (no simulator module yet: the compiler rejects it by name).
    case rmsNorm(weight: String?, epsilon: Double)
    /// Causal multi-head self-attention with the query/key/value maps; the output map is a separate `.linear`.
    /// Scores are scaled by `1/√(width/heads)`.
    case causalSelfAttention(query: AuxLinear, key: AuxLinear, value: AuxLinear, heads: Int)
    /// An elementwise activation (the layer library's `Activation`). The compiler simulates ReLU and both GELUs
    /// and rejects SiLU by name; the Autodiff oracle evaluates every case.
    case activation(Activation)
    /// The sum of the inputs (residual connections).
    case add
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

    /// The number of aux parameters (scalars) the graph reads.
    public var parameterCount: Int {
        var n = Set(tableShapes.keys).union([headWeight]).reduce(0) { $0 + (tableShapes[$1]?.reduce(1, *) ?? 0) }
        func linear(_ l: AuxLinear) -> Int { l.inputWidth * l.outputWidth + (l.bias == nil ? 0 : l.outputWidth) }
        for node in nodes {
            switch node.op {
            case .linear(let l, _): n += linear(l)
            case .layerNorm(let w, let b, _): n += (w == nil ? 0 : node.width) + (b == nil ? 0 : node.width)
            case .rmsNorm(let w, _): n += w == nil ? 0 : node.width
            case .causalSelfAttention(let q, let k, let v, _): n += linear(q) + linear(k) + linear(v)
            case .tokenEmbedding, .positionEmbedding, .activation, .add: break
            }
        }
        return n
    }

    /// Every parameter name the graph reads.
    public var parameterNames: Set<String> {
        var names: Set<String> = [headWeight]
        for n in nodes {
            switch n.op {
            case .tokenEmbedding(let w), .positionEmbedding(let w, _): names.insert(w)
            case .linear(let l, _): names.insert(l.weight); if let b = l.bias { names.insert(b) }
            case .layerNorm(let w, let b, _): [w, b].compactMap { $0 }.forEach { names.insert($0) }
            case .rmsNorm(let w, _): if let w { names.insert(w) }
            case .causalSelfAttention(let q, let k, let v, _):
                for l in [q, k, v] { names.insert(l.weight); if let b = l.bias { names.insert(b) } }
            case .activation, .add: break
            }
        }
        return names
    }
}

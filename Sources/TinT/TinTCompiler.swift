import LanguageModel
import Tensor

/// The simulator modules the compiler chose for one aux node (Docs/TINT.md §8).
enum NodePlan: Sendable {
    /// Executor glue: the token-embedding lookup (frozen, shared with the aux model).
    case tokenEmbedding(weight: String)
    /// Executor glue: the learned-position lookup (frozen, shared with the aux model).
    case positionEmbedding(weight: String, offset: Int)
    /// Executor glue: the sum of the inputs (aux residual connections; gradients fan out unchanged).
    case add
    case linear(LinearPlan)
    case layerNorm(LayerNormPlan)
    case attention(AttentionPlan)
    case activation(ActivationPlan)
}

/// A linear map cut into blocks of at most D_aux inputs and outputs: block `(j, i)` maps input chunk `i` to
/// output chunk `j` with its own prefix tensor; output chunk `j` is the sum of its blocks (executor glue).
struct LinearPlan: Sendable {
    let linear: AuxLinear
    /// Input and output chunks, as coordinate ranges of the aux vectors.
    let inputChunks: [Range<Int>], outputChunks: [Range<Int>]
    /// Whether Descent runs (a trainable map in a simulated layer).
    let descends: Bool
    /// Which blocks hold (and update) the bias: block `(j, 0)` alone, or every block holding `b/C` when
    /// `referenceCompatible` (the reference's C·η bias quirk).
    let biasInEveryBlock: Bool
    /// `forward[j][i]`, and the Backward (∥ Descent) module of each block, when simulated: Backward ∥ Descent, or
    /// Backward alone for a frozen map.
    let forward: [[LinearForward<Float>]]
    let backward: [[any TinTModule]]?
}

/// A simulator module the executor applies to a state: every Forward, Backward and Descent module.
protocol TinTModule: Sendable {
    func apply(_ state: inout TinTState<Float>) throws
    var parameterCount: ParameterCount { get }
}

extension LinearBackward: TinTModule where Scalar == Float {}
extension LinearBackwardDescent: TinTModule where Scalar == Float {}
extension LayerNormBackward: TinTModule where Scalar == Float {}
extension LayerNormBackwardDescent: TinTModule where Scalar == Float {}

extension TinTModule {
    /// The module type's name without its generic argument (`LinearBackwardDescent`), for the parameter report.
    var kind: String { String(String(describing: type(of: self)).prefix { $0 != "<" }) }
}

/// A layer norm or RMS norm over the D_aux-wide residual stream.
struct LayerNormPlan: Sendable {
    let kind: NormKind
    let weight: String?, bias: String?
    let forward: LayerNormForward<Float>
    /// Whether Descent runs (β, or γ with `.full`, is a parameter).
    let descends: Bool
    /// Backward ∥ Descent when it descends, Backward alone otherwise.
    let backward: (any TinTModule)?
}

/// Causal self-attention; `W_O` is its own linear node.
struct AttentionPlan: Sendable {
    let query: AuxLinear, key: AuxLinear, value: AuxLinear
    let forward: AttentionForward<Float>
    let backward: AttentionBackwardDescent<Float>?
}

/// An activation over chunks of at most D_aux coordinates.
struct ActivationPlan: Sendable {
    let chunks: [Range<Int>]
    let forward: ActivationForward<Float>
    let backward: ActivationBackward<Float>?
}

/// A compiled TinT: the aux graph, the configuration, one plan per node, and the parameter accounting. Weights
/// are not part of the program; `TinTExecutor` loads them into prefix tensors.
public struct TinTProgram: Sendable {
    /// The auxiliary graph.
    public let graph: AuxGraph
    /// The configuration it was compiled with.
    public let config: TinTConfig
    /// The configuration with the graph's shape (what the modules were built for).
    public let spec: SimulatorSpec
    /// Nodes simulated backward: the top n_sim layers and everything above them (final norm, `project_out`).
    public let simulated: [Bool]
    let plans: [NodePlan]

    /// The aux layers simulated backward, lowest first.
    public var simulatedLayers: Range<Int> {
        let n = config.simulatedLayers ?? graph.layerCount
        return (graph.layerCount - n)..<graph.layerCount
    }
}

/// Turns an auxiliary graph into a TinT program (Docs/TINT.md §8).
public enum TinTCompiler {
    /// Validates every rule, then chooses and builds the simulator modules of every node.
    ///
    /// - Throws: `TinTError.ruleViolation` for a configuration rule (including `auxShape` when the config does
    ///   not describe `graph`, and `mapWidths` naming the node whose map does not fit), and
    ///   `TinTError.unsupportedNode` naming a node TinT cannot simulate. The aux shape (D_aux, H_aux, T_aux, ε) is the
    ///   graph's.
    public static func compile(_ graph: AuxGraph, config: TinTConfig) throws -> TinTProgram {
        let spec = SimulatorSpec(graph: graph, config: config)
        try spec.validate()
        let D = spec.auxWidth, L = graph.layerCount
        let nSim = config.simulatedLayers ?? L
        try require(nSim >= 0 && nSim <= L, rule: "simulatedLayers", "n_sim must be in 0…L", "n_sim=\(nSim), L=\(L)")
        try require(graph.output >= 0 && graph.output < graph.nodes.count, rule: "graph", "the graph needs an output node",
                    "output=\(graph.output)")
        let cache = ModuleCache(spec: spec)
        var plans: [NodePlan] = [], simulated: [Bool] = []
        for node in graph.nodes {
            let sim = node.layer.map { $0 >= L - nSim } ?? false
            simulated.append(sim)
            do {
                plans.append(try plan(node, simulated: sim, D: D, config: spec, cache: cache))
            } catch TinTError.ruleViolation(let rule, let statement, let values) {
                throw TinTError.ruleViolation(rule: rule, statement: statement, values: values + " at node '\(node.name)'")
            }
        }
        return TinTProgram(graph: graph, config: config, spec: spec, simulated: simulated, plans: plans)
    }

    static func plan(_ node: AuxNode, simulated sim: Bool, D: Int, config: SimulatorSpec, cache: ModuleCache) throws -> NodePlan {
        func unsupported(_ reason: String) -> TinTError { .unsupportedNode(node: node.name, reason: reason) }
        func normPlan(_ kind: NormKind, weight w: String?, bias b: String?, epsilon eps: Double) throws -> LayerNormPlan {
            guard node.width == D else { throw unsupported("a norm must act on the D_aux = \(D)-wide stream (width \(node.width))") }
            guard eps > 0 && eps.isFinite else { throw unsupported("its ε = \(eps) must be positive and finite") }
            let trainable = b != nil || (w != nil && config.layerNormUpdate == .full)
            var backward: (any TinTModule)? = nil
            if sim {
                backward = trainable ? try cache.layerNormBackwardDescent(kind, epsilon: eps) as any TinTModule
                    : try cache.layerNormBackward(kind, epsilon: eps)
            }
            return LayerNormPlan(kind: kind, weight: w, bias: b, forward: try cache.layerNormForward(kind, epsilon: eps), descends: sim && trainable,
                                 backward: backward)
        }
        switch node.op {
        case .tokenEmbedding(let w): return .tokenEmbedding(weight: w)
        case .positionEmbedding(let w, let offset): return .positionEmbedding(weight: w, offset: offset)
        case .add: return .add
        case .linear(let l, let trainable):
            let inputs = chunks(l.inputWidth, D), outputs = chunks(l.outputWidth, D)
            let descends = sim && trainable
            let every = config.referenceCompatible && inputs.count > 1 && l.bias != nil
            var forward: [[LinearForward<Float>]] = [], backward: [[any TinTModule]] = []
            for (j, o) in outputs.enumerated() {
                forward.append(try inputs.map { try cache.linearForward(inputWidth: $0.count, outputWidth: o.count) })
                guard sim else { continue }
                backward.append(try inputs.indices.map { i -> any TinTModule in
                    descends ? try cache.linearBackwardDescent(inputWidth: inputs[i].count, outputWidth: outputs[j].count,
                                                               updateBias: l.bias != nil && (every || i == 0)) as any TinTModule
                        : try cache.linearBackward(inputWidth: inputs[i].count, outputWidth: outputs[j].count)
                })
            }
            return .linear(LinearPlan(linear: l, inputChunks: inputs, outputChunks: outputs, descends: descends,
                                      biasInEveryBlock: every, forward: forward, backward: sim ? backward : nil))
        case .layerNorm(let w, let b, let eps):
            return .layerNorm(try normPlan(.layerNorm, weight: w, bias: b, epsilon: eps))
        case .rmsNorm(let w, let eps):
            return .layerNorm(try normPlan(.rmsNorm, weight: w, bias: nil, epsilon: eps))
        case .causalSelfAttention(let q, let k, let v, let heads):
            for m in [q, k, v] where m.inputWidth != D || m.outputWidth != D {
                throw unsupported("attention projections must be D_aux × D_aux (got \(m.outputWidth) × \(m.inputWidth))")
            }
            guard heads == config.auxHeads else { throw unsupported("it has \(heads) heads but the configuration H_aux = \(config.auxHeads)") }
            return .attention(AttentionPlan(query: q, key: k, value: v, forward: try cache.attentionForward(),
                                            backward: sim ? try cache.attentionBackwardDescent(updateBias: v.bias != nil) : nil))
        case .attention(let a):
            var missing: [String] = []
            if a.rotary != nil { missing.append("rotary attention (RoPE in Forward)") }
            if a.kvHeads != a.heads { missing.append("grouped-query attention (\(a.kvHeads) key/value heads for \(a.heads))") }
            if a.query.outputWidth != D { missing.append("Q/K/V maps of width \(a.query.outputWidth) ≠ D_aux = \(D)") }
            if missing.isEmpty { missing.append("attention with head width \(a.headDim)") }
            throw unsupported("the construction for \(missing.joined(separator: " and ")) has not landed yet")
        case .gatedProduct(let a):
            throw unsupported("the construction for a gated MLP's product \(a.rawValue)(gate) ⊙ up (a GLU layer) has not "
                              + "landed yet")
        case .activation(let a):
            guard a != .silu else {
                throw unsupported("TinT has no module for the activation '\(a.rawValue)' (supported: relu, gelu, gelu_new)")
            }
            return .activation(ActivationPlan(chunks: chunks(node.width, D), forward: try cache.activationForward(a),
                                              backward: sim ? try cache.activationBackward(a) : nil))
        }
    }

    /// `[0, n)` cut into consecutive ranges of at most `D` coordinates.
    static func chunks(_ n: Int, _ D: Int) -> [Range<Int>] {
        stride(from: 0, to: n, by: D).map { $0..<min($0 + D, n) }
    }
}

/// Builds each distinct simulator module once. A module's constructed weights depend only on its type, its shape
/// and the spec (the aux weights live in the prefixes), so nodes of the same shape share one instance at run time;
/// the parameter report still charges every TinT layer its own weights. One memo, keyed by the module type and a
/// shape key.
final class ModuleCache: @unchecked Sendable {
    let spec: SimulatorSpec
    private var modules: [String: Any] = [:]

    init(spec: SimulatorSpec) { self.spec = spec }

    /// The module of type `M` with shape `key`, built by `make` the first time.
    func module<M>(key: AnyHashable, _ make: (SimulatorSpec) throws -> M) rethrows -> M {
        let k = "\(M.self)|\(key)"
        if let m = modules[k] as? M { return m }
        let m = try make(spec)
        modules[k] = m
        return m
    }

    func linearForward(inputWidth: Int, outputWidth: Int) throws -> LinearForward<Float> {
        try module(key: [inputWidth, outputWidth]) { try LinearForward(config: $0, inputWidth: inputWidth, outputWidth: outputWidth) }
    }
    func linearBackward(inputWidth: Int, outputWidth: Int) throws -> LinearBackward<Float> {
        try module(key: [inputWidth, outputWidth]) { try LinearBackward(config: $0, inputWidth: inputWidth, outputWidth: outputWidth) }
    }
    func linearBackwardDescent(inputWidth: Int, outputWidth: Int, updateBias: Bool) throws -> LinearBackwardDescent<Float> {
        try module(key: [inputWidth, outputWidth, updateBias ? 1 : 0]) {
            try LinearBackwardDescent(config: $0, inputWidth: inputWidth, outputWidth: outputWidth, updateBias: updateBias)
        }
    }
    func layerNormForward(_ kind: NormKind, epsilon: Double) throws -> LayerNormForward<Float> {
        try module(key: "\(kind)|\(epsilon)") { try LayerNormForward(config: $0.with(epsilon: epsilon), kind: kind) }
    }
    func layerNormBackward(_ kind: NormKind, epsilon: Double) throws -> LayerNormBackward<Float> {
        try module(key: "\(kind)|\(epsilon)") { try LayerNormBackward(config: $0.with(epsilon: epsilon), kind: kind) }
    }
    func layerNormBackwardDescent(_ kind: NormKind, epsilon: Double) throws -> LayerNormBackwardDescent<Float> {
        try module(key: "\(kind)|\(epsilon)") { try LayerNormBackwardDescent(config: $0.with(epsilon: epsilon), kind: kind) }
    }
    func attentionForward() throws -> AttentionForward<Float> {
        try module(key: 0) { try AttentionForward<Float>(config: $0) }
    }
    func attentionBackwardDescent(updateBias: Bool) throws -> AttentionBackwardDescent<Float> {
        try module(key: updateBias) { try AttentionBackwardDescent(config: $0, updateBias: updateBias) }
    }
    func activationForward(_ a: Activation) throws -> ActivationForward<Float> {
        try module(key: a) { try ActivationForward(config: $0, activation: a) }
    }
    func activationBackward(_ a: Activation) throws -> ActivationBackward<Float> {
        try module(key: a) { try ActivationBackward(config: $0, activation: a) }
    }
}

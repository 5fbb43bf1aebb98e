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
    /// The validated configuration.
    public let config: TinTConfig
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
    ///   `TinTError.unsupportedNode` naming a node TinT cannot simulate.
    public static func compile(_ graph: AuxGraph, config: TinTConfig) throws -> TinTProgram {
        try checkProgram(graph, config: config)
        let D = config.auxWidth, L = graph.layerCount, nSim = config.simulatedLayers ?? L
        let cache = ModuleCache(config: config)
        var plans: [NodePlan] = [], simulated: [Bool] = []
        for node in graph.nodes {
            let sim = node.layer.map { $0 >= L - nSim } ?? false
            simulated.append(sim)
            do {
                plans.append(try plan(node, simulated: sim, D: D, config: config, cache: cache))
            } catch TinTError.ruleViolation(let rule, let statement, let values) {
                throw TinTError.ruleViolation(rule: rule, statement: statement, values: values + " at node '\(node.name)'")
            }
        }
        return TinTProgram(graph: graph, config: config, simulated: simulated, plans: plans)
    }

    /// The whole-program rules `compile` checks before building any module (also used by the formula report).
    static func checkProgram(_ graph: AuxGraph, config: TinTConfig) throws {
        try config.validate()
        let L = graph.layerCount, nSim = config.simulatedLayers ?? L
        try require(config.auxWidth == graph.hiddenWidth && config.auxHeads == graph.heads
                    && config.auxMaxPositions <= graph.maxPositions, rule: "auxShape",
                    "D_aux, H_aux and T_aux must describe the aux model (T_aux ≤ its positions)",
                    "config D_aux=\(config.auxWidth), H_aux=\(config.auxHeads), T_aux=\(config.auxMaxPositions); "
                    + "model \(graph.hiddenWidth), \(graph.heads), \(graph.maxPositions)")
        try require(nSim >= 0 && nSim <= L, rule: "simulatedLayers", "n_sim must be in 0…L", "n_sim=\(nSim), L=\(L)")
        try require(graph.output >= 0 && graph.output < graph.nodes.count, rule: "graph", "the graph needs an output node",
                    "output=\(graph.output)")
    }

    static func plan(_ node: AuxNode, simulated sim: Bool, D: Int, config: TinTConfig, cache: ModuleCache) throws -> NodePlan {
        func unsupported(_ reason: String) -> TinTError { .unsupportedNode(node: node.name, reason: reason) }
        func normPlan(_ kind: NormKind, weight w: String?, bias b: String?, epsilon eps: Double) throws -> LayerNormPlan {
            guard node.width == D else { throw unsupported("a norm must act on the D_aux = \(D)-wide stream (width \(node.width))") }
            guard abs(eps - config.layerNormEpsilon) <= 1e-12 * max(1, eps) else {
                throw unsupported("its ε = \(eps) differs from the configuration's layerNormEpsilon = \(config.layerNormEpsilon)")
            }
            let trainable = b != nil || (w != nil && config.layerNormUpdate == .full)
            var backward: (any TinTModule)? = nil
            if sim {
                backward = trainable ? try cache.layerNormBackwardDescent(kind) as any TinTModule : try cache.layerNormBackward(kind)
            }
            return LayerNormPlan(kind: kind, weight: w, bias: b, forward: try cache.layerNormForward(kind), descends: sim && trainable,
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

/// Builds each distinct simulator module once. A module's constructed weights depend only on its shape and the
/// configuration (the aux weights live in the prefixes), so nodes of the same shape share one instance at run
/// time; the parameter report still charges every TinT layer its own weights.
final class ModuleCache: @unchecked Sendable {
    let config: TinTConfig
    private var linearForwards: [[Int]: LinearForward<Float>] = [:]
    private var linearBackwards: [[Int]: LinearBackward<Float>] = [:]
    private var linearBackwardDescents: [[Int]: LinearBackwardDescent<Float>] = [:]
    private var attentionBackwards: [Bool: AttentionBackwardDescent<Float>] = [:]
    private var activationForwards: [Activation: ActivationForward<Float>] = [:]
    private var activationBackwards: [Activation: ActivationBackward<Float>] = [:]
    private var lnForwards: [NormKind: LayerNormForward<Float>] = [:]
    private var lnBackwards: [NormKind: LayerNormBackward<Float>] = [:]
    private var lnBackwardDescents: [NormKind: LayerNormBackwardDescent<Float>] = [:]
    private var attnForward: AttentionForward<Float>?

    init(config: TinTConfig) { self.config = config }

    private func cached<K, V>(_ table: inout [K: V], _ key: K, _ make: () throws -> V) rethrows -> V {
        if let m = table[key] { return m }
        let m = try make()
        table[key] = m
        return m
    }

    func linearForward(inputWidth: Int, outputWidth: Int) throws -> LinearForward<Float> {
        try cached(&linearForwards, [inputWidth, outputWidth]) {
            try LinearForward(config: config, inputWidth: inputWidth, outputWidth: outputWidth)
        }
    }
    func linearBackward(inputWidth: Int, outputWidth: Int) throws -> LinearBackward<Float> {
        try cached(&linearBackwards, [inputWidth, outputWidth]) {
            try LinearBackward(config: config, inputWidth: inputWidth, outputWidth: outputWidth)
        }
    }
    func linearBackwardDescent(inputWidth: Int, outputWidth: Int, updateBias: Bool) throws -> LinearBackwardDescent<Float> {
        try cached(&linearBackwardDescents, [inputWidth, outputWidth, updateBias ? 1 : 0]) {
            try LinearBackwardDescent(config: config, inputWidth: inputWidth, outputWidth: outputWidth, updateBias: updateBias)
        }
    }
    func layerNormForward(_ kind: NormKind) throws -> LayerNormForward<Float> {
        try cached(&lnForwards, kind) { try LayerNormForward(config: config, kind: kind) }
    }
    func layerNormBackward(_ kind: NormKind) throws -> LayerNormBackward<Float> {
        try cached(&lnBackwards, kind) { try LayerNormBackward(config: config, kind: kind) }
    }
    func layerNormBackwardDescent(_ kind: NormKind) throws -> LayerNormBackwardDescent<Float> {
        try cached(&lnBackwardDescents, kind) { try LayerNormBackwardDescent(config: config, kind: kind) }
    }
    func attentionForward() throws -> AttentionForward<Float> {
        if let m = attnForward { return m }
        let m = try AttentionForward<Float>(config: config)
        attnForward = m
        return m
    }
    func attentionBackwardDescent(updateBias: Bool) throws -> AttentionBackwardDescent<Float> {
        try cached(&attentionBackwards, updateBias) { try AttentionBackwardDescent(config: config, updateBias: updateBias) }
    }
    func activationForward(_ a: Activation) throws -> ActivationForward<Float> {
        try cached(&activationForwards, a) { try ActivationForward(config: config, activation: a) }
    }
    func activationBackward(_ a: Activation) throws -> ActivationBackward<Float> {
        try cached(&activationBackwards, a) { try ActivationBackward(config: config, activation: a) }
    }
}

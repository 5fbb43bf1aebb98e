import LanguageModel
import Tensor

/// A simulator module the executor applies to a state: the Backward and Backward ∥ Descent modules a unit chooses
/// between at compile time. The existential is opened once per module application (a whole state), never per element.
protocol TinTModule<Scalar>: Sendable {
    associatedtype Scalar: TensorScalar
    func apply(_ state: inout TinTState<Scalar>) throws
    var parameterCount: ParameterCount { get }
}

extension LinearBackward: TinTModule {}
extension LinearBackwardDescent: TinTModule {}
extension LayerNormBackward: TinTModule {}
extension LayerNormBackwardDescent: TinTModule {}
extension AttentionBackwardDescent: TinTModule {}
extension GroupedValueBackwardDescent: TinTModule {}

extension TinTModule {
    /// The module type's name without its generic argument (`LinearBackwardDescent`), for the parameter report.
    var kind: String { String(String(describing: type(of: self)).prefix { $0 != "<" }) }
}

/// A compiled TinT: the aux graph, the configuration, one plan per node, and the parameter accounting. Weights
/// are not part of the program; `TinTExecutor` loads them into prefix tensors. `Scalar` is what the simulator
/// modules compute in: `Float` for everything fast, `Double` for the end-to-end oracle (Docs/TINT.md §8).
public struct TinTProgram<Scalar: TensorScalar>: Sendable {
    /// The auxiliary graph.
    public let graph: AuxGraph
    /// The configuration it was compiled with.
    public let config: TinTConfig
    /// The configuration with the graph's shape (what the modules were built for).
    public let spec: SimulatorSpec
    /// Nodes simulated backward: the top n_sim layers and everything above them (final norm, `project_out`).
    public let simulated: [Bool]
    /// Per node, its unit's compiled node (``AuxOpUnits``).
    let plans: [any CompiledNode<Scalar>]

    /// The aux layers simulated backward, lowest first.
    public var simulatedLayers: Range<Int> {
        let n = config.simulatedLayers ?? graph.layerCount
        return (graph.layerCount - n)..<graph.layerCount
    }
}

/// Turns an auxiliary graph into a TinT program (Docs/TINT.md §8): each node goes to its op kind's unit
/// (``AuxOpUnits/all``), which builds its simulator modules.
public enum TinTCompiler {
    /// Validates every rule, then chooses and builds the simulator modules of every node, computing in `scalar`
    /// (`Float` unless asked; the same graph and configuration compile to a `Double` program for oracles).
    ///
    /// - Throws: `TinTError.ruleViolation` for a configuration rule (including `mapWidths` naming the node whose map
    ///   does not fit), and
    ///   `TinTError.unsupportedNode` naming a node TinT cannot simulate. The aux shape (D_aux, H_aux, T_aux, ε) is the
    ///   graph's.
    public static func compile<Scalar: TensorScalar>(_ graph: AuxGraph, config: TinTConfig,
                                                     scalar: Scalar.Type = Float.self) throws -> TinTProgram<Scalar> {
        let spec = try checkProgram(graph, config: config)
        let L = graph.layerCount, nSim = config.simulatedLayers ?? L
        let cache = ModuleCache<Scalar>(spec: spec)
        var plans: [any CompiledNode<Scalar>] = [], simulated: [Bool] = []
        for node in graph.nodes {
            let sim = node.layer.map { $0 >= L - nSim } ?? false
            simulated.append(sim)
            do {
                plans.append(try AuxOpUnits.compile(node, simulated: sim, spec: spec, cache: cache))
            } catch TinTError.ruleViolation(let rule, let statement, let values) {
                throw TinTError.ruleViolation(rule: rule, statement: statement, values: values + " at node '\(node.name)'")
            }
        }
        return TinTProgram(graph: graph, config: config, spec: spec, simulated: simulated, plans: plans)
    }

    /// The whole-program rules `compile` checks before building any module (also used by the formula report):
    /// the spec's rules with the graph's shape, n_sim ≤ L, an output node. Returns the spec.
    @discardableResult
    static func checkProgram(_ graph: AuxGraph, config: TinTConfig) throws -> SimulatorSpec {
        let spec = SimulatorSpec(graph: graph, config: config)
        try spec.validate()
        let L = graph.layerCount, nSim = config.simulatedLayers ?? L
        try require(nSim >= 0 && nSim <= L, rule: "simulatedLayers", "n_sim must be in 0…L", "n_sim=\(nSim), L=\(L)")
        try require(graph.output >= 0 && graph.output < graph.nodes.count, rule: "graph", "the graph needs an output node",
                    "output=\(graph.output)")
        try graph.checkTiedParameters(config: config)
        return spec
    }

    /// The width of the module a chunk of `n` coordinates runs in: `n` rounded up to a multiple of K (the prefix
    /// layout's unit), the extra coordinates zero padded (exact; see ``LinearUnit``).
    static func moduleWidth(_ n: Int, _ K: Int) -> Int { (n + K - 1) / K * K }

    /// `[0, n)` cut into consecutive ranges of at most `D` coordinates.
    static func chunks(_ n: Int, _ D: Int) -> [Range<Int>] {
        stride(from: 0, to: n, by: D).map { $0..<min($0 + D, n) }
    }
}

/// Builds each distinct simulator module once, in `Scalar`. A module's constructed weights depend only on its type,
/// its shape and the spec (the aux weights live in the prefixes), so nodes of the same shape share one instance at run
/// time; the parameter report still charges every TinT layer its own weights. One memo per compilation, keyed by the
/// module type (which includes the scalar) and a shape key.
final class ModuleCache<Scalar: TensorScalar>: @unchecked Sendable {
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

    func linearForward(inputWidth: Int, outputWidth: Int) throws -> LinearForward<Scalar> {
        try module(key: [inputWidth, outputWidth]) { try LinearForward(config: $0, inputWidth: inputWidth, outputWidth: outputWidth) }
    }
    func linearBackward(inputWidth: Int, outputWidth: Int) throws -> LinearBackward<Scalar> {
        try module(key: [inputWidth, outputWidth]) { try LinearBackward(config: $0, inputWidth: inputWidth, outputWidth: outputWidth) }
    }
    func linearBackwardDescent(inputWidth: Int, outputWidth: Int, updateBias: Bool) throws -> LinearBackwardDescent<Scalar> {
        try module(key: [inputWidth, outputWidth, updateBias ? 1 : 0]) {
            try LinearBackwardDescent(config: $0, inputWidth: inputWidth, outputWidth: outputWidth, updateBias: updateBias)
        }
    }
    func layerNormForward(_ kind: NormKind, epsilon: Double) throws -> LayerNormForward<Scalar> {
        try module(key: "\(kind)|\(epsilon)") { try LayerNormForward(config: $0.with(epsilon: epsilon), kind: kind) }
    }
    func layerNormBackward(_ kind: NormKind, epsilon: Double) throws -> LayerNormBackward<Scalar> {
        try module(key: "\(kind)|\(epsilon)") { try LayerNormBackward(config: $0.with(epsilon: epsilon), kind: kind) }
    }
    func layerNormBackwardDescent(_ kind: NormKind, epsilon: Double) throws -> LayerNormBackwardDescent<Scalar> {
        try module(key: "\(kind)|\(epsilon)") { try LayerNormBackwardDescent(config: $0.with(epsilon: epsilon), kind: kind) }
    }
    func attentionForward() throws -> AttentionForward<Scalar> {
        try module(key: 0) { try AttentionForward<Scalar>(config: $0) }
    }
    func attentionBackwardDescent(updateBias: Bool) throws -> AttentionBackwardDescent<Scalar> {
        try module(key: updateBias) { try AttentionBackwardDescent(config: $0, updateBias: updateBias) }
    }
    func rotaryAttentionForward(_ r: AuxRotary) throws -> RotaryAttentionForward<Scalar> {
        try module(key: "\(r.theta)|\(r.scaling)") { try RotaryAttentionForward<Scalar>(config: $0, theta: r.theta, scaling: r.scaling) }
    }
    func groupedValueBackwardDescent(kvHeads: Int, updateBias: Bool) throws -> GroupedValueBackwardDescent<Scalar> {
        try module(key: [kvHeads, updateBias ? 1 : 0]) {
            try GroupedValueBackwardDescent(config: $0, kvHeads: kvHeads, updateBias: updateBias)
        }
    }
    func gatedProductForward(_ a: Activation) throws -> GatedProductForward<Scalar> {
        try module(key: a) { try GatedProductForward(config: $0, activation: a) }
    }
    func gatedProductBackward(_ a: Activation) throws -> GatedProductBackward<Scalar> {
        try module(key: a) { try GatedProductBackward(config: $0, activation: a) }
    }
    func activationForward(_ a: Activation) throws -> ActivationForward<Scalar> {
        try module(key: a) { try ActivationForward(config: $0, activation: a) }
    }
    func activationBackward(_ a: Activation) throws -> ActivationBackward<Scalar> {
        try module(key: a) { try ActivationBackward(config: $0, activation: a) }
    }
}

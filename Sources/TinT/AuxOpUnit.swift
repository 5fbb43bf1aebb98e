import Autodiff
import Tensor

/// One aux op kind as one unit (Docs/ARCHITECTURE.md, "TinT"): it turns a node of its kind into a ``CompiledNode`` —
/// the plan of simulator modules with its prefix encoding, Forward, Backward ∥ Descent, read-back and module list
/// for the parameter report. Units are registered in ``AuxOpUnits/all``; a new op is one unit file plus one entry
/// there (and its `AuxOp` case, its parameter uses and its Autodiff evaluation).
protocol AuxOpUnit {
    /// The compiled node for `node`, or nil when `node.op` is not this unit's kind.
    ///
    /// - Throws: `TinTError.unsupportedNode` naming the node when the kind is this unit's but cannot be simulated
    ///   (yet); `TinTError.ruleViolation` from the modules.
    static func compile(_ node: AuxNode, simulated: Bool, spec: SimulatorSpec, cache: ModuleCache) throws -> (any CompiledNode)?
}

/// The registry: every op kind's unit, asked in order.
enum AuxOpUnits {
    static let all: [any AuxOpUnit.Type] = [
        EmbeddingUnit.self, AddUnit.self, LinearUnit.self, NormUnit.self, AttentionUnit.self, ActivationUnit.self,
        GatedProductUnit.self,
    ]

    /// The first unit's compiled node for `node`.
    static func compile(_ node: AuxNode, simulated: Bool, spec: SimulatorSpec, cache: ModuleCache) throws -> any CompiledNode {
        for unit in all {
            if let compiled = try unit.compile(node, simulated: simulated, spec: spec, cache: cache) { return compiled }
        }
        throw TinTError.unsupportedNode(node: node.name, reason: "no TinT unit handles its op \(node.op)")
    }
}

/// A node compiled into simulator modules: what the executor and the parameter report ask of it.
protocol CompiledNode: Sendable {
    /// The node's prefix tensors, encoded from the aux parameters (none for glue nodes).
    func encode(_ parameters: AuxParameterReader, spec: SimulatorSpec) throws -> [Tensor<Float>]
    /// The node's value from its inputs' values.
    func forward(_ c: inout NodeContext, inputs: [Tensor<Float>]) throws -> Tensor<Float>
    /// Backward ∥ Descent: the gradients w.r.t. the node's `inputCount` inputs; descending nodes update
    /// `c.prefixes`.
    func backward(_ c: inout NodeContext, gradient: Tensor<Float>, inputCount: Int) throws -> [Tensor<Float>]
    /// Writes the weights decoded from `prefixes` into `out` (under the checkpoint's names and layouts).
    func readBack(_ prefixes: [Tensor<Float>], into out: inout ParameterSet<Float>, spec: SimulatorSpec) throws
    /// The Forward modules, by kind, for the parameter report.
    var forwardModules: [(kind: String, count: ParameterCount)] { get }
    /// The Backward ∥ Descent modules (empty when not simulated), by kind.
    var backwardModules: [(kind: String, count: ParameterCount)] { get }
}

extension CompiledNode {
    func encode(_ parameters: AuxParameterReader, spec: SimulatorSpec) throws -> [Tensor<Float>] { [] }
    func backward(_ c: inout NodeContext, gradient: Tensor<Float>, inputCount: Int) throws -> [Tensor<Float>] { [] }
    func readBack(_ prefixes: [Tensor<Float>], into out: inout ParameterSet<Float>, spec: SimulatorSpec) throws {}
    var forwardModules: [(kind: String, count: ParameterCount)] { [] }
    var backwardModules: [(kind: String, count: ParameterCount)] { [] }
}

/// The aux parameters by name, checked against the shape the graph expects.
struct AuxParameterReader {
    let parameters: ParameterSet<Float>

    /// The tensor `name`, which must have `shape`.
    ///
    /// - Throws: `TinTError.invalidArgument` naming a missing parameter, `.shapeMismatch` a wrong shape.
    func tensor(_ name: String, _ shape: [Int]) throws -> Tensor<Float> {
        guard let t = parameters[name] else {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the aux parameters lack '\(name)'")
        }
        guard t.shape == shape else {
            throw TinTError.shapeMismatch(module: "TinTExecutor", expected: shape, got: t.shape, what: "aux parameter '\(name)'")
        }
        return t
    }

    /// A map's `[d_out, d_in]` weight and `[d_out]` bias, read through its layout and slice.
    func linear(_ l: AuxLinear) throws -> (Tensor<Float>, Tensor<Float>?) {
        (try l.weightMatrix(try tensor(l.weight, l.weightShape)), try l.bias.map { try l.biasVector(try tensor($0, l.biasShape)) })
    }
}

/// What a compiled node sees during one run (TinTGlue's token-row movements, §2): the sequence, its prefixes, and
/// the post-Forward rows its Forward stored for its Backward.
struct NodeContext {
    let ids: [Int], trainMask: [Bool]
    let spec: SimulatorSpec
    let tables: [String: Tensor<Float>]
    let zeroPrefixes: Tensor<Float>
    /// Whether Forward stores its post-Forward rows (the node is simulated backward).
    let keep: Bool
    /// The node's current prefix tensors.
    var prefixes: [Tensor<Float>]
    /// The rows stored by the last Forward, in the order the Forward ran its modules.
    var stored: [Tensor<Float>]

    var D: Int { spec.auxWidth }

    /// Runs `body` on fresh rows holding `signal` with `prefixes` loaded, stores the rows when `keep`, and returns
    /// the output signal `[0, width)`.
    mutating func run(_ signal: Tensor<Float>, prefixes: Tensor<Float>, width: Int,
                      _ body: (inout TinTState<Float>) throws -> Void) throws -> Tensor<Float> {
        var state = try TinTGlue.freshState(signal, prefixes: prefixes, trainMask: trainMask)
        try body(&state)
        if keep { stored.append(state.tokens) }
        return try TinTGlue.signal(state, width: width)
    }

    /// The rows stored by the `k`-th Forward module with `gradient` in place of the signal and `prefixes` loaded,
    /// after `body` (a Backward ∥ Descent module) ran on them.
    func restore(_ k: Int, gradient: Tensor<Float>, prefixes: Tensor<Float>,
                 _ body: (inout TinTState<Float>) throws -> Void) throws -> TinTState<Float> {
        var state = try TinTGlue.restoredState(stored[k], gradient: gradient, signalWidth: D, prefixes: prefixes,
                                               trainMask: trainMask)
        try body(&state)
        return state
    }
}

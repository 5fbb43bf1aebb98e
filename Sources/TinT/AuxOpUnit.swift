import Autodiff
import Tensor

/// One aux op kind as one unit (Docs/ARCHITECTURE.md, "TinT"), the one place everything about the kind lives:
/// - `compile`: a node of its kind as a ``CompiledNode`` — the plan of simulator modules with its prefix encoding,
///   Forward, Backward ∥ Descent, read-back and module list for the parameter report;
/// - `charges`: the same modules' closed-form parameter counts (``TinTParameterReport/init(graph:config:)``), with the
///   same checks, without building anything;
/// - `parameterUses`: the parameters the op reads and TinT's approximate-GD update rule for each;
/// - `evaluate`: the op computed with Autodiff (the oracle TinT is held against).
///
/// Each returns nil for another unit's kind. Units are registered in ``AuxOpUnits/all(_:)``: a new op is its `AuxOp`
/// case, one unit file, and one entry there. Units are generic over the scalar their modules compute in (`Float`, or
/// `Double` for oracles); the static descriptions do not depend on it.
protocol AuxOpUnit<Scalar> {
    associatedtype Scalar: TensorScalar
    /// The compiled node for `node`, or nil when `node.op` is not this unit's kind.
    ///
    /// - Throws: `TinTError.unsupportedNode` naming the node when the kind is this unit's but cannot be simulated;
    ///   `TinTError.ruleViolation` from the modules.
    static func compile(_ node: AuxNode, simulated: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws
        -> (any CompiledNode<Scalar>)?
    /// The Forward and (when `simulated`) Backward ∥ Descent modules `compile` builds for `node`, as closed-form
    /// charges, or nil for another kind. Throws what `compile` throws.
    static func charges(_ node: AuxNode, simulated: Bool, formula: ModuleFormula) throws -> (forward: [Charge], backward: [Charge])?
    /// The parameters `op` reads and TinT's update rule for each (Docs/TINT.md §8), or nil for another kind.
    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse]?
    /// `op` on `inputs` with Autodiff, or nil for another kind. `ids` are the sequence's tokens (for lookups);
    /// `detachAttentionProbabilities` is TinT's stop-gradient through the attention scores.
    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T>?
}

/// The registry: every op kind's unit, asked in order.
enum AuxOpUnits {
    /// Every unit, for modules computing in `S` (a function, not a stored list: a generic unit is one type per scalar).
    static func all<S: TensorScalar>(_ scalar: S.Type) -> [any AuxOpUnit<S>.Type] {
        [
            EmbeddingUnit<S>.self, AddUnit<S>.self, LinearUnit<S>.self, NormUnit<S>.self, AttentionUnit<S>.self,
            ActivationUnit<S>.self, GatedProductUnit<S>.self,
        ]
    }

    /// The static descriptions (charges, parameter uses, evaluation) do not depend on the scalar: asked of the
    /// Float units.
    static var kinds: [any AuxOpUnit<Float>.Type] { all(Float.self) }

    /// The first unit's charges for `node`.
    static func charges(_ node: AuxNode, simulated: Bool, formula: ModuleFormula) throws -> (forward: [Charge], backward: [Charge]) {
        for unit in kinds {
            if let c = try unit.charges(node, simulated: simulated, formula: formula) { return c }
        }
        throw TinTError.unsupportedNode(node: node.name, reason: "no TinT unit handles its op \(node.op)")
    }

    /// The first unit's parameter uses for `op`.
    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse] {
        for unit in kinds { if let u = unit.parameterUses(op, width: width) { return u } }
        preconditionFailure("no TinT unit describes the op \(op): every AuxOp case needs a unit in AuxOpUnits.all")
    }

    /// The first unit's Autodiff evaluation of `op`.
    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T> {
        for unit in kinds {
            if let y = try unit.evaluate(op, inputs: inputs, parameters: parameters, ids: ids,
                                         detachAttentionProbabilities: detachAttentionProbabilities) { return y }
        }
        preconditionFailure("no TinT unit evaluates the op \(op): every AuxOp case needs a unit in AuxOpUnits.all")
    }

    /// The first unit's compiled node for `node`.
    static func compile<S: TensorScalar>(_ node: AuxNode, simulated: Bool, spec: SimulatorSpec, cache: ModuleCache<S>) throws
        -> any CompiledNode<S> {
        for unit in all(S.self) {
            if let compiled = try unit.compile(node, simulated: simulated, spec: spec, cache: cache) { return compiled }
        }
        throw TinTError.unsupportedNode(node: node.name, reason: "no TinT unit handles its op \(node.op)")
    }
}

/// A node compiled into simulator modules computing in `Scalar`: what the executor and the parameter report ask of
/// it. The executor calls it once per node and pass; the per-element work is in the (specialized) modules.
protocol CompiledNode<Scalar>: Sendable {
    associatedtype Scalar: TensorScalar
    /// The node's prefix tensors, encoded from the aux parameters (none for glue nodes).
    func encode(_ parameters: AuxParameterReader<Scalar>, spec: SimulatorSpec) throws -> [Tensor<Scalar>]
    /// The node's value from its inputs' values.
    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar>
    /// Backward ∥ Descent: the gradients w.r.t. the node's `inputCount` inputs; descending nodes update
    /// `c.prefixes`.
    func backward(_ c: inout NodeContext<Scalar>, gradient: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>]
    /// Writes the weights decoded from `prefixes` into `out` (under the checkpoint's names and layouts).
    func readBack(_ prefixes: [Tensor<Scalar>], into out: inout ParameterSet<Scalar>, spec: SimulatorSpec) throws
    /// The Forward modules, by kind, for the parameter report.
    var forwardModules: [(kind: String, count: ParameterCount)] { get }
    /// The Backward ∥ Descent modules (empty when not simulated), by kind.
    var backwardModules: [(kind: String, count: ParameterCount)] { get }
}

extension CompiledNode {
    func encode(_ parameters: AuxParameterReader<Scalar>, spec: SimulatorSpec) throws -> [Tensor<Scalar>] { [] }
    func backward(_ c: inout NodeContext<Scalar>, gradient: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>] { [] }
    func readBack(_ prefixes: [Tensor<Scalar>], into out: inout ParameterSet<Scalar>, spec: SimulatorSpec) throws {}
    var forwardModules: [(kind: String, count: ParameterCount)] { [] }
    var backwardModules: [(kind: String, count: ParameterCount)] { [] }
}

/// The aux parameters by name, checked against the shape the graph expects.
struct AuxParameterReader<Scalar: TensorScalar> {
    let parameters: ParameterSet<Scalar>

    /// The tensor `name`, which must have `shape`.
    ///
    /// - Throws: `TinTError.invalidArgument` naming a missing parameter, `.shapeMismatch` a wrong shape.
    func tensor(_ name: String, _ shape: [Int]) throws -> Tensor<Scalar> {
        guard let t = parameters[name] else {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the aux parameters lack '\(name)'")
        }
        guard t.shape == shape else {
            throw TinTError.shapeMismatch(module: "TinTExecutor", expected: shape, got: t.shape, what: "aux parameter '\(name)'")
        }
        return t
    }

    /// A map's `[d_out, d_in]` weight and `[d_out]` bias, read through its layout and slice.
    func linear(_ l: AuxLinear) throws -> (Tensor<Scalar>, Tensor<Scalar>?) {
        (try l.weightMatrix(try tensor(l.weight, l.weightShape)), try l.bias.map { try l.biasVector(try tensor($0, l.biasShape)) })
    }
}

/// What a compiled node sees during one run (TinTGlue's token-row movements, §2): the sequence, its prefixes, and
/// the post-Forward rows its Forward stored for its Backward.
struct NodeContext<Scalar: TensorScalar> {
    let ids: [Int], trainMask: [Bool]
    /// Independent sequences side by side (``TinTState/segmentStarts``), or nil.
    let segmentStarts: [Int]?
    let spec: SimulatorSpec
    let tables: [String: Tensor<Scalar>]
    let zeroPrefixes: Tensor<Scalar>
    /// Counts the products of the run's layers, or nil.
    let flopCounter: TinTFlopCounter?
    /// Whether Forward stores its post-Forward rows (the node is simulated backward).
    let keep: Bool
    /// The node's current prefix tensors.
    var prefixes: [Tensor<Scalar>]
    /// The rows stored by the last Forward, in the order the Forward ran its modules.
    var stored: [Tensor<Scalar>]

    var D: Int { spec.auxWidth }

    /// Each token's position: its index, or its offset in its sequence.
    var positions: [Int] { ids.indices.map { $0 - (segmentStarts?[$0] ?? 0) } }

    /// Runs `body` on fresh rows holding `signal` with `prefixes` loaded, stores the rows when `keep`, and returns
    /// the output signal `[0, width)`.
    mutating func run(_ signal: Tensor<Scalar>, prefixes: Tensor<Scalar>, width: Int,
                      _ body: (inout TinTState<Scalar>) throws -> Void) throws -> Tensor<Scalar> {
        var state = try TinTGlue.freshState(signal, prefixes: prefixes, trainMask: trainMask)
        state.segmentStarts = segmentStarts
        state.flopCounter = flopCounter
        try body(&state)
        if keep { stored.append(state.tokens) }
        return try TinTGlue.signal(state, width: width)
    }

    /// The rows stored by the `k`-th Forward module with `gradient` in place of the signal and `prefixes` loaded,
    /// after `body` (a Backward ∥ Descent module) ran on them. Each stored tensor is restored once per Backward, so
    /// it is taken out of `stored` and its rows are overwritten in place, not copied.
    mutating func restore(_ k: Int, gradient: Tensor<Scalar>, prefixes: Tensor<Scalar>,
                          _ body: (inout TinTState<Scalar>) throws -> Void) throws -> TinTState<Scalar> {
        let rows = stored[k]
        stored[k] = zeroPrefixes  // drops the context's reference: `rows` is then the only one
        var state = try TinTGlue.restoredState(consume rows, gradient: gradient, signalWidth: D, prefixes: prefixes,
                                               trainMask: trainMask)
        state.segmentStarts = segmentStarts
        state.flopCounter = flopCounter
        try body(&state)
        return state
    }
}

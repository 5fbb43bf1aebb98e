import Autodiff
import LanguageModel
import Tensor

/// `tokenEmbedding` and `positionEmbedding`: executor glue, the frozen lookups shared with the aux model.
struct EmbeddingUnit<Scalar: TensorScalar>: AuxOpUnit, CompiledNode {
    let table: String
    /// nil for token rows `E[ids]`; the offset of position rows `t + offset`.
    let positionOffset: Int?

    static func compile(_ node: AuxNode, simulated: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws
        -> (any CompiledNode<Scalar>)? {
        switch node.op {
        case .tokenEmbedding(let w): return EmbeddingUnit(table: w, positionOffset: nil)
        case .positionEmbedding(let w, let offset): return EmbeddingUnit(table: w, positionOffset: offset)
        default: return nil
        }
    }

    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar> {
        guard let t = c.tables[table] else {
            throw TinTError.invalidArgument(module: "TinTExecutor", reason: "the graph has no table '\(table)'")
        }
        if let offset = positionOffset { return try TinTGlue.lookup(t, ids: c.positions, offset: offset) }
        return try TinTGlue.lookup(t, ids: c.ids, offset: 0)
    }
}

extension EmbeddingUnit {
    static func charges(_ node: AuxNode, simulated: Bool, formula: ModuleFormula) throws -> (forward: [Charge], backward: [Charge])? {
        switch node.op {
        case .tokenEmbedding, .positionEmbedding: return ([], [])
        default: return nil
        }
    }

    /// The tables are frozen aux parameters of the graph (``AuxGraph/tableShapes``), not uses of a node.
    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse]? {
        switch op {
        case .tokenEmbedding, .positionEmbedding: return []
        default: return nil
        }
    }

    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters p: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T>? {
        switch op {
        case .tokenEmbedding(let w): return try Layers.embedding(p[w], ids: ids, shape: [ids.count])
        case .positionEmbedding(let w, let offset): return try Layers.embedding(p[w], ids: ids.indices.map { $0 + offset }, shape: [ids.count])
        default: return nil
        }
    }
}

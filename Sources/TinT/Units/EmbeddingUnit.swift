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
        if let offset = positionOffset { return try TinTGlue.lookup(t, ids: Array(0..<c.ids.count), offset: offset) }
        return try TinTGlue.lookup(t, ids: c.ids, offset: 0)
    }
}

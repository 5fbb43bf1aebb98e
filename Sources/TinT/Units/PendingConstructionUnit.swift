import Tensor

/// The op kinds whose simulator constructions have not landed (Llama's rotary / grouped-query `attention` and the
/// gated MLP's `gatedProduct`): refused by node, naming what is missing. The Autodiff oracle evaluates them.
/// (Generic only because ``AuxOpUnit`` is; it builds no module.)
enum PendingConstructionUnit<Scalar: TensorScalar>: AuxOpUnit {
    static func compile(_ node: AuxNode, simulated: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws
        -> (any CompiledNode<Scalar>)? {
        switch node.op {
        case .attention(let a):
            var missing: [String] = []
            if a.rotary != nil { missing.append("rotary attention (RoPE in Forward)") }
            if a.kvHeads != a.heads { missing.append("grouped-query attention (\(a.kvHeads) key/value heads for \(a.heads))") }
            if a.query.outputWidth != spec.auxWidth {
                missing.append("Q/K/V maps of width \(a.query.outputWidth) ≠ D_aux = \(spec.auxWidth)")
            }
            if missing.isEmpty { missing.append("attention with head width \(a.headDim)") }
            throw TinTError.unsupportedNode(node: node.name,
                                            reason: "the construction for \(missing.joined(separator: " and ")) has not landed yet")
        case .gatedProduct(let a):
            throw TinTError.unsupportedNode(node: node.name, reason: "the construction for a gated MLP's product "
                                            + "\(a.rawValue)(gate) ⊙ up (a GLU layer) has not landed yet")
        default:
            return nil
        }
    }
}

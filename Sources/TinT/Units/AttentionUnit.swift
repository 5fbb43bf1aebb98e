import Autodiff
import Tensor

/// `causalSelfAttention` (D_aux × D_aux Q/K/V maps, H_aux heads): `AttentionForward` with the Q, K and V prefixes;
/// `AttentionBackwardDescent` on the V prefixes (value-only backprop: W_Q and W_K are frozen).
struct AttentionUnit<Scalar: TensorScalar>: AuxOpUnit, CompiledNode {
    let query: AuxLinear, key: AuxLinear, value: AuxLinear
    let forwardModule: AttentionForward<Scalar>
    let backwardModule: AttentionBackwardDescent<Scalar>?

    static func compile(_ node: AuxNode, simulated sim: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws
        -> (any CompiledNode<Scalar>)? {
        guard case .causalSelfAttention(let q, let k, let v, let heads) = node.op else { return nil }
        let D = spec.auxWidth
        for m in [q, k, v] where m.inputWidth != D || m.outputWidth != D {
            throw TinTError.unsupportedNode(node: node.name,
                                            reason: "attention projections must be D_aux × D_aux (got \(m.outputWidth) × \(m.inputWidth))")
        }
        guard heads == spec.auxHeads else {
            throw TinTError.unsupportedNode(node: node.name, reason: "it has \(heads) heads but the graph's H_aux = \(spec.auxHeads)")
        }
        return AttentionUnit(query: q, key: k, value: v, forwardModule: try cache.attentionForward(),
                             backwardModule: sim ? try cache.attentionBackwardDescent(updateBias: v.bias != nil) : nil)
    }

    func encode(_ parameters: AuxParameterReader<Scalar>, spec: SimulatorSpec) throws -> [Tensor<Scalar>] {
        try [query, key, value].map { l in
            let (w, b) = try parameters.linear(l)
            return try LinearPrefixLayout.encode(weight: w, bias: b, config: spec)
        }
    }

    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar> {
        let (q, k, v) = (c.prefixes[0], c.prefixes[1], c.prefixes[2]), module = forwardModule
        return try c.run(inputs[0], prefixes: q, width: c.D) { try module.apply(&$0, query: q, key: k, value: v) }
    }

    func backward(_ c: inout NodeContext<Scalar>, gradient: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>] {
        let module = backwardModule!
        let state = try c.restore(0, gradient: gradient, prefixes: c.prefixes[2]) { try module.apply(&$0) }
        c.prefixes[2] = state.prefixes
        return [try TinTGlue.signal(state, width: c.D)]
    }

    func readBack(_ prefixes: [Tensor<Scalar>], into out: inout ParameterSet<Scalar>, spec: SimulatorSpec) throws {
        guard backwardModule != nil else { return }
        let D = spec.auxWidth
        let (w, b) = try LinearPrefixLayout.decode(prefixes[2], inputWidth: D, outputWidth: D, config: spec)
        try out.set(value.weight, try value.storing(weight: w, into: out[value.weight]!))
        if let name = value.bias { try out.set(name, try value.storing(bias: b, into: out[name]!)) }
    }

    var forwardModules: [(kind: String, count: ParameterCount)] { [("AttentionForward", forwardModule.parameterCount)] }
    var backwardModules: [(kind: String, count: ParameterCount)] {
        backwardModule.map { [("AttentionBackwardDescent", $0.parameterCount)] } ?? []
    }
}

import Autodiff
import Tensor

/// `layerNorm` and `rmsNorm` over the D_aux-wide stream: `LayerNormForward` (kind `.layerNorm` or `.rmsNorm`, the
/// node's ε) with the `diag(γ)`/`β` prefixes; Backward ∥ Descent when β (or γ with `.full`) is a parameter, Backward
/// alone otherwise.
struct NormUnit<Scalar: TensorScalar>: AuxOpUnit, CompiledNode {
    let kind: NormKind
    let weight: String?, bias: String?
    let forwardModule: LayerNormForward<Scalar>
    let descends: Bool
    let backwardModule: (any TinTModule<Scalar>)?

    static func compile(_ node: AuxNode, simulated sim: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws
        -> (any CompiledNode<Scalar>)? {
        let kind: NormKind, w: String?, b: String?, eps: Double
        switch node.op {
        case .layerNorm(let weight, let bias, let e): (kind, w, b, eps) = (.layerNorm, weight, bias, e)
        case .rmsNorm(let weight, let e): (kind, w, b, eps) = (.rmsNorm, weight, nil, e)
        default: return nil
        }
        let D = spec.auxWidth
        guard node.width == D else {
            throw TinTError.unsupportedNode(node: node.name, reason: "a norm must act on the D_aux = \(D)-wide stream (width \(node.width))")
        }
        guard eps > 0 && eps.isFinite else { throw TinTError.unsupportedNode(node: node.name, reason: "its ε = \(eps) must be positive and finite") }
        let trainable = b != nil || (w != nil && spec.layerNormUpdate == .full)
        var backward: (any TinTModule<Scalar>)? = nil
        if sim {
            backward = trainable ? try cache.layerNormBackwardDescent(kind, epsilon: eps) as any TinTModule<Scalar>
                : try cache.layerNormBackward(kind, epsilon: eps)
        }
        return NormUnit(kind: kind, weight: w, bias: b, forwardModule: try cache.layerNormForward(kind, epsilon: eps),
                        descends: sim && trainable, backwardModule: backward)
    }

    func encode(_ parameters: AuxParameterReader<Scalar>, spec: SimulatorSpec) throws -> [Tensor<Scalar>] {
        let D = spec.auxWidth
        let gamma = try weight.map { try parameters.tensor($0, [D]) } ?? Tensor<Scalar>.ones([D])
        let beta = try bias.map { try parameters.tensor($0, [D]) } ?? Tensor<Scalar>.zeros([D])
        return [try LinearPrefixLayout.encodeLayerNorm(gamma: gamma, beta: beta, config: spec)]
    }

    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar> {
        let module = forwardModule
        return try c.run(inputs[0], prefixes: c.prefixes[0], width: c.D) { try module.apply(&$0) }
    }

    func backward(_ c: inout NodeContext<Scalar>, gradient: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>] {
        let module = backwardModule!
        let state = try c.restore(0, gradient: gradient, prefixes: c.prefixes[0]) { try module.apply(&$0) }
        if descends { c.prefixes[0] = state.prefixes }
        return [try TinTGlue.signal(state, width: c.D)]
    }

    func readBack(_ prefixes: [Tensor<Scalar>], into out: inout ParameterSet<Scalar>, spec: SimulatorSpec) throws {
        guard backwardModule != nil else { return }
        let D = spec.auxWidth
        let (w, b) = try LinearPrefixLayout.decode(prefixes[0], inputWidth: D, outputWidth: D, config: spec)
        // γ is the diagonal (with `.full` the off-diagonal entries the update adds are not an aux parameter).
        if let name = weight {
            let s = w.contiguous().scalars
            try out.set(name, try Tensor(shape: [D], scalars: (0..<D).map { s[$0 * D + $0] }))
        }
        if let name = bias { try out.set(name, b) }
    }

    private func named(_ kind: String) -> String {
        self.kind == .rmsNorm ? kind.replacingOccurrences(of: "LayerNorm", with: "RMSNorm") : kind
    }
    var forwardModules: [(kind: String, count: ParameterCount)] { [(named("LayerNormForward"), forwardModule.parameterCount)] }
    var backwardModules: [(kind: String, count: ParameterCount)] {
        backwardModule.map { [(named($0.kind), $0.parameterCount)] } ?? []
    }
}

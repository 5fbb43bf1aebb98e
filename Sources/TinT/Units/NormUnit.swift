import LanguageModel
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
        guard let (kind, w, b, eps) = norm(node.op) else { return nil }
        try check(node, epsilon: eps, spec: spec)
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

extension NormUnit {
    /// The node's norm: kind, γ and β names, ε (nil for another op).
    static func norm(_ op: AuxOp) -> (kind: NormKind, weight: String?, bias: String?, epsilon: Double)? {
        switch op {
        case .layerNorm(let w, let b, let e): return (.layerNorm, w, b, e)
        case .rmsNorm(let w, let e): return (.rmsNorm, w, nil, e)
        default: return nil
        }
    }

    /// The checks `compile` makes: a D_aux-wide stream and a positive finite ε.
    static func check(_ node: AuxNode, epsilon: Double, spec: SimulatorSpec) throws {
        let D = spec.auxWidth
        guard node.width == D else {
            throw TinTError.unsupportedNode(node: node.name, reason: "a norm must act on the D_aux = \(D)-wide stream (width \(node.width))")
        }
        guard epsilon > 0 && epsilon.isFinite else {
            throw TinTError.unsupportedNode(node: node.name, reason: "its ε = \(epsilon) must be positive and finite")
        }
    }

    static func charges(_ node: AuxNode, simulated sim: Bool, formula f: ModuleFormula) throws -> (forward: [Charge], backward: [Charge])? {
        guard let n = norm(node.op) else { return nil }
        try check(node, epsilon: n.epsilon, spec: f.config)
        let prefix = n.kind == .rmsNorm ? "RMSNorm" : "LayerNorm"
        let trainable = n.bias != nil || (n.weight != nil && f.config.layerNormUpdate == .full)
        let backward: [Charge] = !sim ? []
            : trainable ? [Charge(kind: prefix + "BackwardDescent",
                                  count: n.kind == .rmsNorm ? f.rmsNormBackwardDescent : f.layerNormBackwardDescent, times: 1)]
            : [Charge(kind: prefix + "Backward", count: f.layerNormBackward, times: 1)]
        return ([Charge(kind: prefix + "Forward", count: f.layerNormForward, times: 1)], backward)
    }

    /// β moves; γ only with `layerNormUpdate: .full`.
    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse]? {
        guard let n = norm(op) else { return nil }
        return (n.weight.map { [AuxParameterUse(name: $0, shape: [width], scalars: width, descent: .movesWithFullNormUpdate)] } ?? [])
            + (n.bias.map { [AuxParameterUse(name: $0, shape: [width], scalars: width, descent: .moves)] } ?? [])
    }

    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters p: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T>? {
        guard let n = norm(op) else { return nil }
        let gamma = try n.weight.map { try p[$0] }
        switch n.kind {
        case .layerNorm:
            return try Layers.layerNorm(inputs[0], weight: gamma, bias: try n.bias.map { try p[$0] }, epsilon: T(n.epsilon))
        case .rmsNorm:
            return try Layers.rmsNorm(inputs[0], weight: gamma, epsilon: T(n.epsilon))
        }
    }
}

import Autodiff
import LanguageModel
import Tensor

/// `gatedProduct(σ)` (a gated MLP's `σ(gate) ⊙ up`) over chunks of at most D_aux coordinates: per chunk, the glue
/// places the gate chunk at `[D, 2D)` and the up chunk at `[2D, 3D)` (zero padded to D), `GatedProductForward`
/// forms the product in the signal, and `GatedProductBackward` returns `∇gate` from the signal and `∇up` from
/// `[2D, 3D)`. No parameters; the gate, up and down maps are linear nodes of their own.
struct GatedProductUnit<Scalar: TensorScalar>: AuxOpUnit, CompiledNode {
    let chunks: [Range<Int>]
    let forwardModule: GatedProductForward<Scalar>
    let backwardModule: GatedProductBackward<Scalar>?

    static func compile(_ node: AuxNode, simulated sim: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws -> (any CompiledNode<Scalar>)? {
        guard case .gatedProduct(let a) = node.op else { return nil }
        try checkInputs(node)
        return GatedProductUnit(chunks: TinTCompiler.chunks(node.width, spec.auxWidth),
                                forwardModule: try cache.gatedProductForward(a),
                                backwardModule: sim ? try cache.gatedProductBackward(a) : nil)
    }

    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar> {
        let module = forwardModule, D = c.D
        var outputs: [Tensor<Scalar>] = []
        for chunk in chunks {
            let T = inputs[0].shape[0], zeros = try Tensor<Scalar>.zeros([T, D])
            let rows = try Tensor.concatenated([zeros, try TinTGlue.zeroPadded(try TinTGlue.columns(inputs[0], chunk), to: [T, D]),
                                                try TinTGlue.zeroPadded(try TinTGlue.columns(inputs[1], chunk), to: [T, D])], axis: 1)
            outputs.append(try c.run(rows, prefixes: c.zeroPrefixes, width: chunk.count) { try module.apply(&$0) })
        }
        return try TinTGlue.concatenate(outputs)
    }

    func backward(_ c: inout NodeContext<Scalar>, gradient: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>] {
        let module = backwardModule!, up = GatedProductSlots(c.spec).up
        var gate: [Tensor<Scalar>] = [], upGradient: [Tensor<Scalar>] = []
        for (k, chunk) in chunks.enumerated() {
            let state = try c.restore(k, gradient: try TinTGlue.columns(gradient, chunk), prefixes: c.zeroPrefixes) {
                try module.apply(&$0)
            }
            gate.append(try TinTGlue.signal(state, width: chunk.count))
            upGradient.append(try state.tokenRegion(up, chunk.count))
        }
        return [try TinTGlue.concatenate(gate), try TinTGlue.concatenate(upGradient)]
    }

    var forwardModules: [(kind: String, count: ParameterCount)] {
        chunks.map { _ in ("GatedProductForward", forwardModule.parameterCount) }
    }
    var backwardModules: [(kind: String, count: ParameterCount)] {
        backwardModule.map { b in chunks.map { _ in ("GatedProductBackward", b.parameterCount) } } ?? []
    }
}

extension GatedProductUnit {
    static func charges(_ node: AuxNode, simulated sim: Bool, formula f: ModuleFormula) throws -> (forward: [Charge], backward: [Charge])? {
        guard case .gatedProduct = node.op else { return nil }
        try checkInputs(node)
        let n = TinTCompiler.chunks(node.width, f.config.auxWidth).count
        return ([Charge(kind: "GatedProductForward", count: f.gatedProductForward, times: n)],
                sim ? [Charge(kind: "GatedProductBackward", count: f.gatedProductBackward, times: n)] : [])
    }

    /// No parameters: the gate, up and down maps are linear nodes.
    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse]? {
        if case .gatedProduct = op { return [] }
        return nil
    }

    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T>? {
        guard case .gatedProduct(let a) = op else { return nil }
        return try Layers.gatedActivation(gate: inputs[0], up: inputs[1], activation: a)
    }

    /// A gated product reads exactly two nodes (gate, up).
    static func checkInputs(_ node: AuxNode) throws {
        guard node.inputs.count == 2 else {
            throw TinTError.unsupportedNode(node: node.name, reason: "a gated product reads two nodes (gate, up), not \(node.inputs.count)")
        }
    }
}

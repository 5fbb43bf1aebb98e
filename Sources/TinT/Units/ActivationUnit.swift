import Autodiff
import LanguageModel
import Tensor

/// `activation` (every `Activation`: ReLU, GELU, GELU-tanh, SiLU) over chunks of at most D_aux coordinates:
/// `ActivationForward` and `ActivationBackward` per chunk, with zero prefixes.
struct ActivationUnit<Scalar: TensorScalar>: AuxOpUnit, CompiledNode {
    let chunks: [Range<Int>]
    let forwardModule: ActivationForward<Scalar>
    let backwardModule: ActivationBackward<Scalar>?

    static func compile(_ node: AuxNode, simulated sim: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws -> (any CompiledNode<Scalar>)? {
        guard case .activation(let a) = node.op else { return nil }
        return ActivationUnit(chunks: TinTCompiler.chunks(node.width, spec.auxWidth), forwardModule: try cache.activationForward(a),
                              backwardModule: sim ? try cache.activationBackward(a) : nil)
    }

    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar> {
        let module = forwardModule
        var outputs: [Tensor<Scalar>] = []
        for chunk in chunks {
            outputs.append(try c.run(try TinTGlue.columns(inputs[0], chunk), prefixes: c.zeroPrefixes, width: chunk.count) {
                try module.apply(&$0)
            })
        }
        return try TinTGlue.concatenate(outputs)
    }

    func backward(_ c: inout NodeContext<Scalar>, gradient: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>] {
        let module = backwardModule!
        var out: [Tensor<Scalar>] = []
        for (k, chunk) in chunks.enumerated() {
            let state = try c.restore(k, gradient: try TinTGlue.columns(gradient, chunk), prefixes: c.zeroPrefixes) {
                try module.apply(&$0)
            }
            out.append(try TinTGlue.signal(state, width: chunk.count))
        }
        return [try TinTGlue.concatenate(out)]
    }

    var forwardModules: [(kind: String, count: ParameterCount)] { chunks.map { _ in ("ActivationForward", forwardModule.parameterCount) } }
    var backwardModules: [(kind: String, count: ParameterCount)] {
        backwardModule.map { b in chunks.map { _ in ("ActivationBackward", b.parameterCount) } } ?? []
    }
}

extension ActivationUnit {
    static func charges(_ node: AuxNode, simulated sim: Bool, formula f: ModuleFormula) throws -> (forward: [Charge], backward: [Charge])? {
        guard case .activation = node.op else { return nil }
        let n = TinTCompiler.chunks(node.width, f.config.auxWidth).count
        return ([Charge(kind: "ActivationForward", count: f.activationForward, times: n)],
                sim ? [Charge(kind: "ActivationBackward", count: f.activationBackward, times: n)] : [])
    }

    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse]? {
        if case .activation = op { return [] }
        return nil
    }

    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T>? {
        guard case .activation(let a) = op else { return nil }
        return try Layers.activation(inputs[0], a)
    }
}

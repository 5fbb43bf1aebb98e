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

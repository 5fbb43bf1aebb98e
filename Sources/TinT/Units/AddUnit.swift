import Tensor

/// `add`: executor glue, the sum of the inputs (residual connections); the gradient fans out unchanged.
struct AddUnit<Scalar: TensorScalar>: AuxOpUnit, CompiledNode {
    static func compile(_ node: AuxNode, simulated: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws
        -> (any CompiledNode<Scalar>)? {
        if case .add = node.op { return AddUnit() }
        return nil
    }

    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar> { try TinTGlue.sum(inputs) }

    func backward(_ c: inout NodeContext<Scalar>, gradient: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>] {
        Array(repeating: gradient, count: inputCount)
    }
}

import Tensor

/// `add`: executor glue, the sum of the inputs (residual connections); the gradient fans out unchanged.
struct AddUnit: AuxOpUnit, CompiledNode {
    static func compile(_ node: AuxNode, simulated: Bool, spec: SimulatorSpec, cache: ModuleCache) throws -> (any CompiledNode)? {
        if case .add = node.op { return AddUnit() }
        return nil
    }

    func forward(_ c: inout NodeContext, inputs: [Tensor<Float>]) throws -> Tensor<Float> { try TinTGlue.sum(inputs) }

    func backward(_ c: inout NodeContext, gradient: Tensor<Float>, inputCount: Int) throws -> [Tensor<Float>] {
        Array(repeating: gradient, count: inputCount)
    }
}

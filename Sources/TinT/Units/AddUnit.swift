import Autodiff
import LanguageModel
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

extension AddUnit {
    static func charges(_ node: AuxNode, simulated: Bool, formula: ModuleFormula) throws -> (forward: [Charge], backward: [Charge])? {
        if case .add = node.op { return ([], []) }
        return nil
    }

    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse]? {
        if case .add = op { return [] }
        return nil
    }

    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T>? {
        guard case .add = op else { return nil }
        return try inputs.dropFirst().reduce(inputs[0]) { try Layers.add($0, $1) }
    }
}

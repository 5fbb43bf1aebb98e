/// Errors of the differentiation machinery itself. Bad operands of an op (shapes that do not broadcast,
/// an index out of range) throw the Tensor layer's `TensorError`, naming the op.
public enum AutodiffError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Backward from a value with more than one element needs an explicit seed.
    case nonScalarOutput(shape: [Int])
    /// The seed's shape differs from the value's.
    case seedShapeMismatch(seed: [Int], value: [Int])
    /// The value being differentiated does not depend on any gradient-tracking variable (or was computed
    /// inside `noGrad`).
    case outputNotTracked
    /// Input `index` of a gradient request does not track gradients.
    case inputNotTracked(index: Int)
    /// The graph was released by an earlier backward pass (pass `retainGraph: true` to differentiate twice).
    case graphReleased
    /// No parameter has this name.
    case unknownParameter(String)
    /// A parameter name occurs twice.
    case duplicateParameter(String)
    /// A tensor given for parameter `name` has the wrong shape.
    case parameterShapeMismatch(name: String, expected: [Int], got: [Int])
    /// A pullback returned a gradient whose shape is not its input's (a bug in an op's definition).
    case internalShapeError(expected: [Int], got: [Int])
    /// Any other bad argument.
    case invalidArgument(op: String, reason: String)

    public var description: String {
        switch self {
        case let .nonScalarOutput(shape):
            return "gradient: the output has shape \(shape); pass a seed of that shape or reduce it to one element"
        case let .seedShapeMismatch(seed, value):
            return "gradient: the seed has shape \(seed) but the output has shape \(value)"
        case .outputNotTracked:
            return "gradient: the output does not depend on any variable that requires a gradient (or was computed inside noGrad)"
        case let .inputNotTracked(index):
            return "gradient: input \(index) does not require a gradient"
        case .graphReleased:
            return "gradient: the graph was released by an earlier backward pass (use retainGraph: true to differentiate twice)"
        case let .unknownParameter(name):
            return "no parameter named '\(name)'"
        case let .duplicateParameter(name):
            return "parameter '\(name)' occurs twice"
        case let .parameterShapeMismatch(name, expected, got):
            return "parameter '\(name)' has shape \(expected), got a tensor of shape \(got)"
        case let .internalShapeError(expected, got):
            return "internal error: a pullback returned shape \(got) for an input of shape \(expected)"
        case let .invalidArgument(op, reason):
            return "\(op): \(reason)"
        }
    }
}

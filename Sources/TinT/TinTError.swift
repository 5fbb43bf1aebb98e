import Tensor

/// Errors thrown while building or running TinT simulator modules.
public enum TinTError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A hyperparameter rule of the construction (Docs/TINT.md §5) does not hold. `rule` is the rule's name,
    /// `statement` what it requires, `values` the offending values.
    case ruleViolation(rule: String, statement: String, values: String)
    /// A tensor handed to a module or layer has the wrong shape.
    case shapeMismatch(module: String, expected: [Int], got: [Int], what: String)
    /// Any other invalid argument.
    case invalidArgument(module: String, reason: String)
    /// An error from the Tensor layer, with the module that hit it.
    case tensor(module: String, TensorError)
    /// The compiler cannot simulate this node of the auxiliary graph.
    case unsupportedNode(node: String, reason: String)
    /// A descent produced a NaN or an infinity: `tensor` (logits or a weight) holds `value` at `index` after inner
    /// step `step` (0: before any update, i.e. the unmodified model's logits overflow).
    case nonFiniteValue(module: String, step: Int, tensor: String, index: [Int], value: Double)

    /// A message naming the module or rule and the values.
    public var description: String {
        switch self {
        case let .ruleViolation(rule, statement, values):
            return "TinT rule '\(rule)' violated: \(statement) (got \(values))"
        case let .shapeMismatch(module, expected, got, what):
            return "\(module): \(what) must have shape \(expected), got \(got)"
        case let .invalidArgument(module, reason):
            return "\(module): \(reason)"
        case let .tensor(module, error):
            return "\(module): \(error)"
        case let .unsupportedNode(node, reason):
            return "TinT cannot simulate node '\(node)': \(reason)"
        case let .nonFiniteValue(module, step, tensor, index, value):
            let v = value.isNaN ? "nan" : "\(value)"
            return step == 0
                ? "\(module): before any update, '\(tensor)' holds \(v) at \(index): the model's weights overflow Float"
                : "\(module): step \(step) made '\(tensor)' hold \(v) at \(index): the update diverged (lower the learning rate)"
        }
    }
}

/// Throws `TinTError.ruleViolation` unless `condition` holds.
@inline(__always)
func require(_ condition: Bool, rule: String, _ statement: String, _ values: @autoclosure () -> String) throws {
    if !condition { throw TinTError.ruleViolation(rule: rule, statement: statement, values: values()) }
}

/// Checks a tensor's shape for a module.
func requireShape<S: TensorScalar>(_ t: Tensor<S>, _ shape: [Int], module: String, what: String) throws {
    if t.shape != shape { throw TinTError.shapeMismatch(module: module, expected: shape, got: t.shape, what: what) }
}

import Tensor

// Closure-based entry points in the spirit of Swift for TensorFlow (`valueWithGradient(at:in:)`) and MLX
// (`valueAndGrad`). Each call builds a fresh graph from fresh leaves, so calls never interfere.

/// `f(x)` and the gradient of `f` at `x`. `f` must return a single element unless `seed` (the gradient of the
/// final objective w.r.t. `f(x)`, with `f(x)`'s shape) is given.
public func valueAndGradient<Scalar>(
    at x: Tensor<Scalar>, seed: Tensor<Scalar>? = nil,
    of f: (Variable<Scalar>) throws -> Variable<Scalar>
) throws -> (value: Tensor<Scalar>, gradient: Tensor<Scalar>) {
    let (y, g) = try valueAndGradient(at: [x], seed: seed) { try f($0[0]) }
    return (y, g[0])
}

/// `f(xs)` and the gradient of `f` w.r.t. each of `xs`.
public func valueAndGradient<Scalar>(
    at xs: [Tensor<Scalar>], seed: Tensor<Scalar>? = nil,
    of f: ([Variable<Scalar>]) throws -> Variable<Scalar>
) throws -> (value: Tensor<Scalar>, gradients: [Tensor<Scalar>]) {
    let inputs = xs.map { Variable($0, requiresGradient: true) }
    let y = try f(inputs)
    guard y.requiresGradient else {  // f ignored its inputs (or ran under noGrad): every gradient is zero
        if seed == nil && y.count != 1 { throw AutodiffError.nonScalarOutput(shape: y.shape) }
        if isGradientRecordingEnabled { return (y.value, try xs.map { try Tensor.zeros($0.shape) }) }
        throw AutodiffError.outputNotTracked
    }
    return (y.value, try y.gradients(for: inputs, seed: seed))
}

/// `f(x, y)` and the gradients w.r.t. `x` and `y`.
public func valueAndGradient<Scalar>(
    at x: Tensor<Scalar>, _ y: Tensor<Scalar>, seed: Tensor<Scalar>? = nil,
    of f: (Variable<Scalar>, Variable<Scalar>) throws -> Variable<Scalar>
) throws -> (value: Tensor<Scalar>, gradients: (Tensor<Scalar>, Tensor<Scalar>)) {
    let (v, g) = try valueAndGradient(at: [x, y], seed: seed) { try f($0[0], $0[1]) }
    return (v, (g[0], g[1]))
}

/// The gradient of `f` at `x`.
public func gradient<Scalar>(
    at x: Tensor<Scalar>, seed: Tensor<Scalar>? = nil, of f: (Variable<Scalar>) throws -> Variable<Scalar>
) throws -> Tensor<Scalar> {
    try valueAndGradient(at: x, seed: seed, of: f).gradient
}

/// The gradients of `f` w.r.t. each of `xs`.
public func gradient<Scalar>(
    at xs: [Tensor<Scalar>], seed: Tensor<Scalar>? = nil, of f: ([Variable<Scalar>]) throws -> Variable<Scalar>
) throws -> [Tensor<Scalar>] {
    try valueAndGradient(at: xs, seed: seed, of: f).gradients
}

/// The loss `f(parameters)` and its gradient w.r.t. the trainable parameters.
///
/// `f` reads parameters by name from the ``VariableSet`` it is given (an unknown name throws). Parameters
/// named in `trainable` (all when `nil`) track gradients; the others are constants, so no work is spent on
/// their gradients (TinT's approximate GD freezes W_Q, W_K, γ and the embeddings this way).
///
/// - Returns: the loss and a ``ParameterSet`` holding one gradient per trainable parameter, in the order of
///   `parameters` (zeros for one the loss does not depend on).
/// - Throws: ``AutodiffError/unknownParameter(_:)`` for a name in `trainable` that `parameters` lacks;
///   ``AutodiffError/nonScalarOutput(shape:)`` when the loss has more than one element.
public func valueAndGradient<Scalar>(
    of parameters: ParameterSet<Scalar>, trainable: Set<String>? = nil,
    _ f: (VariableSet<Scalar>) throws -> Variable<Scalar>
) throws -> (value: Scalar, gradient: ParameterSet<Scalar>) {
    let vars = try parameters.variables(trainable: trainable)
    let loss = try f(vars)
    guard loss.count == 1 else { throw AutodiffError.nonScalarOutput(shape: loss.shape) }
    let tracked = zip(vars.names, vars.variables).filter { $0.1.requiresGradient }
    let grads: [Tensor<Scalar>]
    if loss.requiresGradient {
        grads = try loss.gradients(for: tracked.map(\.1))
    } else {
        guard isGradientRecordingEnabled || tracked.isEmpty else { throw AutodiffError.outputNotTracked }
        grads = try tracked.map { try Tensor.zeros($0.1.shape) }
    }
    return (try loss.value.item(), try ParameterSet(zip(tracked.map(\.0), grads).map { ($0, $1) }))
}

/// `valueAndGradient(of:trainable:_:)` with the trainable parameters chosen by a predicate on their names
/// (for example `{ !$0.hasSuffix("q_proj.weight") }`).
public func valueAndGradient<Scalar>(
    of parameters: ParameterSet<Scalar>, trainableWhere isTrainable: (String) throws -> Bool,
    _ f: (VariableSet<Scalar>) throws -> Variable<Scalar>
) throws -> (value: Scalar, gradient: ParameterSet<Scalar>) {
    try valueAndGradient(of: parameters, trainable: Set(parameters.names.filter(isTrainable)), f)
}

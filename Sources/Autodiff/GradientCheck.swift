import Tensor

/// The outcome of ``gradientCheck(at:epsilon:relativeErrorFloor:projectionSeed:_:)``: the element whose
/// analytic and numeric derivatives disagree most.
public struct GradientCheckReport: Sendable, CustomStringConvertible {
    /// max over all checked elements of |a − n| / max(|a|, |n|, floor).
    public let worstRelativeError: Double
    /// The input holding the worst element.
    public let inputIndex: Int
    /// That input's parameter name, when the check ran over a ``ParameterSet``.
    public var inputName: String? = nil
    /// The worst element's index within that input.
    public let elementIndex: [Int]
    /// The tape's derivative at the worst element.
    public let analytic: Double
    /// The finite-difference derivative at the worst element.
    public let numeric: Double
    /// How many derivatives were compared.
    public let checkedCount: Int

    public var description: String {
        "gradient check: worst relative error \(worstRelativeError) at input \(inputName ?? String(inputIndex)) "
            + "element \(elementIndex) "
            + "(analytic \(analytic), numeric \(numeric); \(checkedCount) derivatives)"
    }
}

/// Compares the tape's gradient of `f` with central finite differences, element by element, in `Double`.
///
/// Each derivative of the objective `F(x) = Σ w ⊙ f(x)` is estimated with the 4-point stencil
/// `(F(x−2h) − 8F(x−h) + 8F(x+h) − F(x+2h)) / 12h` (error O(h⁴)), where `w` is a fixed random projection
/// (N(0,1) entries drawn from `projectionSeed`; `w = 1` when `f` returns one element), so every output
/// element contributes. The analytic gradient is one backward pass with seed `w`.
///
/// The relative error of one derivative is `|a − n| / max(|a|, |n|, relativeErrorFloor)`: relative where the
/// derivative is large, absolute (scaled by 1/floor) where both are near zero, so an exact zero compared with
/// rounding noise does not count as a 100% error.
///
/// `f` is evaluated under ``noGrad(_:)`` for the finite differences; it must be smooth near `inputs` (keep
/// points away from kinks of ReLU, max and the like).
public func gradientCheck(
    at inputs: [Tensor<Double>], epsilon: Double = 1e-4, relativeErrorFloor: Double = 1e-3,
    projectionSeed: UInt64 = 0x5eed, _ f: ([Variable<Double>]) throws -> Variable<Double>
) throws -> GradientCheckReport {
    let xs = inputs.map { $0.contiguous() }
    let y0 = try noGrad { try f(xs.map { Variable($0) }) }
    var rng = TensorRNG(seed: projectionSeed)
    let w = y0.count == 1 ? try Tensor<Double>.ones(y0.shape) : try Tensor<Double>.normal(y0.shape, using: &rng)
    let wScalars = w.scalars

    let (_, analytic) = try valueAndGradient(at: xs, seed: w, of: f)
    func objective(_ k: Int, _ j: Int, _ delta: Double) throws -> Double {
        var perturbed = xs
        perturbed[k].withUnsafeMutableBufferPointer { $0[j] += delta }
        let y = try noGrad { try f(perturbed.map { Variable($0) }) }
        guard y.shape == y0.shape else {
            throw AutodiffError.invalidArgument(op: "gradientCheck", reason: "f's output shape changed from \(y0.shape) to \(y.shape)")
        }
        return zip(y.value.scalars, wScalars).reduce(0) { $0 + $1.0 * $1.1 }
    }

    var worst = (err: -1.0, k: 0, j: 0, a: 0.0, n: 0.0)
    var checked = 0
    for k in xs.indices {
        let a = analytic[k].scalars
        for j in 0..<xs[k].count {
            let h = epsilon
            let n = (try objective(k, j, -2 * h) - 8 * objective(k, j, -h)
                     + 8 * objective(k, j, h) - objective(k, j, 2 * h)) / (12 * h)
            let err = Swift.abs(a[j] - n) / Swift.max(Swift.abs(a[j]), Swift.abs(n), relativeErrorFloor)
            checked += 1
            if err > worst.err || err.isNaN { worst = (err.isNaN ? .infinity : err, k, j, a[j], n) }
        }
    }
    var index: [Int] = []
    if !xs.isEmpty {
        var rest = worst.j
        for d in xs[worst.k].shape.reversed() { index.insert(d > 0 ? rest % d : 0, at: 0); rest /= Swift.max(d, 1) }
    }
    return GradientCheckReport(worstRelativeError: Swift.max(worst.err, 0), inputIndex: worst.k,
                               elementIndex: index, analytic: worst.a, numeric: worst.n, checkedCount: checked)
}

/// ``gradientCheck(at:epsilon:relativeErrorFloor:projectionSeed:_:)`` for a function of one input.
public func gradientCheck(
    at input: Tensor<Double>, epsilon: Double = 1e-4, relativeErrorFloor: Double = 1e-3,
    projectionSeed: UInt64 = 0x5eed, _ f: (Variable<Double>) throws -> Variable<Double>
) throws -> GradientCheckReport {
    try gradientCheck(at: [input], epsilon: epsilon, relativeErrorFloor: relativeErrorFloor,
                      projectionSeed: projectionSeed) { try f($0[0]) }
}

/// ``gradientCheck(at:epsilon:relativeErrorFloor:projectionSeed:_:)`` over the trainable parameters of a
/// ``ParameterSet`` (all when `trainable` is `nil`; the others stay constant). The report names the parameter.
public func gradientCheck(
    of parameters: ParameterSet<Double>, trainable: Set<String>? = nil, epsilon: Double = 1e-4,
    relativeErrorFloor: Double = 1e-3, _ f: (VariableSet<Double>) throws -> Variable<Double>
) throws -> GradientCheckReport {
    let all = try parameters.variables(trainable: trainable)
    let positions = all.variables.indices.filter { all.variables[$0].requiresGradient }
    let constants = parameters.constants.variables
    var report = try gradientCheck(at: positions.map { all.variables[$0].value }, epsilon: epsilon,
                                   relativeErrorFloor: relativeErrorFloor) { xs in
        var vars = constants
        for (i, x) in zip(positions, xs) { vars[i] = x }
        return try f(VariableSet(names: all.names, variables: vars))
    }
    report.inputName = positions.isEmpty ? nil : all.names[positions[report.inputIndex]]
    return report
}

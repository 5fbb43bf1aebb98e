import Testing
import Tensor
@testable import Autodiff

/// The tolerance every gradient check must meet (the bar).
let gradTolerance = 1e-6

/// Uniform random Double tensor in [low, high).
func rand(_ shape: [Int], _ seed: UInt64, _ low: Double = -1, _ high: Double = 1) -> Tensor<Double> {
    var rng = TensorRNG(seed: seed)
    return try! Tensor<Double>.uniform(shape, low: low, high: high, using: &rng)
}

/// Random values bounded away from zero (|x| ∈ [0.1, 1)), for ops with a kink at 0.
func randAwayFromZero(_ shape: [Int], _ seed: UInt64) -> Tensor<Double> {
    let t = rand(shape, seed, 0.1, 1)
    var rng = TensorRNG(seed: seed ^ 0xabcdef)
    return try! Tensor(shape: shape, scalars: t.scalars.map { rng.next() & 1 == 0 ? $0 : -$0 })
}

/// Checks one op: its forward against `reference` (when given, to `forwardTolerance`), and its gradient w.r.t.
/// every input against finite differences (worst relative error ≤ 1e-6).
func checkOp(_ inputs: [Tensor<Double>], reference: (([Tensor<Double>]) throws -> Tensor<Double>)? = nil,
             forwardTolerance: Double = 1e-12, sourceLocation: SourceLocation = #_sourceLocation,
             _ f: ([Variable<Double>]) throws -> Variable<Double>) throws {
    if let reference {
        let y = try f(inputs.map { Variable($0) }).value
        let r = try reference(inputs)
        #expect(y.shape == r.shape, "forward shape", sourceLocation: sourceLocation)
        if y.shape == r.shape {
            let diff = zip(y.scalars, r.scalars).map { abs($0 - $1) }.max() ?? 0
            #expect(diff <= forwardTolerance, "forward differs from the reference by \(diff)", sourceLocation: sourceLocation)
        }
    }
    let report = try gradientCheck(at: inputs, f)
    #expect(report.worstRelativeError <= gradTolerance, "\(report)", sourceLocation: sourceLocation)
    #expect(report.checkedCount == inputs.reduce(0) { $0 + $1.count }, sourceLocation: sourceLocation)
}

/// `checkOp` for a one-input op.
func checkOp(_ input: Tensor<Double>, reference: ((Tensor<Double>) throws -> Tensor<Double>)? = nil,
             forwardTolerance: Double = 1e-12, sourceLocation: SourceLocation = #_sourceLocation,
             _ f: (Variable<Double>) throws -> Variable<Double>) throws {
    try checkOp([input], reference: reference.map { r in { try r($0[0]) } }, forwardTolerance: forwardTolerance,
                sourceLocation: sourceLocation) { try f($0[0]) }
}

/// Naive row-major element access for references.
extension Tensor where Scalar == Double {
    subscript(_ i: Int...) -> Double { try! element(at: i) }
}

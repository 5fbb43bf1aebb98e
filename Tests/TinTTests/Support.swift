import Testing
import Tensor
@testable import TinT

/// Normal random tensor (deterministic per seed).
func randn<S: TensorScalar>(_ shape: [Int], seed: UInt64, std: Double = 1, as: S.Type = S.self) -> Tensor<S> {
    var rng = TensorRNG(seed: seed)
    return try! Tensor<S>.normal(shape, std: S(std), using: &rng)
}

/// Largest absolute elementwise difference of two equally shaped tensors (∞ on a shape mismatch).
func maxDiff<S: TensorScalar>(_ a: Tensor<S>, _ b: Tensor<S>) -> Double {
    guard a.shape == b.shape else { return .infinity }
    return zip(a.scalars, b.scalars).map { Double(abs($0 - $1)) }.max() ?? 0
}

/// Largest absolute value.
func maxAbs<S: TensorScalar>(_ a: Tensor<S>) -> Double { a.scalars.map { Double(abs($0)) }.max() ?? 0 }

/// `x·M` for `x [n, a]`, `M [a, b]` with explicit Double loops.
func naiveMatmul(_ x: Tensor<Double>, _ m: Tensor<Double>) -> Tensor<Double> {
    let n = x.shape[0], a = x.shape[1], b = m.shape[1]
    let xs = x.scalars, ms = m.scalars
    var out = [Double](repeating: 0, count: n * b)
    for i in 0..<n { for k in 0..<a { let v = xs[i * a + k]; if v == 0 { continue }; for j in 0..<b { out[i * b + j] += v * ms[k * b + j] } } }
    return try! Tensor(shape: [n, b], scalars: out)
}

/// Columns `[lo, lo+width)` of a 2-D tensor as a contiguous tensor.
func columns<S: TensorScalar>(_ t: Tensor<S>, _ lo: Int, _ width: Int) -> Tensor<S> {
    try! t.sliced(axis: 1, lo..<(lo + width)).contiguous()
}

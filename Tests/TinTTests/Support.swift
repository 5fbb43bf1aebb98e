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

/// Small TinT configurations covering S ∈ {3, 4} and D_aux 16…96.
let smallConfigs: [SimulatorSpec] = [
    SimulatorSpec(auxWidth: 48, auxHeads: 3, auxMaxPositions: 64, rowsPerPrefix: 3, simHeads: 12),
    SimulatorSpec(auxWidth: 64, auxHeads: 4, auxMaxPositions: 64, rowsPerPrefix: 4, simHeads: 20),
    SimulatorSpec(auxWidth: 96, auxHeads: 6, auxMaxPositions: 64, rowsPerPrefix: 3, simHeads: 12),
    SimulatorSpec(auxWidth: 16, auxHeads: 4, auxMaxPositions: 64, rowsPerPrefix: 4, simHeads: 20),
]

extension SimulatorSpec {
    /// The same configuration with other gates.
    func with(gates: GateKind) -> SimulatorSpec { var c = self; c.gates = gates; return c }
    func with(learningRate: Double) -> SimulatorSpec { var c = self; c.learningRate = learningRate; return c }
}

/// Tolerance for exact identities: Double with hard gates, or fp32 with the paper's tanh(10) gates.
func exactTolerance<S: TensorScalar>(_ s: S.Type) -> Double { S.self == Double.self ? 1e-10 : 1e-5 }

/// The gates the exactness tests use for a scalar type.
func testGates<S: TensorScalar>(_ s: S.Type) -> GateKind { S.self == Double.self ? .hard : .tanh(10) }

/// Masks covering the edge cases: mixed, all-train, no-train, and an interleaved pattern.
func testMasks(_ t: Int) -> [[Bool]] {
    [(0..<t).map { $0 < (t + 1) / 2 }, [Bool](repeating: true, count: t), [Bool](repeating: false, count: t),
     (0..<t).map { $0 % 3 != 1 }]
}

/// A random state: prefixes holding `prefixes`, token rows random everywhere (so preserved regions are checked).
func randomState<S: TensorScalar>(_ config: SimulatorSpec, prefixes: Tensor<S>, tokens t: Int, seed: UInt64,
                                  mask: [Bool]? = nil) -> TinTState<S> {
    let tok: Tensor<S> = randn([t, config.simWidth], seed: seed)
    return try! TinTState(prefixes: prefixes, tokens: tok, trainMask: mask ?? testMasks(t)[0])
}

/// `x·Wᵀ + b` in Double with explicit loops (x `[T, d_in]`, W `[d_out, d_in]`).
func naiveLinear(_ x: Tensor<Double>, _ w: Tensor<Double>, _ b: Tensor<Double>?) -> Tensor<Double> {
    let t = x.shape[0], dIn = x.shape[1], dOut = w.shape[0]
    let xs = x.scalars, ws = w.scalars, bs = b?.scalars
    var y = [Double](repeating: 0, count: t * dOut)
    for i in 0..<t { for o in 0..<dOut {
        var s = bs?[o] ?? 0
        for k in 0..<dIn { s += ws[o * dIn + k] * xs[i * dIn + k] }
        y[i * dOut + o] = s
    } }
    return try! Tensor(shape: [t, dOut], scalars: y)
}

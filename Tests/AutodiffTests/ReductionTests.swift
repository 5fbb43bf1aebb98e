import Testing
import Tensor
@testable import Autodiff

/// Naive reduction reference over `axes` with `combine` starting from `initial`.
func reduceRef(_ x: Tensor<Double>, axes: [Int]?, keepDims: Bool, initial: Double, _ combine: (Double, Double) -> Double,
               finish: (Double, Int) -> Double = { v, _ in v }) throws -> Tensor<Double> {
    let r = x.rank
    let set = Set((axes ?? Array(0..<r)).map { $0 < 0 ? $0 + r : $0 })
    let kept = x.shape.enumerated().map { set.contains($0.offset) ? 1 : $0.element }
    let n = kept.reduce(1, *), reduced = x.count / max(n, 1)
    var acc = [Double](repeating: initial, count: n)
    for i in 0..<x.count {
        var rest = i, o = 0, mul = 1
        var idx = [Int](repeating: 0, count: r)
        for d in stride(from: r - 1, through: 0, by: -1) { idx[d] = rest % x.shape[d]; rest /= x.shape[d] }
        for d in stride(from: r - 1, through: 0, by: -1) { o += (set.contains(d) ? 0 : idx[d]) * mul; mul *= kept[d] }
        acc[o] = combine(acc[o], try x.element(at: idx))
    }
    let out = keepDims ? kept : x.shape.enumerated().filter { !set.contains($0.offset) }.map(\.element)
    return try Tensor(shape: out, scalars: acc.map { finish($0, reduced) })
}

@Suite struct ReductionTests {
    let axesCases: [[Int]?] = [nil, [0], [1], [-1], [0, 2], [2, 0, 1]]

    @Test func sumAndMean() throws {
        let x = rand([3, 4, 5], 1)
        for axes in axesCases {
            for keep in [false, true] {
                try checkOp(x, reference: { try reduceRef($0, axes: axes, keepDims: keep, initial: 0, +) },
                            forwardTolerance: 1e-13) { try $0.sum(axes: axes, keepDims: keep) }
                try checkOp(x, reference: { try reduceRef($0, axes: axes, keepDims: keep, initial: 0, +) { $0 / Double($1) } },
                            forwardTolerance: 1e-13) { try $0.mean(axes: axes, keepDims: keep) }
            }
        }
        try checkOp(try rand([4, 3], 2).transposed()) { try $0.sum(axis: 1) }  // non-contiguous input
    }

    @Test func maxAndMin() throws {
        // Distinct values (a permutation of a grid) so that no maximum is tied.
        var rng = TensorRNG(seed: 3)
        let x = try Tensor<Double>(shape: [3, 4, 5], scalars: (0..<60).map { Double($0) / 10 }.shuffled(using: &rng))
        for axes in axesCases {
            for keep in [false, true] {
                try checkOp(x, reference: { try reduceRef($0, axes: axes, keepDims: keep, initial: -.infinity, max) }) {
                    try $0.max(axes: axes, keepDims: keep)
                }
                try checkOp(x, reference: { try reduceRef($0, axes: axes, keepDims: keep, initial: .infinity, min) }) {
                    try $0.min(axes: axes, keepDims: keep)
                }
            }
        }
    }

    @Test func tiedMaximaShareTheGradient() throws {
        let x = try Tensor<Double>(shape: [2, 3], scalars: [1, 5, 5, 2, 2, 2])
        let g = try gradient(at: x) { try $0.max(axis: 1).sum() }
        let expected: [Double] = [0, 0.5, 0.5, 1.0 / 3, 1.0 / 3, 1.0 / 3]
        #expect(g.scalars == expected)
    }

    @Test func badAxisThrows() throws {
        let x = Variable(rand([2, 3], 4), requiresGradient: true)
        #expect(throws: TensorError.self) { try x.sum(axes: [2]) }
        #expect(throws: TensorError.self) { try x.max(axis: -3) }
    }
}

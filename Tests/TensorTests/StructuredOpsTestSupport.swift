@testable import Tensor

/// Naive references and layout helpers shared by the reduction, softmax, normalisation, indexing and
/// concat suites. Everything here reads tensors one element at a time through `element(at:)`, so it does
/// not depend on the kernels under test.
enum NaiveRef {
    /// Every multi-index of `shape`, row-major.
    static func indices(_ shape: [Int]) -> [[Int]] {
        if shape.contains(0) { return [] }
        var out: [[Int]] = [], index = [Int](repeating: 0, count: shape.count)
        while true {
            out.append(index)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
            if d < 0 { return out }
        }
    }

    /// The elements as Doubles, row-major, read one by one through the strided layout.
    static func values<S: TensorScalar>(_ t: Tensor<S>) -> [Double] {
        indices(t.shape).map { Double(try! t.element(at: $0)) }
    }

    /// Groups the elements of `x` by their output position when `axes` (normalised, nil = all) are reduced,
    /// and applies `f` to each group. Returns the output shape and values.
    static func reduce<S: TensorScalar>(_ x: Tensor<S>, axes: [Int]?, keepDims: Bool,
                                        _ f: ([Double]) -> Double) -> (shape: [Int], values: [Double]) {
        let r = x.rank
        let reduced = Set((axes ?? Array(0..<r)).map { $0 < 0 ? $0 + r : $0 })
        let keptDims = (0..<r).filter { !reduced.contains($0) }
        let keptShape = keptDims.map { x.shape[$0] }
        let outCount = keptShape.reduce(1, *)
        var groups = [[Double]](repeating: [], count: outCount)
        let keptStrides = Tensor<S>.contiguousStrides(keptShape)
        for index in indices(x.shape) {
            var o = 0
            for (k, d) in keptDims.enumerated() { o += index[d] * keptStrides[k] }
            groups[o].append(Double(try! x.element(at: index)))
        }
        let shape = keepDims ? (0..<r).map { reduced.contains($0) ? 1 : x.shape[$0] } : keptShape
        return (shape, groups.map(f))
    }

    /// A seeded tensor with the given logical shape, laid out as `layout` describes.
    static func tensor(_ shape: [Int], _ layout: Layout, seed: UInt64, low: Float = -1, high: Float = 1) -> Tensor<Float> {
        var rng = TensorRNG(seed: seed)
        switch layout {
        case .contiguous:
            return try! .uniform(shape, low: low, high: high, using: &rng)
        case .transposed:  // stored with the dimensions reversed, then permuted back
            let base = try! Tensor<Float>.uniform(shape.reversed(), low: low, high: high, using: &rng)
            return try! base.permuted(Array((0..<shape.count).reversed()))
        case .stepped:  // every second element along the first axis of a larger tensor
            var big = shape
            big[0] = 2 * shape[0] + 1
            let base = try! Tensor<Float>.uniform(big, low: low, high: high, using: &rng)
            return try! base.sliced(axis: 0, 1..<big[0], step: 2)
        case .expanded:  // the first dimension broadcast from size 1 (stride 0)
            var small = shape
            small[0] = 1
            let base = try! Tensor<Float>.uniform(small, low: low, high: high, using: &rng)
            return try! base.expanded(to: shape)
        }
    }

    enum Layout: CaseIterable, Sendable { case contiguous, transposed, stepped, expanded }

    /// The largest |actual − expected| / (atol + rtol·|scale|), over all elements; ≤ 1 means within tolerance.
    /// NaNs must match NaNs and infinities must match exactly.
    static func worstRatio(_ actual: [Double], _ expected: [Double], scale: [Double]? = nil,
                           rtol: Double, atol: Double) -> Double {
        precondition(actual.count == expected.count)
        var worst = 0.0
        for i in actual.indices {
            let a = actual[i], e = expected[i]
            if e.isNaN || a.isNaN || e.isInfinite || a.isInfinite {
                if !(a == e || (a.isNaN && e.isNaN)) { return .infinity }
                continue
            }
            let s = Swift.abs(scale?[i] ?? e)
            worst = Swift.max(worst, Swift.abs(a - e) / (atol + rtol * s))
        }
        return worst
    }
}

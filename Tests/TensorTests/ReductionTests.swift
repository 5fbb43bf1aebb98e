import Testing
@testable import Tensor

/// Reductions against naive Double loops. Tolerances: sums and means within 1e-6 · Σ|x| of the group
/// (plus 1e-30); max and min exact; variance within 1e-5 relative (+1e-7 absolute). Double inputs: 1e-12–1e-14.
@Suite struct ReductionTests {
    static let cases: [(shape: [Int], axes: [Int]?)] = [
        ([1], nil), ([7], [0]), ([13], [-1]), ([65], nil), ([257], [0]),
        ([7, 13], [1]), ([7, 13], [0]), ([13, 65], [-1]), ([65, 7], [-2]), ([7, 257], nil),
        ([3, 5, 7], [0, 2]), ([3, 5, 7], [1]), ([3, 5, 7], [-1, 0]), ([3, 5, 7], []),
        ([2, 3, 4, 5], [1, 3]), ([2, 3, 4, 5], [0, 1, 2]), ([2, 1, 4, 5], [1, 2]), ([5, 1, 7], [0]),
    ]

    static func naiveSum(_ g: [Double]) -> Double { g.reduce(0, +) }
    static func naiveAbsSum(_ g: [Double]) -> Double { g.reduce(0) { $0 + Swift.abs($1) } }

    @Test(arguments: NaiveRef.Layout.allCases)
    func sumMeanMaxMinMatchNaive(layout: NaiveRef.Layout) throws {
        for (i, c) in Self.cases.enumerated() {
            let x = NaiveRef.tensor(c.shape, layout, seed: UInt64(i))
            for keep in [false, true] {
                let sum = try x.sum(axes: c.axes, keepDims: keep)
                let ref = NaiveRef.reduce(x, axes: c.axes, keepDims: keep, Self.naiveSum)
                let scale = NaiveRef.reduce(x, axes: c.axes, keepDims: keep, Self.naiveAbsSum).values
                #expect(sum.shape == ref.shape, "\(c) \(layout)")
                #expect(NaiveRef.worstRatio(NaiveRef.values(sum), ref.values, scale: scale, rtol: 1e-6, atol: 1e-30) <= 1,
                        "sum \(c) \(layout) keep=\(keep)")

                let mean = try x.mean(axes: c.axes, keepDims: keep)
                let n = Double(c.shape.reduce(1, *) / Swift.max(ref.values.count, 1))
                #expect(mean.shape == ref.shape)
                #expect(NaiveRef.worstRatio(NaiveRef.values(mean), ref.values.map { $0 / n },
                                            scale: scale.map { $0 / n }, rtol: 1e-6, atol: 1e-30) <= 1,
                        "mean \(c) \(layout) keep=\(keep)")

                let maxRef = NaiveRef.reduce(x, axes: c.axes, keepDims: keep) { $0.max()! }
                let minRef = NaiveRef.reduce(x, axes: c.axes, keepDims: keep) { $0.min()! }
                let mx = try x.max(axes: c.axes, keepDims: keep), mn = try x.min(axes: c.axes, keepDims: keep)
                #expect(mx.shape == maxRef.shape && mn.shape == minRef.shape)
                #expect(NaiveRef.values(mx) == maxRef.values, "max \(c) \(layout)")
                #expect(NaiveRef.values(mn) == minRef.values, "min \(c) \(layout)")
            }
        }
    }

    @Test func singleAxisConveniencesMatchAxesForms() throws {
        let x = NaiveRef.tensor([7, 13, 5], .transposed, seed: 3)
        for axis in [0, 1, 2, -1, -3] {
            for keep in [false, true] {
                #expect(try x.sum(axis: axis, keepDims: keep) == x.sum(axes: [axis], keepDims: keep))
                #expect(try x.mean(axis: axis, keepDims: keep) == x.mean(axes: [axis], keepDims: keep))
                #expect(try x.max(axis: axis, keepDims: keep) == x.max(axes: [axis], keepDims: keep))
                #expect(try x.min(axis: axis, keepDims: keep) == x.min(axes: [axis], keepDims: keep))
            }
        }
    }

    @Test func fullReductionShapes() throws {
        let x = NaiveRef.tensor([3, 4], .contiguous, seed: 1)
        #expect(try x.sum().shape == [])
        #expect(try x.sum(keepDims: true).shape == [1, 1])
        #expect(try x.sum(axes: []) == x)  // reducing no axes is the identity
        let s = Tensor<Float>(scalar: 2.5)
        #expect(try s.sum().item() == 2.5)
        #expect(try s.max().item() == 2.5)
    }

    /// Large reductions: accuracy of long Float sums against Double, and the parallel row/column paths.
    @Test func longSumsStayAccurate() throws {
        var rng = TensorRNG(seed: 42)
        for (low, high) in [(Float(0), Float(1)), (-1, 1), (1e4 - 1, 1e4 + 1)] {
            let x = try Tensor<Float>.uniform([1_000_003], low: low, high: high, using: &rng)
            var exact = 0.0, absSum = 0.0
            for v in x.scalars { exact += Double(v); absSum += Swift.abs(Double(v)) }
            let got = Double(try x.sum().item())
            #expect(Swift.abs(got - exact) <= 1e-6 * absSum, "[\(low), \(high)): \(got) vs \(exact)")
            let mean = Double(try x.mean().item())
            #expect(Swift.abs(mean - exact / 1_000_003) <= 1e-6 * absSum / 1_000_003)
        }
    }

    @Test func largeRowAndColumnReductions() throws {
        for (shape, axes) in [([1024, 513], [1]), ([1024, 513], [0]), ([4, 300, 520], [1]), ([520, 4, 300], [0, 2])] {
            let x = NaiveRef.tensor(shape, .contiguous, seed: 9)
            let xs = x.scalars.map(Double.init)
            // Naive sums directly over the flat buffer (element(at:) would be slow at this size).
            let strides = Tensor<Float>.contiguousStrides(shape)
            let keptDims = shape.indices.filter { !axes.contains($0) }
            let keptShape = keptDims.map { shape[$0] }
            let keptStrides = Tensor<Float>.contiguousStrides(keptShape)
            var ref = [Double](repeating: 0, count: keptShape.reduce(1, *))
            var absRef = ref, maxRef = [Double](repeating: -.infinity, count: ref.count)
            for flat in xs.indices {
                var o = 0
                for (k, d) in keptDims.enumerated() { o += (flat / strides[d] % shape[d]) * keptStrides[k] }
                ref[o] += xs[flat]; absRef[o] += Swift.abs(xs[flat]); maxRef[o] = Swift.max(maxRef[o], xs[flat])
            }
            let sum = try x.sum(axes: axes)
            #expect(sum.shape == keptShape)
            #expect(NaiveRef.worstRatio(sum.scalars.map(Double.init), ref, scale: absRef, rtol: 1e-6, atol: 1e-30) <= 1,
                    "\(shape) \(axes)")
            #expect(try x.max(axes: axes).scalars.map(Double.init) == maxRef, "\(shape) \(axes)")
        }
        // Row-parallel argmax and variance over [1024, 513].
        let x = NaiveRef.tensor([1024, 513], .contiguous, seed: 10)
        let xs = x.scalars.map(Double.init)
        let rows = (0..<1024).map { Array(xs[($0 * 513)..<(($0 + 1) * 513)]) }
        #expect(try x.argmax(axis: 1).values == rows.map { $0.firstIndex(of: $0.max()!)! })
        let variances = rows.map { g in
            let m = g.reduce(0, +) / 513
            return g.reduce(0) { $0 + ($1 - m) * ($1 - m) } / 512
        }
        #expect(NaiveRef.worstRatio(try x.variance(axes: [1], unbiased: true).scalars.map(Double.init), variances,
                                    rtol: 1e-5, atol: 0) <= 1)
    }

    @Test func nanPropagatesAndEmptyReductions() throws {
        let x = try Tensor<Float>(shape: [2, 20], scalars: (0..<40).map { $0 == 27 ? .nan : Float($0) })
        #expect(try x.sum(axis: 1).scalars[1].isNaN)
        #expect(try x.sum(axis: 1).scalars[0] == 190)
        for r in [try x.max(axis: 1), try x.min(axis: 1), try x.max(axis: 0), try x.min(axis: 0)] {
            #expect(r.scalars.filter(\.isNaN).count == 1)
        }
        #expect(try x.max().item().isNaN && x.min().item().isNaN)
        // NaN first in a run and inside the SIMD body: still propagates.
        let y = Tensor<Float>([.nan] + [Float](repeating: 1, count: 40) + [.nan] + [Float](repeating: 2, count: 20))
        #expect(try y.max().item().isNaN)
        #expect(try y.sliced(axis: 0, 1..<41).max().item() == 1)

        let empty = try Tensor<Float>.zeros([3, 0])
        #expect(try empty.sum(axis: 1).scalars == [0, 0, 0])
        #expect(try empty.mean(axis: 1).scalars.allSatisfy(\.isNaN))
        #expect(try empty.sum(axis: 0).shape == [0])
        #expect(try empty.max(axis: 0).shape == [0])  // no output element, so nothing undefined
        #expect(throws: TensorError.invalidShape(op: "max", shape: [3, 0], reason: "cannot reduce over an empty axis (no identity element)")) {
            try empty.max(axis: 1)
        }
        #expect(throws: TensorError.self) { try empty.min() }
    }

    @Test func doubleReductionsMatchNaive() throws {
        var rng = TensorRNG(seed: 5)
        let x = try Tensor<Double>.uniform([13, 65], low: -1, high: 1, using: &rng).transposed()
        let ref = NaiveRef.reduce(x, axes: [0], keepDims: false, ReductionTests.naiveSum)
        #expect(NaiveRef.worstRatio(NaiveRef.values(try x.sum(axis: 0)), ref.values, rtol: 1e-14, atol: 1e-14) <= 1)
        #expect(NaiveRef.values(try x.max(axes: [0, 1])) == [NaiveRef.values(x).max()!])
        #expect(NaiveRef.values(try x.min(axis: 1)) == NaiveRef.reduce(x, axes: [1], keepDims: false) { $0.min()! }.values)
        #expect(try x.argmin(axis: 1).values == NaiveRef.reduce(x, axes: [1], keepDims: false) { g in
            Double(g.firstIndex(of: g.min()!)!)
        }.values.map { Int($0) })
        let meanRef = NaiveRef.reduce(x, axes: [1], keepDims: true) { $0.reduce(0, +) / Double($0.count) }
        #expect(NaiveRef.worstRatio(NaiveRef.values(try x.mean(axis: 1, keepDims: true)), meanRef.values, rtol: 1e-13, atol: 1e-15) <= 1)
        let varRef = NaiveRef.reduce(x, axes: [0], keepDims: false) { g in
            let m = g.reduce(0, +) / Double(g.count)
            return g.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(g.count)
        }
        #expect(NaiveRef.worstRatio(NaiveRef.values(try x.variance(axes: [0])), varRef.values, rtol: 1e-12, atol: 0) <= 1)
    }

    @Test(arguments: [NaiveRef.Layout.contiguous, .transposed, .stepped])
    func varianceMatchesNaive(layout: NaiveRef.Layout) throws {
        for (i, c) in Self.cases.enumerated() {
            let x = NaiveRef.tensor(c.shape, layout, seed: UInt64(100 + i))
            for unbiased in [false, true] {
                let v = try x.variance(axes: c.axes, keepDims: true, unbiased: unbiased)
                let ref = NaiveRef.reduce(x, axes: c.axes, keepDims: true) { g in
                    let m = g.reduce(0, +) / Double(g.count)
                    let d = Double(g.count - (unbiased ? 1 : 0))
                    return d > 0 ? g.reduce(0) { $0 + ($1 - m) * ($1 - m) } / d : .nan
                }
                #expect(v.shape == ref.shape)
                #expect(NaiveRef.worstRatio(NaiveRef.values(v), ref.values, rtol: 1e-5, atol: 1e-7) <= 1,
                        "\(c) \(layout) unbiased=\(unbiased)")
            }
        }
    }

    @Test func varianceOfLargeMeanRows() throws {
        var rng = TensorRNG(seed: 8)
        let noise = try Tensor<Float>.normal([6, 1000], std: 1e-2, using: &rng).scalars
        let x = try Tensor<Float>(shape: [6, 1000], scalars: noise.map { 1e4 + $0 })
        let ref = NaiveRef.reduce(x, axes: [1], keepDims: false) { g in
            let m = g.reduce(0, +) / Double(g.count)
            return g.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(g.count)
        }
        #expect(NaiveRef.worstRatio(NaiveRef.values(try x.variance(axes: [1])), ref.values, rtol: 1e-4, atol: 0) <= 1)
    }

    @Test func argmaxArgminTiesNaNAndLayouts() throws {
        let x = try Tensor<Float>(shape: [3, 4], scalars: [1, 5, 5, 0, /**/ 2, 2, 2, 2, /**/ 7, -1, 7, -1])
        #expect(try x.argmax(axis: 1) == TensorIndices(shape: [3], values: [1, 0, 0]))
        #expect(try x.argmin(axis: 1) == TensorIndices(shape: [3], values: [3, 0, 1]))
        #expect(try x.argmax(axis: 0) == TensorIndices(shape: [4], values: [2, 0, 2, 1]))
        #expect(try x.argmax(axis: -1, keepDims: true) == TensorIndices(shape: [3, 1], values: [1, 0, 0]))
        #expect(try x.transposed().argmin(axis: 0, keepDims: true) == TensorIndices(shape: [1, 3], values: [3, 0, 1]))

        let nanRow = Tensor<Float>([3, .nan, 9, .nan])
        #expect(try nanRow.argmax(axis: 0).values == [1])
        #expect(try nanRow.argmin(axis: 0).values == [1])
        #expect(try Tensor<Float>([-.infinity, -.infinity]).argmax(axis: 0).values == [0])

        // Long rows take the SIMD max; put the winner in the body, the tail, and tie it across both.
        for (n, at) in [(257, 0), (257, 100), (257, 256), (65, 64), (13, 7)] {
            var v = (0..<n).map { Float($0 % 11) * 0.1 }
            v[at] = 5
            if at + 3 < n { v[at + 3] = 5 }
            #expect(try Tensor(v).argmax(axis: 0).values == [at])
            #expect(try Tensor(v.map { -$0 }).argmin(axis: 0).values == [at])
        }

        for layout in NaiveRef.Layout.allCases {
            let t = NaiveRef.tensor([7, 13, 5], layout, seed: 77)
            for axis in 0..<3 {
                let got = try t.argmax(axis: axis)
                let ref = NaiveRef.reduce(t, axes: [axis], keepDims: false) { g in Double(g.firstIndex(of: g.max()!)!) }
                #expect(got.shape == ref.shape && got.values == ref.values.map { Int($0) }, "\(layout) axis \(axis)")
            }
        }
    }

    @Test func errorsNameTheProblem() throws {
        let x = try Tensor<Float>.zeros([2, 3])
        #expect(throws: TensorError.axisOutOfRange(op: "sum", axis: 2, rank: 2)) { try x.sum(axes: [2]) }
        #expect(throws: TensorError.axisOutOfRange(op: "mean", axis: -3, rank: 2)) { try x.mean(axis: -3) }
        #expect(throws: TensorError.invalidArgument(op: "max", reason: "axis -1 appears twice in [1, -1]")) {
            try x.max(axes: [1, -1])
        }
        #expect(throws: TensorError.axisOutOfRange(op: "min", axis: 5, rank: 2)) { try x.min(axis: 5) }
        #expect(throws: TensorError.axisOutOfRange(op: "variance", axis: 9, rank: 2)) { try x.variance(axes: [9]) }
        #expect(throws: TensorError.axisOutOfRange(op: "argmax", axis: 2, rank: 2)) { try x.argmax(axis: 2) }
        #expect(throws: TensorError.axisOutOfRange(op: "argmin", axis: 0, rank: 0)) { try Tensor<Float>(scalar: 1).argmin(axis: 0) }
        #expect(throws: TensorError.invalidShape(op: "argmax", shape: [2, 0], reason: "cannot reduce over an empty axis (no identity element)")) {
            try Tensor<Float>.zeros([2, 0]).argmax(axis: 1)
        }
        #expect(try Tensor<Float>.zeros([0, 3]).argmax(axis: 1) == TensorIndices(shape: [0], values: []))
    }
}

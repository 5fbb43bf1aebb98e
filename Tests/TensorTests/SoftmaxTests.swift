import Testing
import Foundation
@testable import Tensor

/// Softmax family against naive Double loops (max-subtracted). Tolerances: softmax |Δ| ≤ 1e-6 + 1e-5·|ref|;
/// logSoftmax and logSumExp |Δ| ≤ 2e-6 + 1e-6·|ref| (plus the Float rounding of inputs, which is shared).
@Suite struct SoftmaxTests {
    static func naiveSoftmax(_ g: [Double]) -> [Double] {
        let m = g.max() ?? -.infinity
        if m == -.infinity { return g.map { _ in 0 } }
        let e = g.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    static func naiveLogSumExp(_ g: [Double]) -> Double {
        let m = g.max() ?? -.infinity
        if !m.isFinite { return m }
        return m + Foundation.log(g.reduce(0) { $0 + Foundation.exp($1 - m) })
    }

    /// Applies a row function along `axis` of `x`, returning values in row-major order of `x`.
    static func alongAxis(_ x: Tensor<Float>, axis: Int, _ f: ([Double]) -> [Double]) -> [Double] {
        let a = axis < 0 ? axis + x.rank : axis
        var out = [Double](repeating: .nan, count: x.count)
        let strides = Tensor<Float>.contiguousStrides(x.shape)
        var lineShape = x.shape
        lineShape[a] = 1
        for start in NaiveRef.indices(lineShape) {
            var idx = start, flat: [Int] = [], g: [Double] = []
            for i in 0..<x.shape[a] {
                idx[a] = i
                g.append(Double(try! x.element(at: idx)))
                flat.append(zip(idx, strides).map(*).reduce(0, +))
            }
            for (k, v) in zip(flat, f(g)) { out[k] = v }
        }
        return out
    }

    static let cases: [(shape: [Int], axis: Int)] = [
        ([1], -1), ([7], 0), ([13, 65], -1), ([13, 65], 0), ([7, 257], 1), ([3, 5, 7], 1), ([3, 5, 7], -3), ([2, 3, 4, 5], 2),
    ]

    @Test(arguments: NaiveRef.Layout.allCases)
    func softmaxAndLogSoftmaxMatchNaive(layout: NaiveRef.Layout) throws {
        for (i, c) in Self.cases.enumerated() {
            let x = NaiveRef.tensor(c.shape, layout, seed: UInt64(i), low: -20, high: 20)
            let s = try x.softmax(axis: c.axis)
            #expect(s.shape == x.shape && s.isContiguous)
            let ref = Self.alongAxis(x, axis: c.axis, Self.naiveSoftmax)
            #expect(NaiveRef.worstRatio(s.scalars.map(Double.init), ref, rtol: 1e-5, atol: 1e-6) <= 1, "\(c) \(layout)")

            let l = try x.logSoftmax(axis: c.axis)
            let lref = Self.alongAxis(x, axis: c.axis) { g in Self.naiveSoftmax(g).map { Foundation.log($0) } }
            #expect(NaiveRef.worstRatio(l.scalars.map(Double.init), lref, rtol: 1e-6, atol: 2e-6) <= 1, "log \(c) \(layout)")
        }
    }

    @Test func defaultAxisIsLast() throws {
        let x = NaiveRef.tensor([5, 7], .contiguous, seed: 2)
        #expect(try x.softmax() == x.softmax(axis: 1))
        #expect(try x.logSoftmax() == x.logSoftmax(axis: -1))
    }

    @Test(arguments: [NaiveRef.Layout.contiguous, .transposed, .stepped])
    func logSumExpMatchesNaive(layout: NaiveRef.Layout) throws {
        let cases: [([Int], [Int]?)] = [([1], nil), ([65], [0]), ([13, 65], [-1]), ([13, 65], [0]),
                                        ([3, 5, 7], [0, 2]), ([3, 5, 7], nil), ([2, 3, 4, 5], [1, 3]), ([3, 5], [])]
        for (i, (shape, axes)) in cases.enumerated() {
            let x = NaiveRef.tensor(shape, layout, seed: UInt64(50 + i), low: -30, high: 30)
            for keep in [false, true] {
                let got = try x.logSumExp(axes: axes, keepDims: keep)
                let ref = NaiveRef.reduce(x, axes: axes, keepDims: keep, Self.naiveLogSumExp)
                #expect(got.shape == ref.shape)
                #expect(NaiveRef.worstRatio(NaiveRef.values(got), ref.values, rtol: 1e-6, atol: 2e-6) <= 1,
                        "\(shape) \(String(describing: axes)) \(layout)")
            }
        }
        let x = NaiveRef.tensor([4, 9], .contiguous, seed: 3)
        #expect(try x.logSumExp(axis: 1, keepDims: true) == x.logSumExp(axes: [1], keepDims: true))
    }

    @Test func extremeValuesAreStable() throws {
        #expect(try Tensor<Float>([1e30, -1e30]).softmax().scalars == [1, 0])
        #expect(try Tensor<Float>([3e38, -3e38, 3e38]).softmax().scalars == [0.5, 0, 0.5])
        #expect(try Tensor<Float>([1e30, -1e30]).logSoftmax().scalars == [0, -2e30])
        #expect(try Tensor<Float>([1e30, 1e30]).logSumExp().item() == 1e30)
        #expect(try Tensor<Float>([-1e30, -1e30]).logSumExp().item() == -1e30)
        let lse = try Tensor<Double>([1000, 1000, 1000]).logSumExp().item()
        #expect(Swift.abs(lse - (1000 + Foundation.log(3.0))) <= 1e-12)
        let lseF = try Tensor<Float>([88, 89, 90]).logSumExp().item()  // exp(90) overflows Float
        #expect(Swift.abs(Double(lseF) - Self.naiveLogSumExp([88, 89, 90])) <= 1e-5)
    }

    @Test func maskedRowsAreDefined() throws {
        let inf = Float.infinity
        let x = try Tensor<Float>(shape: [3, 4], scalars: [-inf, -inf, -inf, -inf, /**/ 0, -inf, 0, -inf, /**/ 1, 2, 3, 4])
        let s = try x.softmax()
        #expect(Array(s.scalars[0..<8]) == [0, 0, 0, 0, 0.5, 0, 0.5, 0])
        #expect(NaiveRef.worstRatio(Array(s.scalars[8...]).map(Double.init), Self.naiveSoftmax([1, 2, 3, 4]), rtol: 1e-6, atol: 0) <= 1)
        let l = try x.logSoftmax()
        #expect(Array(l.scalars[0..<4]) == [-inf, -inf, -inf, -inf])
        #expect(l.scalars[5] == -inf && Swift.abs(l.scalars[4] + Float(Foundation.log(2.0))) <= 1e-7)
        #expect(try x.logSumExp(axis: 1).scalars[0] == -inf)
        // Along the first axis of a transposed view: the masked row is now a column.
        #expect(try x.transposed().softmax(axis: 0) == s.transposed().contiguous())
        // +∞ and NaN poison their row only.
        let bad = try Tensor<Float>(shape: [3, 2], scalars: [inf, 0, .nan, 0, 1, 1])
        let sb = try bad.softmax().scalars
        #expect(sb[0].isNaN && sb[1].isNaN && sb[2].isNaN && sb[3].isNaN && sb[4] == 0.5 && sb[5] == 0.5)
        let lb = try bad.logSumExp(axis: 1).scalars
        #expect(lb[0] == inf && lb[1].isNaN)
        #expect(try Tensor<Float>.zeros([2, 0]).logSumExp(axis: 1).scalars == [-inf, -inf])
        #expect(try Tensor<Float>.zeros([2, 0]).softmax().shape == [2, 0])
    }

    @Test func largeTensorsTakeTheParallelPath() throws {
        let x = NaiveRef.tensor([600, 1001], .contiguous, seed: 11, low: -10, high: 10)
        let xs = x.scalars.map(Double.init)
        var ref: [Double] = [], lse: [Double] = []
        for r in 0..<600 {
            let row = Array(xs[(r * 1001)..<((r + 1) * 1001)])
            ref += Self.naiveSoftmax(row)
            lse.append(Self.naiveLogSumExp(row))
        }
        #expect(NaiveRef.worstRatio(try x.softmax().scalars.map(Double.init), ref, rtol: 1e-5, atol: 1e-7) <= 1)
        #expect(NaiveRef.worstRatio(try x.logSumExp(axis: -1).scalars.map(Double.init), lse, rtol: 1e-6, atol: 2e-6) <= 1)
        // Along the first axis, through the transposed copy.
        let t = try x.transposed().softmax(axis: 0)
        #expect(NaiveRef.worstRatio(try t.transposed().contiguous().scalars.map(Double.init), ref, rtol: 1e-5, atol: 1e-7) <= 1)
    }

    @Test func doubleSoftmaxMatchesNaive() throws {
        var rng = TensorRNG(seed: 4)
        let x = try Tensor<Double>.uniform([7, 65], low: -700, high: 700, using: &rng)
        var ref: [Double] = []
        for r in 0..<7 { ref += Self.naiveSoftmax(Array(x.scalars[(r * 65)..<((r + 1) * 65)])) }
        #expect(NaiveRef.worstRatio(try x.softmax().scalars, ref, rtol: 1e-12, atol: 1e-300) <= 1)
    }

    @Test(arguments: NaiveRef.Layout.allCases)
    func formSoftmaxFromLogSumExp(layout: NaiveRef.Layout) throws {
        for (rows, n) in [(1, 1), (7, 13), (13, 65), (3, 257), (2, 1001)] {
            let x = NaiveRef.tensor([rows, n], layout, seed: 21, low: -10, high: 10)
            let before = x.scalars
            var y = x
            try y.formSoftmax(logSumExp: x.logSumExp(axis: -1), scale: 0.5)
            let ref = Self.alongAxis(x, axis: -1, Self.naiveSoftmax).map { $0 * 0.5 }
            #expect(NaiveRef.worstRatio(y.scalars.map(Double.init), ref, rtol: 1e-5, atol: 1e-7) <= 1, "\(rows)×\(n)")
            #expect(x.scalars == before)  // a shared tensor is copied, never overwritten
        }
        // keepDims log-sum-exp, rank 3, Double.
        var rng = TensorRNG(seed: 22)
        let d = try Tensor<Double>.uniform([2, 3, 5], low: -30, high: 30, using: &rng)
        var yd = d
        try yd.formSoftmax(logSumExp: d.logSumExp(axis: 2, keepDims: true))
        #expect(NaiveRef.worstRatio(yd.scalars, try d.softmax().scalars, rtol: 1e-13, atol: 1e-300) <= 1)
        // −∞ (fully masked) rows become zeros, +∞ and NaN rows NaN.
        let inf = Float.infinity
        var m = try Tensor<Float>(shape: [3, 2], scalars: [-inf, -inf, inf, 0, .nan, 1])
        try m.formSoftmax(logSumExp: m.logSumExp(axis: 1))
        let ms = m.scalars
        #expect(ms[0] == 0 && ms[1] == 0 && ms[2].isNaN && ms[3].isNaN && ms[4].isNaN && ms[5].isNaN)
        var e = try Tensor<Float>.zeros([2, 3])
        #expect(throws: TensorError.shapeMismatch(op: "formSoftmax", shapes: [[2, 3], [3]],
                                                  reason: "needs one log-sum-exp per row, shape [2]")) {
            try e.formSoftmax(logSumExp: Tensor<Float>.zeros([3]))
        }
        var s = Tensor<Float>(scalar: 1)
        #expect(throws: TensorError.self) { try s.formSoftmax(logSumExp: Tensor<Float>(scalar: 0)) }
    }

    @Test func errorsNameTheAxis() throws {
        let x = try Tensor<Float>.zeros([2, 3])
        #expect(throws: TensorError.axisOutOfRange(op: "softmax", axis: 2, rank: 2)) { try x.softmax(axis: 2) }
        #expect(throws: TensorError.axisOutOfRange(op: "logSoftmax", axis: -3, rank: 2)) { try x.logSoftmax(axis: -3) }
        #expect(throws: TensorError.axisOutOfRange(op: "logSumExp", axis: 4, rank: 2)) { try x.logSumExp(axis: 4) }
        #expect(throws: TensorError.invalidArgument(op: "logSumExp", reason: "axis -2 appears twice in [0, -2]")) {
            try x.logSumExp(axes: [0, -2])
        }
        #expect(throws: TensorError.axisOutOfRange(op: "softmax", axis: -1, rank: 0)) { try Tensor<Float>(scalar: 1).softmax() }
    }
}

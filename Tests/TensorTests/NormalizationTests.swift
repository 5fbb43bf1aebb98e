import Testing
import Foundation
@testable import Tensor

/// Layer norm and RMS norm against naive Double loops over each row. Tolerances: outputs
/// |Δ| ≤ 1e-5 + 1e-5·|ref|; statistics 1e-5 relative (mean: + 1e-6 absolute); rows around 1e4 with a
/// spread of 1e-2 stay within 1e-6.
@Suite struct NormalizationTests {
    struct RowRef { var output: [Double]; var mean: Double; var rstd: Double }

    static func naiveLayerNorm(_ g: [Double], _ w: [Double]?, _ b: [Double]?, _ eps: Double) -> RowRef {
        let n = Double(g.count)
        let mean = g.reduce(0, +) / n
        let variance = g.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let rstd = 1 / (variance + eps).squareRoot()
        let y = g.indices.map { j in (g[j] - mean) * rstd * (w?[j] ?? 1) + (b?[j] ?? 0) }
        return RowRef(output: y, mean: mean, rstd: rstd)
    }

    static func naiveRMSNorm(_ g: [Double], _ w: [Double]?, _ eps: Double) -> RowRef {
        let rstd = 1 / (g.reduce(0) { $0 + $1 * $1 } / Double(g.count) + eps).squareRoot()
        return RowRef(output: g.indices.map { g[$0] * rstd * (w?[$0] ?? 1) }, mean: 0, rstd: rstd)
    }

    /// The rows of `x` (last axis), read element by element.
    static func rows(_ x: Tensor<Float>) -> [[Double]] {
        let v = NaiveRef.values(x), d = x.shape.last!
        return stride(from: 0, to: v.count, by: d).map { Array(v[$0..<($0 + d)]) }
    }

    @Test(arguments: NaiveRef.Layout.allCases)
    func layerNormMatchesNaive(layout: NaiveRef.Layout) throws {
        for (i, shape) in [[1, 1], [7, 1], [1, 7], [7, 13], [3, 5, 65], [2, 257], [13]].enumerated() {
            let x = NaiveRef.tensor(shape, layout, seed: UInt64(i), low: -3, high: 5)
            let d = shape.last!
            let w = NaiveRef.tensor([d], .contiguous, seed: 100 + UInt64(i), low: 0.5, high: 2)
            let b = NaiveRef.tensor([d], .stepped, seed: 200 + UInt64(i))
            let wd = NaiveRef.values(w), bd = NaiveRef.values(b)
            for (useW, useB) in [(false, false), (true, false), (false, true), (true, true)] {
                let (y, mean, rstd) = try x.layerNormWithStatistics(weight: useW ? w : nil, bias: useB ? b : nil, epsilon: 1e-5)
                let refs = Self.rows(x).map { Self.naiveLayerNorm($0, useW ? wd : nil, useB ? bd : nil, 1e-5) }
                #expect(y.shape == shape && mean.shape == Array(shape.dropLast()) && rstd.shape == mean.shape)
                #expect(NaiveRef.worstRatio(y.scalars.map(Double.init), refs.flatMap(\.output), rtol: 1e-5, atol: 1e-5) <= 1,
                        "\(shape) \(layout) w=\(useW) b=\(useB)")
                #expect(NaiveRef.worstRatio(mean.scalars.map(Double.init), refs.map(\.mean), rtol: 1e-5, atol: 1e-6) <= 1)
                #expect(NaiveRef.worstRatio(rstd.scalars.map(Double.init), refs.map(\.rstd), rtol: 1e-5, atol: 0) <= 1)
                #expect(try x.layerNorm(weight: useW ? w : nil, bias: useB ? b : nil) == y)
            }
        }
    }

    /// Rows far from zero with a small spread: the variance must not lose the spread to cancellation.
    @Test func layerNormOfLargeMeanRows() throws {
        var rng = TensorRNG(seed: 21)
        for spread in [1e-2, 1.0] as [Float] {
            let noise = try Tensor<Float>.normal([5, 768], std: spread, using: &rng).scalars
            let x = try Tensor<Float>(shape: [5, 768], scalars: noise.map { 1e4 + $0 })
            let (y, mean, rstd) = try x.layerNormWithStatistics(epsilon: 1e-10)  // ε ≪ variance
            let refs = Self.rows(x).map { Self.naiveLayerNorm($0, nil, nil, Double(Float(1e-10))) }
            #expect(NaiveRef.worstRatio(y.scalars.map(Double.init), refs.flatMap(\.output), rtol: 1e-6, atol: 1e-6) <= 1, "\(spread)")
            #expect(NaiveRef.worstRatio(mean.scalars.map(Double.init), refs.map(\.mean), rtol: 1e-7, atol: 0) <= 1)
            #expect(NaiveRef.worstRatio(rstd.scalars.map(Double.init), refs.map(\.rstd), rtol: 1e-6, atol: 0) <= 1)
        }
    }

    @Test(arguments: [NaiveRef.Layout.contiguous, .transposed, .expanded])
    func rmsNormMatchesNaive(layout: NaiveRef.Layout) throws {
        for (i, shape) in [[1, 1], [7, 13], [3, 5, 65], [2, 257], [1, 7]].enumerated() {
            let x = NaiveRef.tensor(shape, layout, seed: UInt64(30 + i), low: -2, high: 3)
            let d = shape.last!
            let w = try NaiveRef.tensor([1, d], .contiguous, seed: UInt64(40 + i)).squeezed(0)
            for useW in [false, true] {
                let (y, rstd) = try x.rmsNormWithStatistics(weight: useW ? w : nil, epsilon: 1e-6)
                let refs = Self.rows(x).map { Self.naiveRMSNorm($0, useW ? NaiveRef.values(w) : nil, 1e-6) }
                #expect(y.shape == shape && rstd.shape == Array(shape.dropLast()))
                #expect(NaiveRef.worstRatio(y.scalars.map(Double.init), refs.flatMap(\.output), rtol: 1e-5, atol: 1e-5) <= 1,
                        "\(shape) \(layout) w=\(useW)")
                #expect(NaiveRef.worstRatio(rstd.scalars.map(Double.init), refs.map(\.rstd), rtol: 1e-5, atol: 0) <= 1)
                #expect(try x.rmsNorm(weight: useW ? w : nil, epsilon: 1e-6) == y)
            }
        }
    }

    @Test func epsilonAndDegenerateRows() throws {
        // A constant row has zero variance: the output is the bias, and rstd = 1/√ε.
        let x = try Tensor<Float>(shape: [2, 4], repeating: 3)
        let b = Tensor<Float>([1, 2, 3, 4])
        let (y, mean, rstd) = try x.layerNormWithStatistics(bias: b, epsilon: 0.25)
        #expect(y.scalars == [1, 2, 3, 4, 1, 2, 3, 4] && mean.scalars == [3, 3] && rstd.scalars == [2, 2])
        #expect(try Tensor<Float>.zeros([3, 4]).rmsNorm(epsilon: 1e-6).scalars.allSatisfy { $0 == 0 })
        #expect(try Tensor<Float>.zeros([0, 4]).layerNorm().shape == [0, 4])
    }

    @Test func largeTensorsAndDouble() throws {
        let x = NaiveRef.tensor([512, 769], .contiguous, seed: 5, low: -4, high: 4)
        let xs = x.scalars.map(Double.init)
        let rows = (0..<512).map { Array(xs[($0 * 769)..<(($0 + 1) * 769)]) }
        #expect(NaiveRef.worstRatio(try x.layerNorm().scalars.map(Double.init),
                                    rows.flatMap { Self.naiveLayerNorm($0, nil, nil, 1e-5).output }, rtol: 1e-5, atol: 1e-5) <= 1)
        #expect(NaiveRef.worstRatio(try x.rmsNorm().scalars.map(Double.init),
                                    rows.flatMap { Self.naiveRMSNorm($0, nil, 1e-6).output }, rtol: 1e-5, atol: 1e-5) <= 1)

        var rng = TensorRNG(seed: 6)
        let xd = try Tensor<Double>.uniform([7, 65], low: 1e6, high: 1e6 + 1, using: &rng)
        let ref = (0..<7).flatMap { Self.naiveLayerNorm(Array(xd.scalars[($0 * 65)..<(($0 + 1) * 65)]), nil, nil, 1e-5).output }
        // The Double reference itself carries ~3e-9 of rounding at this magnitude.
        #expect(NaiveRef.worstRatio(try xd.layerNorm().scalars, ref, rtol: 1e-8, atol: 1e-8) <= 1)
    }

    @Test func errorsNameTheShapes() throws {
        let x = try Tensor<Float>.zeros([2, 3])
        #expect(throws: TensorError.shapeMismatch(op: "layerNorm", shapes: [[2, 3], [2]], reason: "weight must have shape [3] (the last dimension)")) {
            try x.layerNorm(weight: .zeros([2]))
        }
        #expect(throws: TensorError.shapeMismatch(op: "layerNorm", shapes: [[2, 3], [1, 3]], reason: "bias must have shape [3] (the last dimension)")) {
            try x.layerNorm(bias: .zeros([1, 3]))
        }
        #expect(throws: TensorError.shapeMismatch(op: "rmsNorm", shapes: [[2, 3], [4]], reason: "weight must have shape [3] (the last dimension)")) {
            try x.rmsNormWithStatistics(weight: .zeros([4]))
        }
        #expect(throws: TensorError.invalidShape(op: "layerNorm", shape: [], reason: "needs rank ≥ 1 and a non-empty last axis")) {
            try Tensor<Float>(scalar: 1).layerNorm()
        }
        #expect(throws: TensorError.invalidShape(op: "rmsNorm", shape: [2, 0], reason: "needs rank ≥ 1 and a non-empty last axis")) {
            try Tensor<Float>.zeros([2, 0]).rmsNorm()
        }
        #expect(throws: TensorError.invalidArgument(op: "layerNorm", reason: "epsilon must be finite and ≥ 0, got -1.0")) {
            try x.layerNorm(epsilon: -1)
        }
        #expect(throws: TensorError.self) { try x.rmsNorm(epsilon: .nan) }
    }
}

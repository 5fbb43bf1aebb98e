import Autodiff
import Foundation
import Tensor
import Testing
@testable import LanguageModel
@testable import OPT

// Overflow-prone paths stay finite and accurate with extreme inputs; references are computed in Double.

@Suite struct NumericStabilityTests {
    /// Rows of logits far beyond exp's range (exp(89) overflows Float).
    let extremeRows: [[Float]] = [
        [1e30, 1e30 - 1e24, -1e30, 0],
        [100, 101, 102, 99],
        [-1e4, -1e4 + 1, -1e4 + 2, -1e30],
        [Float.greatestFiniteMagnitude, 0, -Float.greatestFiniteMagnitude, 1],
        [88.8, 88.8, 88.8, 88.8],
    ]

    func referenceLogSumExp(_ row: [Float]) -> Double {
        let xs = row.map(Double.init), m = xs.max()!
        return m + Foundation.log(xs.map { Foundation.exp($0 - m) }.reduce(0, +))
    }

    @Test func softmaxAndLogSumExpWithHugeLogits() throws {
        let t = try Tensor<Float>(shape: [extremeRows.count, 4], scalars: extremeRows.flatMap { $0 })
        let p = try t.softmax(axis: -1), lse = try t.logSumExp(axis: -1), ls = try t.logSoftmax(axis: -1)
        for (r, row) in extremeRows.enumerated() {
            let ref = referenceLogSumExp(row)
            let got = Double(lse.scalars[r])
            #expect(got.isFinite && abs(got - ref) <= 1e-6 * Swift.max(1, abs(ref)), "row \(r): \(got) vs \(ref)")
            var total = 0.0
            for j in 0..<4 {
                let refP = Foundation.exp(Double(row[j]) - ref)
                let pj = Double(p.scalars[r * 4 + j])
                #expect(pj.isFinite && abs(pj - refP) <= 1e-6, "row \(r) col \(j)")
                total += pj
                let lsj = Double(ls.scalars[r * 4 + j])
                // log-softmax may be -inf-free but huge negative; it must not be NaN.
                #expect(!lsj.isNaN && lsj <= 0, "row \(r) col \(j): \(lsj)")
            }
            #expect(abs(total - 1) <= 1e-5)
        }
    }

    @Test func crossEntropyWithHugeLogitsIsFiniteWithFiniteGradients() throws {
        let rows = Array(extremeRows.prefix(3))
        let x = try Tensor<Float>(shape: [rows.count, 4], scalars: rows.flatMap { $0 })
        let targets = [1, 2, 0]
        let (loss, g) = try valueAndGradient(at: x) { try crossEntropy(logits: $0, targets: targets, reduction: .sum) }
        let ref = zip(rows, targets).map { referenceLogSumExp($0) - Double($0[$1]) }.reduce(0, +)
        let got = Double(loss.scalars[0])
        #expect(got.isFinite && abs(got - ref) <= 1e-6 * Swift.max(1, abs(ref)), "\(got) vs \(ref)")
        let finite = g.scalars.allSatisfy { $0.isFinite }
        #expect(finite)
    }

    @Test func layerNormVarianceWithLargeOffsets() throws {
        // Rows of a large offset plus a small spread: E[x²] − E[x]² in Float would cancel to 0 or below.
        for (offset, spread) in [(Float(1e4), Float(1e-2)), (1e6, 1), (-3e7, 8), (1e30, 1e27)] {
            let n = 65
            let row = (0..<n).map { offset + spread * Float(($0 * 37) % 17 - 8) }
            let t = try Tensor<Float>(shape: [1, n], scalars: row)
            let y = try t.layerNorm()
            let xs = row.map(Double.init)
            let mean = xs.reduce(0, +) / Double(n)
            let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(n)
            let eps = variance > 1e20 ? 0 : 1e-5
            for j in 0..<n {
                let ref = (xs[j] - mean) / (variance + eps).squareRoot()
                #expect(y.scalars[j].isFinite && abs(Double(y.scalars[j]) - ref) <= 2e-3 * Swift.max(1, abs(ref)),
                        "offset \(offset) j \(j): \(y.scalars[j]) vs \(ref)")
            }
        }
    }

    @Test func modelLogitsStayFiniteWithLargeEmbeddings() throws {
        // Embeddings scaled by 1e4 make attention scores and activations huge; the layer norms and the
        // max-subtracted attention softmax keep the logits finite.
        var model = try randomModel(smallConfig(), seed: 21)
        let name = OPTModel.embedTokensName
        try model.parameters.set(name, model.parameters[name]! * 1e4)
        let logits = try model.logits([2, 5, 9, 11, 3])
        let finite = logits.scalars.allSatisfy { $0.isFinite }
        #expect(finite)
    }
}

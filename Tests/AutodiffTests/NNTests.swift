import Foundation
import Testing
import Tensor
@testable import Autodiff

/// Naive row-wise reference over the last axis: `f(row) -> row`.
func rowsRef(_ x: Tensor<Double>, _ f: ([Double]) -> [Double]) throws -> Tensor<Double> {
    let d = x.shape.last!, s = x.scalars
    let out = stride(from: 0, to: s.count, by: d).flatMap { f(Array(s[$0..<($0 + d)])) }
    return try Tensor(shape: x.shape, scalars: out)
}

func softmaxRef(_ r: [Double]) -> [Double] {
    let m = r.max()!, e = r.map { Foundation.exp($0 - m) }, s = e.reduce(0, +)
    return e.map { $0 / s }
}

func layerNormRef(_ r: [Double], _ w: [Double]?, _ b: [Double]?, _ eps: Double) -> [Double] {
    let mu = r.reduce(0, +) / Double(r.count)
    let v = r.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(r.count)
    return r.indices.map { j in (r[j] - mu) / (v + eps).squareRoot() * (w?[j] ?? 1) + (b?[j] ?? 0) }
}

/// A −∞ additive mask (drops roughly a third of the entries, never a whole row).
func randomMask(_ shape: [Int], _ seed: UInt64) throws -> Tensor<Double> {
    var rng = TensorRNG(seed: seed)
    let d = shape.last!
    let s = (0..<shape.reduce(1, *)).map { i in i % d == 0 || rng.nextUnit() > 0.35 ? 0.0 : -.infinity }
    return try Tensor(shape: shape, scalars: s)
}

@Suite struct NNTests {
    @Test func softmaxFamily() throws {
        let x = rand([3, 4, 5], 1, -3, 3)
        for axis in [-1, 0, 1] {
            try checkOp(x) { try $0.softmax(axis: axis) }
            try checkOp(x) { try $0.logSoftmax(axis: axis) }
            try checkOp(x) { try $0.logSumExp(axis: axis) }
            try checkOp(x) { try $0.logSumExp(axis: axis, keepDims: true) }
        }
        try checkOp(x) { try $0.logSumExp(axes: [0, 2]) }
        try checkOp(x) { try $0.logSumExp() }
        try checkOp(x, reference: { try rowsRef($0, softmaxRef) }, forwardTolerance: 1e-15) { try $0.softmax() }
        try checkOp(x, reference: { try rowsRef($0) { softmaxRef($0).map { Foundation.log($0) } } },
                    forwardTolerance: 1e-14) { try $0.logSoftmax() }
    }

    @Test func maskedSoftmax() throws {
        // Masked entries get probability 0 and gradient 0; masks broadcast over the batch.
        let x = rand([2, 4, 6], 2, -2, 2), mask = try randomMask([4, 6], 3)
        try checkOp(x) { try ($0 + Variable(mask)).softmax() }
        try checkOp(x) { try ($0 + Variable(mask)).logSumExp(axis: -1) }
        let g = try gradient(at: x) { x in try (x + Variable(mask)).softmax().squared().sum() }
        let m = try mask.expanded(to: [2, 4, 6]).scalars
        #expect(zip(g.scalars, m).allSatisfy { $1 == 0 || $0 == 0 })
    }

    @Test func layerNorm() throws {
        let x = rand([2, 3, 7], 4, -2, 2), w = rand([7], 5, 0.5, 1.5), b = rand([7], 6)
        try checkOp([x, w, b], reference: { t in
            try rowsRef(t[0]) { layerNormRef($0, t[1].scalars, t[2].scalars, 1e-5) }
        }, forwardTolerance: 1e-13) { v in try v[0].layerNorm(weight: v[1], bias: v[2]) }
        try checkOp(x, reference: { try rowsRef($0) { layerNormRef($0, nil, nil, 1e-3) } }, forwardTolerance: 1e-13) {
            try $0.layerNorm(epsilon: 1e-3)
        }
        try checkOp([x, w]) { v in try v[0].layerNorm(weight: v[1]) }
        try checkOp([x, b]) { v in try v[0].layerNorm(bias: v[1]) }
        try checkOp([try rand([7, 3], 7).transposed(), w]) { v in try v[0].layerNorm(weight: v[1]) }  // strided x
        try checkOp(rand([4, 1], 8)) { try $0.layerNorm() }  // D = 1: output 0, gradient 0
    }

    @Test func rmsNorm() throws {
        let x = rand([3, 9], 9, -2, 2), w = rand([9], 10, 0.5, 1.5)
        try checkOp([x, w], reference: { t in
            try rowsRef(t[0]) { r in
                let rs = 1 / (r.map { $0 * $0 }.reduce(0, +) / Double(r.count) + 1e-6).squareRoot()
                return r.indices.map { r[$0] * rs * t[1].scalars[$0] }
            }
        }, forwardTolerance: 1e-13) { v in try v[0].rmsNorm(weight: v[1]) }
        try checkOp(x) { try $0.rmsNorm(epsilon: 1e-2) }
    }

    @Test func embeddingAndGather() throws {
        let table = rand([6, 4], 11)
        let ids = [3, 0, 3, 5, 1, 3]  // repeats must accumulate
        try checkOp(table, reference: { t in
            try Tensor(shape: [2, 3, 4], scalars: ids.flatMap { i in (0..<4).map { t[i, $0] } })
        }) { try $0.embedding(ids, shape: [2, 3]) }
        try checkOp(rand([3, 5, 2], 12)) { try $0.gathered(indices: [4, 4, 0], axis: 1) }
        // A table that also feeds a dense op (a tied head): the sparse gradient is added in place.
        try checkOp(table) { t in try t.embedding(ids, shape: [6]).matmul(t.transposed()) }
        try checkOp(rand([3, 5, 2], 25)) { x in try x.gathered(indices: [1, 1, 3], axis: 1).sum() * x.sum(axis: 1) }
        let g = try gradient(at: table) { try $0.embedding(ids, shape: [6]).sum() }
        #expect(g.scalars == [1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 3, 3, 3, 3, 0, 0, 0, 0, 1, 1, 1, 1])
        #expect(throws: TensorError.self) { try Variable(table).embedding([6], shape: [1]) }
    }

    @Test func crossEntropyMatchesReference() throws {
        let logits = rand([5, 7], 13, -3, 3)
        let targets = [2, -100, 6, 0, 2]
        func ref(_ z: Tensor<Double>, mean: Bool) throws -> Tensor<Double> {
            var total = 0.0, n = 0
            for (r, t) in targets.enumerated() where t != -100 {
                let row = (0..<7).map { z[r, $0] }
                let m = row.max()!
                total += m + Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +)) - row[t]
                n += 1
            }
            return Tensor(scalar: mean ? total / Double(n) : total)
        }
        try checkOp(logits, reference: { try ref($0, mean: false) }, forwardTolerance: 1e-13) {
            try crossEntropy(logits: $0, targets: targets, reduction: .sum)
        }
        try checkOp(logits, reference: { try ref($0, mean: true) }, forwardTolerance: 1e-14) {
            try crossEntropy(logits: $0, targets: targets, reduction: .mean)
        }
        // Rank-3 logits, a custom ignore index, and a loss that is scaled afterwards (seed ≠ 1).
        try checkOp(rand([2, 3, 4], 14)) {
            try crossEntropy(logits: $0, targets: [1, 3, 7, 0, 7, 2], ignoreIndex: 7) * 2.5
        }
    }

    @Test func crossEntropyPullbackLeavesHeldLogitsIntact() throws {
        // The pullback overwrites the logits with their gradient only when nothing else holds them: logits the
        // caller keeps stay unchanged, a retained graph gives the same gradient twice, and so does a fresh graph
        // whose logits the pullback may consume.
        let z = Variable(rand([4, 9], 17, -2, 2), requiresGradient: true)
        let targets = [3, 8, -100, 0]
        let logits = z * 1.5
        let before = logits.value.scalars
        let loss = try crossEntropy(logits: logits, targets: targets, reduction: .sum)
        let g1 = try loss.gradients(for: [z], retainGraph: true)[0]
        let g2 = try loss.gradient(for: z)
        #expect(logits.value.scalars == before)
        #expect(g1 == g2)
        let g3 = try crossEntropy(logits: z * 1.5, targets: targets, reduction: .sum).gradient(for: z)
        #expect(g3 == g1)
        // 1.5·(softmax − onehot) on counted rows, 0 on the ignored one.
        for (r, t) in targets.enumerated() {
            let row = (0..<9).map { before[r * 9 + $0] }
            let m = row.max()!, s = row.map { Foundation.exp($0 - m) }.reduce(0, +)
            for j in 0..<9 {
                let want = t == -100 ? 0 : 1.5 * (Foundation.exp(row[j] - m) / s - (j == t ? 1 : 0))
                #expect(Swift.abs(g1[r, j] - want) <= 1e-14)
            }
        }
    }

    @Test func crossEntropyAllIgnored() throws {
        let (loss, g) = try valueAndGradient(at: rand([2, 3], 15)) {
            try crossEntropy(logits: $0, targets: [-100, -100], reduction: .mean)
        }
        #expect(try loss.item() == 0)
        #expect(g.scalars.allSatisfy { $0 == 0 })
    }

    @Test func crossEntropyBadTargetsThrow() throws {
        let z = Variable(rand([2, 3], 16), requiresGradient: true)
        #expect(throws: TensorError.indexOutOfRange(op: "crossEntropy", index: 3, axis: 1, size: 3)) {
            try crossEntropy(logits: z, targets: [0, 3])
        }
        #expect(throws: TensorError.self) { try crossEntropy(logits: z, targets: [0, -1]) }
        #expect(throws: TensorError.self) { try crossEntropy(logits: z, targets: [0]) }
    }
}

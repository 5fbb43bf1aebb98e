import Foundation
import Testing
import Tensor
@testable import Autodiff

/// Naive broadcasting reference: `f` applied to every pair of broadcast elements.
func broadcastRef(_ a: Tensor<Double>, _ b: Tensor<Double>, _ f: (Double, Double) -> Double) throws -> Tensor<Double> {
    let r = max(a.rank, b.rank)
    let pa = [Int](repeating: 1, count: r - a.rank) + a.shape, pb = [Int](repeating: 1, count: r - b.rank) + b.shape
    let out = zip(pa, pb).map { max($0, $1) }
    let ra = try a.reshaped(pa), rb = try b.reshaped(pb)
    var result: [Double] = []
    let n = out.reduce(1, *)
    for i in 0..<n {
        var rest = i, ia = [Int](repeating: 0, count: r), ib = ia
        for d in stride(from: r - 1, through: 0, by: -1) {
            let k = rest % out[d]; rest /= out[d]
            ia[d] = pa[d] == 1 ? 0 : k; ib[d] = pb[d] == 1 ? 0 : k
        }
        result.append(f(try ra.element(at: ia), try rb.element(at: ib)))
    }
    return try Tensor(shape: out, scalars: result)
}

func mapRef(_ x: Tensor<Double>, _ f: (Double) -> Double) -> Tensor<Double> {
    try! Tensor(shape: x.shape, scalars: x.scalars.map(f))
}

/// Operand shape pairs covering equal shapes, trailing and leading broadcasts, size-1 on both sides and rank 0.
let broadcastCases: [([Int], [Int])] = [
    ([3, 4], [3, 4]), ([3, 4], [4]), ([3, 1], [1, 4]), ([], [2, 3]), ([2, 1, 3], [4, 1]), ([1], [5]), ([2, 3, 1], [2, 1, 1]),
]

@Suite struct ArithmeticTests {
    @Test func binaryOpsBroadcast() throws {
        for (i, (sa, sb)) in broadcastCases.enumerated() {
            let a = rand(sa, UInt64(10 + i)), b = rand(sb, UInt64(20 + i))
            try checkOp([a, b], reference: { try broadcastRef($0[0], $0[1], +) }) { try $0[0] + $0[1] }
            try checkOp([a, b], reference: { try broadcastRef($0[0], $0[1], -) }) { try $0[0] - $0[1] }
            try checkOp([a, b], reference: { try broadcastRef($0[0], $0[1], *) }) { try $0[0] * $0[1] }
            let bPos = rand(sb, UInt64(30 + i), 0.5, 2)
            try checkOp([a, bPos], reference: { try broadcastRef($0[0], $0[1], /) }) { try $0[0] / $0[1] }
        }
    }

    @Test func randomBroadcastShapes() throws {
        // Random ranks 0–4 and sizes 1–4; each dimension of b is a's, or 1, or absent (leading).
        var rng = TensorRNG(seed: 99)
        for k in 0..<20 {
            let rank = Int(rng.next() % 5)
            let sa = (0..<rank).map { _ in 1 + Int(rng.next() % 4) }
            let drop = rank == 0 ? 0 : Int(rng.next() % UInt64(rank + 1))
            let sb = sa.dropFirst(drop).map { rng.next() % 3 == 0 ? 1 : $0 }
            let (x, y) = k % 2 == 0 ? (sa, Array(sb)) : (Array(sb), sa)
            let a = rand(x, UInt64(100 + k)), b = rand(y, UInt64(200 + k), 0.5, 2)
            try checkOp([a, b], reference: { try broadcastRef($0[0], $0[1]) { $0 * $1 - $0 / $1 } }, forwardTolerance: 1e-14) {
                try $0[0] * $0[1] - $0[0] / $0[1]
            }
        }
    }

    @Test func sameVariableOnBothSides() throws {
        // x·x and x/x(+x): the two uses of x must accumulate.
        try checkOp(rand([4, 3], 1), reference: { mapRef($0) { $0 * $0 } }) { try $0 * $0 }
        try checkOp(rand([4, 3], 2, 0.5, 2)) { x in try x / x + x }
    }

    @Test func scalarOps() throws {
        let x = rand([3, 5], 3, 0.5, 2)
        try checkOp(x, reference: { mapRef($0) { $0 + 2 } }) { $0 + 2 }
        try checkOp(x, reference: { mapRef($0) { 2 + $0 } }) { 2 + $0 }
        try checkOp(x, reference: { mapRef($0) { $0 - 2 } }) { $0 - 2 }
        try checkOp(x, reference: { mapRef($0) { 2 - $0 } }) { 2 - $0 }
        try checkOp(x, reference: { mapRef($0) { $0 * 3 } }) { $0 * 3 }
        try checkOp(x, reference: { mapRef($0) { 3 * $0 } }) { 3 * $0 }
        try checkOp(x, reference: { mapRef($0) { $0 / 3 } }) { $0 / 3 }
        try checkOp(x, reference: { mapRef($0) { 3 / $0 } }) { 3 / $0 }
        try checkOp(x, reference: { mapRef($0) { -$0 } }) { -$0 }
    }

    @Test func pointwise() throws {
        let x = rand([4, 7], 4, -2, 2), pos = rand([4, 7], 5, 0.2, 3)
        try checkOp(x, reference: { mapRef($0) { Foundation.exp($0) } }) { $0.exp() }
        try checkOp(pos, reference: { mapRef($0) { Foundation.log($0) } }) { $0.log() }
        try checkOp(x, reference: { mapRef($0) { Foundation.tanh($0) } }) { $0.tanh() }
        try checkOp(pos, reference: { mapRef($0) { $0.squareRoot() } }) { $0.sqrt() }
        try checkOp(pos, reference: { mapRef($0) { 1 / $0.squareRoot() } }, forwardTolerance: 1e-15) { $0.rsqrt() }
        try checkOp(x, reference: { mapRef($0) { $0 * $0 } }) { $0.squared() }
        try checkOp(pos, reference: { mapRef($0) { Foundation.pow($0, 2.5) } }, forwardTolerance: 1e-14) { $0.pow(2.5) }
        try checkOp(x, reference: { mapRef($0) { $0 * $0 * $0 } }, forwardTolerance: 1e-14) { $0.pow(3) }
        try checkOp(randAwayFromZero([3, 4], 6), reference: { mapRef($0) { Swift.abs($0) } }) { $0.abs() }
    }

    @Test func maskedFillAndWhere() throws {
        let x = rand([3, 4], 7), y = rand([4], 8)
        let mask = try Tensor<Double>(shape: [3, 1], scalars: [1, 0, 1])  // broadcast over columns
        try checkOp(x, reference: { t in try Tensor(shape: [3, 4], scalars: (0..<12).map { $0 / 4 == 1 ? t[1, $0 % 4] : -7 }) }) {
            try $0.maskedFilled(mask, with: -7)
        }
        let cond = try Tensor<Double>(shape: [3, 4], scalars: (0..<12).map { Double($0 % 3 == 0 ? 1 : 0) })
        try checkOp([x, y], reference: { t in try Tensor(shape: [3, 4], scalars: (0..<12).map { $0 % 3 == 0 ? t[0][$0 / 4, $0 % 4] : t[1][$0 % 4] }) }) {
            try Variable.where(cond, $0[0], $0[1])
        }
        // maskedFill with −∞ before a softmax is the other way to mask attention.
        let causal = try Tensor<Double>(shape: [4, 4], scalars: (0..<16).map { $0 % 4 > $0 / 4 ? 1 : 0 })
        try checkOp(rand([2, 4, 4], 9)) { try $0.maskedFilled(causal, with: -.infinity).softmax() }
    }

    @Test func activations() throws {
        let x = randAwayFromZero([5, 9], 6) * 3  // |x| ≥ 0.3: away from ReLU's kink
        try checkOp(x, reference: { mapRef($0) { max($0, 0) } }) { $0.relu() }
        try checkOp(x, reference: { mapRef($0) { 1 / (1 + Foundation.exp(-$0)) } }, forwardTolerance: 1e-15) { $0.sigmoid() }
        try checkOp(x, reference: { mapRef($0) { $0 / (1 + Foundation.exp(-$0)) } }, forwardTolerance: 1e-15) { $0.silu() }
        try checkOp(x, reference: { mapRef($0) { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) } },
                    forwardTolerance: 1e-15) { $0.gelu() }
        try checkOp(x, reference: { mapRef($0) { v in
            0.5 * v * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))) } },
                    forwardTolerance: 1e-15) { $0.geluTanh() }
    }

    @Test func mismatchedShapesThrow() throws {
        let a = Variable(rand([3, 4], 7), requiresGradient: true), b = Variable(rand([3, 5], 8))
        #expect(throws: TensorError.self) { try a + b }
        #expect(throws: TensorError.self) { try a * b }
        #expect(throws: TensorError.self) { try a.matmul(a) }
    }
}

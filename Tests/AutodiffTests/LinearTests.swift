import Testing
import Tensor
@testable import Autodiff

func matmulRef(_ a: Tensor<Double>, _ b: Tensor<Double>) throws -> Tensor<Double> {
    // 2-D only: [m, k]·[k, n].
    let m = a.shape[0], k = a.shape[1], n = b.shape[1]
    var out = [Double](repeating: 0, count: m * n)
    for i in 0..<m { for j in 0..<n { for p in 0..<k { out[i * n + j] += a[i, p] * b[p, j] } } }
    return try Tensor(shape: [m, n], scalars: out)
}

@Suite struct LinearTests {
    @Test func matmulShapes() throws {
        try checkOp([rand([3, 4], 1), rand([4, 5], 2)], reference: { try matmulRef($0[0], $0[1]) }, forwardTolerance: 1e-14) {
            try $0[0].matmul($0[1])
        }
        let cases: [([Int], [Int])] = [
            ([2, 3, 4], [4, 5]),        // shared weight (one tall GEMM in the pullback)
            ([4, 5], [2, 5, 3]),        // shared left operand
            ([2, 3, 4], [2, 4, 5]),     // batched
            ([2, 1, 3, 4], [3, 4, 2]),  // batch broadcasting on both sides
            ([4], [4, 3]), ([2, 4], [4]), ([4], [4]), ([2, 3, 4], [4]),  // vectors
            ([1, 3], [3, 1]),
        ]
        for (i, (sa, sb)) in cases.enumerated() {
            try checkOp([rand(sa, UInt64(10 + i)), rand(sb, UInt64(30 + i))]) { try $0[0].matmul($0[1]) }
        }
    }

    @Test func transposedOperands() throws {
        // Aᵀ·B and A·Bᵀ through views (the attention-score pattern).
        try checkOp([rand([4, 3], 3), rand([4, 5], 4)]) { try $0[0].transposed().matmul($0[1]) }
        try checkOp([rand([2, 3, 4], 5), rand([2, 6, 4], 6)]) { try $0[0].matmul($0[1].transposed()) }
    }

    @Test func linear() throws {
        let x = rand([2, 3, 4], 7), w = rand([5, 4], 8), b = rand([5], 9)
        try checkOp([x, w, b], reference: { t in
            let y = try matmulRef(t[0].reshaped([6, 4]), t[1].transposed())
            return try Tensor(shape: [2, 3, 5], scalars: y.scalars.enumerated().map { $1 + t[2][$0 % 5] })
        }, forwardTolerance: 1e-14) { v in try v[0].linear(weight: v[1], bias: v[2]) }
        try checkOp([x, w]) { v in try v[0].linear(weight: v[1]) }
        try checkOp([rand([4], 10), w, b]) { v in try v[0].linear(weight: v[1], bias: v[2]) }  // a single row
        try checkOp([try rand([4, 3], 11).transposed(), w]) { v in try v[0].linear(weight: v[1]) }  // strided input
    }
}

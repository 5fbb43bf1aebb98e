import Testing
import Tensor
@testable import Autodiff

@Suite struct AttentionTests {
    @Test func attentionGradients() throws {
        let q = rand([2, 5, 3], 1), k = rand([2, 5, 3], 2), v = rand([2, 5, 4], 3)
        try checkOp([q, k, v]) { try scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2]) }
        try checkOp([q, k, v]) { try scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: true) }
        let mask = try randomMask([5, 5], 4)
        try checkOp([q, k, v]) { try scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: mask, scale: 0.7) }
        // Heads: [batch, heads, T, d] with a per-batch mask broadcast over heads; fewer queries than keys.
        let qh = rand([2, 3, 4, 2], 5), kh = rand([2, 3, 6, 2], 6), vh = rand([2, 3, 6, 3], 7)
        let hmask = try randomMask([2, 1, 4, 6], 8)
        try checkOp([qh, kh, vh]) { try scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], mask: hmask, causal: true) }
    }

    @Test func causalMaskLayout() throws {
        let m = try causalMask(queries: 2, keys: 3, as: Double.self)
        #expect(m.scalars == [0, -.infinity, -.infinity, 0, 0, -.infinity])
    }

    @Test func detachedProbabilitiesGiveTheValuePathOnly() throws {
        // With A detached, ∇v = Aᵀ∇o exactly, and the query and key get no gradient at all.
        let q = rand([5, 3], 11), k = rand([5, 3], 12), v = rand([5, 4], 13), gOut = rand([5, 4], 14)
        let (_, grads) = try valueAndGradient(at: [q, k, v], seed: gOut) {
            try scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: true, detachProbabilities: true)
        }
        let scores = try matmulRef(q, k.transposed()).scalars.map { $0 / 3.0.squareRoot() }
        let a = try Tensor(shape: [5, 5], scalars: scores) + causalMask(queries: 5, as: Double.self)
        let expected = try matmulRef(try a.softmax().transposed(), gOut)
        #expect(grads[2].maxAbsDifference(expected) <= 1e-15)
        #expect(grads[0].scalars.allSatisfy { $0 == 0 } && grads[1].scalars.allSatisfy { $0 == 0 })
        // Without the detach the query and key do get gradients, and ∇v is unchanged.
        let (_, full) = try valueAndGradient(at: [q, k, v], seed: gOut) {
            try scaledDotProductAttention(query: $0[0], key: $0[1], value: $0[2], causal: true)
        }
        #expect(full[2].maxAbsDifference(grads[2]) == 0)
        #expect(full[0].scalars.contains { $0 != 0 })
    }
}

import Testing
import Tensor
@testable import Autodiff

@Suite struct ShapeTests {
    @Test func reshape() throws {
        try checkOp(rand([2, 3, 4], 1)) { try $0.reshaped([4, -1]) }
        try checkOp(rand([2, 3, 4], 2)) { try $0.transposed().reshaped([24]) }  // non-contiguous input
    }
    @Test func permuteAndTranspose() throws {
        try checkOp(rand([2, 3, 4], 3)) { try $0.permuted([2, 0, 1]) }
        try checkOp(rand([2, 3, 4], 4)) { try $0.permuted([-1, 0, 1]) }
        try checkOp(rand([2, 3, 4], 5)) { try $0.transposed(0, 2) }
        try checkOp(rand([3, 5], 6)) { try $0.transposed() }
    }
    @Test func sliceAndSelect() throws {
        try checkOp(rand([4, 7], 7)) { try $0.sliced(axis: 1, 2..<6) }
        try checkOp(rand([4, 7], 8)) { try $0.sliced(axis: -1, 1..<7, step: 2) }
        try checkOp(rand([4, 7], 9)) { try $0.sliced(axis: 0, 1..<1) }
        try checkOp(rand([4, 7, 2], 10)) { try $0.selecting(axis: 1, index: -2) }
    }
    @Test func squeezeUnsqueeze() throws {
        try checkOp(rand([3, 1, 2], 11)) { try $0.squeezed(1).unsqueezed(0) }
    }
    @Test func expand() throws {
        try checkOp(rand([3, 1], 13)) { try $0.expanded(to: [2, 3, 4]) }
        try checkOp(rand([1], 14)) { try $0.expanded(to: [5]) }
        try checkOp(rand([2, 3], 15)) { try $0.expanded(to: [2, 3]) }
    }

    @Test func concatStackSplit() throws {
        let a = rand([2, 3], 16), b = rand([2, 5], 17), c = rand([2, 1], 18)
        try checkOp([a, b, c], reference: { t in
            try Tensor(shape: [2, 9], scalars: (0..<2).flatMap { r in t.flatMap { x in (0..<x.shape[1]).map { x[r, $0] } } })
        }) { try Variable.concatenated($0, axis: 1) }
        try checkOp([a, rand([4, 3], 19)]) { try Variable.concatenated($0, axis: -2) }
        try checkOp([a, rand([2, 3], 20)]) { try Variable.stacked($0, axis: 1) }
        try checkOp([a, rand([2, 3], 21)]) { try Variable.stacked($0, axis: -1) }
        // Pieces of a split used differently: each piece's gradient lands in its own range.
        try checkOp(rand([2, 9], 22)) { x in
            let p = try x.split(sizes: [2, 3, 4], axis: 1)
            return try Variable.concatenated([p[2] * 2, p[0].exp(), p[1]], axis: 1)
        }
        try checkOp(rand([6, 2], 23)) { x in
            let p = try x.split(count: 3, axis: 0)
            return try p[0] * p[2] + p[1]
        }
        #expect(throws: TensorError.self) { try Variable.concatenated([Variable(a), Variable(rand([3, 3], 24))], axis: 1) }
        #expect(throws: TensorError.self) { try Variable(a).split(sizes: [1, 1], axis: 1) }
    }

    @Test func overlappingSlicesAccumulateInPlace() throws {
        // Later slices of an input that already has a gradient add into it (strided, overlapping, selected twice).
        try checkOp(rand([5, 7], 25)) { x in
            let a = try x.sliced(axis: 1, 0..<7, step: 3), b = try x.sliced(axis: 1, 2..<6)
            let s = try x.selecting(axis: 0, index: 3) * x.selecting(axis: 0, index: -2)
            return try (a.sum(axis: 1) * b.sum(axis: 1) + s.sum() + x.sliced(axis: 0, 1..<4, step: 2).sum()).sum()
        }
    }

    @Test func sharedInputAccumulates() throws {
        // y = x.T viewed twice: each use contributes, so dy/dx sums both paths.
        let r = try gradientCheck(at: rand([3, 3], 12)) { x in
            try x.reshaped([9]).sliced(axis: 0, 0..<4).reshaped([2, 2]).transposed()
        }
        #expect(r.worstRelativeError <= gradTolerance)
    }
}

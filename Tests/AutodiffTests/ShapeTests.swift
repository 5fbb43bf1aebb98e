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
    @Test func sharedInputAccumulates() throws {
        // y = x.T viewed twice: each use contributes, so dy/dx sums both paths.
        let r = try gradientCheck(at: rand([3, 3], 12)) { x in
            try x.reshaped([9]).sliced(axis: 0, 0..<4).reshaped([2, 2]).transposed()
        }
        #expect(r.worstRelativeError <= gradTolerance)
    }
}

import Testing
@testable import Tensor

/// Views: each result is checked element by element against index arithmetic on the original.
@Suite struct ViewTests {
    func iota(_ shape: [Int]) throws -> Tensor<Float> {
        try Tensor<Float>.arange(0, Float(shape.reduce(1, *))).reshaped(shape)
    }

    @Test func reshapeIsAViewWhenContiguous() throws {
        let a = try iota([2, 3, 4])
        let r = try a.reshaped([4, -1])
        #expect(r.shape == [4, 6] && r.storage === a.storage)
        #expect(r.scalars == a.scalars)
        #expect(throws: TensorError.self) { try a.reshaped([5, -1]) }
        #expect(throws: TensorError.self) { try a.reshaped([-1, -1]) }
        #expect(throws: TensorError.self) { try a.reshaped([7]) }
        // Reshaping a transposed view copies and keeps row-major element order of the view.
        let t = try a.reshaped([6, 4]).transposed()
        #expect(try t.reshaped([24]).scalars == t.scalars)
    }

    @Test func permuteAndTranspose() throws {
        let a = try iota([2, 3, 5])
        let p = try a.permuted([2, 0, 1])
        #expect(p.shape == [5, 2, 3] && p.storage === a.storage && !p.isContiguous)
        for i in 0..<5 { for j in 0..<2 { for k in 0..<3 {
            #expect(try p.element(at: [i, j, k]) == a.element(at: [j, k, i]))
        } } }
        let t = try a.transposed()
        #expect(t.shape == [2, 5, 3])
        #expect(try t.element(at: [1, 4, 2]) == a.element(at: [1, 2, 4]))
        #expect(throws: TensorError.self) { try a.permuted([0, 0, 1]) }
        #expect(throws: TensorError.self) { try a.permuted([0, 1]) }
        #expect(throws: TensorError.axisOutOfRange(op: "transposed", axis: 3, rank: 3)) { try a.transposed(0, 3) }
        #expect(throws: TensorError.self) { try Tensor<Float>([1, 2]).transposed() }
    }

    @Test func sliceSelectAndContiguous() throws {
        let a = try iota([7, 13])
        let s = try a.sliced(axis: 1, 2..<11, step: 3)
        #expect(s.shape == [7, 3])
        for i in 0..<7 { for j in 0..<3 { #expect(try s.element(at: [i, j]) == a.element(at: [i, 2 + 3 * j])) } }
        let c = s.contiguous()
        #expect(c.isContiguous && c.scalars == s.scalars && c.storage !== a.storage)
        let row = try a.selecting(axis: 0, index: -1)
        #expect(row.shape == [13] && row.scalars == Array(a.scalars[78..<91]))
        #expect(try a.sliced(axis: 0, 3..<3).count == 0)
        #expect(throws: TensorError.self) { try a.sliced(axis: 1, 5..<14) }
        #expect(throws: TensorError.self) { try a.sliced(axis: 1, 0..<2, step: 0) }
        #expect(throws: TensorError.self) { try a.selecting(axis: 0, index: 7) }
    }

    @Test func expandSqueezeUnsqueeze() throws {
        let a = try iota([3, 1])
        let e = try a.expanded(to: [2, 3, 4])
        #expect(e.shape == [2, 3, 4] && e.strides == [0, 1, 0])
        #expect(e.scalars == (0..<2).flatMap { _ in (0..<3).flatMap { i in [Float](repeating: Float(i), count: 4) } })
        #expect(throws: TensorError.self) { try a.expanded(to: [2, 4]) }
        #expect(throws: TensorError.self) { try a.expanded(to: [3]) }
        let u = try a.unsqueezed(0)
        #expect(u.shape == [1, 3, 1] && u.scalars == a.scalars)
        #expect(try a.unsqueezed(2).shape == [3, 1, 1])
        #expect(try a.squeezed(1).shape == [3])
        #expect(a.squeezed().shape == [3])
        #expect(throws: TensorError.self) { try a.squeezed(0) }
        // Writing into an expanded view copies into a dense tensor first.
        var w = e
        try w.setElement(-1, at: [0, 0, 0])
        #expect(w.strides == [12, 4, 1] && w.scalars.filter { $0 == -1 }.count == 1)
    }

    @Test func assignRegion() throws {
        var a = try iota([4, 5])
        let original = a
        let patch = try Tensor<Float>(shape: [4, 2], scalars: [Float](repeating: -1, count: 8))
        try a.assign(patch, axis: 1, 1..<3)
        for i in 0..<4 { for j in 0..<5 {
            #expect(try a.element(at: [i, j]) == ((1..<3).contains(j) ? -1 : original.element(at: [i, j])))
        } }
        #expect(original.scalars == (0..<20).map(Float.init))
        #expect(throws: TensorError.self) { try a.assign(patch, axis: 1, 0..<3) }
        // Assigning a transposed view of itself reads the old values.
        var sq = try iota([3, 3])
        try sq.assign(try sq.transposed(), axis: 0, 0..<3)
        #expect(sq.scalars == [0, 3, 6, 1, 4, 7, 2, 5, 8])
    }

    @Test func coalescedLayoutMergesDimensions() {
        let l = CoalescedLayout(shape: [2, 1, 3, 4], strides: [[12, 12, 4, 1], [0, 0, 4, 1]])
        #expect(l.shape == [2, 12] && l.strides == [[12, 1], [0, 1]])
        var runs: [[Int]] = []
        l.forEachRun { off, n, _ in runs.append(Array(off) + [n]) }
        #expect(runs == [[0, 0, 12], [12, 0, 12]])
    }
}

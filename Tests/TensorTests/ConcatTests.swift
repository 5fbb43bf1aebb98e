import Testing
@testable import Tensor

/// Concatenation, stacking and splitting against naive element loops (copies, so exact).
@Suite struct ConcatTests {
    /// Element `index` of the concatenation of `parts` along `axis`, found by walking the parts.
    static func naiveConcat(_ parts: [Tensor<Float>], axis a: Int) -> [Double] {
        var shape = parts[0].shape
        shape[a] = parts.map { $0.shape[a] }.reduce(0, +)
        return NaiveRef.indices(shape).map { idx in
            var i = idx, part = 0
            while i[a] >= parts[part].shape[a] { i[a] -= parts[part].shape[a]; part += 1 }
            return Double(try! parts[part].element(at: i))
        }
    }

    @Test(arguments: NaiveRef.Layout.allCases)
    func concatenatedMatchesNaive(layout: NaiveRef.Layout) throws {
        for axis in [0, 1, 2, -1, -3] {
            let a = axis < 0 ? axis + 3 : axis
            var parts: [Tensor<Float>] = []
            for (i, size) in [3, 1, 0, 7].enumerated() {
                var shape = [5, 4, 6]
                shape[a] = size
                parts.append(size == 0 ? try .zeros(shape) : NaiveRef.tensor(shape, layout, seed: UInt64(i)))
            }
            let c = try Tensor.concatenated(parts, axis: axis)
            var shape = [5, 4, 6]
            shape[a] = 11
            #expect(c.shape == shape && c.isContiguous)
            #expect(c.scalars.map(Double.init) == Self.naiveConcat(parts, axis: a), "axis \(axis) \(layout)")
        }
        let single = NaiveRef.tensor([13, 7], layout, seed: 9)
        #expect(try Tensor.concatenated([single], axis: 1) == single)
    }

    @Test func stackedInsertsANewAxis() throws {
        let parts = (0..<3).map { NaiveRef.tensor([4, 5], .transposed, seed: UInt64($0)) }
        for axis in [0, 1, 2, -1, -3] {
            let s = try Tensor.stacked(parts, axis: axis)
            let a = axis < 0 ? axis + 3 : axis
            var shape = [4, 5]
            shape.insert(3, at: a)
            #expect(s.shape == shape)
            for idx in NaiveRef.indices(shape) {
                var src = idx
                let k = src.remove(at: a)
                #expect(try s.element(at: idx) == parts[k].element(at: src))
            }
        }
        #expect(try Tensor.stacked([Tensor<Float>(scalar: 1), Tensor(scalar: 2)]).scalars == [1, 2])
    }

    @Test func splitGivesViewsThatRoundTrip() throws {
        let x = NaiveRef.tensor([6, 13, 4], .stepped, seed: 5)
        for axis in [0, 1, -1] {
            let a = axis < 0 ? axis + 3 : axis
            let n = x.shape[a]
            let sizes = [1, 0, n - 1]
            let pieces = try x.split(sizes: sizes, axis: axis)
            #expect(pieces.map { $0.shape[a] } == sizes)
            #expect(try Tensor.concatenated(pieces, axis: axis) == x)
            #expect(pieces[2].storage === x.storage)  // a view, not a copy
        }
        let halves = try x.split(count: 2, axis: 0)
        #expect(halves.count == 2 && halves[0].shape == [3, 13, 4])
        #expect(try halves[1] == x.sliced(axis: 0, 3..<6))
        #expect(try x.split(count: 13, axis: 1).allSatisfy { $0.shape == [6, 1, 4] })
        #expect(try Tensor<Float>.zeros([0, 2]).split(sizes: [], axis: 0).isEmpty)
        #expect(throws: TensorError.self) { try x.split(sizes: [], axis: 0) }
    }

    @Test func errorsNameTheOffendingTensor() throws {
        let a = try Tensor<Float>.zeros([2, 3]), b = try Tensor<Float>.zeros([2, 4]), c = try Tensor<Float>.zeros([2, 3, 1])
        #expect(throws: TensorError.invalidArgument(op: "concatenated", reason: "needs at least one tensor")) {
            try Tensor<Float>.concatenated([], axis: 0)
        }
        #expect(throws: TensorError.shapeMismatch(op: "concatenated", shapes: [[2, 3], [2, 3, 1]],
                                                  reason: "tensor 2 has rank 3 but tensor 0 has rank 2")) {
            try Tensor.concatenated([a, a, c], axis: 0)
        }
        #expect(throws: TensorError.shapeMismatch(op: "concatenated", shapes: [[2, 3], [2, 4]],
                                                  reason: "tensor 1 differs from tensor 0 in dimension 1 (joining along axis 0)")) {
            try Tensor.concatenated([a, b], axis: 0)
        }
        #expect(try Tensor.concatenated([a, b], axis: 1).shape == [2, 7])
        #expect(throws: TensorError.axisOutOfRange(op: "concatenated", axis: 2, rank: 2)) { try Tensor.concatenated([a, b], axis: 2) }
        #expect(throws: TensorError.axisOutOfRange(op: "concatenated", axis: 0, rank: 0)) {
            try Tensor.concatenated([Tensor<Float>(scalar: 1)], axis: 0)
        }

        #expect(throws: TensorError.invalidArgument(op: "stacked", reason: "needs at least one tensor")) {
            try Tensor<Float>.stacked([], axis: 0)
        }
        #expect(throws: TensorError.shapeMismatch(op: "stacked", shapes: [[2, 3], [2, 4]], reason: "tensor 2 has a different shape from tensor 0")) {
            try Tensor.stacked([a, a, b])
        }
        #expect(throws: TensorError.axisOutOfRange(op: "stacked", axis: 3, rank: 3)) { try Tensor.stacked([a], axis: 3) }

        let sizeError = TensorError.invalidArgument(op: "split", reason:
            "sizes [1, 1] must be non-negative and add up to 3, the size of axis 1 of [2, 3]")
        #expect(throws: sizeError) { try a.split(sizes: [1, 1], axis: 1) }
        #expect(throws: TensorError.self) { try a.split(sizes: [4, -1], axis: 1) }
        #expect(throws: TensorError.self) { try a.split(sizes: [Int.max, Int.max, 5], axis: 1) }
        #expect(throws: TensorError.invalidArgument(op: "split", reason: "cannot split axis 1 of [2, 3] (size 3) into 2 equal parts")) {
            try a.split(count: 2, axis: 1)
        }
        #expect(throws: TensorError.self) { try a.split(count: 0, axis: 0) }
        #expect(throws: TensorError.axisOutOfRange(op: "split", axis: -3, rank: 2)) { try a.split(count: 1, axis: -3) }
    }
}

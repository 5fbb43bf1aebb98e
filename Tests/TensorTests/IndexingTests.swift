import Testing
@testable import Tensor

/// Gather, embedding and indexAdd against naive element loops. Gathers are copies, so they must match
/// exactly; indexAdd adds in index order in both, so it must match a Double loop to Float rounding
/// (|Δ| ≤ 1e-6 · Σ|terms|).
@Suite struct IndexingTests {
    /// out[..., i, ...] = x[..., indices[i], ...] along `axis`, read element by element.
    static func naiveGather(_ x: Tensor<Float>, _ indices: [Int], axis a: Int) -> [Double] {
        var shape = x.shape
        shape[a] = indices.count
        return NaiveRef.indices(shape).map { idx in
            var src = idx
            src[a] = indices[idx[a]]
            return Double(try! x.element(at: src))
        }
    }

    @Test(arguments: NaiveRef.Layout.allCases)
    func gatheredMatchesNaive(layout: NaiveRef.Layout) throws {
        for (i, (shape, axis)) in [([7, 5], 0), ([13, 65], 1), ([3, 5, 7], 1), ([3, 5, 7], -1), ([1], 0), ([65, 3], -2)].enumerated() {
            let x = NaiveRef.tensor(shape, layout, seed: UInt64(i))
            let a = axis < 0 ? axis + shape.count : axis
            let n = shape[a]
            for indices in [[0], [n - 1, 0, n - 1], Array((0..<n).reversed()), [], (0..<13).map { ($0 * 5) % n }] {
                let g = try x.gathered(indices: indices, axis: axis)
                var expected = shape
                expected[a] = indices.count
                #expect(g.shape == expected)
                #expect(g.scalars.map(Double.init) == Self.naiveGather(x, indices, axis: a), "\(shape) \(axis) \(layout) \(indices)")
            }
        }
    }

    @Test func embeddingLooksUpRows() throws {
        let table = NaiveRef.tensor([11, 6], .contiguous, seed: 3)
        let ids = [3, 0, 10, 3, 7, 1]
        let e = try table.embedding(ids, shape: [2, 3])
        #expect(e.shape == [2, 3, 6])
        #expect(e.scalars.map(Double.init) == Self.naiveGather(table, ids, axis: 0))
        #expect(try table.embedding([], shape: [0]).shape == [0, 6])
        #expect(try table.embedding([4], shape: []).shape == [6])
        // A transposed table ([D, V] stored) gives the same rows.
        let tt = try table.transposed().contiguous().transposed()
        #expect(try tt.embedding(ids, shape: [6]) == table.embedding(ids, shape: [6]))
    }

    @Test func largeGatherTakesTheParallelPath() throws {
        let table = NaiveRef.tensor([300, 512], .contiguous, seed: 4)
        let ids = (0..<1100).map { ($0 * 37) % 300 }
        let g = try table.gathered(indices: ids)
        let t = table.scalars
        var ok = true
        for (i, id) in ids.enumerated() where Array(g.scalars[(i * 512)..<((i + 1) * 512)]) != Array(t[(id * 512)..<((id + 1) * 512)]) {
            ok = false
        }
        #expect(ok)
    }

    @Test(arguments: [NaiveRef.Layout.contiguous, .transposed, .expanded])
    func indexAddAccumulatesRepeats(layout: NaiveRef.Layout) throws {
        for (shape, axis, indices) in [([5, 7], 0, [1, 3, 1, 1, 4]), ([5, 7], 1, [6, 0, 6]), ([3, 4, 5], 1, [2, 2, 0, 3, 2, 1]),
                                       ([3, 4, 5], -1, [4, 4]), ([1], 0, [0, 0, 0])] {
            let a = axis < 0 ? axis + shape.count : axis
            var base = NaiveRef.tensor(shape, .contiguous, seed: 8)
            let original = base
            var sourceShape = shape
            sourceShape[a] = indices.count
            let source = NaiveRef.tensor(sourceShape, layout, seed: 9)
            // Naive: start from the base and add each source element at its destination, in order.
            var expected = NaiveRef.values(base), scale = expected.map(Swift.abs)
            let strides = Tensor<Float>.contiguousStrides(shape)
            for idx in NaiveRef.indices(sourceShape) {
                var dst = idx
                dst[a] = indices[idx[a]]
                let k = zip(dst, strides).map(*).reduce(0, +), v = Double(try source.element(at: idx))
                expected[k] += v
                scale[k] += Swift.abs(v)
            }
            try base.indexAdd(source, indices: indices, axis: axis)
            #expect(NaiveRef.worstRatio(base.scalars.map(Double.init), expected, scale: scale, rtol: 1e-6, atol: 0) <= 1,
                    "\(shape) \(axis) \(layout)")
            #expect(original == NaiveRef.tensor(shape, .contiguous, seed: 8))  // the copy it shared storage with is untouched
        }
    }

    @Test func indexAddIntoAViewAndInParallel() throws {
        // Accumulating into a non-contiguous view leaves the tensor it came from alone.
        let parent = NaiveRef.tensor([4, 6], .contiguous, seed: 1)
        var view = try parent.transposed()
        let src = try Tensor<Float>.ones([2, 4])
        try view.indexAdd(src, indices: [5, 5])
        #expect(try view.element(at: [5, 2]) == parent.element(at: [2, 5]) + 2)
        #expect(try view.element(at: [4, 2]) == parent.element(at: [2, 4]))
        #expect(parent == NaiveRef.tensor([4, 6], .contiguous, seed: 1))

        // Wide rows split across threads by column; every column gets all rows, in order.
        let ids = (0..<40).map { $0 % 7 }
        let rows = NaiveRef.tensor([40, 16_385], .contiguous, seed: 2)
        var g = try Tensor<Float>.zeros([7, 16_385])
        try g.indexAdd(rows, indices: ids)
        let r = rows.scalars
        var expected = [Double](repeating: 0, count: 7 * 16_385), scale = expected
        for (i, id) in ids.enumerated() {
            for j in 0..<16_385 {
                expected[id * 16_385 + j] += Double(r[i * 16_385 + j])
                scale[id * 16_385 + j] += Swift.abs(Double(r[i * 16_385 + j]))
            }
        }
        #expect(NaiveRef.worstRatio(g.scalars.map(Double.init), expected, scale: scale, rtol: 1e-6, atol: 0) <= 1)
    }

    @Test func errorsNameTheIndex() throws {
        let x = try Tensor<Float>.zeros([4, 3])
        #expect(throws: TensorError.indexOutOfRange(op: "gathered", index: 4, axis: 0, size: 4)) {
            try x.gathered(indices: [0, 4, 1])
        }
        #expect(throws: TensorError.indexOutOfRange(op: "gathered", index: -1, axis: 1, size: 3)) {
            try x.gathered(indices: [-1], axis: -1)
        }
        #expect(throws: TensorError.axisOutOfRange(op: "gathered", axis: 2, rank: 2)) { try x.gathered(indices: [0], axis: 2) }
        #expect(throws: TensorError.indexOutOfRange(op: "embedding", index: 7, axis: 0, size: 4)) {
            try x.embedding([1, 7], shape: [2])
        }
        #expect(throws: TensorError.invalidShape(op: "embedding", shape: [2, 2], reason: "needs 4 ids, got 3")) {
            try x.embedding([1, 2, 3], shape: [2, 2])
        }
        #expect(throws: TensorError.invalidShape(op: "embedding", shape: [12], reason: "the table must have rank 2 ([V, D])")) {
            try x.reshaped([12]).embedding([1], shape: [1])
        }
        #expect(throws: TensorError.invalidShape(op: "embedding", shape: [-1, 1], reason: "negative dimension")) {
            try x.embedding([1], shape: [-1, 1])
        }
        var y = x
        #expect(throws: TensorError.shapeMismatch(op: "indexAdd", shapes: [[4, 3], [2, 2]],
                                                  reason: "source must have shape [2, 3] for 2 indices along axis 0")) {
            try y.indexAdd(.zeros([2, 2]), indices: [0, 1])
        }
        #expect(throws: TensorError.indexOutOfRange(op: "indexAdd", index: 3, axis: 1, size: 3)) {
            try y.indexAdd(.zeros([4, 1]), indices: [3], axis: 1)
        }
        #expect(throws: TensorError.axisOutOfRange(op: "indexAdd", axis: -3, rank: 2)) {
            try y.indexAdd(.zeros([4, 1]), indices: [0], axis: -3)
        }
        #expect(y == x)  // failed calls leave the tensor unchanged
    }
}

/// Gathering slices by index (embedding lookup) and accumulating slices at indices (its gradient).
///
/// Indices must lie in `0..<size` (no negative wrap-around, as in PyTorch's `index_select` and
/// `embedding`); an index outside throws ``TensorError/indexOutOfRange(op:index:axis:size:)`` naming it.
extension Tensor {
    /// The slices `indices[0], indices[1], …` along `axis`, in that order (repeats allowed). The result has
    /// the shape of `self` with dimension `axis` replaced by `indices.count`.
    public func gathered(indices: [Int], axis: Int = 0) throws -> Tensor {
        try gather(indices, axis: axis, op: "gathered")
    }

    /// Embedding lookup: `self` is a `[V, D]` table and `ids` (row-major, `shape.reduce(1, *)` of them)
    /// select its rows. The result has shape `shape + [D]`.
    public func embedding(_ ids: [Int], shape idShape: [Int]) throws -> Tensor {
        let op = "embedding"
        guard rank == 2 else {
            throw TensorError.invalidShape(op: op, shape: shape, reason: "the table must have rank 2 ([V, D])")
        }
        guard try checkedCount(idShape, op: op) == ids.count else {
            throw TensorError.invalidShape(op: op, shape: idShape, reason: "needs \(idShape.reduce(1, *)) ids, got \(ids.count)")
        }
        let rows = try gather(ids, axis: 0, op: op)
        return rows.view(shape: idShape + [shape[1]], strides: Tensor.contiguousStrides(idShape + [shape[1]]), offset: 0)
    }

    /// Adds slice `i` of `source` (along `axis`) into slice `indices[i]` of `self`, for every `i` in order, so
    /// repeated indices accumulate. `source` has the shape of `self` with dimension `axis` replaced by
    /// `indices.count`. The embedding gradient of a `[V, D]` table is
    /// `var g = try Tensor.zeros([V, D]); try g.indexAdd(outputGradient.reshaped([-1, D]), indices: ids)`.
    public mutating func indexAdd(_ source: Tensor, indices: [Int], axis: Int = 0) throws {
        let op = "indexAdd"
        let a = try normalizeAxis(axis, rank: rank, op: op)
        var expected = shape
        expected[a] = indices.count
        guard source.shape == expected else {
            throw TensorError.shapeMismatch(op: op, shapes: [shape, source.shape],
                                            reason: "source must have shape \(expected) for \(indices.count) indices along axis \(a)")
        }
        try checkIndices(indices, axis: a, op: op)
        if indices.isEmpty || count == 0 { return }
        let src = source.contiguous()
        let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *), size = shape[a]
        withUnsafeMutableBufferPointer { dst in
            withExtendedLifetime(src) {
                indices.withUnsafeBufferPointer { idx in
                    indexAddKernel(src.basePointer, dst.baseAddress!, indices: idx.baseAddress!, count: idx.count,
                                   outer: outer, size: size, inner: inner)
                }
            }
        }
    }

    private func checkIndices(_ indices: [Int], axis a: Int, op: String) throws {
        for i in indices where i < 0 || i >= shape[a] {
            throw TensorError.indexOutOfRange(op: op, index: i, axis: a, size: shape[a])
        }
    }

    private func gather(_ indices: [Int], axis: Int, op: String) throws -> Tensor {
        let a = try normalizeAxis(axis, rank: rank, op: op)
        try checkIndices(indices, axis: a, op: op)
        var outShape = shape
        outShape[a] = indices.count
        _ = try checkedCount(outShape, op: op)
        let out = Tensor(uninitializedShape: outShape)
        if out.count == 0 { return out }
        if isContiguous {
            let outer = shape[..<a].reduce(1, *), inner = shape[(a + 1)...].reduce(1, *)
            withExtendedLifetime(self) {
                indices.withUnsafeBufferPointer { idx in
                    gatherKernel(basePointer, out.storage.base, indices: idx.baseAddress!, count: idx.count,
                                 outer: outer, size: shape[a], inner: inner)
                }
            }
        } else {  // copy each selected slice through its strided view rather than densifying all of `self`
            for (i, index) in indices.enumerated() {
                var target = out.sliceView(axis: a, i)
                withExtendedLifetime(out) { copyStrided(from: sliceView(axis: a, index), into: &target) }
            }
        }
        return out
    }

    /// The size-1 slice `index` along `axis` (callers have checked both).
    private func sliceView(axis a: Int, _ index: Int) -> Tensor {
        var s = shape
        s[a] = 1
        return view(shape: s, strides: strides, offset: offset + index * strides[a])
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
func gatherKernel<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>,
                                   indices: UnsafePointer<Int>, count k: Int, outer: Int, size: Int, inner: Int) {
    let out = SendablePointer(dst), idx = UncheckedSendable(indices)
    parallelChunks(count: outer * k, grain: Swift.max(1, (1 << 18) / Swift.max(inner, 1))) { range in
        for t in range {
            let o = t / k, i = t % k
            (out.p + t * inner).update(from: src + (o * size + idx.value[i]) * inner, count: inner)
        }
    }
}

/// Columns are split between threads, and every thread adds all rows in index order, so the result is
/// deterministic and no two threads touch the same element.
@_specialize(where S == Float)
@_specialize(where S == Double)
func indexAddKernel<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>,
                                     indices: UnsafePointer<Int>, count k: Int, outer: Int, size: Int, inner: Int) {
    let out = SendablePointer(dst), idx = UncheckedSendable(indices)
    let grain = Swift.max(16, reductionChunkElements / Swift.max(outer * k, 1))
    parallelChunks(count: inner, grain: grain) { cols in
        let n = cols.count
        for o in 0..<outer {
            for i in 0..<k {
                let s = src + (o * k + i) * inner + cols.lowerBound
                let d = out.p + (o * size + idx.value[i]) * inner + cols.lowerBound
                for j in 0..<n { d[j] += s[j] }
            }
        }
    }
}

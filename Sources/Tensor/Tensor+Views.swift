/// Layout changes. Each returns a view over the same storage when the layout allows, and a copy otherwise.
extension Tensor {
    /// The same elements with a new shape; one dimension may be -1 (inferred). A view when contiguous.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        let op = "reshaped"
        var shape = newShape
        let inferred = shape.indices.filter { shape[$0] == -1 }
        guard inferred.count <= 1 else {
            throw TensorError.invalidShape(op: op, shape: newShape, reason: "at most one dimension may be -1")
        }
        if let i = inferred.first {
            shape[i] = 1
            let known = try checkedCount(shape, op: op)
            guard known > 0, count % known == 0 else {
                throw TensorError.shapeMismatch(op: op, shapes: [self.shape, newShape],
                                                reason: "cannot infer the -1 dimension for \(count) elements")
            }
            shape[i] = count / known
        }
        guard try checkedCount(shape, op: op) == count else {
            throw TensorError.shapeMismatch(op: op, shapes: [self.shape, newShape],
                                            reason: "element counts differ (\(count) vs \(shape.reduce(1, *)))")
        }
        let c = contiguous()
        return c.view(shape: shape, strides: Tensor.contiguousStrides(shape), offset: c.offset)
    }

    /// Reorders the dimensions: result dimension i is dimension `axes[i]` of `self`. Always a view.
    public func permuted(_ axes: [Int]) throws -> Tensor {
        guard axes.count == rank else {
            throw TensorError.invalidArgument(op: "permuted", reason: "expected \(rank) axes for shape \(shape), got \(axes)")
        }
        let norm = try axes.map { try normalizeAxis($0, rank: rank, op: "permuted") }
        guard Set(norm).count == rank else {
            throw TensorError.invalidArgument(op: "permuted", reason: "axes \(axes) are not a permutation of 0..<\(rank)")
        }
        return view(shape: norm.map { shape[$0] }, strides: norm.map { strides[$0] }, offset: offset)
    }

    /// Swaps two dimensions (a view).
    public func transposed(_ a: Int, _ b: Int) throws -> Tensor {
        var axes = Array(0..<rank)
        let i = try normalizeAxis(a, rank: rank, op: "transposed"), j = try normalizeAxis(b, rank: rank, op: "transposed")
        axes.swapAt(i, j)
        return try permuted(axes)
    }

    /// Swaps the last two dimensions (a view); the matrix transpose for rank 2.
    public func transposed() throws -> Tensor {
        guard rank >= 2 else {
            throw TensorError.invalidShape(op: "transposed", shape: shape, reason: "needs rank ≥ 2")
        }
        return try transposed(rank - 2, rank - 1)
    }

    /// Elements `range` (every `step`-th) along `axis` (a view). The range must lie inside the dimension.
    public func sliced(axis: Int, _ range: Range<Int>, step: Int = 1) throws -> Tensor {
        let op = "sliced"
        let a = try normalizeAxis(axis, rank: rank, op: op)
        guard step > 0 else { throw TensorError.invalidArgument(op: op, reason: "step must be positive, got \(step)") }
        guard range.lowerBound >= 0, range.upperBound <= shape[a] else {
            throw TensorError.indexOutOfRange(op: op, index: range.lowerBound < 0 ? range.lowerBound : range.upperBound,
                                              axis: a, size: shape[a])
        }
        var newShape = shape, newStrides = strides
        newShape[a] = (range.count + step - 1) / step
        newStrides[a] = strides[a] * step
        let start = range.isEmpty ? 0 : range.lowerBound
        return view(shape: newShape, strides: newStrides, offset: offset + start * strides[a])
    }

    /// Element `index` along `axis`, with that dimension removed (a view).
    public func selecting(axis: Int, index: Int) throws -> Tensor {
        let a = try normalizeAxis(axis, rank: rank, op: "selecting")
        let i = index < 0 ? index + shape[a] : index
        guard i >= 0 && i < shape[a] else {
            throw TensorError.indexOutOfRange(op: "selecting", index: index, axis: a, size: shape[a])
        }
        var s = shape, st = strides
        s.remove(at: a); st.remove(at: a)
        return view(shape: s, strides: st, offset: offset + i * strides[a])
    }

    /// Broadcasts to `newShape` by NumPy rules using stride 0 (a view; writing to it copies first).
    public func expanded(to newShape: [Int]) throws -> Tensor {
        guard newShape.count >= rank else {
            throw TensorError.shapeMismatch(op: "expanded", shapes: [shape, newShape], reason: "target has lower rank")
        }
        _ = try checkedCount(newShape, op: "expanded")
        let lead = newShape.count - rank
        var st = [Int](repeating: 0, count: newShape.count)
        for d in 0..<rank {
            if shape[d] == newShape[lead + d] {
                st[lead + d] = strides[d]
            } else if shape[d] == 1 {
                st[lead + d] = 0
            } else {
                throw TensorError.shapeMismatch(op: "expanded", shapes: [shape, newShape],
                                                reason: "dimension \(d) of size \(shape[d]) cannot expand to \(newShape[lead + d])")
            }
        }
        return view(shape: newShape, strides: st, offset: offset)
    }

    /// Inserts a dimension of size 1 at `axis` (which may equal `rank`) (a view).
    public func unsqueezed(_ axis: Int) throws -> Tensor {
        let a = try normalizeAxis(axis, rank: rank + 1, op: "unsqueezed")
        var s = shape, st = strides
        s.insert(1, at: a)
        st.insert(a < rank ? strides[a] * shape[a] : 1, at: a)
        return view(shape: s, strides: st, offset: offset)
    }

    /// Removes dimension `axis`, which must have size 1 (a view).
    public func squeezed(_ axis: Int) throws -> Tensor {
        let a = try normalizeAxis(axis, rank: rank, op: "squeezed")
        guard shape[a] == 1 else {
            throw TensorError.invalidShape(op: "squeezed", shape: shape, reason: "axis \(axis) has size \(shape[a]), not 1")
        }
        var s = shape, st = strides
        s.remove(at: a); st.remove(at: a)
        return view(shape: s, strides: st, offset: offset)
    }

    /// Removes every dimension of size 1 (a view).
    public func squeezed() -> Tensor {
        let keep = shape.indices.filter { shape[$0] != 1 }
        return view(shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] }, offset: offset)
    }

    /// Writes `source` into the region `range` along `axis` (shapes must agree elsewhere).
    public mutating func assign(_ source: Tensor, axis: Int, _ range: Range<Int>) throws {
        let region = try sliced(axis: axis, range)
        guard region.shape == source.shape else {
            throw TensorError.shapeMismatch(op: "assign", shapes: [region.shape, source.shape],
                                            reason: "source does not match the destination region")
        }
        makeUnique()
        var target = try sliced(axis: axis, range)
        withExtendedLifetime(self) { copyStrided(from: source, into: &target) }
    }
}

/// Joining tensors along an axis and splitting one into views.
extension Tensor {
    /// The tensors joined along `axis` into a new contiguous tensor. All must have the same rank and agree in
    /// every dimension except `axis`; throws for an empty list or a mismatch, naming the offending tensor.
    public static func concatenated(_ tensors: [Tensor], axis: Int) throws -> Tensor {
        let op = "concatenated"
        guard let first = tensors.first else {
            throw TensorError.invalidArgument(op: op, reason: "needs at least one tensor")
        }
        let a = try normalizeAxis(axis, rank: first.rank, op: op)
        var outShape = first.shape
        outShape[a] = 0
        for (i, t) in tensors.enumerated() {
            guard t.rank == first.rank else {
                throw TensorError.shapeMismatch(op: op, shapes: [first.shape, t.shape],
                                                reason: "tensor \(i) has rank \(t.rank) but tensor 0 has rank \(first.rank)")
            }
            if let d = t.shape.indices.first(where: { $0 != a && t.shape[$0] != first.shape[$0] }) {
                throw TensorError.shapeMismatch(op: op, shapes: [first.shape, t.shape],
                                                reason: "tensor \(i) differs from tensor 0 in dimension \(d) (joining along axis \(a))")
            }
            outShape[a] += t.shape[a]
        }
        _ = try checkedCount(outShape, op: op)
        let out = Tensor(uninitializedShape: outShape)
        var start = 0
        for t in tensors {
            var target = out.view(shape: t.shape, strides: out.strides, offset: start * out.strides[a])
            withExtendedLifetime(out) { copyStrided(from: t, into: &target) }
            start += t.shape[a]
        }
        return out
    }

    /// The tensors, which must all have the same shape, joined along a new dimension at `axis`
    /// (`-(rank + 1)...rank`). Throws for an empty list or a shape mismatch, naming the offending tensor.
    public static func stacked(_ tensors: [Tensor], axis: Int = 0) throws -> Tensor {
        let op = "stacked"
        guard let first = tensors.first else {
            throw TensorError.invalidArgument(op: op, reason: "needs at least one tensor")
        }
        let a = try normalizeAxis(axis, rank: first.rank + 1, op: op)
        if let i = tensors.firstIndex(where: { $0.shape != first.shape }) {
            throw TensorError.shapeMismatch(op: op, shapes: [first.shape, tensors[i].shape],
                                            reason: "tensor \(i) has a different shape from tensor 0")
        }
        return try concatenated(tensors.map { try $0.unsqueezed(a) }, axis: a)
    }

    /// Views of consecutive pieces of `sizes[i]` elements along `axis`; the sizes must be non-negative and
    /// add up to the dimension.
    public func split(sizes: [Int], axis: Int) throws -> [Tensor] {
        let a = try normalizeAxis(axis, rank: rank, op: "split")
        let mismatch = TensorError.invalidArgument(op: "split", reason:
            "sizes \(sizes) must be non-negative and add up to \(shape[a]), the size of axis \(a) of \(shape)")
        var remaining = shape[a]  // checked piece by piece so that huge sizes cannot overflow
        for n in sizes {
            guard n >= 0 && n <= remaining else { throw mismatch }
            remaining -= n
        }
        guard remaining == 0 else { throw mismatch }
        var start = 0
        return try sizes.map { n in
            defer { start += n }
            return try sliced(axis: a, start..<(start + n))
        }
    }

    /// `count` equal views along `axis`; the dimension must be divisible by `count`.
    public func split(count: Int, axis: Int) throws -> [Tensor] {
        let a = try normalizeAxis(axis, rank: rank, op: "split")
        guard count > 0, shape[a] % count == 0 else {
            throw TensorError.invalidArgument(op: "split", reason:
                "cannot split axis \(a) of \(shape) (size \(shape[a])) into \(count) equal parts")
        }
        return try split(sizes: [Int](repeating: shape[a] / count, count: count), axis: a)
    }
}

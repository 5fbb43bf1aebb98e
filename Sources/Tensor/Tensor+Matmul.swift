/// Matrix products: `matmul` with NumPy/PyTorch semantics and the `linear` layer product `x·Wᵀ + b`.
/// Operands are used through their strides (transposed and sliced views are not copied); the work is done
/// by the packed GEMM in Kernels/GEMM.swift.
extension Tensor {
    /// The matrix product with NumPy/PyTorch `matmul` semantics.
    ///
    /// - 1-D · 1-D: the dot product, a rank-0 tensor.
    /// - 2-D · 2-D: the matrix product `[m, k] · [k, n] → [m, n]`.
    /// - A 1-D left operand is treated as `[1, k]` and a 1-D right operand as `[k, 1]`; the added dimension is
    ///   removed from the result.
    /// - Higher ranks: the last two dimensions are matrices and the leading (batch) dimensions broadcast, e.g.
    ///   `[b, m, k] · [k, n] → [b, m, n]`, `[b, 1, m, k] · [h, k, n] → [b, h, m, n]`.
    ///
    /// Throws `TensorError.shapeMismatch` when the inner dimensions differ or the batch dimensions do not
    /// broadcast, and `TensorError.invalidShape` for a rank-0 operand.
    public func matmul(_ other: Tensor) throws -> Tensor {
        let op = "matmul"
        for t in [self, other] where t.rank == 0 {
            throw TensorError.invalidShape(op: op, shape: t.shape, reason: "matmul needs operands of rank ≥ 1")
        }
        // Promote vectors to matrices (the stride of an added size-1 dimension is never used).
        let a = rank == 1 ? view(shape: [1, shape[0]], strides: [0, strides[0]], offset: offset) : self
        let b = other.rank == 1
            ? other.view(shape: [other.shape[0], 1], strides: [other.strides[0], 0], offset: other.offset) : other
        let m = a.shape[a.rank - 2], k = a.shape[a.rank - 1]
        let n = b.shape[b.rank - 1]
        guard b.shape[b.rank - 2] == k else {
            throw TensorError.shapeMismatch(op: op, shapes: [shape, other.shape],
                                            reason: "inner dimensions differ (\(k) vs \(b.shape[b.rank - 2]))")
        }
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        let rankB = Swift.max(aBatch.count, bBatch.count)
        var batch = [Int](repeating: 1, count: rankB)
        var aStride = [Int](repeating: 0, count: rankB), bStride = [Int](repeating: 0, count: rankB)
        for d in 0..<rankB {
            let da = d - (rankB - aBatch.count), db = d - (rankB - bBatch.count)
            let sa = da >= 0 ? aBatch[da] : 1, sb = db >= 0 ? bBatch[db] : 1
            guard sa == sb || sa == 1 || sb == 1 else {
                throw TensorError.shapeMismatch(op: op, shapes: [shape, other.shape],
                                                reason: "batch dimensions \(aBatch) and \(bBatch) do not broadcast")
            }
            batch[d] = Swift.max(sa, sb)
            if da >= 0 && sa != 1 { aStride[d] = a.strides[da] }
            if db >= 0 && sb != 1 { bStride[d] = b.strides[db] }
        }
        var resultShape = batch
        if rank > 1 { resultShape.append(m) }
        if other.rank > 1 { resultShape.append(n) }
        _ = try checkedCount(batch + [m, n], op: op)

        let out = Tensor(uninitializedShape: batch + [m, n])
        let batchCount = batch.reduce(1, *)
        if batchCount > 0 && m > 0 && n > 0 {
            let rsA = a.strides[a.rank - 2], csA = a.strides[a.rank - 1]
            let rsB = b.strides[b.rank - 2], csB = b.strides[b.rank - 1]
            let pa = a.basePointer, pb = b.basePointer, pc = out.basePointer
            withExtendedLifetime((a, b)) {
                if let rows = Tensor.foldedRowStride(batch: batch, batchStrides: aStride, m: m, rowStride: rsA),
                   bStride.allSatisfy({ $0 == 0 }) {
                    // B is shared by the whole batch and A's rows are evenly spaced: one tall GEMM.
                    gemmAny(m: batchCount * m, n: n, k: k, alpha: 1, a: pa, rsA: rows, csA: csA,
                            b: pb, rsB: rsB, csB: csB, beta: 0, c: pc, ldc: n, mayThread: true)
                    return
                }
                let perMatrix = 2 * m * n * k
                // Small matrices: spread the batch over threads, each GEMM single-threaded.
                let spread = batchCount > 1 && perMatrix < gemmParallelFlops
                let grain = Swift.max(1, gemmParallelFlops / 4 / Swift.max(perMatrix, 1))
                let sp = SendablePointer(pc)
                let aS = UncheckedSendable(UnsafePointer(pa)), bS = UncheckedSendable(UnsafePointer(pb))
                let body: (Range<Int>) -> Void = { r in
                    for i in r {
                        var rem = i, offA = 0, offB = 0
                        for d in stride(from: rankB - 1, through: 0, by: -1) {
                            let idx = rem % batch[d]
                            rem /= batch[d]
                            offA += idx * aStride[d]
                            offB += idx * bStride[d]
                        }
                        gemmAny(m: m, n: n, k: k, alpha: 1, a: aS.value + offA, rsA: rsA, csA: csA,
                                b: bS.value + offB, rsB: rsB, csB: csB, beta: 0, c: sp.p + i * m * n, ldc: n,
                                mayThread: !spread)
                    }
                }
                if spread { parallelChunks(count: batchCount, grain: grain, body) } else { body(0..<batchCount) }
            }
        }
        return out.view(shape: resultShape, strides: Tensor.contiguousStrides(resultShape), offset: 0)
    }

    /// `op(self) · op(other)`, where `op` swaps the last two dimensions when the flag is set (a free view).
    /// Both operands must have rank ≥ 2; otherwise the same rules and errors as ``matmul(_:)``.
    public func matmul(_ other: Tensor, transposeA: Bool, transposeB: Bool) throws -> Tensor {
        for t in [self, other] where t.rank < 2 && (t.rank == 0 || transposeA || transposeB) {
            throw TensorError.invalidShape(op: "matmul", shape: t.shape,
                                           reason: "transposed matmul needs operands of rank ≥ 2")
        }
        let a = transposeA ? try transposed() : self
        let b = transposeB ? try other.transposed() : other
        return try a.matmul(b)
    }

    /// The linear layer product `self · weightᵀ + bias`, as PyTorch's `F.linear`.
    ///
    /// `self` is `[..., in]`, `weight` is `[out, in]` (the PyTorch / Hugging Face layout) and `bias`, if given,
    /// is `[out]`; the result is `[..., out]`. The weight is read through its strides (no transposed copy) and the
    /// bias is the GEMM's initial C (beta = 1). Throws `TensorError.shapeMismatch` when the shapes disagree.
    public func linear(weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        let op = "linear"
        guard weight.rank == 2 else {
            throw TensorError.invalidShape(op: op, shape: weight.shape, reason: "weight must be [out, in]")
        }
        let outF = weight.shape[0], inF = weight.shape[1]
        guard rank >= 1, shape[rank - 1] == inF else {
            throw TensorError.shapeMismatch(op: op, shapes: [shape, weight.shape],
                                            reason: "input's last dimension must equal weight's in-features \(inF)")
        }
        if let bias, bias.shape != [outF] {
            throw TensorError.shapeMismatch(op: op, shapes: [shape, weight.shape, bias.shape],
                                            reason: "bias must be [\(outF)]")
        }
        let lead = Array(shape.dropLast())
        let rows = lead.reduce(1, *)
        var x = self
        var rs = Tensor.foldedRowStride(batch: Array(lead.dropLast()), batchStrides: Array(strides.dropLast(2)),
                                        m: lead.last ?? 1, rowStride: rank >= 2 ? strides[rank - 2] : 0)
        if rs == nil {
            x = contiguous()
            rs = inF
        }
        let out = Tensor(uninitializedShape: lead + [outF])
        guard rows > 0 && outF > 0 else { return out }
        let pc = out.basePointer
        if let bias {
            let bs = bias.strides[0], pbias = bias.basePointer
            withExtendedLifetime(bias) {
                for j in 0..<outF { pc[j] = pbias[j * bs] }
                for i in 1..<Swift.max(rows, 1) { (pc + i * outF).update(from: pc, count: outF) }
            }
        }
        withExtendedLifetime((x, weight)) {
            gemmAny(m: rows, n: outF, k: inF, alpha: 1, a: x.basePointer, rsA: rs!, csA: x.strides[x.rank - 1],
                    b: weight.basePointer, rsB: weight.strides[1], csB: weight.strides[0],
                    beta: bias == nil ? 0 : 1, c: pc, ldc: outF, mayThread: true)
        }
        return out
    }

    /// The single row stride that walks all `batch × m` rows in order, if the batch dimensions and the row
    /// dimension nest evenly (size-1 dimensions are ignored); `nil` otherwise.
    static func foldedRowStride(batch: [Int], batchStrides: [Int], m: Int, rowStride: Int) -> Int? {
        var dims = zip(batch, batchStrides).filter { $0.0 != 1 }
        if m != 1 { dims.append((m, rowStride)) }
        guard let last = dims.last else { return rowStride }
        var expected = last.1 * last.0
        for (size, stride) in dims.dropLast().reversed() {
            guard stride == expected else { return nil }
            expected *= size
        }
        return last.1
    }
}

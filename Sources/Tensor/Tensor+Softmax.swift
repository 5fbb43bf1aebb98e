/// Softmax, log-softmax and log-sum-exp, all computed with the row maximum subtracted first so that any
/// finite input (±1e30 included) is stable.
///
/// Special rows (a "row" is the set of elements normalised together):
/// - all −∞ (a fully masked attention row): softmax gives all zeros, logSoftmax all −∞, logSumExp −∞.
///   PyTorch gives NaN here; zeros is what a fully masked row should contribute.
/// - any +∞ or NaN: softmax and logSoftmax give NaN for the whole row; logSumExp gives +∞ when the row has
///   +∞ and no NaN, NaN when it has a NaN.
extension Tensor {
    /// exp(x − max) / Σ exp(x − max) along `axis` (default: the last). A new contiguous tensor.
    public func softmax(axis: Int = -1) throws -> Tensor {
        try normalisedAlong(axis: axis, log: false, op: "softmax")
    }

    /// x − max − log Σ exp(x − max) along `axis` (default: the last). A new contiguous tensor.
    public func logSoftmax(axis: Int = -1) throws -> Tensor {
        try normalisedAlong(axis: axis, log: true, op: "logSoftmax")
    }

    /// log Σ exp(x) over `axes` (all axes when `nil`), computed as max + log Σ exp(x − max).
    /// An empty reduction gives −∞.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let plan = try ReductionPlan(self, axes: axes, keepDims: keepDims, op: "logSumExp")
        let rows = plan.rows(of: self)
        let out = Tensor(uninitializedShape: plan.outShape)
        withExtendedLifetime(rows) {
            rowLogSumExp(rows.basePointer, out.storage.base, rows: plan.outCount, length: plan.reducedCount)
        }
        return out
    }

    /// log Σ exp(x) over one axis.
    public func logSumExp(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try logSumExp(axes: [axis], keepDims: keepDims)
    }

    /// Replaces every row along the last axis by its softmax, computed from the row's log-sum-exp `lse` (what
    /// `logSumExp(axis: -1)` returns): x ← exp(x − lse)·scale, in one pass with no maximum or sum, in place when
    /// the storage is not shared. Meant for pullbacks that kept the forward's log-sum-exp (cross-entropy).
    /// A row whose `lse` is −∞ (fully masked) becomes zeros; one whose `lse` is +∞ or NaN becomes NaN.
    ///
    /// - Throws: `TensorError.invalidShape` for a rank-0 tensor, `TensorError.shapeMismatch` unless `lse` has
    ///   this shape without its last axis (or with it as 1).
    public mutating func formSoftmax(logSumExp lse: Tensor, scale: Scalar = 1) throws {
        let op = "formSoftmax"
        guard rank >= 1 else { throw TensorError.invalidShape(op: op, shape: shape, reason: "needs rank ≥ 1") }
        let rowShape = Array(shape.dropLast())
        guard lse.shape == rowShape || lse.shape == rowShape + [1] else {
            throw TensorError.shapeMismatch(op: op, shapes: [shape, lse.shape],
                                            reason: "needs one log-sum-exp per row, shape \(rowShape)")
        }
        let n = shape[rank - 1], rows = rowShape.reduce(1, *)
        if count == 0 { return }
        let shifts = lse.contiguous()
        withUnsafeMutableBufferPointer { x in
            withExtendedLifetime(shifts) {
                softmaxRowsFromLogSumExp(x.baseAddress!, shifts.basePointer, rows: rows, length: n, scale: scale)
            }
        }
    }

    /// Softmax or log-softmax along `axis`: the axis is moved last (a copy unless it already is and the
    /// tensor is contiguous), the rows are normalised, and the result is laid back in the original order.
    private func normalisedAlong(axis: Int, log: Bool, op: String) throws -> Tensor {
        let a = try normalizeAxis(axis, rank: rank, op: op)
        let order = shape.indices.filter { $0 != a } + [a]
        let rows = view(shape: order.map { shape[$0] }, strides: order.map { strides[$0] }, offset: offset).contiguous()
        let out = Tensor(uninitializedShape: rows.shape)
        withExtendedLifetime(rows) {
            softmaxRows(rows.basePointer, out.storage.base, rows: count / Swift.max(shape[a], 1), length: shape[a], log: log)
        }
        if a == rank - 1 { return out }
        var inverse = [Int](repeating: 0, count: rank)
        for (i, d) in order.enumerated() { inverse[d] = i }
        return out.view(shape: shape, strides: inverse.map { out.strides[$0] }, offset: 0).contiguous()
    }
}

/// Rows processed per chunk: enough elements that a chunk is worth a thread.
@inline(__always) private func rowGrain(_ length: Int) -> Int { Swift.max(1, (1 << 16) / Swift.max(length, 1)) }

@_specialize(where S == Float)
@_specialize(where S == Double)
func softmaxRows<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>, rows: Int, length n: Int,
                                  log: Bool) {
    let out = SendablePointer(dst)
    parallelChunks(count: rows, grain: rowGrain(n)) { range in
        for r in range {
            let x = src + r * n, y = out.p + r * n
            let m = runMax(x, n, 1)
            if m == -.infinity {  // fully masked (or empty) row
                y.update(repeating: log ? -.infinity : 0, count: n)
                continue
            }
            let total = runExpShiftedSum(x, y, n, shift: m)
            if log {
                let logTotal = S(Double.log(total))
                for i in 0..<n { y[i] = (x[i] - m) - logTotal }
            } else {
                let scale = S(1 / total)
                for i in 0..<n { y[i] *= scale }
            }
        }
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
func rowLogSumExp<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>, rows: Int, length n: Int) {
    let out = SendablePointer(dst)
    parallelChunks(count: rows, grain: rowGrain(n)) { range in
        let scratch = UnsafeMutablePointer<S>.allocate(capacity: Swift.max(n, 1))
        defer { scratch.deallocate() }
        for r in range {
            let x = src + r * n
            let m = runMax(x, n, 1)
            if !m.isFinite {  // NaN, +∞ (the sum is +∞), or −∞ (all masked or empty: log 0)
                out.p[r] = m
                continue
            }
            out.p[r] = S(Double(m) + Double.log(runExpShiftedSum(x, scratch, n, shift: m)))
        }
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
func softmaxRowsFromLogSumExp<S: TensorScalar>(_ x: UnsafeMutablePointer<S>, _ lse: UnsafePointer<S>, rows: Int,
                                              length n: Int, scale: S) {
    let xs = SendablePointer(x), ls = UncheckedSendable(lse)
    parallelChunks(count: rows, grain: rowGrain(n)) { range in
        for r in range {
            let row = xs.p + r * n, shift = ls.value[r]
            if !shift.isFinite {
                row.update(repeating: shift == -.infinity ? 0 : .nan, count: n)
            } else if S.self == Float.self {
                floatRunExpShiftedScaled(UnsafeMutableRawPointer(row).assumingMemoryBound(to: Float.self), n,
                                         shift: unsafeBitCast(shift, to: Float.self),
                                         scale: unsafeBitCast(scale, to: Float.self))
            } else {
                for i in 0..<n { row[i] = S.exp(row[i] - shift) * scale }
            }
        }
    }
}

// MARK: - Backward (beside the forward rows above)

/// dx = y ⊙ (g − Σ g⊙y) over `rows` contiguous rows of `n`: the softmax pullback, one pass per row (two reads
/// and one write per element). `out` may equal `g`. Float rows take the dot product in four SIMD8 accumulators
/// (fp32 within a row, as PyTorch's kernel; the GEMM's `dot`), Double rows in Double. `package`: Autodiff's
/// softmax pullback runs it, and the layer library's attention backward can.
@_specialize(exported: true, where S == Float)
@_specialize(exported: true, where S == Double)
@inline(never)
package func softmaxPullbackRows<S: TensorScalar>(_ y: UnsafePointer<S>, _ g: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>,
                                                  rows: Int, n: Int) {
    if S.self == Float.self {
        softmaxPullbackRowsFloat(UnsafeRawPointer(y).assumingMemoryBound(to: Float.self),
                                 UnsafeRawPointer(g).assumingMemoryBound(to: Float.self),
                                 UnsafeMutableRawPointer(out).assumingMemoryBound(to: Float.self), rows: rows, n: n)
        return
    }
    for r in 0..<rows {
        let yr = y + r &* n, gr = g + r &* n, o = out + r &* n
        var dot = 0.0
        for j in 0..<n { dot += Double(gr[j] * yr[j]) }
        let d = S(dot)
        for j in 0..<n { o[j] = yr[j] * (gr[j] - d) }
    }
}

@inline(never)
func softmaxPullbackRowsFloat(_ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                              rows: Int, n: Int) {
    for r in 0..<rows {
        let yr = y + r &* n, gr = g + r &* n, o = out + r &* n
        let dot = SGEMMKernel.dot(n, gr, yr)
        let d = SIMD8<Float>(repeating: dot)
        var j = 0
        while j &+ 8 <= n {
            let v = UnsafeRawPointer(yr + j).loadUnaligned(as: SIMD8<Float>.self)
                * (UnsafeRawPointer(gr + j).loadUnaligned(as: SIMD8<Float>.self) - d)
            UnsafeMutableRawPointer(o + j).storeBytes(of: v, as: SIMD8<Float>.self)
            j &+= 8
        }
        while j < n { o[j] = yr[j] * (gr[j] - dot); j &+= 1 }
    }
}

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

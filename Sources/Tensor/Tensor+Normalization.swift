/// Layer norm and RMS norm over the last axis, with variants that also return the per-row statistics the
/// backward pass needs.
///
/// Statistics are accumulated in `Double` (fp32 SIMD blocks for contiguous `Float` rows). The variance is
/// two-pass: the row is shifted by its rounded mean and the shift's error is corrected with Σ(x − shift),
/// so rows like 1e4 + small noise keep full accuracy.
extension Tensor {
    /// (x − mean) / √(var + ε) · weight + bias over the last axis, with PyTorch semantics: biased variance,
    /// ε inside the square root. `weight` and `bias` have shape `[D]` (D = last dimension) or are `nil`.
    public func layerNorm(weight: Tensor? = nil, bias: Tensor? = nil, epsilon: Scalar = 1e-5) throws -> Tensor {
        try layerNormWithStatistics(weight: weight, bias: bias, epsilon: epsilon).output
    }

    /// ``layerNorm(weight:bias:epsilon:)`` plus the per-row `mean` and `rstd` = 1/√(var + ε), each of shape
    /// `shape.dropLast()`, so that a backward pass need not recompute them.
    public func layerNormWithStatistics(weight: Tensor? = nil, bias: Tensor? = nil, epsilon: Scalar = 1e-5)
        throws -> (output: Tensor, mean: Tensor, rstd: Tensor) {
        let (rows, d, w, b) = try normalizationOperands(weight: weight, bias: bias, epsilon: epsilon, op: "layerNorm")
        let x = contiguous()
        let out = Tensor(uninitializedShape: shape)
        let mean = Tensor(uninitializedShape: Array(shape.dropLast()))
        let rstd = Tensor(uninitializedShape: Array(shape.dropLast()))
        withExtendedLifetime((x, w, b)) {
            layerNormRows(x.basePointer, out.storage.base, rows: rows, length: d, weight: w?.basePointer,
                          bias: b?.basePointer, epsilon: epsilon, mean: mean.storage.base, rstd: rstd.storage.base)
        }
        return (out, mean, rstd)
    }

    /// x / √(mean(x²) + ε) · weight over the last axis (RMSNorm as in T5 and LLaMA). `weight` has shape
    /// `[D]` or is `nil`.
    public func rmsNorm(weight: Tensor? = nil, epsilon: Scalar = 1e-6) throws -> Tensor {
        try rmsNormWithStatistics(weight: weight, epsilon: epsilon).output
    }

    /// ``rmsNorm(weight:epsilon:)`` plus the per-row `rstd` = 1/√(mean(x²) + ε), of shape `shape.dropLast()`.
    public func rmsNormWithStatistics(weight: Tensor? = nil, epsilon: Scalar = 1e-6)
        throws -> (output: Tensor, rstd: Tensor) {
        let (rows, d, w, _) = try normalizationOperands(weight: weight, bias: nil, epsilon: epsilon, op: "rmsNorm")
        let x = contiguous()
        let out = Tensor(uninitializedShape: shape)
        let rstd = Tensor(uninitializedShape: Array(shape.dropLast()))
        withExtendedLifetime((x, w)) {
            rmsNormRows(x.basePointer, out.storage.base, rows: rows, length: d, weight: w?.basePointer,
                        epsilon: epsilon, rstd: rstd.storage.base)
        }
        return (out, rstd)
    }

    /// Checks the input, affine parameters and ε; returns the row count, row length and contiguous parameters.
    private func normalizationOperands(weight: Tensor?, bias: Tensor?, epsilon: Scalar, op: String)
        throws -> (Int, Int, Tensor?, Tensor?) {
        guard let d = shape.last, d > 0 else {
            throw TensorError.invalidShape(op: op, shape: shape, reason: "needs rank ≥ 1 and a non-empty last axis")
        }
        guard epsilon >= 0 && epsilon.isFinite else {
            throw TensorError.invalidArgument(op: op, reason: "epsilon must be finite and ≥ 0, got \(epsilon)")
        }
        for (name, p) in [("weight", weight), ("bias", bias)] {
            if let p, p.shape != [d] {
                throw TensorError.shapeMismatch(op: op, shapes: [shape, p.shape],
                                                reason: "\(name) must have shape [\(d)] (the last dimension)")
            }
        }
        return (count / d, d, weight?.contiguous(), bias?.contiguous())
    }
}

@inline(__always) private func normGrain(_ length: Int) -> Int { Swift.max(1, reductionChunkElements / length) }

@_specialize(where S == Float)
@_specialize(where S == Double)
func layerNormRows<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>, rows: Int, length n: Int,
                                    weight: UnsafePointer<S>?, bias: UnsafePointer<S>?, epsilon: S,
                                    mean: UnsafeMutablePointer<S>, rstd: UnsafeMutablePointer<S>) {
    let out = SendablePointer(dst), meanOut = SendablePointer(mean), rstdOut = SendablePointer(rstd)
    parallelChunks(count: rows, grain: normGrain(n)) { range in
        for r in range {
            let x = src + r * n, y = out.p + r * n
            let shift = S(runSum(x, n, 1) / Double(n))
            let (s1, s2) = runMoments(x, n, shift: shift)
            let correction = s1 / Double(n)
            let variance = Swift.max(0, s2 / Double(n) - correction * correction)
            let rs = 1 / (variance + Double(epsilon)).squareRoot()
            meanOut.p[r] = S(Double(shift) + correction)
            rstdOut.p[r] = S(rs)
            // y = ((x − shift) − correction) · rstd · w + b; x − shift is exact for rows near their mean.
            let c = S(correction), k = S(rs)
            if let w = weight, let b = bias {
                for j in 0..<n { y[j] = ((x[j] - shift) - c) * k * w[j] + b[j] }
            } else if let w = weight {
                for j in 0..<n { y[j] = ((x[j] - shift) - c) * k * w[j] }
            } else if let b = bias {
                for j in 0..<n { y[j] = ((x[j] - shift) - c) * k + b[j] }
            } else {
                for j in 0..<n { y[j] = ((x[j] - shift) - c) * k }
            }
        }
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
func rmsNormRows<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>, rows: Int, length n: Int,
                                  weight: UnsafePointer<S>?, epsilon: S, rstd: UnsafeMutablePointer<S>) {
    let out = SendablePointer(dst), rstdOut = SendablePointer(rstd)
    parallelChunks(count: rows, grain: normGrain(n)) { range in
        for r in range {
            let x = src + r * n, y = out.p + r * n
            let (_, squares) = runMoments(x, n, shift: 0)
            let rs = 1 / (squares / Double(n) + Double(epsilon)).squareRoot()
            rstdOut.p[r] = S(rs)
            let k = S(rs)
            if let w = weight {
                for j in 0..<n { y[j] = x[j] * k * w[j] }
            } else {
                for j in 0..<n { y[j] = x[j] * k }
            }
        }
    }
}

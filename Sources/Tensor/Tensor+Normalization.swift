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

// MARK: - Backward (beside the forward rows above)

/// The gradients of y = (x − μ)·r·γ + β over `rows` rows of `d` (r = 1/√(var + ε)), in one pass:
/// dx = r·(u − mean(u) − x̂·mean(u ⊙ x̂)) with u = g ⊙ γ and x̂ = (x − μ)·r, dγ = Σ g ⊙ x̂, dβ = Σ g.
/// With `mean` nil it is RMS norm's backward (y = x·r·γ, r = 1/√(mean(x²) + ε)): μ = 0 and the mean(u) term
/// drops, dx = r·(u − x̂·mean(u ⊙ x̂)). `gamma` nil means γ = 1; a nil output skips that gradient.
/// Row sums and the column sums of dγ/dβ accumulate in Double (column sums per row chunk, added in chunk
/// order: deterministic). `mean`/`rstd` are the forward's statistics (`layerNormWithStatistics`).
/// `package`: the one layer-norm/RMS-norm backward of Autodiff's `Variable.layerNorm`/`rmsNorm` and the layer
/// library's `Layers.layerNorm`/`rmsNorm`.
@_specialize(exported: true, where S == Float)
@_specialize(exported: true, where S == Double)
@inline(never)
package func normBackwardRows<S: TensorScalar>(
    x: UnsafePointer<S>, mean: UnsafePointer<S>?, rstd: UnsafePointer<S>, gamma: UnsafePointer<S>?,
    g: UnsafePointer<S>, rows: Int, d: Int,
    dx: UnsafeMutablePointer<S>?, dgamma: UnsafeMutablePointer<S>?, dbeta: UnsafeMutablePointer<S>?
) {
    let chunkRows = Swift.max(1, (1 << 16) / Swift.max(d, 1))
    let chunks = Swift.max(1, (rows + chunkRows - 1) / chunkRows)
    let wantSums = dgamma != nil || dbeta != nil
    var partial = [Double](repeating: 0, count: wantSums ? chunks * 2 * d : 0)
    partial.withUnsafeMutableBufferPointer { pp in
        // An empty array may still have a base address (the shared empty storage): never write through it.
        let p = UncheckedSendable(wantSums ? pp.baseAddress : nil), args = UncheckedSendable((x, mean, rstd, gamma, g, dx))
        parallelChunks(count: chunks, grain: 1) { cs in
            let (x, mean, rstd, gamma, g, dx) = args.value
            for c in cs {
                let acc = p.value.map { $0 + c &* 2 &* d }
                for r in (c &* chunkRows)..<Swift.min(rows, (c &+ 1) &* chunkRows) {
                    let xr = x + r &* d, gr = g + r &* d
                    let mu = mean?[r] ?? 0, rs = rstd[r]
                    if let acc {
                        for j in 0..<d {
                            acc[j] += Double(gr[j] * (xr[j] - mu) * rs)
                            acc[d &+ j] += Double(gr[j])
                        }
                    }
                    guard let dx else { continue }
                    var su = 0.0, sux = 0.0
                    for j in 0..<d {
                        let u = gr[j] * (gamma?[j] ?? 1)
                        su += Double(u)
                        sux += Double(u * (xr[j] - mu) * rs)
                    }
                    let m1 = mean == nil ? 0 : S(su / Double(d)), m2 = S(sux / Double(d))
                    let out = dx + r &* d
                    for j in 0..<d {
                        let u = gr[j] * (gamma?[j] ?? 1)
                        out[j] = rs * (u - m1 - (xr[j] - mu) * rs * m2)
                    }
                }
            }
        }
        guard wantSums else { return }
        for j in 0..<d {
            var sg = 0.0, sb = 0.0
            for c in 0..<chunks {
                sg += pp[c &* 2 &* d &+ j]
                sb += pp[c &* 2 &* d &+ d &+ j]
            }
            dgamma?[j] = S(sg)
            dbeta?[j] = S(sb)
        }
    }
}

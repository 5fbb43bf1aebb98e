import Dispatch
import Tensor

// Row kernels for the normalisation pullbacks. Each row of D elements is independent; rows are split over
// threads when there are enough of them. Sums over a row accumulate in Double.

/// Rows per chunk so that a chunk holds about 64K elements.
@inline(__always) func rowGrain(_ d: Int) -> Int { Swift.max(1, 65_536 / Swift.max(d, 1)) }

/// Which gradient a norm pullback computes.
enum NormGradient { case input, gamma }

/// Layer-norm and RMS-norm pullback over rows of `d` elements.
///
/// With x̂ = (x − μ)·r (μ = 0 for RMS norm) and u = g ⊙ γ (γ = 1 when absent):
/// - input: dx = r·(u − mean(u) − x̂·mean(u ⊙ x̂)) for layer norm, r·(u − x̂·mean(u ⊙ x̂)) for RMS norm;
/// - gamma: dγ = Σ_rows g ⊙ x̂ (returned as `[d]`).
/// `mean` is nil for RMS norm.
func normBackward<S: TensorScalar>(
    x: Tensor<S>, mean: Tensor<S>?, rstd: Tensor<S>, gamma: Tensor<S>?, g: Tensor<S>, wanted: NormGradient
) throws -> Tensor<S> {
    let d = x.shape.last ?? 1
    let rows = d == 0 ? 0 : x.count / d
    let xc = x.contiguous(), gc = g.contiguous(), rc = rstd.contiguous()
    let mc = mean?.contiguous(), gam = gamma?.contiguous()
    var out = try Tensor<S>.zerosView(wanted == .input ? x.shape : [d])
    try withExtendedLifetime((xc, gc, rc, mc, gam)) {
        try xc.withUnsafeBufferPointer { xp in
        try gc.withUnsafeBufferPointer { gp in
        try rc.withUnsafeBufferPointer { rp in
            guard rp.count == rows, mc == nil || mc!.count == rows, gam == nil || gam!.count == d else {
                throw AutodiffError.internalShapeError(expected: [rows], got: rc.shape)
            }
            let mp = mc?.withUnsafeBufferPointer { $0.baseAddress }
            let gammaP = gam?.withUnsafeBufferPointer { $0.baseAddress }
            let args = NormRows(x: xp.baseAddress!, g: gp.baseAddress!, rstd: rp.baseAddress!, mean: mp,
                                gamma: gammaP, d: d)
            out.withUnsafeMutableBufferPointer { op in
                let o = UncheckedSendable(op.baseAddress!)
                if wanted == .input {
                    parallelChunks(count: rows, grain: rowGrain(d)) { r in normInputGradient(args, o.value, r) }
                } else {
                    // Column sums: one partial per chunk, added in chunk order (deterministic).
                    let chunks = Swift.max(1, Swift.min(rows / rowGrain(d), Threading.maxThreads * 4))
                    var partial = [Double](repeating: 0, count: chunks * d)
                    partial.withUnsafeMutableBufferPointer { pp in
                        let p = UncheckedSendable(pp.baseAddress!)
                        parallelChunks(count: chunks, grain: 1) { cs in
                            for c in cs {
                                normGammaGradient(args, p.value + c * d, rows * c / chunks ..< rows * (c + 1) / chunks)
                            }
                        }
                    }
                    for c in 0..<chunks { for j in 0..<d { op[j] += S(partial[c * d + j]) } }
                }
            }
        }
        }
        }
    }
    return out
}

/// Pointers into contiguous operands (valid for the duration of one `normBackward` call).
struct NormRows<S: TensorScalar> {
    let x, g, rstd: UnsafePointer<S>
    let mean, gamma: UnsafePointer<S>?
    let d: Int
}

@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func normInputGradient<S: TensorScalar>(_ a: NormRows<S>, _ out: UnsafeMutablePointer<S>, _ rows: Range<Int>) {
    let d = a.d
    for r in rows {
        let x = a.x + r &* d, g = a.g + r &* d, o = out + r &* d
        let mu = a.mean?[r] ?? 0, rs = a.rstd[r]
        var su = 0.0, sux = 0.0
        for j in 0..<d {
            let u = g[j] * (a.gamma?[j] ?? 1)
            su += Double(u)
            sux += Double(u * (x[j] - mu) * rs)
        }
        let mu1 = a.mean == nil ? 0 : S(su / Double(d)), mu2 = S(sux / Double(d))
        for j in 0..<d {
            let u = g[j] * (a.gamma?[j] ?? 1)
            let xhat = (x[j] - mu) * rs
            o[j] = rs * (u - mu1 - xhat * mu2)
        }
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func normGammaGradient<S: TensorScalar>(_ a: NormRows<S>, _ acc: UnsafeMutablePointer<Double>, _ rows: Range<Int>) {
    let d = a.d
    for r in rows {
        let x = a.x + r &* d, g = a.g + r &* d
        let mu = a.mean?[r] ?? 0, rs = a.rstd[r]
        for j in 0..<d { acc[j] += Double(g[j] * (x[j] - mu) * rs) }
    }
}

import Tensor

// The normalisation pullbacks, on Tensor's one layer-norm/RMS-norm backward kernel (`normBackwardRows`, beside
// the forward in Tensor+Normalization.swift), which the layer library's `Layers.layerNorm` also runs.

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
    var out = try Tensor<S>.zeros(wanted == .input ? x.shape : [d])
    try withExtendedLifetime((xc, gc, rc, mc, gam)) {
        try xc.withUnsafeBufferPointer { xp in
        try gc.withUnsafeBufferPointer { gp in
        try rc.withUnsafeBufferPointer { rp in
            guard rp.count == rows, mc == nil || mc!.count == rows, gam == nil || gam!.count == d else {
                throw AutodiffError.internalShapeError(expected: [rows], got: rc.shape)
            }
            let mp = mc?.withUnsafeBufferPointer { $0.baseAddress }
            let gammaP = gam?.withUnsafeBufferPointer { $0.baseAddress }
            out.withUnsafeMutableBufferPointer { op in
                normBackwardRows(x: xp.baseAddress!, mean: mp, rstd: rp.baseAddress!, gamma: gammaP, g: gp.baseAddress!,
                                 rows: rows, d: d, dx: wanted == .input ? op.baseAddress : nil,
                                 dgamma: wanted == .gamma ? op.baseAddress : nil, dbeta: nil)
            }
        }
        }
        }
    }
    return out
}

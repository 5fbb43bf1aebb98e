import LanguageModel
import Tensor

/// The normalisation layer: token rows' signal `[0, D_aux)` becomes `(x − μ)/√(σ² + ε)` (statistics over those
/// D_aux coordinates, no affine), or `x/√(mean(x²) + ε)` when not `centered` (RMS norm); the residual map carries
/// (and may copy) the other coordinates.
struct SimulatorLayerNorm<Scalar: TensorScalar>: Sendable {
    let signalWidth: Int
    let epsilon: Double
    var centered = true
    let residual: HSimSplitLinear<Scalar>?

    init(signalWidth: Int, epsilon: Double, centered: Bool = true, residual: HSimSplitLinear<Scalar>?) {
        self.signalWidth = signalWidth
        self.epsilon = epsilon
        self.centered = centered
        self.residual = residual
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func update(_ state: TinTState<Scalar>, group: RowGroup) throws -> Tensor<Scalar>? {
        let x = group == .prefixes ? state.prefixes : state.tokens
        var out = try! Tensor<Scalar>.zeros(x.shape)
        let n = x.shape[0], W = x.shape[1], D = signalWidth, eps = Scalar(epsilon), centered = centered
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                let ptrs = UncheckedSendable((xp.baseAddress!, op.baseAddress!))
                parallelChunks(count: n, grain: Swift.max(1, 16_384 / Swift.max(D, 1))) { rows in
                    let (xs, os) = ptrs.value
                    for i in rows { normalizeRow(xs + i * W, os + i * W, D, eps, centered: centered) }
                }
            }
        }
        if let residual { residual.apply(x, into: &out, accumulate: true) }
        return out
    }

    /// The product FLOPs ``update(_:group:)`` executes on `rows` rows: the residual map's (``TinTFlopCounter``).
    func flops(rows: Int) -> Int { residual?.flops(rows: rows) ?? 0 }

    var parameterCount: ParameterCount { ParameterCount(constructed: residual?.parameterCount ?? 0) }
}

/// `y = (x − mean)/√(var + ε)` over `n` coordinates (biased variance, as LayerNorm); with `centered: false`
/// the mean is taken as 0 (RMS norm: `x/√(mean(x²) + ε)`).
@_specialize(where S == Float)
@_specialize(where S == Double)
func normalizeRow<S: TensorScalar>(_ x: UnsafePointer<S>, _ y: UnsafeMutablePointer<S>, _ n: Int, _ eps: S, centered: Bool = true) {
    var mean: S = 0
    if centered { for i in 0..<n { mean += x[i] } }
    mean /= S(n)
    var v: S = 0
    for i in 0..<n { let c = x[i] - mean; v += c * c }
    let inv = 1 / S.sqrt(v / S(n) + eps)
    for i in 0..<n { y[i] = (x[i] - mean) * inv }
}

/// The exact backward layers used by the `.exact` options (for oracles and ablations; not transformer layers):
/// the layer-norm Jacobian-vector product and `σ'(h)⊙∇a`. Both read the token signal and a memory region and
/// write the result to the signal; the residual map carries the rest.
struct ExactBackwardLayer<Scalar: TensorScalar>: Sendable {
    enum Rule: Sendable {
        /// `(1/σ)(g − mean g − x̂·mean(x̂⊙g))` with `x` read at `inputOffset`.
        case layerNorm(epsilon: Double)
        /// `(1/r)(g − x̂·mean(x̂⊙g))`, `r = √(mean(x²) + ε)`, with `x` read at `inputOffset`.
        case rmsNorm(epsilon: Double)
        /// `σ'(h)⊙g` with `h` read at `inputOffset`.
        case activation(Activation)
    }
    let rule: Rule
    let signalWidth: Int
    let inputOffset: Int
    let residual: HSimSplitLinear<Scalar>?

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func update(_ state: TinTState<Scalar>, group: RowGroup) throws -> Tensor<Scalar>? {
        let x = group == .prefixes ? state.prefixes : state.tokens
        var out = try! Tensor<Scalar>.zeros(x.shape)
        let n = x.shape[0], W = x.shape[1], D = signalWidth, off = inputOffset
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                for i in 0..<n {
                    let g = xp.baseAddress! + i * W, h = g + off, o = op.baseAddress! + i * W
                    switch rule {
                    case .layerNorm(let eps): layerNormJVP(g: g, x: h, out: o, D, Scalar(eps))
                    case .rmsNorm(let eps): layerNormJVP(g: g, x: h, out: o, D, Scalar(eps), centered: false)
                    case .activation(let f):
                        // σ'(h)⊙g with the layer library's activation backward (Tensor's derivative kernels).
                        o.update(from: g, count: D)
                        if f == .relu { for c in 0..<D where !(h[c] > 0) { o[c] = 0 } } else { unaryRunScaling(f.derivativeOp, h, o, D) }
                    }
                }
            }
        }
        if let residual { residual.apply(x, into: &out, accumulate: true) }
        return out
    }

    /// The product FLOPs ``update(_:group:)`` executes on `rows` rows: the residual map's (``TinTFlopCounter``).
    func flops(rows: Int) -> Int { residual?.flops(rows: rows) ?? 0 }

    var parameterCount: ParameterCount { ParameterCount(constructed: residual?.parameterCount ?? 0) }
}

/// `J·g` for `f(x) = (x − μ)/σ`: `(1/σ)(g − mean g − x̂·mean(x̂⊙g))` (J is symmetric); with `centered: false`,
/// for `f(x) = x/r`: `(1/r)(g − x̂·mean(x̂⊙g))`.
@_specialize(where S == Float)
@_specialize(where S == Double)
func layerNormJVP<S: TensorScalar>(g: UnsafePointer<S>, x: UnsafePointer<S>, out: UnsafeMutablePointer<S>, _ n: Int, _ eps: S,
                                   centered: Bool = true) {
    var mean: S = 0
    if centered { for i in 0..<n { mean += x[i] } }
    mean /= S(n)
    var v: S = 0
    for i in 0..<n { let c = x[i] - mean; v += c * c }
    let inv = 1 / S.sqrt(v / S(n) + eps)
    var gMean: S = 0, xg: S = 0
    for i in 0..<n { gMean += g[i]; xg += (x[i] - mean) * inv * g[i] }
    gMean /= S(n); xg /= S(n)
    if !centered { gMean = 0 }
    for i in 0..<n { out[i] = inv * (g[i] - gMean - (x[i] - mean) * inv * xg) }
}

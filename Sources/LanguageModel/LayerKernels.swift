import Dispatch
import Tensor

// Raw kernels behind OPT's differentiable ops (Layers.swift): threading, a scalar-generic GEMM entry, and the
// row-wise loops (residual add, activations, bias gradients, layer-norm backward). Generic kernels carry
// `@_specialize` for Float and Double; the Float hot paths (exp in softmax and cross-entropy) are SIMD8.

// MARK: - Threading

/// Elements per parallel chunk for memory-bound loops (about 50 µs of work).
let lmElementGrain = 1 << 16

// MARK: - GEMM

/// `C = alpha·A·B + beta·C` for either scalar type (Tensor's public `gemm` has Float and Double overloads).
/// Strides are in elements; see `Tensor.gemm(m:n:k:alpha:a:aRowStride:…)`.
@inline(__always)
func lmGEMM<S: TensorScalar>(m: Int, n: Int, k: Int, alpha: S = 1,
                              a: UnsafePointer<S>, rsA: Int, csA: Int,
                              b: UnsafePointer<S>, rsB: Int, csB: Int,
                              beta: S = 0, c: UnsafeMutablePointer<S>, ldc: Int) {
    if S.self == Float.self {
        gemm(m: m, n: n, k: k, alpha: unsafeBitCast(alpha, to: Float.self),
             a: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), aRowStride: rsA, aColStride: csA,
             b: UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), bRowStride: rsB, bColStride: csB,
             beta: unsafeBitCast(beta, to: Float.self),
             c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc)
    } else if S.self == Double.self {
        gemm(m: m, n: n, k: k, alpha: unsafeBitCast(alpha, to: Double.self),
             a: UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), aRowStride: rsA, aColStride: csA,
             b: UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), bRowStride: rsB, bColStride: csB,
             beta: unsafeBitCast(beta, to: Double.self),
             c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), ldc: ldc)
    } else {
        preconditionFailure("OPT: unsupported scalar type \(S.self)")
    }
}

// MARK: - Tensor plumbing

extension Tensor {
    /// A contiguous tensor of `shape`, zero-filled, whose elements `body` then writes.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func filled(_ shape: [Int], _ body: (UnsafeMutablePointer<Scalar>) throws -> Void) throws -> Tensor {
        var t = try zeroed(shape)
        try t.withUnsafeMutableBufferPointer { if !$0.isEmpty { try body($0.baseAddress!) } }
        return t
    }

    /// Zeros of `shape` in one allocation. Tensor's own zero fill (`zeros`) runs an unspecialised per-element
    /// loop when called from another module, which is slow for the [vocabulary, D] gradient tables; a matrix
    /// product over an empty inner dimension is all zeros and is written by the GEMM's fast C = 0 path.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    static func zeroed(_ shape: [Int]) throws -> Tensor {
        let n = shape.reduce(1, *)
        guard n > 0 else { return try Tensor(shape: shape, scalars: []) }
        let cols = shape.last ?? 1
        let empty = try Tensor(shape: [n / cols, 0], scalars: [])
        return try empty.matmul(try Tensor(shape: [0, cols], scalars: [])).reshaped(shape)
    }

    /// Read access to the elements in row-major order (a copy first when not contiguous).
    func withPointer<R>(_ body: (UnsafePointer<Scalar>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { try body($0.baseAddress!) }
    }
}

// MARK: - Elementwise

/// c = a + b over `n` contiguous elements.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmAdd<S: TensorScalar>(_ a: UnsafePointer<S>, _ b: UnsafePointer<S>, _ c: UnsafeMutablePointer<S>, _ n: Int) {
    let pa = UncheckedSendable(a), pb = UncheckedSendable(b), pc = UncheckedSendable(c)
    parallelChunks(count: n, grain: lmElementGrain * 4) { r in
        let a = pa.value, b = pb.value, c = pc.value
        for i in r { c[i] = a[i] + b[i] }
    }
}

/// The elementwise activations of the layer library.
public enum Activation: String, Sendable, CaseIterable, Codable {
    /// max(0, x).
    case relu
    /// The exact (erf) GELU.
    case gelu
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    case geluTanh
    /// x · sigmoid(x) (`silu`, `swish`).
    case silu

    /// The activation `transformers` calls `name` (`hidden_act`, `activation_function`), or nil.
    public init?(huggingFaceName name: String) {
        switch name {
        case "relu": self = .relu
        case "gelu": self = .gelu
        case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": self = .geluTanh
        case "silu", "swish": self = .silu
        default: return nil
        }
    }

    /// The names ``init(huggingFaceName:)`` accepts.
    public static let huggingFaceNames = ["relu", "gelu", "gelu_new", "gelu_pytorch_tanh", "gelu_fast", "silu", "swish"]
}

/// y = act(x) in place over `n` contiguous elements.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmActivate<S: TensorScalar>(_ kind: Activation, _ x: UnsafeMutablePointer<S>, _ n: Int) {
    let px = UncheckedSendable(x)
    parallelChunks(count: n, grain: kind == .relu ? lmElementGrain * 4 : lmElementGrain / 4) { r in
        let x = px.value
        switch kind {
        case .relu: for i in r { x[i] = x[i] > 0 ? x[i] : 0 }
        case .gelu: for i in r { x[i] = geluExact(x[i]) }
        case .geluTanh: for i in r { x[i] = geluTanh(x[i]) }
        case .silu: for i in r { x[i] = x[i] / (1 + S.exp(-x[i])) }
        }
    }
}

/// g ← g ⊙ act'(·) in place. For ReLU `saved` is the output (act' = [y > 0]); otherwise the pre-activation.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmActivationBackward<S: TensorScalar>(_ kind: Activation, saved: UnsafePointer<S>,
                                            _ g: UnsafeMutablePointer<S>, _ n: Int) {
    let ps = UncheckedSendable(saved), pg = UncheckedSendable(g)
    parallelChunks(count: n, grain: kind == .relu ? lmElementGrain * 4 : lmElementGrain / 4) { r in
        let s = ps.value, g = pg.value
        switch kind {
        case .relu: for i in r { g[i] = s[i] > 0 ? g[i] : 0 }
        case .gelu:
            for i in r {
                let x = s[i]
                let cdf = (1 + S.erf(x * S(0.7071067811865476))) / 2
                let pdf = S.exp(-x * x / 2) * S(0.3989422804014327)
                g[i] *= cdf + x * pdf
            }
        case .geluTanh:
            for i in r {
                let x = s[i], c = S(0.7978845608028654), a = S(0.044715)
                let x2: S = x * x
                let t: S = S.tanh(c * (x + a * x2 * x))
                let slope: S = (1 - t * t) * c * (1 + 3 * a * x2)
                g[i] *= ((1 + t) + x * slope) / 2
            }
        case .silu:
            for i in r {
                let sg = 1 / (1 + S.exp(-s[i]))
                g[i] *= sg * (1 + s[i] * (1 - sg))
            }
        }
    }
}

@inline(__always) func geluExact<S: TensorScalar>(_ x: S) -> S { x * (1 + S.erf(x * S(0.7071067811865476))) / 2 }

@inline(__always) func geluTanh<S: TensorScalar>(_ x: S) -> S {
    x * (1 + S.tanh(S(0.7978845608028654) * (x + S(0.044715) * x * x * x))) / 2
}

// MARK: - Column sums (bias gradients)

/// out[j] (+)= Σ_rows g[r·cols + j]. Partial sums per row chunk, combined in chunk order (deterministic).
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmColumnSums<S: TensorScalar>(_ g: UnsafePointer<S>, rows: Int, cols: Int, _ out: UnsafeMutablePointer<S>) {
    let chunkRows = Swift.max(1, lmElementGrain / Swift.max(cols, 1))
    let chunks = Swift.max(1, (rows + chunkRows - 1) / chunkRows)
    var partial = [S](repeating: 0, count: chunks * cols)
    partial.withUnsafeMutableBufferPointer { pp in
        let p = UncheckedSendable(pp.baseAddress!), pg = UncheckedSendable(g)
        parallelChunks(count: chunks, grain: 1) { cs in
            for c in cs {
                let acc = p.value + c &* cols
                for r in (c &* chunkRows)..<Swift.min(rows, (c &+ 1) &* chunkRows) {
                    let row = pg.value + r &* cols
                    for j in 0..<cols { acc[j] += row[j] }
                }
            }
        }
        for j in 0..<cols { out[j] = 0 }
        for c in 0..<chunks { for j in 0..<cols { out[j] += pp[c &* cols &+ j] } }
    }
}

// MARK: - Layer norm backward

/// The three gradients of y = (x − μ)·r·γ + β over rows of `d` (r = 1/√(var + ε)):
/// dx = r·(u − mean(u) − x̂·mean(u ⊙ x̂)) with u = g ⊙ γ, dγ = Σ g ⊙ x̂, dβ = Σ g.
/// `gamma` nil means γ = 1; `dgamma`/`dbeta` nil skip those sums; `dx` nil skips the input gradient.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func lmLayerNormBackward<S: TensorScalar>(
    x: UnsafePointer<S>, mean: UnsafePointer<S>, rstd: UnsafePointer<S>, gamma: UnsafePointer<S>?,
    g: UnsafePointer<S>, rows: Int, d: Int,
    dx: UnsafeMutablePointer<S>?, dgamma: UnsafeMutablePointer<S>?, dbeta: UnsafeMutablePointer<S>?
) {
    let chunkRows = Swift.max(1, lmElementGrain / Swift.max(d, 1))
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
                    let mu = mean[r], rs = rstd[r]
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
                    let m1 = S(su / Double(d)), m2 = S(sux / Double(d))
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

// MARK: - exp

/// e^x for x ≤ 0 (softmax and log-sum-exp arguments after the row maximum is subtracted); −inf and anything
/// below −87 give 0. Cephes expf polynomial with Cody–Waite reduction; ≈1 ulp.
@inline(__always)
func lmExp8(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let lo = SIMD8<Float>(repeating: -87)
    let under = x .< lo
    let xc = lmSelect(under, lo, x)
    let magic = SIMD8<Float>(repeating: 0x1.8p23)
    let t = lmFMA(xc, SIMD8(repeating: 0x1.715476p+0), magic)
    let n = t - magic
    var r = lmFMA(n, SIMD8(repeating: -0x1.62e4p-1), xc)
    r = lmFMA(n, SIMD8(repeating: -0x1.7f7d1cp-20), r)
    var p = lmFMA(SIMD8(repeating: 1.9875691500e-4), r, SIMD8(repeating: 1.3981999507e-3))
    p = lmFMA(p, r, SIMD8(repeating: 8.3334519073e-3))
    p = lmFMA(p, r, SIMD8(repeating: 4.1665795894e-2))
    p = lmFMA(p, r, SIMD8(repeating: 1.6666665459e-1))
    p = lmFMA(p, r, SIMD8(repeating: 5.0000001201e-1))
    p = lmFMA(p, r * r, r) + 1
    let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: SIMD8<Float>.self)
    return lmSelect(under, SIMD8(repeating: 0), p * scale)
}

/// Lane-wise `mask ? a : b` with whole-vector integer ops (`replacing(with:where:)` can become per-lane code).
@inline(__always)
func lmSelect(_ mask: SIMDMask<SIMD8<Int32>>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    let ai = unsafeBitCast(a, to: SIMD8<Int32>.self), bi = unsafeBitCast(b, to: SIMD8<Int32>.self)
    return unsafeBitCast(bi ^ ((ai ^ bi) & mask._storage), to: SIMD8<Float>.self)
}

/// a·b + c, fused when the build has FMA.
@inline(__always)
func lmFMA(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> {
#if SIMD_FMA
    c.addingProduct(a, b)
#else
    c + a * b
#endif
}

/// dst[i] = exp(src[i] − shift) for i < n; returns Σ dst (accumulated in Double). `src == dst` is allowed.
@inline(__always)
func lmExpShifted<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>, _ n: Int, _ shift: S) -> Double {
    if S.self == Float.self {
        return lmExpShiftedFloat(UnsafeRawPointer(src).assumingMemoryBound(to: Float.self),
                                  UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self), n,
                                  unsafeBitCast(shift, to: Float.self))
    }
    var sum = 0.0
    for i in 0..<n {
        let e = S.exp(src[i] - shift)
        dst[i] = e
        sum += Double(e)
    }
    return sum
}

@inline(never)
func lmExpShiftedFloat(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int, _ shift: Float) -> Double {
    let s = SIMD8<Float>(repeating: shift)
    var acc = SIMD8<Float>(repeating: 0)
    var total = 0.0
    var i = 0
    // Float lanes summed in blocks of 512 elements, blocks added in Double: accurate for long rows (V = 50K).
    while i &+ 8 <= n {
        let end = Swift.min(n, i &+ 512) & ~7
        while i < end {
            let e = lmExp8(UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self) - s)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: e, as: SIMD8<Float>.self)
            acc += e
            i &+= 8
        }
        total += Double(acc.sum())
        acc = SIMD8(repeating: 0)
    }
    if i < n {
        var v = SIMD8<Float>(repeating: -.infinity)
        for j in 0..<(n &- i) { v[j] = src[i &+ j] - shift }
        let e = lmExp8(v)
        for j in 0..<(n &- i) { dst[i &+ j] = e[j]; total += Double(e[j]) }
    }
    return total
}

/// The maximum of `n ≥ 1` elements.
@inline(__always)
func lmMax<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int) -> S {
    if S.self == Float.self {
        return unsafeBitCast(lmMaxFloat(UnsafeRawPointer(p).assumingMemoryBound(to: Float.self), n), to: S.self)
    }
    var m = p[0]
    for i in 1..<Swift.max(n, 1) where p[i] > m { m = p[i] }
    return m
}

@inline(never)
func lmMaxFloat(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var i = 0
    var mv = SIMD8<Float>(repeating: -.infinity)
    while i &+ 8 <= n {
        let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD8<Float>.self)
        mv = lmSelect(v .> mv, v, mv)
        i &+= 8
    }
    var m = mv.max()
    while i < n { if p[i] > m { m = p[i] }; i &+= 1 }
    return m
}

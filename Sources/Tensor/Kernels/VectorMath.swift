/// Vectorised fp32 transcendental functions on `SIMD8<Float>`, and pointer-level kernels built on them.
///
/// Every function here is branch-free: special inputs (±0, ±inf, NaN, denormals, overflow) are handled with
/// compare-and-select (``vmSelect(_:_:_:)``), never with `pointwiseMin`/`pointwiseMax`, `SIMD.rounded` or
/// `replacing(with:where:)`, which the 6.3 stdlib implements per lane and LLVM does not always re-vectorise.
/// Polynomials: Cephes for exp, log and small-|x| tanh; our own minimax fits for erf (|x| < 1) and erfcx.
///
/// Maximum error against Double libm measured over every 293rd float bit pattern (≈14.6M inputs, FMA build;
/// the tests allow a little more and also pass on the portable build):
/// exp 1.0 ulp, log 0.8, tanh 1.25, sigmoid 2.2, erf 1.03, erfc 4.1, gelu 4.5 (for results above 1e-37;
/// below, Φ(x) is denormal), rsqrt 1.5; sqrt is correctly rounded. silu and geluTanh lose relative accuracy
/// only in far negative tails (e^x denormal; |v|·ε with v = 2u); the derivatives are within 2e-7 absolute.
///
/// Pointer kernels (`vexp` …) take `(src, dst, n)`; `src == dst` (in place) is allowed. They are serial:
/// callers split large arrays across threads. A tail shorter than 8 goes through the same SIMD code on a
/// padded vector, so an element's result never depends on its position.

// MARK: - Small helpers

/// acc + a·b, fused when the build has FMA (`SIMD_FMA`, see Package.swift), two roundings otherwise. `package`
/// and inlinable: the SIMD loops of Autodiff and TinT use it too.
@inlinable @inline(__always)
package func fmadd8(_ acc: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
#if SIMD_FMA
    return acc.addingProduct(a, b)
#else
    return acc + a * b
#endif
}

/// a·b + c (``fmadd8(_:_:_:)`` with the addend last, as the polynomial code reads).
@inline(__always)
func vmMulAdd(_ a: SIMD8<Float>, _ b: SIMD8<Float>, _ c: SIMD8<Float>) -> SIMD8<Float> { fmadd8(c, a, b) }

@inline(__always) private func splat(_ c: Float) -> SIMD8<Float> { SIMD8(repeating: c) }

@inline(__always) private func bits(_ x: SIMD8<Float>) -> SIMD8<Int32> { unsafeBitCast(x, to: SIMD8<Int32>.self) }
@inline(__always) private func float(_ x: SIMD8<Int32>) -> SIMD8<Float> { unsafeBitCast(x, to: SIMD8<Float>.self) }

/// Lane-wise `mask ? a : b`. Built from whole-vector integer ops on the comparison result
/// (`_storage`: lanes all-ones or zero) because `replacing(with:where:)` is a per-lane stdlib loop that LLVM
/// re-vectorises only in small functions; in a big kernel it turns into per-lane branches.
@inline(__always)
func vmSelect(_ mask: SIMDMask<SIMD8<Int32>>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
    let bi = bits(b)
    return float(bi ^ ((bits(a) ^ bi) & mask._storage))
}

/// |x| by clearing the sign bit (NaN stays NaN).
@inline(__always)
func simdAbs(_ x: SIMD8<Float>) -> SIMD8<Float> { float(bits(x) & 0x7FFF_FFFF) }

/// −x by flipping the sign bit (so −(+0) = −0 and NaN's sign flips, like scalar negation).
@inline(__always)
func simdNegate(_ x: SIMD8<Float>) -> SIMD8<Float> { float(bits(x) ^ Int32.min) }

/// |magnitude| with the sign bit of `sign`.
@inline(__always)
private func withSign(_ magnitude: SIMD8<Float>, of sign: SIMD8<Float>) -> SIMD8<Float> {
    float(bits(magnitude) | (bits(sign) & Int32.min))
}

/// x clamped to [lo, hi] by compare-and-blend; NaN passes through unchanged.
@inline(__always)
func simdClamp(_ x: SIMD8<Float>, _ lo: Float, _ hi: Float) -> SIMD8<Float> {
    let y = vmSelect(x .< lo, splat(lo), x)
    return vmSelect(y .> hi, splat(hi), y)
}

/// x² as an unevaluated sum hi + lo (exact): fused when FMA is available, Dekker's split otherwise.
@inline(__always)
private func squareSplit(_ x: SIMD8<Float>) -> (hi: SIMD8<Float>, lo: SIMD8<Float>) {
    let hi = x * x
#if SIMD_FMA
    return (hi, vmMulAdd(x, x, -hi))
#else
    let c = x * 4097  // Veltkamp split into two 12-bit halves
    let xh = c - (c - x), xl = x - xh
    return (hi, ((xh * xh - hi) + 2 * xh * xl) + xl * xl)
#endif
}

// MARK: - exp

/// e^x. Overflow gives +inf, underflow gradual denormals then +0, NaN propagates.
@inline(__always)
func simdExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Beyond these bounds the result is inf / 0 anyway; clamping keeps n in [-150, 128].
    let xc = simdClamp(x, -104, 89)
    // n = round(x / ln 2) with the 1.5·2^23 trick: the sum's low mantissa bits hold n.
    let magic = splat(0x1.8p23)
    let t = vmMulAdd(xc, splat(0x1.715476p+0), magic)
    let n = t - magic
    // r = x − n·ln 2 in two steps (Cody–Waite); n·ln2hi is exact.
    var r = vmMulAdd(n, splat(-0x1.62e4p-1), xc)
    r = vmMulAdd(n, splat(-0x1.7f7d1cp-20), r)
    // e^r on [−ln2/2, ln2/2] (Cephes expf).
    var p = vmMulAdd(splat(1.9875691500e-4), r, splat(1.3981999507e-3))
    p = vmMulAdd(p, r, splat(8.3334519073e-3))
    p = vmMulAdd(p, r, splat(4.1665795894e-2))
    p = vmMulAdd(p, r, splat(1.6666665459e-1))
    p = vmMulAdd(p, r, splat(5.0000001201e-1))
    p = vmMulAdd(p, r * r, r) + 1
    // 2^n as two factors 2^n1·2^n2 so that n ∈ [-150, 128] never leaves the normal exponent range and the
    // denormal result is rounded once.
    let ni = bits(t) &- 0x4B40_0000
    let n1 = ni &>> 1, n2 = ni &- n1
    return p * float((n1 &+ 127) &<< 23) * float((n2 &+ 127) &<< 23)
}

// MARK: - log

/// Natural log. log(±0) = −inf, log(x < 0) = NaN, log(+inf) = +inf, NaN propagates; denormals are exact.
@inline(__always)
func simdLog(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Scale denormals into the normal range first.
    let denormal = (x .< 0x1p-126) .& (x .> 0)
    let xs = vmSelect(denormal, x * 0x1p23, x)
    let b = bits(xs)
    // x = m·2^e with m ∈ [0.5, 1).
    var e = (b &>> 23) &- 126
    e = e &- (denormal._storage & 23)
    var m = float((b & 0x007F_FFFF) | 0x3F00_0000)
    // Shift m into [√½, √2) so that log(m) is small; f = m − 1.
    let low = m .< 0x1.6a09e6p-1
    e = e &+ low._storage  // mask lanes are −1
    m = vmSelect(low, m + m, m)
    let f = m - 1
    let fe = float(e &+ 0x4B40_0000) - 0x1.8p23  // Int32 → Float for |e| < 2^22
    // log(1 + f) = f − f²/2 + f³·P(f) (Cephes logf).
    let z = f * f
    var y = vmMulAdd(splat(7.0376836292e-2), f, splat(-1.1514610310e-1))
    y = vmMulAdd(y, f, splat(1.1676998740e-1))
    y = vmMulAdd(y, f, splat(-1.2420140846e-1))
    y = vmMulAdd(y, f, splat(1.4249322787e-1))
    y = vmMulAdd(y, f, splat(-1.6668057665e-1))
    y = vmMulAdd(y, f, splat(2.0000714765e-1))
    y = vmMulAdd(y, f, splat(-2.4999993993e-1))
    y = vmMulAdd(y, f, splat(3.3333331174e-1))
    y = y * f * z
    y = vmMulAdd(fe, splat(-2.12194440e-4), y)
    y = vmMulAdd(z, splat(-0.5), y)
    var r = vmMulAdd(fe, splat(0.693359375), f + y)
    r = vmSelect(x .== .infinity, splat(.infinity), r)
    r = vmSelect(x .== 0, splat(-.infinity), r)
    return vmSelect((x .< 0) .| (x .!= x), splat(.nan), r)
}

// MARK: - tanh, sigmoid

/// tanh(x): an odd polynomial for |x| < 0.625, 1 − 2/(e^{2|x|} + 1) above (saturates cleanly to ±1).
@inline(__always)
func simdTanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let ax = simdAbs(x)
    let z = ax * ax
    var p = vmMulAdd(splat(-5.70498872745e-3), z, splat(2.06390887954e-2))
    p = vmMulAdd(p, z, splat(-5.37397155531e-2))
    p = vmMulAdd(p, z, splat(1.33314422036e-1))
    p = vmMulAdd(p, z, splat(-3.33332819422e-1))
    let small = vmMulAdd(p * z, ax, ax)
    let large = 1 - 2 / (simdExp(ax + ax) + 1)
    return withSign(vmSelect(ax .< 0.625, small, large), of: x)
}

/// 1/(1 + e^{−x}), computed from e = e^{−|x|} so that both tails keep full relative accuracy.
@inline(__always)
func simdSigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let e = simdExp(-simdAbs(x))
    return vmSelect(x .>= 0, splat(1), e) / (1 + e)
}

/// The pair (σ(x), σ(x)·σ(−x)) from one exp; the second factor is e/(1+e)² with e = e^{−|x|}.
@inline(__always)
private func sigmoidAndSlope(_ x: SIMD8<Float>) -> (SIMD8<Float>, SIMD8<Float>) {
    let e = simdExp(-simdAbs(x))
    let d = 1 + e
    return (vmSelect(x .>= 0, splat(1), e) / d, e / (d * d))
}

// MARK: - erf, erfc, normal CDF

/// erfcx(t) = e^{t²}·erfc(t) for t ∈ [0, 10.5] (callers clamp): (1 + 2t)·erfcx(t) is a degree-10 minimax
/// polynomial in s = (t − 3)/(t + 3) (rel. error 2e-9 before rounding).
@inline(__always)
private func erfcxCore(_ t: SIMD8<Float>) -> SIMD8<Float> {
    let s = (t - 3) / (t + 3)
    var p = vmMulAdd(splat(-0x1.1532bep-12), s, splat(-0x1.92955ap-11))
    p = vmMulAdd(p, s, splat(0x1.07273p-9))
    p = vmMulAdd(p, s, splat(0x1.500fcap-9))
    p = vmMulAdd(p, s, splat(-0x1.85f6ccp-6))
    p = vmMulAdd(p, s, splat(0x1.17bd5p-4))
    p = vmMulAdd(p, s, splat(-0x1.e887eap-4))
    p = vmMulAdd(p, s, splat(0x1.098418p-3))
    p = vmMulAdd(p, s, splat(-0x1.85a1acp-5))
    p = vmMulAdd(p, s, splat(-0x1.15c08ap-3))
    p = vmMulAdd(p, s, splat(0x1.40c522p+0))
    return p / vmMulAdd(t, splat(2), splat(1))
}

/// e^{−c·x²} for c ∈ {1, ½}, accurate even when x² is large: x² is split exactly into hi + lo and
/// e^{−c·lo} ≈ 1 − c·lo.
@inline(__always)
private func expNegSquare(_ x: SIMD8<Float>, _ c: Float) -> SIMD8<Float> {
    let (hi, lo) = squareSplit(x)
    let e = simdExp(hi * -c)
    return vmMulAdd(e, lo * -c, e)
}

/// erfc(t) for t ≥ 0 (any t; saturates to 0 beyond 10.5), with full relative accuracy in the tail.
@inline(__always)
private func erfcNonNegative(_ t: SIMD8<Float>) -> SIMD8<Float> {
    let tc = vmSelect(t .> 10.5, splat(10.5), t)
    return erfcxCore(tc) * expNegSquare(tc, 1)
}

/// erf(x) for |x| < 1: x + x·Q(x²) (minimax, rel. error 1e-9 before rounding).
@inline(__always)
private func erfSmall(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let z = x * x
    var q = vmMulAdd(splat(0x1.496a32p-14), z, splat(-0x1.a3f7p-11))
    q = vmMulAdd(q, z, splat(0x1.5405b2p-8))
    q = vmMulAdd(q, z, splat(-0x1.b7f90ep-6))
    q = vmMulAdd(q, z, splat(0x1.ce2cf8p-4))
    q = vmMulAdd(q, z, splat(-0x1.81273ep-2))
    q = vmMulAdd(q, z, splat(0x1.06eba8p-3))
    return vmMulAdd(x, q, x)
}

/// erf(x): the small polynomial for |x| < 1, 1 − erfc(|x|) above.
@inline(__always)
func simdErf(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let ax = simdAbs(x)
    let large = withSign(1 - erfcNonNegative(ax), of: x)
    return vmSelect(ax .< 1, erfSmall(x), large)
}

/// erfc(x) for any x: 1 − erf(x) near 0, the erfcx form above, and erfc(−x) = 2 − erfc(x).
@inline(__always)
func simdErfc(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let ax = simdAbs(x)
    let c = erfcNonNegative(ax)
    let large = vmSelect(x .< 0, 2 - c, c)
    return vmSelect(ax .< 0.5, 1 - erfSmall(x), large)
}

/// The standard normal CDF Φ(x) and density φ(x). Φ(−|x|) = ½·erfcx(|x|/√2)·e^{−x²/2} keeps full relative
/// accuracy in the lower tail (e^{−x²/2} is formed from x itself, not from the rounded x/√2); near 0 it is
/// ½ − ½·erf(|x|/√2).
@inline(__always)
private func normalCDFAndPDF(_ x: SIMD8<Float>) -> (cdf: SIMD8<Float>, pdf: SIMD8<Float>) {
    let ax = simdAbs(x)
    let xc = vmSelect(ax .> 14.849242, splat(14.849242), ax)  // 10.5·√2
    let t = xc * 0x1.6a09e6p-1
    let e = expNegSquare(xc, 0.5)
    var tail = erfcxCore(t) * e * 0.5
    tail = vmSelect(t .< 0.5, 0.5 - 0.5 * erfSmall(t), tail)
    return (vmSelect(x .>= 0, 1 - tail, tail), e * 0x1.988454p-2)  // 1/√(2π)
}

// MARK: - Activations and their derivatives

/// GELU, exact form x·Φ(x) (PyTorch `gelu`, approximate='none'). x < −20 gives −0.
@inline(__always)
func simdGelu(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xm = vmSelect(x .< -20, splat(-20), x)  // keeps −inf·0 from making NaN
    return xm * normalCDFAndPDF(xm).cdf
}

/// d/dx x·Φ(x) = Φ(x) + x·φ(x).
@inline(__always)
func simdGeluGrad(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xm = simdClamp(x, -20, 20)
    let (cdf, pdf) = normalCDFAndPDF(xm)
    return vmMulAdd(xm, pdf, cdf)
}

/// The tanh GELU ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (HF `gelu_new`, PyTorch approximate='tanh'),
/// evaluated as x·σ(2u), which is the same function without the cancellation of 1 + tanh for x < 0.
@inline(__always)
func simdGeluTanh(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xm = vmSelect(x .< -20, splat(-20), x)
    let v = xm * vmMulAdd(splat(0x1.2444f2p-4), xm * xm, splat(0x1.988454p+0))  // 2u
    return xm * simdSigmoid(v)
}

/// d/dx of ``simdGeluTanh``: σ(v) + x·v′·σ(v)σ(−v), v = 2u, v′ = 2√(2/π)(1 + 3·0.044715x²).
@inline(__always)
func simdGeluTanhGrad(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xm = simdClamp(x, -20, 20)
    let x2 = xm * xm
    let v = xm * vmMulAdd(splat(0x1.2444f2p-4), x2, splat(0x1.988454p+0))
    let dv = vmMulAdd(splat(0x1.b6676cp-3), x2, splat(0x1.988454p+0))
    let (s, slope) = sigmoidAndSlope(v)
    return vmMulAdd(xm * dv, slope, s)
}

/// SiLU / swish x·σ(x).
@inline(__always)
func simdSilu(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xm = vmSelect(x .< -120, splat(-120), x)
    return xm * simdSigmoid(xm)
}

/// d/dx x·σ(x) = σ(x) + x·σ(x)σ(−x).
@inline(__always)
func simdSiluGrad(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let xm = simdClamp(x, -120, 120)
    let (s, slope) = sigmoidAndSlope(xm)
    return vmMulAdd(xm, slope, s)
}

/// max(x, 0); NaN propagates and −0 becomes +0.
@inline(__always)
func simdRelu(_ x: SIMD8<Float>) -> SIMD8<Float> { vmSelect(x .<= 0, splat(0), x) }

// MARK: - Pointer-level kernels

/// Applies `f` to `n` floats from `src` into `dst` (which may equal `src`).
@inline(__always)
func vmMap(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
           _ f: (SIMD8<Float>) -> SIMD8<Float>) {
    var i = 0
    while i &+ 16 <= n {  // two independent vectors per trip for more instruction-level parallelism
        let a = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(src + (i &+ 8)).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(dst + i).storeBytes(of: f(a), as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(dst + (i &+ 8)).storeBytes(of: f(b), as: SIMD8<Float>.self)
        i &+= 16
    }
    while i &+ 8 <= n {
        let a = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(dst + i).storeBytes(of: f(a), as: SIMD8<Float>.self)
        i &+= 8
    }
    let rest = n &- i
    if rest > 0 {
        var v = SIMD8<Float>(repeating: 0)
        for j in 0..<rest { v[j] = src[i &+ j] }
        let r = f(v)
        for j in 0..<rest { dst[i &+ j] = r[j] }
    }
}

/// dst[i] = e^src[i].
@inline(never) func vexp(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdExp($0) }
}
/// dst[i] = log(src[i]).
@inline(never) func vlog(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdLog($0) }
}
/// dst[i] = tanh(src[i]).
@inline(never) func vtanh(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdTanh($0) }
}
/// dst[i] = 1/(1 + e^−src[i]).
@inline(never) func vsigmoid(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdSigmoid($0) }
}
/// dst[i] = erf(src[i]).
@inline(never) func verf(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdErf($0) }
}
/// dst[i] = erfc(src[i]).
@inline(never) func verfc(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdErfc($0) }
}
/// dst[i] = gelu(src[i]) (exact erf form).
@inline(never) func vgelu(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdGelu($0) }
}
/// dst[i] = gelu′(src[i]) (exact erf form).
@inline(never) func vgeluGrad(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdGeluGrad($0) }
}
/// dst[i] = tanh-approximation gelu(src[i]).
@inline(never) func vgeluTanh(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdGeluTanh($0) }
}
/// dst[i] = derivative of the tanh-approximation gelu at src[i].
@inline(never) func vgeluTanhGrad(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdGeluTanhGrad($0) }
}
/// dst[i] = silu(src[i]) = src[i]·σ(src[i]).
@inline(never) func vsilu(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdSilu($0) }
}
/// dst[i] = silu′(src[i]).
@inline(never) func vsiluGrad(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdSiluGrad($0) }
}
/// dst[i] = max(src[i], 0).
@inline(never) func vrelu(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { simdRelu($0) }
}
/// dst[i] = √src[i] (correctly rounded; one `vsqrtps` when built with `-fno-math-errno`).
@inline(never) func vsqrt(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { $0.squareRoot() }
}
/// dst[i] = 1/√src[i] (a true division, not the approximate `rsqrtps`).
@inline(never) func vrsqrt(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
    vmMap(src, dst, n) { 1 / $0.squareRoot() }
}

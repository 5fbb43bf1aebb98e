import Foundation

/// Elementwise unary math: exp, log, tanh, sqrt, activations and their derivatives.
///
/// `Float` runs the SIMD kernels of VectorMath.swift (a few ulp from the correctly rounded result; see there).
/// `Double` runs scalar libm in numerically stable forms, so it can serve as the oracle for the `Float` path
/// and for gradient checks. Every op returns a new contiguous tensor of the same shape.
extension Tensor {
    /// eˣ elementwise (overflow gives +inf, underflow 0).
    public func exp() -> Tensor { mapUnary(.exp) }
    /// The natural logarithm elementwise (log 0 = −inf, log of a negative number = NaN).
    public func log() -> Tensor { mapUnary(.log) }
    /// tanh elementwise.
    public func tanh() -> Tensor { mapUnary(.tanh) }
    /// The square root elementwise (correctly rounded; NaN for negative inputs).
    public func sqrt() -> Tensor { mapUnary(.sqrt) }
    /// 1/√x elementwise, computed with a true division (not a hardware reciprocal estimate).
    public func rsqrt() -> Tensor { mapUnary(.rsqrt) }
    /// The error function elementwise.
    public func erf() -> Tensor { mapUnary(.erf) }
    /// max(x, 0) elementwise; NaN stays NaN.
    public func relu() -> Tensor { mapUnary(.relu) }
    /// The logistic function 1/(1 + e⁻ˣ) elementwise, accurate in both tails.
    public func sigmoid() -> Tensor { mapUnary(.sigmoid) }
    /// GELU in its exact form x·Φ(x) = ½x(1 + erf(x/√2)) (PyTorch `gelu`, approximate='none').
    public func gelu() -> Tensor { mapUnary(.gelu) }
    /// GELU with the tanh approximation ½x(1 + tanh(√(2/π)(x + 0.044715x³))) (HF `gelu_new`,
    /// PyTorch approximate='tanh').
    public func geluTanh() -> Tensor { mapUnary(.geluTanh) }
    /// SiLU (swish) x·σ(x).
    public func silu() -> Tensor { mapUnary(.silu) }

    /// The exact derivative of ``gelu()`` at each element: Φ(x) + x·φ(x).
    public func geluDerivative() -> Tensor { mapUnary(.geluDerivative) }
    /// The exact derivative of ``geluTanh()`` at each element:
    /// σ(v) + x·v′·σ(v)σ(−v) with v = 2√(2/π)(x + 0.044715x³), since ½(1 + tanh(v/2)) = σ(v).
    public func geluTanhDerivative() -> Tensor { mapUnary(.geluTanhDerivative) }
    /// The exact derivative of ``silu()`` at each element: σ(x) + x·σ(x)σ(−x).
    public func siluDerivative() -> Tensor { mapUnary(.siluDerivative) }
}

// MARK: - Machinery

/// An elementwise unary operation. Parameters are stored as `Double` (exact for both scalar types).
/// `package`: the layer library (LanguageModel) and TinT run their activations through ``unaryRun(_:_:_:_:)``.
package enum UnaryOp: Sendable, Hashable {
    case negate, abs, square
    case exp, log, tanh, sqrt, rsqrt, erf
    case relu, sigmoid, gelu, geluTanh, silu
    case geluDerivative, geluTanhDerivative, siluDerivative
    case pow(Double)
    /// Clamp to [lo, hi]: x < lo → lo, then > hi → hi (so lo > hi gives hi everywhere); NaN passes.
    case clamp(Double, Double)

    /// Ops costing tens of flops per element, worth splitting over threads at smaller sizes.
    var isTranscendental: Bool {
        switch self {
        case .negate, .abs, .square, .relu, .clamp, .sqrt, .rsqrt: return false
        case .pow(let p): return p != 1 && p != 2
        default: return true
        }
    }
}

extension Tensor {
    /// op applied to every element, into a new contiguous tensor (split over threads when large).
    func mapUnary(_ op: UnaryOp) -> Tensor {
        let src = contiguous()
        let out = Tensor(uninitializedShape: shape)
        let n = count
        let minimum = op.isTranscendental ? elementwiseParallelMinimum / 2 : elementwiseParallelMinimum
        let s = UnsafePointer(src.basePointer), d = out.basePointer
        withExtendedLifetime(src) {
            if n < minimum {
                unaryRun(op, s, d, n)
            } else {
                parallelChunks(count: n, grain: minimum / 4) { r in
                    unaryRun(op, s + r.lowerBound, d + r.lowerBound, r.count)
                }
            }
        }
        return out
    }
}

/// dst[i] = op(src[i]) for i in 0..<n (`dst` may equal `src`): the one implementation of every elementwise
/// function (SIMD for Float, stable scalar forms for Double). Serial; callers split large arrays over threads.
@_specialize(exported: true, where S == Float)
@_specialize(exported: true, where S == Double)
package func unaryRun<S: TensorScalar>(_ op: UnaryOp, _ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>, _ n: Int) {
    if S.self == Float.self {
        unaryRunFloat(op, UnsafeRawPointer(src).assumingMemoryBound(to: Float.self),
                      UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self), n)
    } else {
        unaryRunScalar(op, src, dst, n)
    }
}

/// The SIMD path.
@inline(never)
func unaryRunFloat(_ op: UnaryOp, _ s: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    switch op {
    case .negate: vmMap(s, d, n) { simdNegate($0) }
    case .abs: vmMap(s, d, n) { simdAbs($0) }
    case .square: vmMap(s, d, n) { $0 * $0 }
    case .exp: vexp(s, d, n)
    case .log: vlog(s, d, n)
    case .tanh: vtanh(s, d, n)
    case .sqrt: vsqrt(s, d, n)
    case .rsqrt: vrsqrt(s, d, n)
    case .erf: verf(s, d, n)
    case .relu: vrelu(s, d, n)
    case .sigmoid: vsigmoid(s, d, n)
    case .gelu: vgelu(s, d, n)
    case .geluTanh: vgeluTanh(s, d, n)
    case .silu: vsilu(s, d, n)
    case .geluDerivative: vgeluGrad(s, d, n)
    case .geluTanhDerivative: vgeluTanhGrad(s, d, n)
    case .siluDerivative: vsiluGrad(s, d, n)
    case .pow(let p):
        if p == 2 {
            unaryRunFloat(.square, s, d, n)
        } else if p == 1 {
            if UnsafePointer(d) != s { d.update(from: s, count: n) }
        } else {
            let e = Float(p)
            for i in 0..<n { d[i] = Foundation.powf(s[i], e) }
        }
    case .clamp(let lo, let hi):
        let l = Float(lo), h = Float(hi)
        vmMap(s, d, n) { simdClamp($0, l, h) }
    }
}

/// The scalar path: Double (libm, stable forms) and any other conforming type.
@_specialize(where S == Double)
@inline(never)
func unaryRunScalar<S: TensorScalar>(_ op: UnaryOp, _ s: UnsafePointer<S>, _ d: UnsafeMutablePointer<S>, _ n: Int) {
    @inline(__always) func map(_ f: (S) -> S) {
        for i in 0..<n { d[i] = f(s[i]) }
    }
    switch op {
    case .negate: map { -$0 }
    case .abs: map { $0.magnitude }
    case .square: map { $0 * $0 }
    case .exp: map { S.exp($0) }
    case .log: map { S.log($0) }
    case .tanh: map { S.tanh($0) }
    case .sqrt: map { S.sqrt($0) }
    case .rsqrt: map { 1 / S.sqrt($0) }
    case .erf: map { S.erf($0) }
    case .relu: map { $0 <= 0 ? 0 : $0 }
    case .sigmoid: map { scalarSigmoid($0) }
    case .gelu:
        map { x in
            let xm = Swift.max(x, -40)  // Φ(−40) = 0; keeps −inf·0 from making NaN
            return x.isNaN ? x : xm * scalarNormalCDF(xm)
        }
    case .geluTanh:
        map { x in
            let xm = Swift.max(x, -40)
            return x.isNaN ? x : xm * scalarSigmoid(geluTanhArgument(xm))
        }
    case .silu:
        map { x in
            let xm = Swift.max(x, -800)
            return x.isNaN ? x : xm * scalarSigmoid(xm)
        }
    case .geluDerivative:
        map { x in
            if x.isNaN { return x }
            let xm = Swift.min(Swift.max(x, -40), 40)
            let pdf = S.exp(-xm * xm / 2) * S(0.3989422804014326779)  // 1/√(2π)
            return scalarNormalCDF(xm) + xm * pdf
        }
    case .geluTanhDerivative:
        map { x in
            if x.isNaN { return x }
            let xm = Swift.min(Swift.max(x, -40), 40)
            let c = S(1.5957691216057307117)  // 2√(2/π)
            let dv = c * (1 + 3 * S(0.044715) * xm * xm)
            let (sig, slope) = scalarSigmoidAndSlope(geluTanhArgument(xm))
            return sig + xm * dv * slope
        }
    case .siluDerivative:
        map { x in
            if x.isNaN { return x }
            let xm = Swift.min(Swift.max(x, -800), 800)
            let (sig, slope) = scalarSigmoidAndSlope(xm)
            return sig + xm * slope
        }
    case .pow(let p):
        let e = S(p)
        if p == 2 { map { $0 * $0 } } else if p == 1 { map { $0 } } else { map { S.pow($0, e) } }
    case .clamp(let lo, let hi):
        let l = S(lo), h = S(hi)
        map { x in
            let y = x < l ? l : x
            return y > h ? h : y
        }
    }
}

/// g[i] ← g[i]·op(x[i]) for i in 0..<n: an activation's pullback with `op` its derivative
/// (`.geluDerivative`, …), through ``unaryRun(_:_:_:_:)`` on blocks of a stack buffer. Serial.
@_specialize(exported: true, where S == Float)
@_specialize(exported: true, where S == Double)
package func unaryRunScaling<S: TensorScalar>(_ op: UnaryOp, _ x: UnsafePointer<S>, _ g: UnsafeMutablePointer<S>, _ n: Int) {
    withUnsafeTemporaryAllocation(of: S.self, capacity: 512) { tmp in
        let t = tmp.baseAddress!
        var i = 0
        while i < n {
            let m = Swift.min(512, n &- i)
            unaryRun(op, x + i, t, m)
            let gi = g + i
            for j in 0..<m { gi[j] *= t[j] }
            i &+= m
        }
    }
}

/// v = 2√(2/π)(x + 0.044715x³), so that the tanh GELU is x·σ(v).
@inline(__always)
func geluTanhArgument<S: TensorScalar>(_ x: S) -> S {
    x * (S(1.5957691216057307117) + S(0.071354816272600249) * x * x)
}

/// σ(x) from e = e^{−|x|}: 1/(1+e) for x ≥ 0, e/(1+e) below, accurate in both tails.
@inline(__always)
func scalarSigmoid<S: TensorScalar>(_ x: S) -> S {
    let e = S.exp(-x.magnitude)
    return (x >= 0 ? 1 : e) / (1 + e)
}

/// (σ(x), σ(x)σ(−x)) with the second as e/(1+e)², which has no cancellation.
@inline(__always)
func scalarSigmoidAndSlope<S: TensorScalar>(_ x: S) -> (S, S) {
    let e = S.exp(-x.magnitude), d = 1 + e
    return ((x >= 0 ? 1 : e) / d, e / (d * d))
}

/// The standard normal CDF Φ(x); in Double through erfc, which keeps the lower tail's relative accuracy.
@inline(__always)
func scalarNormalCDF<S: TensorScalar>(_ x: S) -> S {
    if S.self == Double.self {
        return S(0.5 * Foundation.erfc(-Double(x) * 0.70710678118654752440))
    }
    return (1 + S.erf(x * S(0.70710678118654752440))) / 2
}

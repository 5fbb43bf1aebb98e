/// Run kernels shared by reductions, softmax and normalisation: one run is `n` elements `stride` apart.
///
/// Sums come back as `Double`. A contiguous `Float` run is added in fp32 SIMD lanes inside blocks of
/// `sumBlock` elements and the block totals in `Double`, so each lane adds at most 16 values in fp32 and the
/// error stays a few fp32 ulps whatever the length (1e6 elements agree with a Double loop to ~1e-7).
/// Every other run (Double, or strided Float) is added in `Double` directly.
/// Maxima and minima propagate NaN: a run holding a NaN reduces to NaN.

/// Elements per fp32 block before its total is moved into a `Double`.
private let sumBlock = 512

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) private func asFloat<S>(_ p: UnsafePointer<S>) -> UnsafePointer<Float> {
    UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
}

// MARK: Float SIMD kernels (contiguous)

@inline(never)
func floatRunSum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0, i = 0
    while i < n {
        let end = Swift.min(n, i &+ sumBlock)
        var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
        while i &+ 32 <= end {
            a0 += load8(p + i); a1 += load8(p + (i &+ 8))
            a2 += load8(p + (i &+ 16)); a3 += load8(p + (i &+ 24))
            i &+= 32
        }
        while i &+ 8 <= end { a0 += load8(p + i); i &+= 8 }
        var s = ((a0 + a1) + (a2 + a3)).sum()
        while i < end { s += p[i]; i &+= 1 }
        total += Double(s)
    }
    return total
}

/// Σ(x − c) and Σ(x − c)² over a contiguous run, fp32 lanes within blocks, Double across blocks.
@inline(never)
func floatRunMoments(_ p: UnsafePointer<Float>, _ n: Int, shift c: Float) -> (Double, Double) {
    var t1 = 0.0, t2 = 0.0, i = 0
    let cv = SIMD8<Float>(repeating: c)
    while i < n {
        let begin = i, end = Swift.min(n, i &+ sumBlock)
        var s0 = SIMD8<Float>(), s1 = s0, q0 = s0, q1 = s0
        while i &+ 16 <= end {
            let d0 = load8(p + i) - cv, d1 = load8(p + (i &+ 8)) - cv
            s0 += d0; s1 += d1
            q0 = fmadd8(q0, d0, d0); q1 = fmadd8(q1, d1, d1)
            i &+= 16
        }
        var s = (s0 + s1).sum(), q = (q0 + q1).sum()
        while i < end { let d = p[i] - c; s += d; q += d * d; i &+= 1 }
        if !q.isFinite {
            // The Float squares overflowed (|x − shift| ≳ 1e18) or the run holds inf/NaN: redo the block in
            // Double, which gives the true moments in the first case and still inf/NaN in the second.
            var sd = 0.0, qd = 0.0
            for k in begin..<end { let d = Double(p[k]) - Double(c); sd += d; qd += d * d }
            t1 += sd; t2 += qd
            continue
        }
        t1 += Double(s); t2 += Double(q)
    }
    return (t1, t2)
}

@inline(__always)
private func floatExtremum(_ p: UnsafePointer<Float>, _ n: Int, _ isMax: Bool) -> Float {
    let identity: Float = isMax ? -.infinity : .infinity
    var m0 = SIMD8<Float>(repeating: identity), m1 = m0
    var nan = SIMDMask<SIMD8<Int32>>(repeating: false)
    var i = 0
    while i &+ 16 <= n {
        let v0 = load8(p + i), v1 = load8(p + (i &+ 8))
        m0.replace(with: v0, where: isMax ? v0 .> m0 : v0 .< m0)
        m1.replace(with: v1, where: isMax ? v1 .> m1 : v1 .< m1)
        nan = nan .| (v0 .!= v0) .| (v1 .!= v1)
        i &+= 16
    }
    if any(nan) { return .nan }
    m0.replace(with: m1, where: isMax ? m1 .> m0 : m1 .< m0)
    var m = identity
    for k in 0..<8 { m = isMax ? Swift.max(m, m0[k]) : Swift.min(m, m0[k]) }
    while i < n {
        let v = p[i]
        if v.isNaN { return .nan }
        if isMax ? v > m : v < m { m = v }
        i &+= 1
    }
    return m
}

@inline(never) func floatRunMax(_ p: UnsafePointer<Float>, _ n: Int) -> Float { floatExtremum(p, n, true) }
@inline(never) func floatRunMin(_ p: UnsafePointer<Float>, _ n: Int) -> Float { floatExtremum(p, n, false) }

// MARK: Generic run kernels (Float SIMD when contiguous, Double accumulation otherwise)

/// Σ x over a run, as a Double.
@_specialize(where S == Float)
@_specialize(where S == Double)
func runSum<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int, _ stride: Int) -> Double {
    if S.self == Float.self && stride == 1 { return floatRunSum(asFloat(p), n) }
    var a0 = 0.0, a1 = 0.0, a2 = 0.0, a3 = 0.0, i = 0
    while i &+ 4 <= n {
        a0 += Double(p[i &* stride]); a1 += Double(p[(i &+ 1) &* stride])
        a2 += Double(p[(i &+ 2) &* stride]); a3 += Double(p[(i &+ 3) &* stride])
        i &+= 4
    }
    while i < n { a0 += Double(p[i &* stride]); i &+= 1 }
    return (a0 + a1) + (a2 + a3)
}

/// Σ(x − c) and Σ(x − c)² over a contiguous run, as Doubles. `c` is a shift close to the mean; the
/// caller corrects for its error with the first sum (var = Σd²/n − (Σd/n)²).
@_specialize(where S == Float)
@_specialize(where S == Double)
func runMoments<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int, shift c: S) -> (Double, Double) {
    if S.self == Float.self { return floatRunMoments(asFloat(p), n, shift: Float(c)) }
    var s = 0.0, q = 0.0
    let cd = Double(c)
    for i in 0..<n { let d = Double(p[i]) - cd; s += d; q += d * d }
    return (s, q)
}

/// The largest element of a run (NaN if any element is NaN, −∞ for an empty run). `package`: the row maximum of
/// every softmax (Tensor's, the layer library's attention and cross-entropy).
@_specialize(exported: true, where S == Float)
@_specialize(exported: true, where S == Double)
package func runMax<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int, _ stride: Int) -> S {
    if S.self == Float.self && stride == 1 { return S(floatRunMax(asFloat(p), n)) }
    var m = -S.infinity
    for i in 0..<n {
        let v = p[i &* stride]
        if v > m { m = v } else if v.isNaN { return v }
    }
    return m
}

/// The smallest element of a run (NaN if any element is NaN, +∞ for an empty run).
@_specialize(where S == Float)
@_specialize(where S == Double)
func runMin<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int, _ stride: Int) -> S {
    if S.self == Float.self && stride == 1 { return S(floatRunMin(asFloat(p), n)) }
    var m = S.infinity
    for i in 0..<n {
        let v = p[i &* stride]
        if v < m { m = v } else if v.isNaN { return v }
    }
    return m
}

/// dst[i] = exp(src[i] − shift) for a contiguous Float run, returning Σ dst[i]: SIMD exp (Kernels/VectorMath.swift,
/// ≤ 1 ulp) with the sum in fp32 lanes inside `sumBlock`-element blocks and Double across blocks, as `floatRunSum`.
@inline(never)
func floatRunExpShiftedSum(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<Float>, _ n: Int,
                           shift: Float) -> Double {
    let sv = SIMD8<Float>(repeating: shift)
    var total = 0.0, i = 0
    while i &+ 16 <= n {
        let end = Swift.min(n, i &+ sumBlock)
        var a0 = SIMD8<Float>(), a1 = a0
        while i &+ 16 <= end {
            let e0 = simdExp(load8(src + i) - sv), e1 = simdExp(load8(src + (i &+ 8)) - sv)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: e0, as: SIMD8<Float>.self)
            UnsafeMutableRawPointer(dst + (i &+ 8)).storeBytes(of: e1, as: SIMD8<Float>.self)
            a0 += e0; a1 += e1
            i &+= 16
        }
        total += Double((a0 + a1).sum())
    }
    // The last < 16 elements through the same SIMD code on padded vectors (padding lanes are not summed).
    while i < n {
        let m = Swift.min(8, n &- i)
        var v = SIMD8<Float>(repeating: 0)
        for k in 0..<m { v[k] = src[i &+ k] }
        let e = simdExp(v - sv)
        var s: Float = 0
        for k in 0..<m { dst[i &+ k] = e[k]; s += e[k] }
        total += Double(s)
        i &+= m
    }
    return total
}

/// x[i] = exp(x[i] − shift)·scale in place over a contiguous Float run (SIMD exp; the tail on a padded vector).
@inline(never)
func floatRunExpShiftedScaled(_ x: UnsafeMutablePointer<Float>, _ n: Int, shift: Float, scale: Float) {
    let sv = SIMD8<Float>(repeating: shift), cv = SIMD8<Float>(repeating: scale)
    var i = 0
    while i &+ 16 <= n {
        let e0 = simdExp(load8(x + i) - sv) * cv, e1 = simdExp(load8(x + (i &+ 8)) - sv) * cv
        UnsafeMutableRawPointer(x + i).storeBytes(of: e0, as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(x + (i &+ 8)).storeBytes(of: e1, as: SIMD8<Float>.self)
        i &+= 16
    }
    while i < n {
        let m = Swift.min(8, n &- i)
        var v = SIMD8<Float>(repeating: 0)
        for k in 0..<m { v[k] = x[i &+ k] }
        let e = simdExp(v - sv) * cv
        for k in 0..<m { x[i &+ k] = e[k] }
        i &+= m
    }
}

/// dst[i] = exp(src[i] − shift) for a contiguous run, returning Σ dst[i] as a Double: the one place softmax,
/// logSoftmax and logSumExp evaluate exp. Float runs use the SIMD exp; Double runs the scalar `S.exp`.
/// `package`: the layer library's attention and cross-entropy use it too. `src == dst` is allowed.
@_specialize(exported: true, where S == Float)
@_specialize(exported: true, where S == Double)
package func runExpShiftedSum<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>, _ n: Int,
                                       shift: S) -> Double {
    if S.self == Float.self {
        return floatRunExpShiftedSum(asFloat(src), UnsafeMutableRawPointer(dst).assumingMemoryBound(to: Float.self), n,
                                     shift: unsafeBitCast(shift, to: Float.self))
    }
    for i in 0..<n { dst[i] = S.exp(src[i] - shift) }
    return runSum(UnsafePointer(dst), n, 1)
}

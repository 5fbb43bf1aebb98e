// fp64 micro-kernels for the GEMM driver (GEMM.swift): for oracles and gradient checks, correct and
// reasonably fast, not tuned. With SIMD_FMA: 6×8 tile of SIMD4<Double> (12 ymm accumulators, the same
// register shape as the fp32 6×16 kernel). Without it: 4×4 (a SIMD4<Double> is two xmm registers).

/// acc + a·b, fused where the target has FMA.
@inline(__always)
private func fmadd(_ acc: SIMD4<Double>, _ a: SIMD4<Double>, _ b: SIMD4<Double>) -> SIMD4<Double> {
#if SIMD_FMA
    return acc.addingProduct(a, b)
#else
    return acc + a * b
#endif
}

@inline(__always)
private func load4(_ p: UnsafePointer<Double>) -> SIMD4<Double> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Double>.self)
}

@inline(__always)
private func store4(_ v: SIMD4<Double>, _ p: UnsafeMutablePointer<Double>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Double>.self)
}

@inline(__always)
private func update4(_ acc: SIMD4<Double>, _ p: UnsafeMutablePointer<Double>, _ alpha: SIMD4<Double>,
                     _ beta: Double) {
    if beta == 0 {
        store4(acc * alpha, p)
    } else {
        store4(fmadd(load4(p) * SIMD4(repeating: beta), acc, alpha), p)
    }
}

enum DGEMMKernel: GEMMKernel {
    typealias Scalar = Double
#if SIMD_FMA
    static var mr: Int { 6 }
    static var nr: Int { 8 }
#else
    static var mr: Int { 4 }
    static var nr: Int { 4 }
#endif
    static var mc: Int { 96 }
    static var kc: Int { 256 }
    static var nc: Int { 2048 }

#if SIMD_FMA
    @inline(__always)
    static func tile(_ kc: Int, _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>,
                     _ c: UnsafeMutablePointer<Double>, _ ldc: Int, _ alpha: Double, _ beta: Double) {
        typealias V = SIMD4<Double>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var pa = a, pb = b
        for _ in 0..<kc {
            let b0 = load4(pb), b1 = load4(pb + 4)
            var x = V(repeating: pa[0])
            c00 = fmadd(c00, x, b0); c01 = fmadd(c01, x, b1)
            x = V(repeating: pa[1])
            c10 = fmadd(c10, x, b0); c11 = fmadd(c11, x, b1)
            x = V(repeating: pa[2])
            c20 = fmadd(c20, x, b0); c21 = fmadd(c21, x, b1)
            x = V(repeating: pa[3])
            c30 = fmadd(c30, x, b0); c31 = fmadd(c31, x, b1)
            x = V(repeating: pa[4])
            c40 = fmadd(c40, x, b0); c41 = fmadd(c41, x, b1)
            x = V(repeating: pa[5])
            c50 = fmadd(c50, x, b0); c51 = fmadd(c51, x, b1)
            pa += 6; pb += 8
        }
        let al = V(repeating: alpha)
        var r = c
        update4(c00, r, al, beta); update4(c01, r + 4, al, beta); r += ldc
        update4(c10, r, al, beta); update4(c11, r + 4, al, beta); r += ldc
        update4(c20, r, al, beta); update4(c21, r + 4, al, beta); r += ldc
        update4(c30, r, al, beta); update4(c31, r + 4, al, beta); r += ldc
        update4(c40, r, al, beta); update4(c41, r + 4, al, beta); r += ldc
        update4(c50, r, al, beta); update4(c51, r + 4, al, beta)
    }
#else
    @inline(__always)
    static func tile(_ kc: Int, _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>,
                     _ c: UnsafeMutablePointer<Double>, _ ldc: Int, _ alpha: Double, _ beta: Double) {
        typealias V = SIMD4<Double>
        var c0 = V(), c1 = V(), c2 = V(), c3 = V()
        var pa = a, pb = b
        for _ in 0..<kc {
            let b0 = load4(pb)
            c0 = fmadd(c0, V(repeating: pa[0]), b0)
            c1 = fmadd(c1, V(repeating: pa[1]), b0)
            c2 = fmadd(c2, V(repeating: pa[2]), b0)
            c3 = fmadd(c3, V(repeating: pa[3]), b0)
            pa += 4; pb += 4
        }
        let al = V(repeating: alpha)
        update4(c0, c, al, beta)
        update4(c1, c + ldc, al, beta)
        update4(c2, c + 2 &* ldc, al, beta)
        update4(c3, c + 3 &* ldc, al, beta)
    }
#endif

    @inline(__always)
    static func dot(_ n: Int, _ x: UnsafePointer<Double>, _ y: UnsafePointer<Double>) -> Double {
        var s0 = SIMD4<Double>(), s1 = SIMD4<Double>()
        var i = 0
        while i &+ 8 <= n {
            s0 = fmadd(s0, load4(x + i), load4(y + i))
            s1 = fmadd(s1, load4(x + (i &+ 4)), load4(y + (i &+ 4)))
            i &+= 8
        }
        var s = (s0 + s1).sum()
        while i < n {
            s += x[i] * y[i]
            i &+= 1
        }
        return s
    }

    @inline(__always)
    static func axpy(_ n: Int, _ alpha: Double, _ x: UnsafePointer<Double>, _ y: UnsafeMutablePointer<Double>) {
        let a = SIMD4<Double>(repeating: alpha)
        var i = 0
        while i &+ 4 <= n {
            store4(fmadd(load4(y + i), a, load4(x + i)), y + i)
            i &+= 4
        }
        while i < n {
            y[i] += alpha * x[i]
            i &+= 1
        }
    }
}

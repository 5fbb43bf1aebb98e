// fp32 micro-kernels for the GEMM driver (GEMM.swift).
//
// With SIMD_FMA (x86-64-v3 or arm64): 6×16 tile, 12 SIMD8<Float> accumulators, 2 B loads and 6 broadcasts per
// k step; LLVM keeps all 12 accumulators in ymm registers (no spills, checked in the asm) and folds the
// broadcasts into vbroadcastss from memory. Without it (baseline SSE2 x86-64): 6×8 tile with mul+add, since
// a SIMD8 is two xmm registers and 6×16 would spill; `addingProduct` there would be a libm call per lane.

/// acc + a·b, fused where the target has FMA. The only place fp32 kernels here multiply-add vectors.
@inline(__always)
private func fmadd(_ acc: SIMD8<Float>, _ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> {
#if SIMD_FMA
    return acc.addingProduct(a, b)
#else
    return acc + a * b
#endif
}

@inline(__always)
private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always)
private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Writes alpha·acc (+ beta·C when beta != 0) to 8 floats at p.
@inline(__always)
private func update8(_ acc: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ alpha: SIMD8<Float>,
                     _ beta: Float) {
    if beta == 0 {
        store8(acc * alpha, p)
    } else if beta == 1 {
        store8(fmadd(load8(p), acc, alpha), p)
    } else {
        store8(fmadd(load8(p) * SIMD8(repeating: beta), acc, alpha), p)
    }
}

enum SGEMMKernel: GEMMKernel {
    typealias Scalar = Float
    static var mr: Int { 6 }
#if SIMD_FMA
    static var nr: Int { 16 }
#else
    static var nr: Int { 8 }
#endif
    static var mc: Int { 144 }
    static var kc: Int { 384 }
    static var nc: Int { 3072 }

#if SIMD_FMA
    @inline(__always)
    static func tile(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
        typealias V = SIMD8<Float>
        var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
        var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
        var pa = a, pb = b
        for _ in 0..<kc {
            let b0 = load8(pb), b1 = load8(pb + 8)
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
            pa += 6; pb += 16
        }
        let al = V(repeating: alpha)
        var r = c
        update8(c00, r, al, beta); update8(c01, r + 8, al, beta); r += ldc
        update8(c10, r, al, beta); update8(c11, r + 8, al, beta); r += ldc
        update8(c20, r, al, beta); update8(c21, r + 8, al, beta); r += ldc
        update8(c30, r, al, beta); update8(c31, r + 8, al, beta); r += ldc
        update8(c40, r, al, beta); update8(c41, r + 8, al, beta); r += ldc
        update8(c50, r, al, beta); update8(c51, r + 8, al, beta)
    }
#else
    @inline(__always)
    static func tile(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
        typealias V = SIMD8<Float>
        var c0 = V(), c1 = V(), c2 = V(), c3 = V(), c4 = V(), c5 = V()
        var pa = a, pb = b
        for _ in 0..<kc {
            let b0 = load8(pb)
            c0 = fmadd(c0, V(repeating: pa[0]), b0)
            c1 = fmadd(c1, V(repeating: pa[1]), b0)
            c2 = fmadd(c2, V(repeating: pa[2]), b0)
            c3 = fmadd(c3, V(repeating: pa[3]), b0)
            c4 = fmadd(c4, V(repeating: pa[4]), b0)
            c5 = fmadd(c5, V(repeating: pa[5]), b0)
            pa += 6; pb += 8
        }
        let al = V(repeating: alpha)
        var r = c
        update8(c0, r, al, beta); r += ldc
        update8(c1, r, al, beta); r += ldc
        update8(c2, r, al, beta); r += ldc
        update8(c3, r, al, beta); r += ldc
        update8(c4, r, al, beta); r += ldc
        update8(c5, r, al, beta)
    }
#endif

    @inline(__always)
    static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        var s0 = SIMD8<Float>(), s1 = SIMD8<Float>(), s2 = SIMD8<Float>(), s3 = SIMD8<Float>()
        var i = 0
        while i &+ 32 <= n {
            s0 = fmadd(s0, load8(x + i), load8(y + i))
            s1 = fmadd(s1, load8(x + (i &+ 8)), load8(y + (i &+ 8)))
            s2 = fmadd(s2, load8(x + (i &+ 16)), load8(y + (i &+ 16)))
            s3 = fmadd(s3, load8(x + (i &+ 24)), load8(y + (i &+ 24)))
            i &+= 32
        }
        while i &+ 8 <= n {
            s0 = fmadd(s0, load8(x + i), load8(y + i))
            i &+= 8
        }
        var s = ((s0 + s1) + (s2 + s3)).sum()
        while i < n {
            s += x[i] * y[i]
            i &+= 1
        }
        return s
    }

    @inline(__always)
    static func axpy(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        let a = SIMD8<Float>(repeating: alpha)
        var i = 0
        while i &+ 16 <= n {
            store8(fmadd(load8(y + i), a, load8(x + i)), y + i)
            store8(fmadd(load8(y + (i &+ 8)), a, load8(x + (i &+ 8))), y + (i &+ 8))
            i &+= 16
        }
        while i &+ 8 <= n {
            store8(fmadd(load8(y + i), a, load8(x + i)), y + i)
            i &+= 8
        }
        while i < n {
            y[i] += alpha * x[i]
            i &+= 1
        }
    }
}

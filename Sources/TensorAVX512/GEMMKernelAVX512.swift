// AVX-512 fp32 GEMM micro-kernel (8×32 tile, 16 SIMD16<Float> accumulators in zmm registers) and the
// macro-kernel loop around it, on panels packed by Tensor's GEMM driver (Kernels/GEMM.swift).
//
// This module is compiled for x86-64-v4. Tensor calls it only after checking at run time that the CPU has the
// x86-64-v4 features, so nothing here may run unguarded: the only entry point is the `@inline(never)` function
// below, and everything it uses is `@inline(__always)` or transparent stdlib SIMD code, so no shared
// (deduplicated) function compiled for AVX-512 can be picked by the linker for code outside the guard.
// In a portable build (no SIMD_FMA) this still compiles, with mul+add, and is never called.

@inline(__always)
private func fmadd(_ acc: SIMD16<Float>, _ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float> {
#if SIMD_FMA
    return acc.addingProduct(a, b)
#else
    return acc + a * b
#endif
}

@inline(__always)
private func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

@inline(__always)
private func update16(_ acc: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ alpha: SIMD16<Float>,
                      _ beta: Float) {
    let raw = UnsafeMutableRawPointer(p)
    if beta == 0 {
        raw.storeBytes(of: acc * alpha, as: SIMD16<Float>.self)
    } else if beta == 1 {
        raw.storeBytes(of: fmadd(raw.loadUnaligned(as: SIMD16<Float>.self), acc, alpha), as: SIMD16<Float>.self)
    } else {
        let old = raw.loadUnaligned(as: SIMD16<Float>.self) * SIMD16(repeating: beta)
        raw.storeBytes(of: fmadd(old, acc, alpha), as: SIMD16<Float>.self)
    }
}

/// c[0..<8, 0..<32] (row stride ldc) = alpha·Σₚ a[i·rowStep + p·kStep]·b[p·32 + j] + beta·c (beta == 0: c not
/// read). A packed 8-row panel has `rowStep` 1 and `kStep` 8; rows of A read in place have `rowStep` lda, `kStep` 1.
@inline(__always)
private func tile(_ kc: Int, _ a: UnsafePointer<Float>, rowStep: Int, kStep: Int, _ b: UnsafePointer<Float>,
                  _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
    typealias V = SIMD16<Float>
    var c0a = V(), c0b = V()
    var c1a = V(), c1b = V()
    var c2a = V(), c2b = V()
    var c3a = V(), c3b = V()
    var c4a = V(), c4b = V()
    var c5a = V(), c5b = V()
    var c6a = V(), c6b = V()
    var c7a = V(), c7b = V()
    var pa = a, pb = b
    for _ in 0..<kc {
        let b0 = load16(pb), b1 = load16(pb + 16)
        var x: V
        x = V(repeating: pa[0]); c0a = fmadd(c0a, x, b0); c0b = fmadd(c0b, x, b1)
        x = V(repeating: pa[rowStep]); c1a = fmadd(c1a, x, b0); c1b = fmadd(c1b, x, b1)
        x = V(repeating: pa[2 &* rowStep]); c2a = fmadd(c2a, x, b0); c2b = fmadd(c2b, x, b1)
        x = V(repeating: pa[3 &* rowStep]); c3a = fmadd(c3a, x, b0); c3b = fmadd(c3b, x, b1)
        x = V(repeating: pa[4 &* rowStep]); c4a = fmadd(c4a, x, b0); c4b = fmadd(c4b, x, b1)
        x = V(repeating: pa[5 &* rowStep]); c5a = fmadd(c5a, x, b0); c5b = fmadd(c5b, x, b1)
        x = V(repeating: pa[6 &* rowStep]); c6a = fmadd(c6a, x, b0); c6b = fmadd(c6b, x, b1)
        x = V(repeating: pa[7 &* rowStep]); c7a = fmadd(c7a, x, b0); c7b = fmadd(c7b, x, b1)
        pa += kStep; pb += 32
    }
    let al = V(repeating: alpha)
    var r = c
    update16(c0a, r, al, beta); update16(c0b, r + 16, al, beta); r += ldc
    update16(c1a, r, al, beta); update16(c1b, r + 16, al, beta); r += ldc
    update16(c2a, r, al, beta); update16(c2b, r + 16, al, beta); r += ldc
    update16(c3a, r, al, beta); update16(c3b, r + 16, al, beta); r += ldc
    update16(c4a, r, al, beta); update16(c4b, r + 16, al, beta); r += ldc
    update16(c5a, r, al, beta); update16(c5b, r + 16, al, beta); r += ldc
    update16(c6a, r, al, beta); update16(c6b, r + 16, al, beta); r += ldc
    update16(c7a, r, al, beta); update16(c7b, r + 16, al, beta)
}

/// The tile is 8×32: Tensor packs A in 8-row and B in 32-column panels for this kernel.
///
/// C[0..<mc, 0..<nc] (row stride ldc) = alpha·Ã·B̃ + beta·C for one packed block: `pa` holds ⌈mc/8⌉ panels of
/// 8 rows × kc (k-major, zero-padded), `pb` ⌈nc/32⌉ panels of kc × 32. Edge tiles go through a scratch tile.
/// Call only on a CPU with AVX-512 F/BW/CD/DQ/VL.
@inline(never)
public func avx512GEMMBlock(mc: Int, nc: Int, kc: Int, pa: UnsafePointer<Float>, pb: UnsafePointer<Float>,
                            c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    block(mc: mc, nc: nc, kc: kc, a: pa, rowStep: 1, kStep: 8, rowOffset: kc,
          edge: (pa + mc / 8 &* 8 &* kc, 1, 8), pb: pb, c: c, ldc: ldc, alpha: alpha, beta: beta)
}

/// As ``avx512GEMMBlock(mc:nc:kc:pa:pb:c:ldc:alpha:beta:)``, but A is read in place instead of from a packed panel:
/// element (i, p) at `a[i·lda + p]`, the rows of a row-major matrix. A tile's 8 rows are then 8 broadcast streams
/// instead of one, which cost the micro-kernel nothing measurable, and no time goes into packing, which for a
/// row-major A is a transposing gather (per core, 512×3072·3072×768 went from 191 to 199 GFLOP/s).
/// A ragged last tile (mc not a multiple of 8) is copied into zero-padded rows first, so no row past `mc` is read.
@inline(never)
public func avx512GEMMBlockRowMajorA(mc: Int, nc: Int, kc: Int, a: UnsafePointer<Float>, lda: Int,
                                     pb: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                                     alpha: Float, beta: Float) {
    let full = mc / 8 &* 8, rest = mc &- full
    withUnsafeTemporaryAllocation(of: Float.self, capacity: rest > 0 ? 8 &* kc : 0) { edge in
        if rest > 0 {
            let e = edge.baseAddress!
            for i in 0..<8 {
                if i < rest {
                    (e + i &* kc).update(from: a + (full &+ i) &* lda, count: kc)
                } else {
                    (e + i &* kc).update(repeating: 0, count: kc)
                }
            }
        }
        block(mc: mc, nc: nc, kc: kc, a: a, rowStep: lda, kStep: 1, rowOffset: lda,
              edge: (UnsafePointer(edge.baseAddress ?? UnsafeMutablePointer(mutating: a)), kc, 1),
              pb: pb, c: c, ldc: ldc, alpha: alpha, beta: beta)
    }
}

/// The macro-kernel: every 8×32 tile of the block, A read through `tile`'s steps (full tiles at `a + i·rowOffset`,
/// the ragged last row tile from `edge`, zero-padded to 8 rows), B from kc × 32 panels. Edge tiles go through a
/// scratch tile and only their valid part is written.
@inline(__always)
private func block(mc: Int, nc: Int, kc: Int, a: UnsafePointer<Float>, rowStep: Int, kStep: Int, rowOffset: Int,
                   edge: (a: UnsafePointer<Float>, rowStep: Int, kStep: Int), pb: UnsafePointer<Float>,
                   c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
    let mr = 8, nr = 32
    withUnsafeTemporaryAllocation(of: Float.self, capacity: mr * nr) { scratch in
        let t = scratch.baseAddress!
        var jr = 0
        while jr < nc {
            let nrr = min(nr, nc &- jr)
            let bp = pb + jr &* kc
            var ir = 0
            while ir < mc {
                let mrr = min(mr, mc &- ir)
                let cp = c + (ir &* ldc &+ jr)
                if mrr == mr && nrr == nr {
                    tile(kc, a + ir &* rowOffset, rowStep: rowStep, kStep: kStep, bp, cp, ldc, alpha, beta)
                } else {
                    if mrr == mr {
                        tile(kc, a + ir &* rowOffset, rowStep: rowStep, kStep: kStep, bp, t, nr, 1, 0)
                    } else {
                        tile(kc, edge.a, rowStep: edge.rowStep, kStep: edge.kStep, bp, t, nr, 1, 0)
                    }
                    for i in 0..<mrr {
                        let src = t + i &* nr, dst = cp + i &* ldc
                        if beta == 0 {
                            for j in 0..<nrr { dst[j] = alpha * src[j] }
                        } else {
                            for j in 0..<nrr { dst[j] = alpha * src[j] + beta * dst[j] }
                        }
                    }
                }
                ir &+= mr
            }
            jr &+= nr
        }
    }
}

/// Packs one full 32-column panel of B for the 8×32 tile: `dst[p·32 + j] = b[p·rs + j·cs]` for p < kc, j < 32,
/// where B is row-major (`cs == 1`: two vector copies per row) or transposed (`rs == 1`, e.g. Kᵀ in attention
/// scores or an `[out, in]` weight: each column of the panel is a contiguous source row).
///
/// A transposed panel goes in 16×16 blocks: 16 source rows are read one cache line (16 fp32) each, walking along
/// the rows (16 sequential streams for the prefetcher), and transposed in registers by four rounds of even/odd
/// unzips (`vpermt2ps`). The scalar loop it replaces stored one element per instruction and took about 8% of a
/// TinT forward pass. Call only on a CPU with AVX-512 F/BW/CD/DQ/VL.
@inline(never)
public func avx512PackBPanel(_ b: UnsafePointer<Float>, rs: Int, cs: Int, kc: Int,
                             into dst: UnsafeMutablePointer<Float>) {
    typealias V = SIMD16<Float>
    if cs == 1 {
        for p in 0..<kc {
            let s = UnsafeRawPointer(b + p &* rs), d = UnsafeMutableRawPointer(dst + p &* 32)
            d.storeBytes(of: s.loadUnaligned(as: V.self), as: V.self)
            d.storeBytes(of: s.loadUnaligned(fromByteOffset: 64, as: V.self), toByteOffset: 64, as: V.self)
        }
        return
    }
    precondition(rs == 1, "avx512PackBPanel: B needs a unit stride along one axis")
    let full = kc & ~15
    withUnsafeTemporaryAllocation(of: V.self, capacity: 32) { buffer in
        let v = buffer.baseAddress!
        for q0 in stride(from: 0, to: 32, by: 16) {
            var p0 = 0
            while p0 < full {
                for q in 0..<16 {
                    v[q] = UnsafeRawPointer(b + ((q0 &+ q) &* cs &+ p0)).loadUnaligned(as: V.self)
                }
                // Round r sends element bit 0 to the vector index and the pair bit to element bit 3; after four
                // rounds vector t holds element t of every source row.
                var from = 0, to = 16
                for _ in 0..<4 {
                    for i in 0..<8 {
                        let pair = SIMD32(lowHalf: v[from &+ 2 &* i], highHalf: v[from &+ 2 &* i &+ 1])
                        v[to &+ i] = pair.evenHalf
                        v[to &+ 8 &+ i] = pair.oddHalf
                    }
                    swap(&from, &to)
                }
                for t in 0..<16 {
                    UnsafeMutableRawPointer(dst + ((p0 &+ t) &* 32 &+ q0)).storeBytes(of: v[from &+ t], as: V.self)
                }
                p0 &+= 16
            }
        }
    }
    for p in full..<kc {
        for j in 0..<32 { dst[p &* 32 &+ j] = b[j &* cs &+ p] }
    }
}

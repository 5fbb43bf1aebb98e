import Foundation
import Synchronization

// BLIS-style GEMM driver shared by the Float and Double kernels.
//
// C[m×n] = alpha·A[m×k]·B[k×n] + beta·C, where element (i, j) of A is a[i·rsA + j·csA] (likewise B), so
// transposed and strided views need no copy: packing reads any layout. C is row-major with row stride ldc.
// Packed panels are k-major and zero-padded, so edge tiles run the full kernel into a scratch tile and only the
// valid part is written back. Loop structure (see gemmDriver):
//   m ≤ 2 or n ≤ 2 (matrix-vector): dot/axpy loops, no packing.
//   m ≤ MC, or packed A ≤ 8 MB and n ≥ 4m: pack all of A once → column-panel chunks (dynamic,
//            parallel) → pack B group (≤ 256 columns, whole depth) → ic (MC) → pc (KC) → jr → ir.
//   very long k (packed B for all of k would hold < 256 columns): consecutive KC-aligned K slices, each its own
//            GEMM accumulating into C (beta = 1 after the first).
//   else:    jc (column block, ≤ NC, packed B ≤ 8 MB) → pack B for all of k (parallel) → row-tile chunks
//            (dynamic, parallel) → ic (MC) → pc (KC) → pack A → jr (NR) → ir (MR) → micro-kernel.
// Each parallel region is one WorkerPool region over dynamic chunks (see `chunks`), several per thread, so a
// descheduled core delays one chunk rather than half the product.
// Products under 4 MFLOP run on the calling thread.

/// A register-blocked micro-kernel and the cache blocking that suits it.
protocol GEMMKernel {
    associatedtype Scalar: TensorScalar
    /// Rows and columns of one register tile.
    static var mr: Int { get }
    static var nr: Int { get }
    /// Cache blocking: rows of A per packed block (L2), depth per block (L1 panels), columns of B per block (L3).
    static var mc: Int { get }
    static var kc: Int { get }
    static var nc: Int { get }
    /// c[0..<mr, 0..<nr] (row stride ldc) = alpha·Σₚ a[p·mr + i]·b[p·nr + j] + beta·c. With beta == 0, c is not read.
    static func tile(_ kc: Int, _ a: UnsafePointer<Scalar>, _ b: UnsafePointer<Scalar>,
                     _ c: UnsafeMutablePointer<Scalar>, _ ldc: Int, _ alpha: Scalar, _ beta: Scalar)
    /// The macro-kernel over one packed block (defaults to the generic loop around `tile`).
    static func block(mc: Int, nc: Int, kc: Int, pa: UnsafePointer<Scalar>, pb: UnsafePointer<Scalar>,
                      c: UnsafeMutablePointer<Scalar>, ldc: Int, alpha: Scalar, beta: Scalar)
    /// Whether ``blockRowMajorA(mc:nc:kc:a:lda:pb:c:ldc:alpha:beta:)`` reads A in place; the driver then skips
    /// packing an A whose rows are contiguous (defaults to false).
    static var readsRowMajorA: Bool { get }
    /// `block` with A unpacked: element (i, p) at `a[i·lda + p]` (defaults to packing it and calling `block`).
    static func blockRowMajorA(mc: Int, nc: Int, kc: Int, a: UnsafePointer<Scalar>, lda: Int,
                               pb: UnsafePointer<Scalar>, c: UnsafeMutablePointer<Scalar>, ldc: Int,
                               alpha: Scalar, beta: Scalar)
    /// Packs one full `nr`-column panel of B (`kc` rows, element (p, j) at `b[p·rs + j·cs]`) to `dst[p·nr + j]`,
    /// for a B with a unit stride along one axis (`cs == 1` or `rs == 1`); defaults to scalar loops.
    static func packPanelB(_ b: UnsafePointer<Scalar>, rs: Int, cs: Int, kc: Int, into dst: UnsafeMutablePointer<Scalar>)
    /// Σᵢ x[i]·y[i] over contiguous vectors.
    static func dot(_ n: Int, _ x: UnsafePointer<Scalar>, _ y: UnsafePointer<Scalar>) -> Scalar
    /// y[i] += alpha·x[i] over contiguous vectors.
    static func axpy(_ n: Int, _ alpha: Scalar, _ x: UnsafePointer<Scalar>, _ y: UnsafeMutablePointer<Scalar>)
}

extension GEMMKernel {
    @inline(__always)
    static func block(mc: Int, nc: Int, kc: Int, pa: UnsafePointer<Scalar>, pb: UnsafePointer<Scalar>,
                      c: UnsafeMutablePointer<Scalar>, ldc: Int, alpha: Scalar, beta: Scalar) {
        macroKernel(Self.self, mc: mc, nc: nc, kc: kc, pa: pa, pb: pb, c: c, ldc: ldc, alpha: alpha, beta: beta)
    }

    static var readsRowMajorA: Bool { false }

    static func blockRowMajorA(mc: Int, nc: Int, kc: Int, a: UnsafePointer<Scalar>, lda: Int,
                               pb: UnsafePointer<Scalar>, c: UnsafeMutablePointer<Scalar>, ldc: Int,
                               alpha: Scalar, beta: Scalar) {
        withScratch(bytes: roundUp(mc, mr) * kc * MemoryLayout<Scalar>.stride) { raw in
            let pa = raw.bindMemory(to: Scalar.self, capacity: roundUp(mc, mr) * kc)
            packA(Self.self, a, rs: lda, cs: 1, rows: mc, kc: kc, into: pa)
            block(mc: mc, nc: nc, kc: kc, pa: pa, pb: pb, c: c, ldc: ldc, alpha: alpha, beta: beta)
        }
    }

    @inline(__always)
    static func packPanelB(_ b: UnsafePointer<Scalar>, rs: Int, cs: Int, kc: Int, into dst: UnsafeMutablePointer<Scalar>) {
        packPanelBGeneric(Self.self, b, rs: rs, cs: cs, kc: kc, into: dst)
    }
}

/// Products below this many flops run on the calling thread: a worker wake-up costs tens of µs here.
let gemmParallelFlops = 4_000_000

// MARK: - Public raw-pointer entry points

/// Single-precision general matrix multiply on raw memory: `C = alpha·A·B + beta·C`.
///
/// `A` is `m×k` with element `(i, p)` at `a[i·aRowStride + p·aColStride]`, `B` is `k×n` with element `(p, j)` at
/// `b[p·bRowStride + j·bColStride]`, and `C` is `m×n`, row-major, element `(i, j)` at `c[i·ldc + j]`. Any strides
/// work (a transposed operand is just swapped strides; stride 0 broadcasts); unit strides along either axis are
/// the fast cases. With `beta == 0`, `C` is only written, never read (NaNs in it do not propagate).
/// `C` must not overlap `A` or `B`. Uses up to `Threading.maxThreads` threads for large products.
///
/// Other modules (e.g. TinT's split linear layers) call this on sub-blocks of larger matrices by offsetting the
/// pointers and keeping the parent's strides.
@inline(never)
public func gemm(m: Int, n: Int, k: Int, alpha: Float = 1,
                 a: UnsafePointer<Float>, aRowStride: Int, aColStride: Int,
                 b: UnsafePointer<Float>, bRowStride: Int, bColStride: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    sgemm(m: m, n: n, k: k, alpha: alpha, a: a, rsA: aRowStride, csA: aColStride,
          b: b, rsB: bRowStride, csB: bColStride, beta: beta, c: c, ldc: ldc, mayThread: true)
}

/// Double-precision `C = alpha·A·B + beta·C` on raw memory; same layout rules as the `Float` overload.
/// Meant for oracles and gradient checks: correct and reasonably fast, not tuned.
@inline(never)
public func gemm(m: Int, n: Int, k: Int, alpha: Double = 1,
                 a: UnsafePointer<Double>, aRowStride: Int, aColStride: Int,
                 b: UnsafePointer<Double>, bRowStride: Int, bColStride: Int,
                 beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int) {
    gemmDriver(DGEMMKernel.self, m: m, n: n, k: k, alpha: alpha, a: a, rsA: aRowStride, csA: aColStride,
               b: b, rsB: bRowStride, csB: bColStride, beta: beta, c: c, ldc: ldc, mayThread: true)
}

/// BLAS-style row-major `C = alpha·op(A)·op(B) + beta·C`, where `op(X)` is `X` or `Xᵀ`.
///
/// `op(A)` is `m×k` and `op(B)` is `k×n`. Without transposition `A` is stored `m×k` with row stride `lda`;
/// with `transposeA` it is stored `k×m` with row stride `lda` (and likewise `B`). No transposed copy is made.
@inline(never)
public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    sgemm(m: m, n: n, k: k, alpha: alpha,
          a: a, rsA: transposeA ? 1 : lda, csA: transposeA ? lda : 1,
          b: b, rsB: transposeB ? 1 : ldb, csB: transposeB ? ldb : 1,
          beta: beta, c: c, ldc: ldc, mayThread: true)
}

/// Double-precision BLAS-style row-major `C = alpha·op(A)·op(B) + beta·C`; see the `Float` overload.
@inline(never)
public func gemm(transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Double = 1,
                 a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                 beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int) {
    gemmDriver(DGEMMKernel.self, m: m, n: n, k: k, alpha: alpha,
               a: a, rsA: transposeA ? 1 : lda, csA: transposeA ? lda : 1,
               b: b, rsB: transposeB ? 1 : ldb, csB: transposeB ? ldb : 1,
               beta: beta, c: c, ldc: ldc, mayThread: true)
}

/// `C = alpha·A·B + beta·C` on raw memory for either scalar type: the scalar-generic entry other modules' generic
/// kernels call (one type test, folded away once the caller is specialised, then the `Float` or `Double`
/// overload above). Same layout rules as the `Float` overload; an empty `C` (`m == 0` or `n == 0`) is a no-op.
@inlinable @inline(__always)
public func gemm<S: TensorScalar>(m: Int, n: Int, k: Int, alpha: S = 1,
                                  a: UnsafePointer<S>, aRowStride: Int, aColStride: Int,
                                  b: UnsafePointer<S>, bRowStride: Int, bColStride: Int,
                                  beta: S = 0, c: UnsafeMutablePointer<S>, ldc: Int) {
    if m == 0 || n == 0 { return }
    if S.self == Float.self {
        gemm(m: m, n: n, k: k, alpha: unsafeBitCast(alpha, to: Float.self),
             a: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), aRowStride: aRowStride, aColStride: aColStride,
             b: UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), bRowStride: bRowStride, bColStride: bColStride,
             beta: unsafeBitCast(beta, to: Float.self),
             c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc)
    } else if S.self == Double.self {
        gemm(m: m, n: n, k: k, alpha: unsafeBitCast(alpha, to: Double.self),
             a: UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), aRowStride: aRowStride, aColStride: aColStride,
             b: UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), bRowStride: bRowStride, bColStride: bColStride,
             beta: unsafeBitCast(beta, to: Double.self),
             c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), ldc: ldc)
    } else {
        preconditionFailure("gemm: unsupported scalar type \(S.self)")
    }
}

/// The fp32 driver with the widest kernel this CPU runs.
@inline(__always)
func sgemm(m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, rsA: Int, csA: Int,
           b: UnsafePointer<Float>, rsB: Int, csB: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int,
           mayThread: Bool) {
#if TINT_AVX512
    if GEMMDispatch.useAVX512 {
        gemmDriver(SGEMMKernelAVX512.self, m: m, n: n, k: k, alpha: alpha, a: a, rsA: rsA, csA: csA,
                   b: b, rsB: rsB, csB: csB, beta: beta, c: c, ldc: ldc, mayThread: mayThread)
        return
    }
#endif
    gemmDriver(SGEMMKernel.self, m: m, n: n, k: k, alpha: alpha, a: a, rsA: rsA, csA: csA,
               b: b, rsB: rsB, csB: csB, beta: beta, c: c, ldc: ldc, mayThread: mayThread)
}

/// Routes a generic-scalar call to the Float or Double driver (the type test folds away once specialised).
@inline(__always)
func gemmAny<S: TensorScalar>(m: Int, n: Int, k: Int, alpha: S,
                              a: UnsafePointer<S>, rsA: Int, csA: Int, b: UnsafePointer<S>, rsB: Int, csB: Int,
                              beta: S, c: UnsafeMutablePointer<S>, ldc: Int, mayThread: Bool) {
    if S.self == Float.self {
        sgemm(m: m, n: n, k: k, alpha: unsafeBitCast(alpha, to: Float.self),
              a: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), rsA: rsA, csA: csA,
              b: UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), rsB: rsB, csB: csB,
              beta: unsafeBitCast(beta, to: Float.self),
              c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc, mayThread: mayThread)
    } else if S.self == Double.self {
        gemmDriver(DGEMMKernel.self, m: m, n: n, k: k, alpha: unsafeBitCast(alpha, to: Double.self),
                   a: UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), rsA: rsA, csA: csA,
                   b: UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), rsB: rsB, csB: csB,
                   beta: unsafeBitCast(beta, to: Double.self),
                   c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), ldc: ldc, mayThread: mayThread)
    } else {
        preconditionFailure("gemm: unsupported scalar type \(S.self)")
    }
}

// MARK: - Driver

/// Runs `body` over `0..<count` in dynamic chunks of at least `grain` items when `parallel`, inline otherwise.
///
/// Like `parallelChunks`, but long regions get more chunks (about 100 MFLOP, ~0.5 ms each, given the region's
/// `flops`): on a shared machine a descheduled core then holds back one short chunk at the end, not an eighth
/// of the product. The ``WorkerPool`` hands chunks out as threads become free.
@inline(__always)
private func chunks(_ parallel: Bool, count: Int, grain: Int, flops: Double = 0, _ body: (Range<Int>) -> Void) {
    let maxChunks = count / Swift.max(grain, 1)
    let threads = parallel && maxChunks >= 2 ? Threading.maxThreads : 1
    guard threads > 1 else {
        if count > 0 { body(0..<count) }
        return
    }
    let n = Swift.min(maxChunks, Swift.max(threads * 4, Swift.min(256, Int(flops / 1e8))))
    WorkerPool.shared.run(iterations: n, threads: threads) { c in body(count * c / n ..< count * (c + 1) / n) }
}

@inline(__always)
private func roundUp(_ x: Int, _ to: Int) -> Int { (x + to - 1) / to * to }

/// The whole GEMM for one kernel. `mayThread == false` keeps it on the calling thread (batched callers that
/// parallelise over the batch instead).
@inline(never)
func gemmDriver<K: GEMMKernel>(_ kernel: K.Type, m: Int, n: Int, k: Int, alpha: K.Scalar,
                               a: UnsafePointer<K.Scalar>, rsA: Int, csA: Int,
                               b: UnsafePointer<K.Scalar>, rsB: Int, csB: Int,
                               beta: K.Scalar, c: UnsafeMutablePointer<K.Scalar>, ldc: Int, mayThread: Bool) {
    precondition(m >= 0 && n >= 0 && k >= 0 && ldc >= (m > 1 ? n : 0), "gemm: invalid dimensions")
    if m == 0 || n == 0 { return }
    if k == 0 || alpha == 0 {
        scaleRows(m: m, n: n, beta: beta, c: c, ldc: ldc)
        return
    }
    ProductTally.record(2 * m * n * k)
    let flops = 2.0 * Double(m) * Double(n) * Double(k)
    // The flop test first: Threading.maxThreads may ask the OS for the core count.
    let parallel = mayThread && flops >= Double(gemmParallelFlops) && Threading.maxThreads > 1

    // Matrix-vector shapes: packing would cost as much as the product.
    if m <= 2 && (csB == 1 || rsB == 1) {
        for i in 0..<m {
            gemvRow(K.self, n: n, k: k, alpha: alpha, a: a + i * rsA, inc: csA, b: b, rsB: rsB, csB: csB,
                    beta: beta, y: c + i * ldc, parallel: parallel)
        }
        return
    }
    if n <= 2 && (csA == 1 || rsA == 1) {
        for j in 0..<n {
            gemvColumn(K.self, m: m, k: k, alpha: alpha, a: a, rsA: rsA, csA: csA, x: b + j * csB, inc: rsB,
                       beta: beta, y: c + j, incY: ldc, parallel: parallel)
        }
        return
    }

    let mr = K.mr, nr = K.nr, size = MemoryLayout<K.Scalar>.stride
    let mPad = roundUp(m, mr)
    let panels = (n + nr - 1) / nr
    // Wide products (n ≥ 4m, e.g. an LM head) keep A resident; squarer ones measured faster with the row-chunk
    // path below (Zen 5, thread CPU time).
    if m <= K.mc || (mPad * k * size <= 8 << 20 && n >= 4 * m) {
        // A fits in L3 packed: pack all of it once (every KC block), then hand out column panels; each chunk packs
        // its own B, a group of ≤ 256 columns at a time, and runs every row block against it. Two parallel regions
        // per call, whatever n is (a barrier costs most when a core is descheduled).
        let kcMax = Swift.min(k, K.kc)
        let group = Swift.max(1, 256 / nr)  // panels per group
        // A row-major A is read in place by a kernel that can (no packing region at all).
        let inPlace = K.readsRowMajorA && csA == 1
        withScratch(bytes: inPlace ? 0 : mPad * k * size) { rawA in
            let pa = rawA.bindMemory(to: K.Scalar.self, capacity: inPlace ? 0 : mPad * k)
            let paS = SendablePointer(pa)
            let tiles = mPad / mr
            // Block (i0, pc) of A: rows i0..<i0 + mc, depth pc..<pc + kc, from the packed copy or in place.
            @inline(__always)
            func runBlock(i0: Int, pc: Int, kc: Int, nc: Int, pb: UnsafePointer<K.Scalar>, j0: Int) {
                let mc = Swift.min(K.mc, m - i0), cBlock = c + i0 * ldc + j0, betaBlock = pc == 0 ? beta : 1
                if inPlace {
                    K.blockRowMajorA(mc: mc, nc: nc, kc: kc, a: a + i0 * rsA + pc, lda: rsA, pb: pb, c: cBlock,
                                     ldc: ldc, alpha: alpha, beta: betaBlock)
                } else {
                    K.block(mc: mc, nc: nc, kc: kc, pa: paS.p + mPad * pc + i0 * kc, pb: pb, c: cBlock, ldc: ldc,
                            alpha: alpha, beta: betaBlock)
                }
            }
            if !inPlace { chunks(parallel && tiles >= 16, count: tiles, grain: 8) { r in
                var pc = 0
                while pc < k {
                    let kc = Swift.min(K.kc, k - pc)
                    let i0 = r.lowerBound * mr
                    packA(K.self, a + i0 * rsA + pc * csA, rs: rsA, cs: csA, rows: Swift.min(r.upperBound * mr, m) - i0,
                          kc: kc, into: paS.p + mPad * pc + i0 * kc)
                    pc += kc
                }
            } }
            // With the group's B packed for the whole depth, run row block by row block (all KC blocks for one
            // row block in a row), so that block of C stays in L2 instead of making one trip to L3 per KC block.
            let rowOuter = k * group * nr * size <= 4 << 20
            let bCount = (rowOuter ? k : kcMax) * group * nr
            chunks(parallel, count: panels, grain: 4, flops: flops) { r in
                withScratch(bytes: bCount * size) { rawB in
                    let pb = rawB.bindMemory(to: K.Scalar.self, capacity: bCount)
                    var q = r.lowerBound
                    while q < r.upperBound {
                        let q1 = Swift.min(q + group, r.upperBound)
                        let j0 = q * nr, j1 = Swift.min(q1 * nr, n)
                        let w = roundUp(j1 - j0, nr)
                        if rowOuter {
                            var pc = 0
                            while pc < k {
                                packB(K.self, b + pc * rsB + j0 * csB, rs: rsB, cs: csB, cols: j1 - j0,
                                      kc: Swift.min(K.kc, k - pc), into: pb + w * pc)
                                pc += K.kc
                            }
                            var i0 = 0
                            while i0 < m {
                                pc = 0
                                while pc < k {
                                    let kc = Swift.min(K.kc, k - pc)
                                    runBlock(i0: i0, pc: pc, kc: kc, nc: j1 - j0, pb: pb + w * pc, j0: j0)
                                    pc += kc
                                }
                                i0 += K.mc
                            }
                        } else {
                            // Very deep: B for one KC block at a time, every row block against it.
                            var pc = 0
                            while pc < k {
                                let kc = Swift.min(K.kc, k - pc)
                                packB(K.self, b + pc * rsB + j0 * csB, rs: rsB, cs: csB, cols: j1 - j0, kc: kc, into: pb)
                                var i0 = 0
                                while i0 < m {
                                    runBlock(i0: i0, pc: pc, kc: kc, nc: j1 - j0, pb: pb, j0: j0)
                                    i0 += K.mc
                                }
                                pc += kc
                            }
                        }
                        q = q1
                    }
                }
            }
        }
        return
    }

    // Many row blocks (m > MC). Per NC column block: pack B for the whole depth (in parallel), then hand out dynamic
    // chunks of row tiles; each chunk runs every KC block over its rows, packing A per MC×KC block. Two parallel
    // regions per column block. The column block is narrowed so packed B stays ≤ 8 MB (L3-resident).
    let ncCap = Swift.max(nr, Swift.min(K.nc, (8 << 20) / Swift.max(k * size, 1) / nr * nr))
    // Very long K (an LM head's input gradient: K = 50272, N = 768): packed B for the whole depth would leave room
    // for only a panel or two per column block, and A would be packed again for every one of them (~100 vs ~200
    // GFLOP/s). Run the product as consecutive K slices instead, each a GEMM whose packed B spans all columns,
    // accumulating into C (beta = 1 after the first). Slices are whole KC blocks, so every element of C is summed
    // in the same order as without slicing: the result is bit-identical.
    let kSlice = Swift.max(K.kc, (8 << 20) / (Swift.min(roundUp(n, nr), K.nc) * size) / K.kc * K.kc)
    if ncCap < roundUp(n, nr) && ncCap < 256 && k > kSlice {
        let slices = (k + kSlice - 1) / kSlice
        let step = roundUp((k + slices - 1) / slices, K.kc)
        var p0 = 0
        while p0 < k {
            let depth = Swift.min(step, k - p0)
            gemmDriver(K.self, m: m, n: n, k: depth, alpha: alpha, a: a + p0 * csA, rsA: rsA, csA: csA,
                       b: b + p0 * rsB, rsB: rsB, csB: csB, beta: p0 == 0 ? beta : 1, c: c, ldc: ldc,
                       mayThread: mayThread)
            p0 += depth
        }
        return
    }
    let ncEff = roundUp((n + (n + ncCap - 1) / ncCap - 1) / ((n + ncCap - 1) / ncCap), nr)  // even split of n
    let ncPad = Swift.min(roundUp(n, nr), ncEff)
    let inPlace = K.readsRowMajorA && csA == 1  // a row-major A is read in place by a kernel that can
    let aBlock = inPlace ? 0 : Swift.min(K.mc, roundUp(m, mr)) * Swift.min(k, K.kc)
    withScratch(bytes: k * ncPad * size) { rawB in
        let pb = rawB.bindMemory(to: K.Scalar.self, capacity: k * ncPad)
        let pbS = SendablePointer(pb)
        var jc = 0
        while jc < n {
            let nc = Swift.min(ncEff, n - jc)
            let bCols = b + jc * csB, cCols = c + jc
            chunks(parallel, count: (nc + nr - 1) / nr, grain: 4) { r in
                let j0 = r.lowerBound * nr, j1 = Swift.min(r.upperBound * nr, nc)
                var pc = 0
                while pc < k {
                    let kc = Swift.min(K.kc, k - pc)
                    packB(K.self, bCols + pc * rsB + j0 * csB, rs: rsB, cs: csB, cols: j1 - j0, kc: kc,
                          into: pbS.p + ncPad * pc + j0 * kc)
                    pc += kc
                }
            }
            let tiles = (m + mr - 1) / mr
            chunks(parallel, count: tiles, grain: 4, flops: flops * Double(nc) / Double(n)) { r in
                withScratch(bytes: aBlock * size) { rawA in
                    let pa = rawA.bindMemory(to: K.Scalar.self, capacity: aBlock)
                    let iEnd = Swift.min(r.upperBound * mr, m)
                    // Row block outer, KC blocks inner: the MC×nc block of C stays in L2 across the KC blocks
                    // instead of making one trip to memory per KC block (B is packed for all of k either way).
                    var i0 = r.lowerBound * mr
                    while i0 < iEnd {
                        let mc = Swift.min(K.mc, iEnd - i0)
                        var pc = 0
                        while pc < k {
                            let kc = Swift.min(K.kc, k - pc)
                            if inPlace {
                                K.blockRowMajorA(mc: mc, nc: nc, kc: kc, a: a + i0 * rsA + pc, lda: rsA,
                                                 pb: pbS.p + ncPad * pc, c: cCols + i0 * ldc, ldc: ldc, alpha: alpha,
                                                 beta: pc == 0 ? beta : 1)
                            } else {
                                packA(K.self, a + i0 * rsA + pc * csA, rs: rsA, cs: csA, rows: mc, kc: kc, into: pa)
                                K.block(mc: mc, nc: nc, kc: kc, pa: pa, pb: pbS.p + ncPad * pc, c: cCols + i0 * ldc,
                                        ldc: ldc, alpha: alpha, beta: pc == 0 ? beta : 1)
                            }
                            pc += kc
                        }
                        i0 += mc
                    }
                }
            }
            jc += nc
        }
    }
}

/// C = beta·C (beta == 0 writes zeros without reading C).
private func scaleRows<S: TensorScalar>(m: Int, n: Int, beta: S, c: UnsafeMutablePointer<S>, ldc: Int) {
    for i in 0..<m {
        let row = c + i * ldc
        if beta == 0 {
            row.update(repeating: 0, count: n)
        } else if beta != 1 {
            for j in 0..<n { row[j] *= beta }
        }
    }
}

/// Runs the micro-kernel over one packed A block (mc rows) and packed B panels (nc columns).
@inline(__always)
func macroKernel<K: GEMMKernel>(_: K.Type, mc: Int, nc: Int, kc: Int,
                                pa: UnsafePointer<K.Scalar>, pb: UnsafePointer<K.Scalar>,
                                c: UnsafeMutablePointer<K.Scalar>, ldc: Int, alpha: K.Scalar, beta: K.Scalar) {
    let mr = K.mr, nr = K.nr
    // Scratch tile for edge tiles (every kernel here has mr·nr ≤ 256).
    withUnsafeTemporaryAllocation(of: K.Scalar.self, capacity: 256) { scratch in
        precondition(mr * nr <= 256)
        let t = scratch.baseAddress!
        var jr = 0
        while jr < nc {
            let nrr = Swift.min(nr, nc &- jr)
            let bp = pb + jr &* kc
            var ir = 0
            while ir < mc {
                let mrr = Swift.min(mr, mc &- ir)
                let ap = pa + ir &* kc
                let cp = c + (ir &* ldc &+ jr)
                if mrr == mr && nrr == nr {
                    K.tile(kc, ap, bp, cp, ldc, alpha, beta)
                } else {
                    K.tile(kc, ap, bp, t, nr, 1, 0)
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

/// Packs `rows` rows × `kc` columns of A (element (i, p) at a[i·rs + p·cs]) into MR-row panels, k-major:
/// panel q holds a[(q·mr + r), p] at dst[q·mr·kc + p·mr + r], rows past the end zero-filled.
@inline(__always)
private func packA<K: GEMMKernel>(_: K.Type, _ a: UnsafePointer<K.Scalar>, rs: Int, cs: Int, rows: Int, kc: Int,
                                  into dst: UnsafeMutablePointer<K.Scalar>) {
    let mr = K.mr
    var i = 0
    var d = dst
    while i < rows {
        let h = Swift.min(mr, rows &- i)
        let src = a + i &* rs
        if h == mr && cs == 1 {
            for p in 0..<kc {
                for r in 0..<mr { d[p &* mr &+ r] = src[r &* rs &+ p] }
            }
        } else if h == mr && rs == 1 {
            for p in 0..<kc {
                let s = src + p &* cs
                for r in 0..<mr { d[p &* mr &+ r] = s[r] }
            }
        } else {
            for p in 0..<kc {
                for r in 0..<mr { d[p &* mr &+ r] = r < h ? src[r &* rs &+ p &* cs] : 0 }
            }
        }
        d += mr &* kc
        i &+= mr
    }
}

/// Packs `kc` rows × `cols` columns of B (element (p, j) at b[p·rs + j·cs]) into NR-column panels, k-major:
/// panel q holds b[p, q·nr + j] at dst[q·nr·kc + p·nr + j], columns past the end zero-filled.
@inline(__always)
private func packB<K: GEMMKernel>(_: K.Type, _ b: UnsafePointer<K.Scalar>, rs: Int, cs: Int, cols: Int, kc: Int,
                                  into dst: UnsafeMutablePointer<K.Scalar>) {
    let nr = K.nr
    var j = 0
    var d = dst
    while j < cols {
        let w = Swift.min(nr, cols &- j)
        let src = b + j &* cs
        if w == nr && (cs == 1 || rs == 1) {
            K.packPanelB(src, rs: rs, cs: cs, kc: kc, into: d)
        } else {
            for p in 0..<kc {
                for q in 0..<nr { d[p &* nr &+ q] = q < w ? src[p &* rs &+ q &* cs] : 0 }
            }
        }
        d += nr &* kc
        j &+= nr
    }
}

/// One full panel of `packB` from a B with a unit stride along one axis: the default of
/// ``GEMMKernel/packPanelB(_:rs:cs:kc:into:)``.
@inline(__always)
private func packPanelBGeneric<K: GEMMKernel>(_: K.Type, _ src: UnsafePointer<K.Scalar>, rs: Int, cs: Int, kc: Int,
                                              into d: UnsafeMutablePointer<K.Scalar>) {
    let nr = K.nr
    if cs == 1 {
        for p in 0..<kc {
            let s = src + p &* rs
            for q in 0..<nr { d[p &* nr &+ q] = s[q] }
        }
    } else {
        // Transposed B (e.g. a [out, in] weight, or Kᵀ): nr source rows, read 16 elements (a cache line of
        // fp32) of one row at a time. Stepping p across all nr rows instead touches nr lines per step, and
        // with a row stride that is a multiple of 4 KiB (3072 fp32) they all fall in one L1 set and evict
        // each other: that loop was the hottest part of packing in a TinT run.
        var p0 = 0
        while p0 < kc {
            let len = Swift.min(16, kc &- p0)
            for q in 0..<nr {
                let s = src + (q &* cs &+ p0), o = d + (p0 &* nr &+ q)
                for t in 0..<len { o[t &* nr] = s[t] }
            }
            p0 &+= 16
        }
    }
}

// MARK: - Matrix-vector paths

/// One row of C: y[j] = alpha·Σₚ a[p·inc]·B[p, j] + beta·y[j]. B must have a unit stride along one axis.
private func gemvRow<K: GEMMKernel>(_: K.Type, n: Int, k: Int, alpha: K.Scalar, a: UnsafePointer<K.Scalar>, inc: Int,
                                    b: UnsafePointer<K.Scalar>, rsB: Int, csB: Int, beta: K.Scalar,
                                    y: UnsafeMutablePointer<K.Scalar>, parallel: Bool) {
    let size = MemoryLayout<K.Scalar>.stride
    withScratch(bytes: k * size) { raw in
        // The row of A, contiguous and pre-scaled by alpha.
        let x = raw.bindMemory(to: K.Scalar.self, capacity: k)
        for p in 0..<k { x[p] = alpha * a[p * inc] }
        let xs = SendablePointer(x), ys = SendablePointer(y)
        if csB == 1 {
            // y += x[p]·B[p, :] over column ranges (each chunk streams its slice of every row of B).
            chunks(parallel, count: n, grain: 2048) { r in
                let y = ys.p + r.lowerBound, len = r.count
                if beta == 0 { y.update(repeating: 0, count: len) } else if beta != 1 { for j in 0..<len { y[j] *= beta } }
                for p in 0..<k { K.axpy(len, xs.p[p], b + p * rsB + r.lowerBound, y) }
            }
        } else {
            // B's columns are contiguous: one dot product per output.
            chunks(parallel, count: n, grain: 64) { r in
                for j in r {
                    let d = K.dot(k, xs.p, b + j * csB)
                    ys.p[j] = beta == 0 ? d : d + beta * ys.p[j]
                }
            }
        }
    }
}

/// One column of C: y[i·incY] = alpha·Σₚ A[i, p]·x[p·inc] + beta·y[i·incY]. A must have a unit stride along one axis.
private func gemvColumn<K: GEMMKernel>(_: K.Type, m: Int, k: Int, alpha: K.Scalar,
                                       a: UnsafePointer<K.Scalar>, rsA: Int, csA: Int,
                                       x xIn: UnsafePointer<K.Scalar>, inc: Int, beta: K.Scalar,
                                       y: UnsafeMutablePointer<K.Scalar>, incY: Int, parallel: Bool) {
    let size = MemoryLayout<K.Scalar>.stride
    withScratch(bytes: (k + m) * size) { raw in
        let x = raw.bindMemory(to: K.Scalar.self, capacity: k + m)
        for p in 0..<k { x[p] = alpha * xIn[p * inc] }
        let t = x + k
        let xs = SendablePointer(x), ts = SendablePointer(t)
        if csA == 1 {
            chunks(parallel, count: m, grain: 64) { r in
                for i in r { ts.p[i] = K.dot(k, a + i * rsA, xs.p) }
            }
        } else {
            // A's columns are contiguous: accumulate x[p]·A[:, p] over row ranges.
            chunks(parallel, count: m, grain: 2048) { r in
                let tt = ts.p + r.lowerBound
                tt.update(repeating: 0, count: r.count)
                for p in 0..<k { K.axpy(r.count, xs.p[p], a + p * csA + r.lowerBound, tt) }
            }
        }
        for i in 0..<m {
            let yi = y + i * incY
            yi.pointee = beta == 0 ? t[i] : t[i] + beta * yi.pointee
        }
    }
}

// MARK: - Scratch memory

/// A small cache of 64-byte aligned buffers, so packing buffers are not allocated and page-faulted per call.
///
/// The list is guarded by an `NSLock` (a pthread mutex) rather than `Synchronization.Mutex`: ThreadSanitizer
/// does not see the Linux `Mutex`'s contended (futex) path as synchronisation, and since buffers move between
/// threads through this pool, every packing write would be reported as a race (Docs/RELIABILITY.md). The lock is
/// taken twice per GEMM call, so its cost does not matter.
final class ScratchPool: @unchecked Sendable {
    static let shared = ScratchPool()
    private struct Buffer { let raw: UnsafeMutableRawPointer; let bytes: Int }
    private let free = LockedValue<[Buffer]>([])
    private let keep = 8

    func take(bytes: Int) -> (UnsafeMutableRawPointer, Int) {
        let found: Buffer? = free.withLock { list in
            var best: Int? = nil
            for (i, buf) in list.enumerated() where buf.bytes >= bytes {
                if best == nil || buf.bytes < list[best!].bytes { best = i }
            }
            return best.map { list.remove(at: $0) }
        }
        if let found { return (found.raw, found.bytes) }
        let size = Swift.max(bytes, 64)
        return (UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64), size)
    }

    func give(_ raw: UnsafeMutableRawPointer, bytes: Int) {
        let evicted: Buffer? = free.withLock { list in
            list.append(Buffer(raw: raw, bytes: bytes))
            guard list.count > keep else { return nil }
            let i = list.indices.min { list[$0].bytes < list[$1].bytes }!
            return list.remove(at: i)
        }
        evicted?.raw.deallocate()
    }
}

/// A value guarded by an `NSLock`.
final class LockedValue<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) { self.value = value }

    func withLock<R>(_ body: (inout Value) -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}

/// Calls `body` with a 64-byte aligned scratch buffer of at least `bytes` bytes, borrowed from the pool.
@inline(__always)
func withScratch<R>(bytes: Int, _ body: (UnsafeMutableRawPointer) -> R) -> R {
    let (raw, size) = ScratchPool.shared.take(bytes: bytes)
    defer { ScratchPool.shared.give(raw, bytes: size) }
    return body(raw)
}

/// A one-line description of the fp32 GEMM kernel this build uses (for benchmark reports).
public var gemmKernelDescription: String {
    func describe<K: GEMMKernel>(_: K.Type, _ isa: String) -> String {
        "fp32 \(K.mr)x\(K.nr) micro-kernel, MC=\(K.mc) KC=\(K.kc) NC=\(K.nc), \(isa)"
    }
#if TINT_AVX512
    if GEMMDispatch.useAVX512 { return describe(SGEMMKernelAVX512.self, "AVX-512 (x86-64-v4, chosen at run time)") }
#endif
    return describe(SGEMMKernel.self, simdFMA ? "AVX2/FMA (SIMD_FMA)" : "portable mul+add (no SIMD_FMA)")
}

#if SIMD_FMA
private let simdFMA = true
#else
private let simdFMA = false
#endif

/// Runs `body` once with each fp32 GEMM kernel this machine can run (AVX-512 and AVX2 on an AVX-512 CPU), so
/// tests cover both. Not thread-safe against concurrent GEMM callers that care which kernel they get.
func forEachFloatGEMMKernel(_ body: () throws -> Void) rethrows {
#if TINT_AVX512
    if GEMMDispatch.cpuHasAVX512 {
        GEMMDispatch.forceAVX2 = true
        defer { GEMMDispatch.forceAVX2 = false }
        try body()
        GEMMDispatch.forceAVX2 = false
    }
#endif
    try body()
}

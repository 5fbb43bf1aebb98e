// Run-time selection of the AVX-512 fp32 GEMM kernel (module TensorAVX512, compiled for x86-64-v4).
//
// Swift has no per-function target attributes, so the AVX-512 kernel lives in its own module built with
// `-march=x86-64-v4`, and this module (built for x86-64-v3) calls it only when the CPU and OS report every
// x86-64-v4 feature. On a Zen 5 core it doubles fp32 FMA throughput over AVX2 (2 × 512-bit FMA per cycle).
import Foundation
import Synchronization
#if TINT_AVX512
import TensorAVX512

/// Which fp32 GEMM kernel runs. Tests flip `forceAVX2` to exercise both on an AVX-512 machine.
enum GEMMDispatch {
    /// Whether the CPU (and the OS, which hides the flags when it does not save zmm state) has x86-64-v4.
    /// `TINT_NO_AVX512=1` in the environment turns the AVX-512 kernel off.
    static let cpuHasAVX512: Bool = {
        if ProcessInfo.processInfo.environment["TINT_NO_AVX512"] == "1" { return false }
#if os(Linux)
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return false }
        let flags = Set(line.split(separator: " ").map(String.init))
        return ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx2", "fma", "bmi2"]
            .allSatisfy(flags.contains)
#else
        return false
#endif
    }()

    private static let avx2Only = Atomic<Bool>(false)
    /// Forces the AVX2 kernel even on an AVX-512 machine (for tests and comparisons).
    static var forceAVX2: Bool {
        get { avx2Only.load(ordering: .relaxed) }
        set { avx2Only.store(newValue, ordering: .relaxed) }
    }

    static var useAVX512: Bool { cpuHasAVX512 && !forceAVX2 }
}

/// The AVX-512 8×32 kernel: Tensor packs for it; the block loop runs in TensorAVX512.
enum SGEMMKernelAVX512: GEMMKernel {
    typealias Scalar = Float
    static var mr: Int { 8 }  // 8×32 beat 12×32 slightly (no ragged tiles when M is a multiple of 8)
    static var nr: Int { 32 }
    static var mc: Int { 144 }
    static var kc: Int { 384 }  // 384·32·4 B = 48 KB B micro-panel; tied with or better than 256 and 512
    static var nc: Int { 3072 }

    @inline(__always)
    static func block(mc: Int, nc: Int, kc: Int, pa: UnsafePointer<Float>, pb: UnsafePointer<Float>,
                      c: UnsafeMutablePointer<Float>, ldc: Int, alpha: Float, beta: Float) {
        avx512GEMMBlock(mc: mc, nc: nc, kc: kc, pa: pa, pb: pb, c: c, ldc: ldc, alpha: alpha, beta: beta)
    }

    static var readsRowMajorA: Bool { true }

    @inline(__always)
    static func packPanelB(_ b: UnsafePointer<Float>, rs: Int, cs: Int, kc: Int, into dst: UnsafeMutablePointer<Float>) {
        avx512PackBPanel(b, rs: rs, cs: cs, kc: kc, into: dst)
    }

    @inline(__always)
    static func blockRowMajorA(mc: Int, nc: Int, kc: Int, a: UnsafePointer<Float>, lda: Int,
                               pb: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, ldc: Int,
                               alpha: Float, beta: Float) {
        avx512GEMMBlockRowMajorA(mc: mc, nc: nc, kc: kc, a: a, lda: lda, pb: pb, c: c, ldc: ldc, alpha: alpha,
                                 beta: beta)
    }

    @inline(__always)
    static func tile(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                     _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ alpha: Float, _ beta: Float) {
        avx512GEMMBlock(mc: mr, nc: nr, kc: kc, pa: a, pb: b, c: c, ldc: ldc, alpha: alpha, beta: beta)
    }

    @inline(__always)
    static func dot(_ n: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        SGEMMKernel.dot(n, x, y)
    }

    @inline(__always)
    static func axpy(_ n: Int, _ alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        SGEMMKernel.axpy(n, alpha, x, y)
    }
}
#endif

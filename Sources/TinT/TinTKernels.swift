import Dispatch
import Synchronization
import Tensor

// Internal raw-pointer helpers of the simulator layers: the cross-head mix kernel of `HSimSplitLinear`, row
// gathering and a scratch buffer. (The scalar-generic GEMM and zero fills are Tensor's `gemm` and `Tensor.zeros`.)

/// The sparsity pattern of a cross-head mix: output heads in groups of up to four consecutive heads that read
/// the same input heads, with that input list. A dense mix gives groups of four reading every head (each weight
/// load then feeds eight FMAs); a selector mix gives one-head groups reading one or two heads, so its cost is
/// one pass over the data.
struct MixPattern: Sendable {
    /// `(first output head, number of output heads, input heads)`.
    let groups: [(first: Int, count: Int, inputs: [Int])]

    init<S: TensorScalar>(mix: UnsafeBufferPointer<S>, heads: Int, headWidth d: Int) {
        let lists: [[Int]] = (0..<heads).map { hp in
            (0..<heads).filter { h in (0..<d).contains { mix[(h * heads + hp) * d + $0] != 0 } }
        }
        var groups: [(first: Int, count: Int, inputs: [Int])] = []
        var hp = 0
        while hp < heads {
            var n = 1
            while n < 4 && hp + n < heads && lists[hp + n] == lists[hp] { n += 1 }
            groups.append((hp, n, lists[hp]))
            hp += n
        }
        self.groups = groups
    }

    private init(groups: [(first: Int, count: Int, inputs: [Int])]) { self.groups = groups }

    /// The pattern computing only output heads `heads` (sorted): the other heads are not written.
    func restricted(to heads: [Int]) -> MixPattern {
        var out: [(first: Int, count: Int, inputs: [Int])] = []
        for g in groups {
            for h in heads where g.first <= h && h < g.first + g.count {
                if let last = out.last, last.first + last.count == h, last.count < 4, last.inputs == g.inputs {
                    out[out.count - 1].count += 1
                } else {
                    out.append((h, 1, g.inputs))
                }
            }
        }
        return MixPattern(groups: out)
    }

    /// Multiply-adds per row, about `d·Σ count·|inputs|`.
    var pairCount: Int { groups.reduce(0) { $0 + $1.count * $1.inputs.count } }
}

/// Cross-head mix of `rows` rows: `z[n, h'·d + r] (+)= Σ_h mix[h, h', r]·x[n, h·d + r]`, with `mix` stored
/// `[h][h'][r]`. Rows are `ldx`/`ldz` apart. Two rows and four output heads share every weight load
/// (eight SIMD8 accumulators), so the loop is bound by FMAs rather than loads.
@inline(never)
func mixRowsFloat(_ x: UnsafePointer<Float>, ldx: Int, _ z: UnsafeMutablePointer<Float>, ldz: Int, rows: Int,
                  mix: UnsafePointer<Float>, heads H: Int, headWidth d: Int, pattern: MixPattern,
                  accumulate: Bool) {
    let vecEnd = d & ~7
    var n = 0
    while n < rows {
        let two = n &+ 1 < rows
        let x0 = x + (n &* ldx), x1 = two ? x0 + ldx : x0
        let z0 = z + (n &* ldz), z1 = two ? z0 + ldz : z0
        for (hp0, nh, inputs) in pattern.groups {
            if inputs.isEmpty {
                if !accumulate {
                    (z0 + (hp0 &* d)).update(repeating: 0, count: nh &* d)
                    if two { (z1 + (hp0 &* d)).update(repeating: 0, count: nh &* d) }
                }
                continue
            }
            var r = 0
            if nh == 1 {
                // One output head (most of TinT's selector mixes: each head's inputs differ): 16 columns a step, so
                // four accumulators are in flight as in the wider groups. A 256 × 3072 selector mix alone ran 20%
                // faster; in a 2-thread TinT profile mix samples per GEMM sample fell 0.40 → 0.29 (BENCHMARKS.md).
                while r &+ 16 <= d {
                    var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), b0 = SIMD8<Float>(), b1 = SIMD8<Float>()
                    for h in inputs {
                        let xr0 = UnsafeRawPointer(x0 + (h &* d &+ r)), xr1 = UnsafeRawPointer(x1 + (h &* d &+ r))
                        let m = UnsafeRawPointer(mix + ((h &* H &+ hp0) &* d &+ r))
                        let m0 = m.loadUnaligned(as: SIMD8<Float>.self), m1 = m.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
                        a0 = fmadd8(a0, m0, xr0.loadUnaligned(as: SIMD8<Float>.self))
                        a1 = fmadd8(a1, m1, xr0.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
                        b0 = fmadd8(b0, m0, xr1.loadUnaligned(as: SIMD8<Float>.self))
                        b1 = fmadd8(b1, m1, xr1.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self))
                    }
                    let o0 = z0 + (hp0 &* d &+ r), o1 = z1 + (hp0 &* d &+ r)
                    storeMix(o0, o1, a0, b0, two, accumulate)
                    storeMix(o0 + 8, o1 + 8, a1, b1, two, accumulate)
                    r &+= 16
                }
            }
            while r < vecEnd {
                var a0 = SIMD8<Float>(), a1 = SIMD8<Float>(), a2 = SIMD8<Float>(), a3 = SIMD8<Float>()
                var b0 = SIMD8<Float>(), b1 = SIMD8<Float>(), b2 = SIMD8<Float>(), b3 = SIMD8<Float>()
                for h in inputs {
                    let xv0 = UnsafeRawPointer(x0 + (h &* d &+ r)).loadUnaligned(as: SIMD8<Float>.self)
                    let xv1 = UnsafeRawPointer(x1 + (h &* d &+ r)).loadUnaligned(as: SIMD8<Float>.self)
                    let m = mix + ((h &* H &+ hp0) &* d &+ r)
                    let m0 = UnsafeRawPointer(m).loadUnaligned(as: SIMD8<Float>.self)
                    a0 = fmadd8(a0, m0, xv0); b0 = fmadd8(b0, m0, xv1)
                    if nh > 1 {
                        let m1 = UnsafeRawPointer(m + d).loadUnaligned(as: SIMD8<Float>.self)
                        a1 = fmadd8(a1, m1, xv0); b1 = fmadd8(b1, m1, xv1)
                    }
                    if nh > 2 {
                        let m2 = UnsafeRawPointer(m + 2 &* d).loadUnaligned(as: SIMD8<Float>.self)
                        a2 = fmadd8(a2, m2, xv0); b2 = fmadd8(b2, m2, xv1)
                    }
                    if nh > 3 {
                        let m3 = UnsafeRawPointer(m + 3 &* d).loadUnaligned(as: SIMD8<Float>.self)
                        a3 = fmadd8(a3, m3, xv0); b3 = fmadd8(b3, m3, xv1)
                    }
                }
                let o0 = z0 + (hp0 &* d &+ r), o1 = z1 + (hp0 &* d &+ r)
                storeMix(o0, o1, a0, b0, two, accumulate)
                if nh > 1 { storeMix(o0 + d, o1 + d, a1, b1, two, accumulate) }
                if nh > 2 { storeMix(o0 + 2 &* d, o1 + 2 &* d, a2, b2, two, accumulate) }
                if nh > 3 { storeMix(o0 + 3 &* d, o1 + 3 &* d, a3, b3, two, accumulate) }
                r &+= 8
            }
            while r < d {
                for i in 0..<nh {
                    var s0: Float = 0, s1: Float = 0
                    for h in inputs {
                        let w = mix[(h &* H &+ hp0 &+ i) &* d &+ r]
                        s0 += w * x0[h &* d &+ r]
                        s1 += w * x1[h &* d &+ r]
                    }
                    let o = (hp0 &+ i) &* d &+ r
                    z0[o] = accumulate ? z0[o] + s0 : s0
                    if two { z1[o] = accumulate ? z1[o] + s1 : s1 }
                }
                r &+= 1
            }
        }
        n &+= two ? 2 : 1
    }
}

@inline(__always)
private func storeMix(_ p0: UnsafeMutablePointer<Float>, _ p1: UnsafeMutablePointer<Float>,
                      _ v0: SIMD8<Float>, _ v1: SIMD8<Float>, _ two: Bool, _ accumulate: Bool) {
    let r0 = UnsafeMutableRawPointer(p0)
    r0.storeBytes(of: accumulate ? r0.loadUnaligned(as: SIMD8<Float>.self) + v0 : v0, as: SIMD8<Float>.self)
    if two {
        let r1 = UnsafeMutableRawPointer(p1)
        r1.storeBytes(of: accumulate ? r1.loadUnaligned(as: SIMD8<Float>.self) + v1 : v1, as: SIMD8<Float>.self)
    }
}

/// Scalar-generic cross-head mix (the `Double` path for oracles); same contract as `mixRowsFloat`.
@_specialize(where S == Double)
@_specialize(where S == Float)
func mixRowsGeneric<S: TensorScalar>(_ x: UnsafePointer<S>, ldx: Int, _ z: UnsafeMutablePointer<S>, ldz: Int,
                                     rows: Int, mix: UnsafePointer<S>, heads H: Int, headWidth d: Int,
                                     pattern: MixPattern, accumulate: Bool) {
    for n in 0..<rows {
        let xr = x + n * ldx, zr = z + n * ldz
        for (first, count, inputs) in pattern.groups {
            for hp in first..<(first + count) {
                let o = zr + hp * d
                if !accumulate { o.update(repeating: 0, count: d) }
                for h in inputs {
                    let m = mix + (h * H + hp) * d, xi = xr + h * d
                    for r in 0..<d { o[r] += m[r] * xi[r] }
                }
            }
        }
    }
}

/// Rows `indices` of a 2-D contiguous tensor (the generic `gathered` copies element by element); consecutive
/// indices (a train prefix) are a view, not a copy.
@_specialize(where S == Float)
@_specialize(where S == Double)
func gatherRows<S: TensorScalar>(_ t: Tensor<S>, _ indices: [Int]) -> Tensor<S> {
    if let first = indices.first, indices.last! - first + 1 == indices.count,
       indices.indices.allSatisfy({ indices[$0] == first + $0 }) {
        return try! t.sliced(axis: 0, first..<(first + indices.count))
    }
    let w = t.shape[1]
    var out = try! Tensor<S>.zeros([indices.count, w])
    t.withUnsafeBufferPointer { src in
        out.withUnsafeMutableBufferPointer { dst in
            for (i, r) in indices.enumerated() {
                (dst.baseAddress! + i * w).update(from: src.baseAddress! + r * w, count: w)
            }
        }
    }
    return out
}

/// One cached scratch buffer for the mixed rows of `HSimSplitLinear`: a fresh multi-megabyte allocation per call
/// is an mmap plus a page fault per 4 KB (≈0.5 ms at 768 × 3072 floats). A caller that finds the cache taken
/// allocates its own buffer.
enum ScratchCache {
    /// The cached buffer's address (0: none) and size in bytes.
    private static let cached = Mutex<(address: UInt, bytes: Int)>((0, 0))

    static func withBuffer<S, R>(count: Int, of: S.Type, _ body: (UnsafeMutablePointer<S>) -> R) -> R {
        let bytes = Swift.max(count, 1) * MemoryLayout<S>.stride
        let taken = cached.withLock { c -> (UInt, Int) in
            guard c.address != 0, c.bytes >= bytes else { return (0, 0) }
            defer { c = (0, 0) }
            return c
        }
        let raw = taken.0 != 0 ? UnsafeMutableRawPointer(bitPattern: taken.0)!
                               : UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let size = taken.0 != 0 ? taken.1 : bytes
        let result = body(raw.bindMemory(to: S.self, capacity: count))
        let evicted = cached.withLock { c -> UInt in
            if c.bytes < size {
                defer { c = (UInt(bitPattern: raw), size) }
                return c.address
            }
            return UInt(bitPattern: raw)
        }
        if evicted != 0 { UnsafeMutableRawPointer(bitPattern: evicted)!.deallocate() }
        return result
    }
}

import Tensor

// The softmax pullback over the last axis in one pass per row, dx = y ⊙ (g − Σ g⊙y): two reads and one write
// per element instead of four passes and three temporaries. Attention's [heads, T, T] probabilities make this
// the largest elementwise pullback of a transformer block.

/// dx for softmax output `y` and output gradient `g` along the last axis (same shapes).
func softmaxLastAxisPullback<S: TensorScalar>(y: Tensor<S>, g: Tensor<S>) throws -> Tensor<S> {
    let n = y.shape.last ?? 1
    let rows = n == 0 ? 0 : y.count / n
    let yc = y.contiguous(), gc = g.contiguous()
    var out = try Tensor<S>.zeros(y.shape)
    yc.withUnsafeBufferPointer { yp in
        gc.withUnsafeBufferPointer { gp in
            out.withUnsafeMutableBufferPointer { op in
                let ys = UncheckedSendable(yp.baseAddress!), gs = UncheckedSendable(gp.baseAddress!), os = UncheckedSendable(op.baseAddress!)
                parallelChunks(count: rows, grain: rowGrain(n)) { r in
                    let off = r.lowerBound &* n
                    if S.self == Float.self {
                        softmaxPullbackRowsFloat(rebind(ys.value + off), rebind(gs.value + off),
                                                 rebind(os.value + off), rows: r.count, n: n)
                    } else {
                        softmaxPullbackRows(ys.value + off, gs.value + off, os.value + off, rows: r.count, n: n)
                    }
                }
            }
        }
    }
    return out
}

@inline(__always)
private func rebind<S, T>(_ p: UnsafePointer<S>) -> UnsafePointer<T> {
    UnsafeRawPointer(p).assumingMemoryBound(to: T.self)
}

@inline(__always)
private func rebind<S, T>(_ p: UnsafeMutablePointer<S>) -> UnsafeMutablePointer<T> {
    UnsafeMutableRawPointer(p).assumingMemoryBound(to: T.self)
}

@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func softmaxPullbackRows<S: TensorScalar>(_ y: UnsafePointer<S>, _ g: UnsafePointer<S>, _ out: UnsafeMutablePointer<S>,
                                          rows: Int, n: Int) {
    for r in 0..<rows {
        let yr = y + r &* n, gr = g + r &* n, o = out + r &* n
        var dot = 0.0
        for j in 0..<n { dot += Double(gr[j] * yr[j]) }
        let d = S(dot)
        for j in 0..<n { o[j] = yr[j] * (gr[j] - d) }
    }
}

@inline(__always) private func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) private func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Float rows: the dot product in four SIMD8 accumulators (fp32 within a row, as PyTorch's kernel).
@inline(never)
func softmaxPullbackRowsFloat(_ y: UnsafePointer<Float>, _ g: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                              rows: Int, n: Int) {
    for r in 0..<rows {
        let yr = y + r &* n, gr = g + r &* n, o = out + r &* n
        var a0 = SIMD8<Float>(), a1 = a0, a2 = a0, a3 = a0
        var j = 0
        while j &+ 32 <= n {
            a0 = fmadd8(a0, load8(gr + j), load8(yr + j))
            a1 = fmadd8(a1, load8(gr + (j &+ 8)), load8(yr + (j &+ 8)))
            a2 = fmadd8(a2, load8(gr + (j &+ 16)), load8(yr + (j &+ 16)))
            a3 = fmadd8(a3, load8(gr + (j &+ 24)), load8(yr + (j &+ 24)))
            j &+= 32
        }
        while j &+ 8 <= n { a0 = fmadd8(a0, load8(gr + j), load8(yr + j)); j &+= 8 }
        var dot = ((a0 + a1) + (a2 + a3)).sum()
        while j < n { dot += gr[j] * yr[j]; j &+= 1 }
        let d = SIMD8<Float>(repeating: dot)
        j = 0
        while j &+ 8 <= n { store8(load8(yr + j) * (load8(gr + j) - d), o + j); j &+= 8 }
        while j < n { o[j] = yr[j] * (gr[j] - dot); j &+= 1 }
    }
}

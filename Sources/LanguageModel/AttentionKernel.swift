import Tensor

// Fused causal multi-head attention, forward and backward, on the [batch, time, heads·headDim] layout the
// projections produce: heads are strided views (no transposed copies). Each (batch, head) pair is one task;
// within it, query rows go in blocks so that the GEMMs skip the keys the causal mask hides (about 45% of the
// score and value products at T = 512), and the softmax of a block runs while its scores are in cache.
//
// Grouped-query attention (Llama, Mistral): `kvHeads` key/value heads, each shared by `heads / kvHeads`
// consecutive query heads (query head h reads key/value head h / group, as `repeat_kv` lays them out). Keys
// and values are then `kvHeads·headDim` wide per token. The forward only reads them, so it stays one task per
// (batch, query head); the backward makes one task per (batch, key/value head) and runs the group's query
// heads one after another, so that their gradients add into the shared dK, dV slice without a race and in a
// fixed order. With kvHeads == heads both are exactly the multi-head loops.

/// Where the operands of one attention call live. Every query and output row (a token's `heads·headDim`
/// features) is contiguous with row stride `width`, every key and value row with stride `kvWidth`
/// (`kvHeads·headDim`); batches are `*BatchStride` elements apart.
struct AttentionGeometry: Sendable {
    var batch: Int, heads: Int, headDim: Int
    /// Key/value heads; divides `heads`.
    var kvHeads: Int
    /// Query rows per batch element (the new tokens).
    var queries: Int
    /// Key/value rows per batch element: the cached past followed by the new tokens.
    var keys: Int
    var queryBatchStride: Int, keyBatchStride: Int, outputBatchStride: Int
    /// Entries between consecutive batch rows of the key mask.
    var keyMaskStride: Int

    var width: Int { heads * headDim }
    var kvWidth: Int { kvHeads * headDim }
    /// Query heads per key/value head.
    var group: Int { heads / kvHeads }
    /// Keys before the first query (the cache length); query t sits at absolute position past + t.
    var past: Int { keys - queries }
    /// Rows per block: small enough to skip most of the masked half, large enough for efficient GEMMs.
    static let blockRows = 64
}

/// One row of attention probabilities in place: entries at or beyond `visible` (the causal limit) and keys the
/// mask drops become 0, the rest softmax(scores). A row that sees no key becomes all zeros.
@inline(__always)
func attentionSoftmaxRow<S: TensorScalar>(_ row: UnsafeMutablePointer<S>, visible: Int, stored: Int,
                                          keyMask: UnsafePointer<UInt8>?) {
    for j in visible..<stored { row[j] = 0 }
    if let keyMask {
        for j in 0..<visible where keyMask[j] == 0 { row[j] = -S.infinity }
    }
    let m = runMax(UnsafePointer(row), visible, 1)
    guard m > -S.infinity else {
        for j in 0..<visible { row[j] = 0 }
        return
    }
    let sum = runExpShiftedSum(UnsafePointer(row), row, visible, shift: m)
    let inv = S(1 / sum)
    for j in 0..<visible { row[j] *= inv }
}

/// out = softmax(scale·q·kᵀ + causal/key mask)·v per (batch, head). `probabilities`, when given, receives the
/// probabilities as [batch·heads, queries, keys] (entries past the causal limit are 0) for the backward pass.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func attentionForward<S: TensorScalar>(
    _ g: AttentionGeometry, q: UnsafePointer<S>, k: UnsafePointer<S>, v: UnsafePointer<S>,
    keyMask: UnsafePointer<UInt8>?, scale: S, out: UnsafeMutablePointer<S>, probabilities: UnsafeMutablePointer<S>?
) {
    let args = UncheckedSendable((q, k, v, keyMask, out, probabilities))
    let tasks = g.batch * g.heads
    let blk = AttentionGeometry.blockRows
    parallelChunks(count: tasks, grain: 1) { range in
        let (q, k, v, keyMask, out, probabilities) = args.value
        let D = g.width, KD = g.kvWidth, d = g.headDim, T = g.queries, S_ = g.keys, past = g.past, group = g.group
        let scratch: UnsafeMutablePointer<S>? = probabilities == nil
            ? .allocate(capacity: Swift.min(blk, T) * S_) : nil
        defer { scratch?.deallocate() }
        for task in range {
            let b = task / g.heads, h = task % g.heads, kh = h / group
            let qb = q + (b &* g.queryBatchStride &+ h &* d)
            let kb = k + (b &* g.keyBatchStride &+ kh &* d)
            let vb = v + (b &* g.keyBatchStride &+ kh &* d)
            let ob = out + (b &* g.outputBatchStride &+ h &* d)
            let mask = keyMask.map { $0 + b &* g.keyMaskStride }
            var t0 = 0
            while t0 < T {
                let rows = Swift.min(blk, T &- t0), limit = past &+ t0 &+ rows
                let p = probabilities.map { $0 + (task &* T &+ t0) &* S_ } ?? scratch!
                gemm(m: rows, n: limit, k: d, alpha: scale, a: qb + t0 &* D, aRowStride: D, aColStride: 1,
                      b: kb, bRowStride: 1, bColStride: KD, c: p, ldc: S_)
                for i in 0..<rows {
                    attentionSoftmaxRow(p + i &* S_, visible: past &+ t0 &+ i &+ 1, stored: limit, keyMask: mask)
                }
                gemm(m: rows, n: d, k: limit, a: p, aRowStride: S_, aColStride: 1, b: vb, bRowStride: KD, bColStride: 1,
                      c: ob + t0 &* D, ldc: D)
                t0 &+= rows
            }
        }
    }
}

/// The gradients of ``attentionForward`` from the saved probabilities P and the output gradient dO:
/// dV = Pᵀ·dO; with dS = P ⊙ (dO·Vᵀ − rowsum(dO·Vᵀ ⊙ P)), dQ = scale·dS·K and dK = scale·dSᵀ·Q.
/// `dk` and `dv` must be zero-filled (they accumulate over query blocks); nil skips a gradient.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func attentionBackward<S: TensorScalar>(
    _ g: AttentionGeometry, q: UnsafePointer<S>, k: UnsafePointer<S>, v: UnsafePointer<S>,
    probabilities: UnsafePointer<S>, dOut: UnsafePointer<S>, scale: S,
    dq: UnsafeMutablePointer<S>?, dk: UnsafeMutablePointer<S>?, dv: UnsafeMutablePointer<S>?
) {
    let args = UncheckedSendable((q, k, v, probabilities, dOut, dq, dk, dv))
    let tasks = g.batch * g.kvHeads
    let blk = AttentionGeometry.blockRows
    parallelChunks(count: tasks, grain: 1) { range in
        let (q, k, v, probabilities, dOut, dq, dk, dv) = args.value
        let D = g.width, KD = g.kvWidth, d = g.headDim, T = g.queries, S_ = g.keys, past = g.past, group = g.group
        let wantScores = dq != nil || dk != nil
        let dP: UnsafeMutablePointer<S>? = wantScores ? .allocate(capacity: Swift.min(blk, T) * S_) : nil
        defer { dP?.deallocate() }
        for task in range {
            let b = task / g.kvHeads, kh = task % g.kvHeads
            let kb = k + (b &* g.keyBatchStride &+ kh &* d)
            let vb = v + (b &* g.keyBatchStride &+ kh &* d)
            let dkb = dk.map { $0 + (b &* g.keyBatchStride &+ kh &* d) }
            let dvb = dv.map { $0 + (b &* g.keyBatchStride &+ kh &* d) }
            for h in (kh &* group)..<((kh &+ 1) &* group) {
                let qb = q + (b &* g.queryBatchStride &+ h &* d)
                let gb = dOut + (b &* g.outputBatchStride &+ h &* d)
                let probabilityTask = b &* g.heads &+ h
                var t0 = 0
                while t0 < T {
                    let rows = Swift.min(blk, T &- t0), limit = past &+ t0 &+ rows
                    let p = probabilities + (probabilityTask &* T &+ t0) &* S_
                    if let dvb {
                        gemm(m: limit, n: d, k: rows, a: p, aRowStride: 1, aColStride: S_, b: gb + t0 &* D, bRowStride: D, bColStride: 1,
                              beta: 1, c: dvb, ldc: KD)
                    }
                    if let dP {
                        gemm(m: rows, n: limit, k: d, a: gb + t0 &* D, aRowStride: D, aColStride: 1, b: vb, bRowStride: 1, bColStride: KD,
                              c: dP, ldc: S_)
                        for i in 0..<rows {
                            let pr = p + i &* S_, dr = dP + i &* S_
                            var dot = S(0)
                            for j in 0..<limit { dot += pr[j] * dr[j] }
                            for j in 0..<limit { dr[j] = pr[j] * (dr[j] - dot) }
                        }
                        if let dq {
                            gemm(m: rows, n: d, k: limit, alpha: scale, a: dP, aRowStride: S_, aColStride: 1, b: kb, bRowStride: KD, bColStride: 1,
                                  c: dq + (b &* g.queryBatchStride &+ h &* d &+ t0 &* D), ldc: D)
                        }
                        if let dkb {
                            gemm(m: limit, n: d, k: rows, alpha: scale, a: dP, aRowStride: 1, aColStride: S_,
                                  b: qb + t0 &* D, bRowStride: D, bColStride: 1,
                                  beta: 1, c: dkb, ldc: KD)
                        }
                    }
                    t0 &+= rows
                }
            }
        }
    }
}

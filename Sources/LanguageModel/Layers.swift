import Autodiff
import Tensor

// The differentiable ops every family is written in. Each computes its value with the kernels in
// LayerKernels.swift / AttentionKernel.swift and registers its own pullbacks through
// `Variable.differentiable(value:inputs:)`, so the same call is a plain fast forward inside `noGrad` (or on
// constant parameters) and an exact, fused backward under Autodiff. Intermediates the backward needs
// (attention probabilities, layer-norm statistics, pre-activations) are kept only when the op is recorded.

/// How a linear layer's weight is stored.
public enum LinearWeightLayout: Sendable {
    /// `[out, in]`: PyTorch's `nn.Linear` (y = x·Wᵀ + b).
    case outIn
    /// `[in, out]`: the `Conv1D` of GPT-2 checkpoints (y = x·W + b).
    case inOut
}

public enum Layers {
    // MARK: Linear

    /// `x·Wᵀ + b (+ residual)`, optionally followed by an activation, as one GEMM over the flattened rows
    /// (the bias and residual are the GEMM's initial C, the weight is read through its strides, never copied
    /// transposed). `x` is `[..., in]`, `weight` `[out, in]` (`nn.Linear`) or, with `layout: .inOut`,
    /// `[in, out]` (GPT-2's `Conv1D`, `x·W + b`), `bias` `[out]`, `residual` shaped like the output. The
    /// weight's gradient has the weight's layout.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func linear<S>(_ x: Variable<S>, weight: Variable<S>, bias: Variable<S>? = nil,
                          residual: Variable<S>? = nil, activation: Activation? = nil,
                          layout: LinearWeightLayout = .outIn) throws -> Variable<S> {
        let w = weight.value
        let inAxis = layout == .outIn ? 1 : 0
        guard w.rank == 2, let inF = x.shape.last, inF == w.shape[inAxis] else {
            throw TensorError.shapeMismatch(op: "OPT linear", shapes: [x.shape, w.shape],
                                            reason: "input's last dimension must equal the weight's in-features")
        }
        let outF = w.shape[1 - inAxis], rows = x.count / Swift.max(inF, 1)
        // B[k, j] of the GEMM x·B: W[j, k] for [out, in], W[k, j] for [in, out].
        let (rsB, csB) = layout == .outIn ? (1, inF) : (outF, 1)
        let outShape = Array(x.shape.dropLast()) + [outF]
        if let bias, bias.shape != [outF] {
            throw TensorError.shapeMismatch(op: "OPT linear", shapes: [w.shape, bias.shape], reason: "bias must be [\(outF)]")
        }
        if let residual, residual.shape != outShape {
            throw TensorError.shapeMismatch(op: "OPT linear", shapes: [outShape, residual.shape],
                                            reason: "residual must have the output's shape")
        }
        let xv = x.value.contiguous(), wv = w.contiguous()
        var inputs = [x, weight]
        if let bias { inputs.append(bias) }
        let recorded = Variable.isRecorded(inputs + (residual.map { [$0] } ?? []))
        var pre: Tensor<S>? = nil  // the pre-activation, kept for smooth activations' backward
        // Tensor.linear allocates its output uninitialised and starts C from the bias; the residual variant is
        // one pass more (C starts from residual + bias).
        var y = residual == nil ? try xv.linear(weight: layout == .outIn ? wv : try wv.transposed(), bias: bias?.value)
            : try Tensor<S>.zeros(outShape) { c in
            if let residual {
                residual.value.withPointer { r in c.update(from: r, count: rows * outF) }
            }
            if let bias {
                bias.value.withPointer { bp in
                    for i in 0..<rows {
                        let row = c + i &* outF
                        if residual == nil { row.update(from: bp, count: outF) } else {
                            for j in 0..<outF { row[j] += bp[j] }
                        }
                    }
                }
            }
            xv.withPointer { xp in
                wv.withPointer { wp in
                    gemm(m: rows, n: outF, k: inF, a: xp, aRowStride: inF, aColStride: 1, b: wp, bRowStride: rsB, bColStride: csB,
                            beta: (bias != nil || residual != nil) ? 1 : 0, c: c, ldc: outF)
                }
            }
        }
        if let activation {
            if recorded && activation != .relu { pre = y }
            y.withUnsafeMutableBufferPointer { lmActivate(activation, $0.baseAddress!, $0.count) }
        }
        guard recorded else { return Variable(y) }

        let out = y
        // The gradient at the GEMM's output: g itself, or g ⊙ act'(·).
        let box = LazyGradient<Tensor<S>>(uses: trackedCount([x, weight, bias])) { (g: Tensor<S>) in
            guard let activation else { return g }
            var gp = g.contiguous()
            let saved = pre ?? out
            saved.withPointer { s in
                gp.withUnsafeMutableBufferPointer { lmActivationBackward(activation, saved: s, $0.baseAddress!, $0.count) }
            }
            return gp
        }
        var pullbacks: [(Variable<S>, (Tensor<S>) throws -> Tensor<S>)] = [
            // Tensor.matmul on transposed views: one uninitialised output each, no transposed copies.
            (x, { g in
                try box.value(g).reshaped([rows, outF]).matmul(wv, transposeA: false, transposeB: layout == .inOut)
                    .reshaped(x.shape)
            }),
            (weight, { g in
                let gr = try box.value(g).reshaped([rows, outF]), xr = try xv.reshaped([rows, inF])
                return layout == .outIn ? try gr.matmul(xr, transposeA: true, transposeB: false)
                    : try xr.matmul(gr, transposeA: true, transposeB: false)
            }),
        ]
        if let bias {
            pullbacks.append((bias, { g in
                let gp = try box.value(g)
                return try Tensor<S>.zeros([outF]) { db in gp.withPointer { lmColumnSums($0, rows: rows, cols: outF, db) } }
            }))
        }
        if let residual { pullbacks.append((residual, { g in g })) }
        return Variable.differentiable(value: y, inputs: pullbacks)
    }

    // MARK: Elementwise

    /// a + b for equal shapes.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func add<S>(_ a: Variable<S>, _ b: Variable<S>) throws -> Variable<S> {
        guard a.shape == b.shape else {
            throw TensorError.shapeMismatch(op: "OPT add", shapes: [a.shape, b.shape], reason: "shapes must be equal")
        }
        let y = try Tensor<S>.zeros(a.shape) { c in
            a.value.withPointer { ap in b.value.withPointer { bp in lmAdd(ap, bp, c, a.count) } }
        }
        return Variable.differentiable(value: y, inputs: [(a, { $0 }), (b, { $0 })])
    }

    // MARK: Layer norm

    /// Layer norm over the last axis (PyTorch semantics, ε = 1e-5); `weight`/`bias` are `[D]` or absent.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func layerNorm<S>(_ x: Variable<S>, weight: Variable<S>?, bias: Variable<S>?, epsilon: S = 1e-5) throws -> Variable<S> {
        let xv = x.value.contiguous()
        let (y, mean, rstd) = try xv.layerNormWithStatistics(weight: weight?.value, bias: bias?.value, epsilon: epsilon)
        var inputs = [x]
        if let weight { inputs.append(weight) }
        if let bias { inputs.append(bias) }
        guard Variable.isRecorded(inputs) else { return Variable(y) }
        let d = x.shape.last!, rows = x.count / d
        let gamma = weight?.value.contiguous()
        // One pass computes all three gradients; each pullback takes its share.
        let box = LazyGradient<(Tensor<S>?, Tensor<S>?, Tensor<S>?)>(uses: trackedCount([x, weight, bias])) { (g: Tensor<S>) in
            let gc = g.contiguous()
            var dx = x.requiresGradient ? try Tensor<S>.zeros(x.shape) : nil
            var dgamma = weight?.requiresGradient == true ? try Tensor<S>.zeros([d]) : nil
            var dbeta = bias?.requiresGradient == true ? try Tensor<S>.zeros([d]) : nil
            xv.withPointer { xp in mean.withPointer { mp in rstd.withPointer { rp in gc.withPointer { gp in
                withOptionalPointer(gamma) { gammaP in
                    withOptionalMutablePointer(&dx) { dxp in
                        withOptionalMutablePointer(&dgamma) { dgp in
                            withOptionalMutablePointer(&dbeta) { dbp in
                                normBackwardRows(x: xp, mean: mp, rstd: rp, gamma: gammaP, g: gp, rows: rows, d: d,
                                                     dx: dxp, dgamma: dgp, dbeta: dbp)
                            }
                        }
                    }
                }
            } } } }
            return (dx, dgamma, dbeta)
        }
        var pullbacks: [(Variable<S>, (Tensor<S>) throws -> Tensor<S>)] = [(x, { g in try box.value(g).0! })]
        if let weight { pullbacks.append((weight, { g in try box.value(g).1! })) }
        if let bias { pullbacks.append((bias, { g in try box.value(g).2! })) }
        return Variable.differentiable(value: y, inputs: pullbacks)
    }

    // MARK: RMS norm

    /// RMS norm over the last axis, `x / √(mean(x²) + ε) ⊙ weight` (`LlamaRMSNorm`; the statistics are
    /// accumulated in Double, at least as accurate as its fp32 variance). `weight` is `[D]` or absent.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func rmsNorm<S>(_ x: Variable<S>, weight: Variable<S>?, epsilon: S) throws -> Variable<S> {
        let xv = x.value.contiguous()
        let (y, rstd) = try xv.rmsNormWithStatistics(weight: weight?.value, epsilon: epsilon)
        let inputs = [x] + (weight.map { [$0] } ?? [])
        guard Variable.isRecorded(inputs) else { return Variable(y) }
        let d = x.shape.last!, rows = x.count / d
        let gamma = weight?.value.contiguous()
        // One pass computes both gradients (layer norm's kernel without the mean); each pullback takes its share.
        let box = LazyGradient<(Tensor<S>?, Tensor<S>?)>(uses: trackedCount([x, weight])) { (g: Tensor<S>) in
            let gc = g.contiguous()
            var dx = x.requiresGradient ? try Tensor<S>.zeros(x.shape) : nil
            var dgamma = weight?.requiresGradient == true ? try Tensor<S>.zeros([d]) : nil
            xv.withPointer { xp in rstd.withPointer { rp in gc.withPointer { gp in
                withOptionalPointer(gamma) { gammaP in
                    withOptionalMutablePointer(&dx) { dxp in
                        withOptionalMutablePointer(&dgamma) { dgp in
                            normBackwardRows(x: xp, mean: nil, rstd: rp, gamma: gammaP, g: gp, rows: rows, d: d,
                                                dx: dxp, dgamma: dgp, dbeta: nil)
                        }
                    }
                }
            } } }
            return (dx, dgamma)
        }
        var pullbacks: [(Variable<S>, (Tensor<S>) throws -> Tensor<S>)] = [(x, { g in try box.value(g).0! })]
        if let weight { pullbacks.append((weight, { g in try box.value(g).1! })) }
        return Variable.differentiable(value: y, inputs: pullbacks)
    }

    // MARK: Gated activation

    /// `act(gate) ⊙ up` for equal shapes, as one op: the gated (GLU) product of a SwiGLU feed-forward layer,
    /// `down(silu(gate·x) ⊙ up·x)`. The backward is one pass: ∇gate = g ⊙ up ⊙ act'(gate), ∇up = g ⊙ act(gate).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func gatedActivation<S>(gate: Variable<S>, up: Variable<S>, activation: Activation) throws -> Variable<S> {
        guard gate.shape == up.shape else {
            throw TensorError.shapeMismatch(op: "gatedActivation", shapes: [gate.shape, up.shape], reason: "shapes must be equal")
        }
        let a = gate.value.contiguous(), b = up.value.contiguous()
        let n = a.count
        let y = try Tensor<S>.zeros(a.shape) { o in
            a.withPointer { ap in b.withPointer { bp in lmGatedActivation(activation, gate: ap, up: bp, o, n) } }
        }
        guard Variable.isRecorded([gate, up]) else { return Variable(y) }
        let box = LazyGradient<(Tensor<S>?, Tensor<S>?)>(uses: trackedCount([gate, up])) { (g: Tensor<S>) in
            let gc = g.contiguous()
            var da = gate.requiresGradient ? try Tensor<S>.zeros(a.shape) : nil
            var db = up.requiresGradient ? try Tensor<S>.zeros(a.shape) : nil
            a.withPointer { ap in b.withPointer { bp in gc.withPointer { gp in
                withOptionalMutablePointer(&da) { dap in
                    withOptionalMutablePointer(&db) { dbp in
                        lmGatedActivationBackward(activation, gate: ap, up: bp, g: gp, dGate: dap, dUp: dbp, n)
                    }
                }
            } } }
            return (da, db)
        }
        return Variable.differentiable(value: y, inputs: [(gate, { g in try box.value(g).0! }),
                                                          (up, { g in try box.value(g).1! })])
    }

    // MARK: Rotary position embeddings

    /// Rotary position embeddings applied to every head of `x` `[B, T, heads·headDim]`: in each head, feature
    /// i < headDim/2 pairs with feature i + headDim/2 (`transformers`' `rotate_half` layout, not interleaved),
    /// and the pair at row r is rotated by the angle `positions[r]·θ^(−2i/headDim)`:
    /// `x·cos + rotate_half(x)·sin`. The pullback is the inverse rotation. `rope` holds the angles' cosines and
    /// sines for the B·T rows.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func rotary<S>(_ x: Variable<S>, _ rope: RotaryEmbedding<S>) throws -> Variable<S> {
        let d = rope.headDim
        guard x.rank == 3, x.shape[0] * x.shape[1] == rope.rows, x.shape[2] % d == 0 else {
            throw TensorError.shapeMismatch(op: "rotary", shapes: [x.shape, [rope.rows, d]],
                                            reason: "needs x [B, T, heads·\(d)] with B·T = \(rope.rows) rows of positions")
        }
        let xv = x.value.contiguous()
        let heads = x.shape[2] / d
        func rotate(_ src: Tensor<S>, inverse: Bool) throws -> Tensor<S> {
            let c = src.contiguous()
            return try Tensor<S>.zeros(c.shape) { o in
                c.withPointer { sp in rope.cos.withUnsafeBufferPointer { cp in rope.sin.withUnsafeBufferPointer { np in
                    lmRotary(sp, o, cos: cp.baseAddress!, sin: np.baseAddress!, rows: rope.rows, heads: heads,
                             half: d / 2, inverse: inverse)
                } } }
            }
        }
        let y = try rotate(xv, inverse: false)
        return Variable.differentiable(value: y, inputs: [(x, { g in try rotate(g, inverse: true) })])
    }

    // MARK: Embedding

    /// Rows `ids` of the `[V, D]` table, shaped `idShape + [D]`. The pullback scatter-adds into a zero table;
    /// rows for `paddingID` get no gradient (PyTorch's `padding_idx`).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func embedding<S>(_ table: Variable<S>, ids: [Int], shape idShape: [Int], paddingID: Int? = nil) throws -> Variable<S> {
        let y = try table.value.embedding(ids, shape: idShape)
        let v = table.shape[0], d = table.shape[1]
        return Variable.differentiable(value: y, inputs: [(table, { g in
            var grad = try Tensor<S>.zeros([v, d])
            let gc = g.contiguous()
            grad.withUnsafeMutableBufferPointer { tp in
                gc.withPointer { gp in
                    for (i, id) in ids.enumerated() where id != paddingID {
                        let dst = tp.baseAddress! + id &* d, src = gp + i &* d
                        for j in 0..<d { dst[j] += src[j] }
                    }
                }
            }
            return grad
        })])
    }

    // MARK: Attention

    /// Causal multi-head attention of `q` `[B, T, heads·d]` over `k`, `v` `[B, S, kvHeads·d]` (S = past + T,
    /// the past coming from a KV cache). `kvHeads` (default `heads`) must divide `heads`: with fewer key/value
    /// heads than query heads (grouped-query attention), query head h reads key/value head h / (heads/kvHeads),
    /// as `transformers`' `repeat_kv` does, and the backward sums each group's gradients into its shared head.
    /// `keyMask` (`B·S` bytes, 1 = attend) drops padded keys. With `detachProbabilities` the gradient flows
    /// only through the values (∇v = Aᵀ∇o; q and k get none).
    ///
    /// `keyCount`, when given, says that `k` and `v` are `[B, capacity, kvHeads·d]` cache buffers of which the
    /// first `keyCount` rows are filled (and `keyMask` is `B·capacity`); such calls are inference only.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func attention<S>(q: Variable<S>, k: Variable<S>, v: Variable<S>, heads: Int, kvHeads: Int? = nil,
                                    scale: S, keyMask: [UInt8]?, keyCount: Int? = nil,
                                    detachProbabilities: Bool = false) throws -> Variable<S> {
        let kvHeads = kvHeads ?? heads
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0, q.rank == 3, k.rank == 3, v.shape == k.shape,
              q.shape[0] == k.shape[0], q.shape[2] % heads == 0, k.shape[2] == q.shape[2] / heads * kvHeads,
              (keyCount ?? k.shape[1]) >= q.shape[1], (keyCount ?? 0) <= k.shape[1] else {
            throw TensorError.shapeMismatch(op: "attention", shapes: [q.shape, k.shape, v.shape],
                                            reason: "needs q [B, T, heads·d], k and v [B, S ≥ T, kvHeads·d] with "
                                                + "\(heads) heads and \(kvHeads) key/value heads (dividing the heads)")
        }
        let (bsz, t, dim, capacity) = (q.shape[0], q.shape[1], q.shape[2], k.shape[1])
        let kvDim = k.shape[2]
        let s = keyCount ?? capacity
        if let keyMask, keyMask.count != bsz * capacity {
            throw TensorError.invalidArgument(op: "attention", reason: "key mask needs \(bsz * capacity) entries, got \(keyMask.count)")
        }
        if keyCount != nil && Variable.isRecorded([q, k, v]) {
            throw ModelError.invalidArgument(op: "attention", reason: "a KV cache is for inference; run it inside noGrad or on constant parameters")
        }
        let geo = AttentionGeometry(batch: bsz, heads: heads, headDim: dim / heads, kvHeads: kvHeads, queries: t, keys: s,
                                    queryBatchStride: t * dim, keyBatchStride: capacity * kvDim, outputBatchStride: t * dim,
                                    keyMaskStride: capacity)
        let qv = q.value.contiguous(), kv = k.value.contiguous(), vv = v.value.contiguous()
        let inputs = detachProbabilities ? [v] : [q, k, v]
        let recorded = Variable.isRecorded(inputs)
        var probs: Tensor<S>? = recorded ? try Tensor<S>.zeros([bsz * heads, t, s]) : nil
        let y = try Tensor<S>.zeros([bsz, t, dim]) { out in
            qv.withPointer { qp in kv.withPointer { kp in vv.withPointer { vp in
                withOptionalMutablePointer(&probs) { pp in
                    if let keyMask {
                        keyMask.withUnsafeBufferPointer { mp in
                            attentionForward(geo, q: qp, k: kp, v: vp, keyMask: mp.baseAddress, scale: scale, out: out, probabilities: pp)
                        }
                    } else {
                        attentionForward(geo, q: qp, k: kp, v: vp, keyMask: nil, scale: scale, out: out, probabilities: pp)
                    }
                }
            } } }
        }
        guard recorded, let probs else { return Variable(y) }
        let wantQ = !detachProbabilities && q.requiresGradient, wantK = !detachProbabilities && k.requiresGradient
        let wantV = v.requiresGradient
        let uses = trackedCount([v] + (detachProbabilities ? [] : [q, k]))
        let box = LazyGradient<(Tensor<S>?, Tensor<S>?, Tensor<S>?)>(uses: uses) { (g: Tensor<S>) in
            let gc = g.contiguous()
            var dq = wantQ ? try Tensor<S>.zeros(q.shape) : nil
            var dk = wantK ? try Tensor<S>.zeros(k.shape) : nil
            var dv = wantV ? try Tensor<S>.zeros(v.shape) : nil
            qv.withPointer { qp in kv.withPointer { kp in vv.withPointer { vp in probs.withPointer { pp in gc.withPointer { gp in
                withOptionalMutablePointer(&dq) { dqp in withOptionalMutablePointer(&dk) { dkp in withOptionalMutablePointer(&dv) { dvp in
                    attentionBackward(geo, q: qp, k: kp, v: vp, probabilities: pp, dOut: gp, scale: scale, dq: dqp, dk: dkp, dv: dvp)
                } } }
            } } } } }
            return (dq, dk, dv)
        }
        var pullbacks: [(Variable<S>, (Tensor<S>) throws -> Tensor<S>)] = [(v, { g in try box.value(g).2! })]
        if !detachProbabilities {
            pullbacks.append((q, { g in try box.value(g).0! }))
            pullbacks.append((k, { g in try box.value(g).1! }))
        }
        return Variable.differentiable(value: y, inputs: pullbacks)
    }

    // MARK: Cross-entropy

    /// Σ or mean over rows with `targets[r] ≥ 0` of logsumexp(row) − row[target] for logits `[..., V]` (one
    /// target per row; negative targets are ignored, like PyTorch's ignore_index −100). Also returns the number
    /// of counted rows and the sum in Double.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func crossEntropy<S>(_ logits: Variable<S>, targets: [Int], mean: Bool) throws -> (loss: Variable<S>, counted: Int, sum: Double) {
        guard let v = logits.shape.last, v > 0 else {
            throw TensorError.invalidShape(op: "OPT crossEntropy", shape: logits.shape, reason: "logits need a last axis [..., V]")
        }
        let rows = logits.count / v
        guard targets.count == rows else {
            throw TensorError.shapeMismatch(op: "OPT crossEntropy", shapes: [logits.shape, [targets.count]],
                                            reason: "needs one target per row (\(rows))")
        }
        for t in targets where t >= v {
            throw TensorError.indexOutOfRange(op: "OPT crossEntropy", index: t, axis: logits.rank - 1, size: v)
        }
        let z = logits.value.contiguous()
        var lse = [Double](repeating: 0, count: rows)
        var terms = [Double](repeating: 0, count: rows)
        z.withPointer { zp in
            lse.withUnsafeMutableBufferPointer { lp in terms.withUnsafeMutableBufferPointer { tp in
                let args = UncheckedSendable((zp, lp.baseAddress!, tp.baseAddress!))
                parallelChunks(count: rows, grain: Swift.max(1, lmElementGrain / v)) { r in
                    let (zp, lp, tp) = args.value
                    // exp values are only summed here; a small per-task row buffer keeps z untouched.
                    let tmp = UnsafeMutablePointer<S>.allocate(capacity: v)
                    defer { tmp.deallocate() }
                    for i in r where targets[i] >= 0 {
                        let row = zp + i &* v
                        let m = runMax(row, v, 1)
                        let l = Double(m) + Double.log(runExpShiftedSum(row, tmp, v, shift: m))
                        lp[i] = l
                        tp[i] = l - Double(row[targets[i]])
                    }
                }
            } }
        }
        let counted = targets.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        let divisor = mean ? Double(Swift.max(counted, 1)) : 1
        let total = terms.reduce(0, +) / divisor
        let loss = Tensor<S>(scalar: S(total))
        let shape = logits.shape
        let result = Variable.differentiable(value: loss, inputs: [(logits, { g in
            let scale = try g.item() / S(divisor)
            // Overwrite a copy of the logits in place (one allocation and a memcpy, no zero fill).
            var out = z
            out.withUnsafeMutableBufferPointer { ob in
                let args = UncheckedSendable(ob.baseAddress!)
                parallelChunks(count: rows, grain: Swift.max(1, lmElementGrain / v)) { r in
                    for i in r {
                        let o = args.value + i &* v
                        let t = targets[i]
                        guard t >= 0 else { o.update(repeating: 0, count: v); continue }
                        _ = runExpShiftedSum(UnsafePointer(o), o, v, shift: S(lse[i]))
                        o[t] -= 1
                        for j in 0..<v { o[j] *= scale }
                    }
                }
            }
            return try out.reshaped(shape)
        })])
        return (result, counted, terms.reduce(0, +))
    }
}

// MARK: - Helpers

/// A value computed once from the output gradient and shared by the `uses` pullbacks of one op that will run
/// (the backward pass calls them one after another with the same output gradient). After the last use the
/// cache is cleared, so a graph kept with `retainGraph` can be differentiated again with another seed.
package final class LazyGradient<V> {
    private let compute: (Any) throws -> V
    private let uses: Int
    private var left: Int
    private var cached: V?

    package init<S: TensorScalar>(uses: Int, _ compute: @escaping (Tensor<S>) throws -> V) {
        self.compute = { try compute($0 as! Tensor<S>) }
        self.uses = Swift.max(uses, 1)
        self.left = self.uses
    }

    package func value<S: TensorScalar>(_ g: Tensor<S>) throws -> V {
        let v = try cached ?? compute(g)
        left -= 1
        if left == 0 { cached = nil; left = uses } else { cached = v }
        return v
    }
}

/// How many of `inputs` track gradients (their pullbacks are the ones that will run).
package func trackedCount<S>(_ inputs: [Variable<S>?]) -> Int {
    inputs.reduce(0) { $0 + ($1?.requiresGradient == true ? 1 : 0) }
}

package func withOptionalPointer<S: TensorScalar, R>(_ t: Tensor<S>?, _ body: (UnsafePointer<S>?) throws -> R) rethrows -> R {
    guard let t else { return try body(nil) }
    return try t.withPointer { try body($0) }
}

package func withOptionalMutablePointer<S: TensorScalar, R>(_ t: inout Tensor<S>?, _ body: (UnsafeMutablePointer<S>?) throws -> R) rethrows -> R {
    guard t != nil else { return try body(nil) }
    return try t!.withUnsafeMutableBufferPointer { try body($0.baseAddress!) }
}


import Autodiff
import Tensor

/// Every data movement the executor does outside TinT layers (TINT-DESIGN §3, last bullet; the reference does
/// the same in Python, TINT-REFERENCE §2.6). Nothing else in the executor touches token rows or prefixes.
///
/// 1. **Prefixes**: the aux weights are encoded once into prefix tensors; before each module the prefix rows are
///    loaded with that module's tensor, and after a Descent the updated tensor is kept for the next Forward.
/// 2. **Token rows**: a module runs on fresh rows holding its input signal in `[0, w)` and zeros elsewhere; its
///    post-Forward rows (holding the activations in the memory regions) are stored, and before its Backward the
///    stored rows are restored with the gradient in place of the signal.
/// 3. **Chunks**: maps wider than D_aux run block by block; output chunks are summed and concatenated (attention
///    heads run in chunks the same way).
/// 4. **Residual adds**: `.add` nodes sum their inputs; in the backward their gradient goes to every input.
/// 5. **Embeddings**: the token and position lookups (frozen, shared with the aux model).
/// 6. **Loss gradient**: the tied head's logits, the vocabulary softmax, and `∂ℓ/∂h` of the summed
///    cross-entropy over positions whose target is a train token.
enum TinTGlue {
    // MARK: 1. Prefixes

    /// The prefix tensor of block `(outputs, inputs)` of `weight` (`[d_out, d_in]`) with `bias` (scaled by
    /// `biasScale`, or zeros when nil), zero padded to the module's K-rounded widths (``TinTCompiler/moduleWidth(_:_:)``).
    static func linearPrefixes<S: TensorScalar>(weight: Tensor<S>, bias: Tensor<S>?, outputs: Range<Int>,
                                                inputs: Range<Int>, biasScale: S, config: SimulatorSpec) throws -> Tensor<S> {
        let K = config.prefixCount
        let oWidth = TinTCompiler.moduleWidth(outputs.count, K), iWidth = TinTCompiler.moduleWidth(inputs.count, K)
        let w = try weight.sliced(axis: 0, outputs).sliced(axis: 1, inputs).contiguous()
        let b = try bias.map { try $0.sliced(axis: 0, outputs).contiguous() * biasScale }
        return try LinearPrefixLayout.encode(weight: try zeroPadded(w, to: [oWidth, iWidth]),
                                             bias: try b.map { try zeroPadded($0, to: [oWidth]) }, config: config)
    }

    // MARK: 2. Token rows

    /// Fresh token rows: `signal` (`[T, w]`) in `[0, w)`, zeros elsewhere, with the module's prefixes loaded.
    static func freshState<S: TensorScalar>(_ signal: Tensor<S>, prefixes: Tensor<S>, trainMask: [Bool]) throws
        -> TinTState<S> {
        try TinTState(prefixes: prefixes, signal: signal, trainMask: trainMask)
    }

    /// The stored post-Forward rows with the signal region `[0, D)` replaced by `gradient` (`[T, w ≤ D]`, zero
    /// padded), and the module's prefixes loaded.
    static func restoredState<S: TensorScalar>(_ stored: consuming Tensor<S>, gradient: Tensor<S>, signalWidth D: Int,
                                               prefixes: Tensor<S>, trainMask: [Bool]) throws -> TinTState<S> {
        // Written in place when the caller hands over the only reference (a borrowed parameter copied into a `var`
        // kept a second reference, so the rows were copied on write: 1% of a forward).
        var tokens = consume stored
        let T = tokens.shape[0], W = tokens.shape[1], w = gradient.shape[1]
        try requireShape(gradient, [T, w], module: "TinTGlue", what: "gradient")
        precondition(w <= D && D <= W, "restoredState: gradient width \(w), signal width \(D), row width \(W)")
        gradient.withUnsafeBufferPointer { g in
            tokens.withUnsafeMutableBufferPointer { t in
                copyRowsPadded(from: g.baseAddress!, count: w, rows: T, to: t.baseAddress!, stride: W, width: D)
            }
        }
        return try TinTState(prefixes: prefixes, tokens: tokens, trainMask: trainMask)
    }

    /// The signal `[0, w)` of the token rows.
    static func signal<S: TensorScalar>(_ state: TinTState<S>, width: Int) throws -> Tensor<S> {
        try state.tokenRegion(0, width)
    }

    // MARK: 3–4. Chunks and residual adds

    /// Columns `range` of a `[T, w]` value.
    static func columns<S: TensorScalar>(_ value: Tensor<S>, _ range: Range<Int>) throws -> Tensor<S> {
        range == 0..<value.shape[1] ? value : try value.sliced(axis: 1, range).contiguous()
    }

    /// Rows (leading-axis entries) `range` of a map or a bias (an attention chunk's heads).
    static func rows<S: TensorScalar>(_ value: Tensor<S>, _ range: Range<Int>) throws -> Tensor<S> {
        range == 0..<value.shape[0] ? value : try value.sliced(axis: 0, range).contiguous()
    }

    /// `value` (rank 1 or 2) zero padded at the end of each axis to `shape` (a narrower chunk, a K-rounded block).
    static func zeroPadded<S: TensorScalar>(_ value: Tensor<S>, to shape: [Int]) throws -> Tensor<S> {
        guard value.shape != shape else { return value }
        var out = try Tensor<S>.zeros(shape)
        if value.rank == 1 {
            try out.assign(value, axis: 0, 0..<value.shape[0])
        } else {
            var rows = try Tensor<S>.zeros([value.shape[0], shape[1]])
            try rows.assign(value, axis: 1, 0..<value.shape[1])
            try out.assign(rows, axis: 0, 0..<value.shape[0])
        }
        return out
    }

    /// The sum of the inputs (a residual add; also the sum of a map's chunk outputs).
    static func sum<S: TensorScalar>(_ values: [Tensor<S>]) throws -> Tensor<S> {
        var out = values[0]
        for v in values.dropFirst() { out = try out + v }
        return out
    }

    /// Chunks side by side.
    static func concatenate<S: TensorScalar>(_ chunks: [Tensor<S>]) throws -> Tensor<S> {
        chunks.count == 1 ? chunks[0] : try Tensor.concatenated(chunks, axis: 1)
    }

    // MARK: 5. Embeddings

    /// Rows `ids + offset` of `table`.
    static func lookup<S: TensorScalar>(_ table: Tensor<S>, ids: [Int], offset: Int) throws -> Tensor<S> {
        try table.embedding(ids.map { $0 + offset }, shape: [ids.count])
    }

    // MARK: 6. Loss gradient

    /// The logits `h·Eᵀ` (`[T, vocab]`).
    static func logits<S: TensorScalar>(_ hidden: Tensor<S>, head: Tensor<S>) throws -> Tensor<S> {
        try hidden.matmul(head, transposeA: false, transposeB: true)
    }

    /// `∂ℓ/∂h` for `ℓ = Σ_{t: trainMask[t+1] ∧ countsTarget(t+1)} CE(logits_t, ids[t+1])`, i.e.
    /// `(softmax(logits_t) − e_{ids[t+1]})·E` on those rows and zero elsewhere. `lastPositionUnmasked` adds
    /// `softmax(logits_{T−1})·E` when the last token is a train token (the reference's quirk, `referenceCompatible`).
    /// Specialized for both scalars because its masking loop touches every logit.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    static func lossGradient<S: TensorScalar>(logits: Tensor<S>, head: Tensor<S>, ids: [Int], trainMask: [Bool],
                                              countsTarget: (Int) -> Bool, lastPositionUnmasked: Bool) throws -> Tensor<S> {
        let T = ids.count, V = logits.shape[1]
        var g = try logits.softmax(axis: 1).contiguous()
        g.withUnsafeMutableBufferPointer { p in
            for t in 0..<T {
                let row = p.baseAddress! + t * V
                if t + 1 < T && trainMask[t + 1] && countsTarget(t + 1) {
                    row[ids[t + 1]] -= 1
                } else if !(lastPositionUnmasked && t == T - 1 && trainMask[t]) {
                    for v in 0..<V { row[v] = 0 }
                }
            }
        }
        return try g.matmul(head)
    }
}

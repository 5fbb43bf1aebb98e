import Tensor

// Neural-network ops: the softmax family, normalisations, embedding lookup, cross-entropy and attention.

extension Variable {
    /// Softmax along `axis`. Pullback: y ⊙ (g − Σ g⊙y).
    public func softmax(axis: Int = -1) throws -> Variable {
        let y = try value.softmax(axis: axis)
        if try normalizedAxis(axis, op: "softmax") == rank - 1 {
            return Variable.record(y, self) { g in try softmaxLastAxisPullback(y: y, g: g) }
        }
        return Variable.record(y, self) { g in try y * (g - (try (g * y).sum(axis: axis, keepDims: true))) }
    }

    /// Log-softmax along `axis`. Pullback: g − softmax(x) ⊙ Σ g.
    public func logSoftmax(axis: Int = -1) throws -> Variable {
        let y = try value.logSoftmax(axis: axis)
        return Variable.record(y, self) { g in try g - y.exp() * (try g.sum(axis: axis, keepDims: true)) }
    }

    /// log Σ exp(x) over `axes` (all when `nil`). Pullback: g ⊙ softmax(x) over the reduced axes.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        let x = value
        let y = try x.logSumExp(axes: axes, keepDims: keepDims)
        let kept = try keptShape(axes)
        return Variable.record(y, self) { g in
            try g.reshaped(kept) * (try x - y.reshaped(kept)).exp()
        }
    }

    /// log Σ exp(x) over one axis.
    public func logSumExp(axis: Int, keepDims: Bool = false) throws -> Variable {
        try logSumExp(axes: [axis], keepDims: keepDims)
    }

    /// Layer norm over the last axis with PyTorch semantics (biased variance, ε inside the square root);
    /// `weight` (γ) and `bias` (β) are `[D]` or absent.
    public func layerNorm(weight: Variable? = nil, bias: Variable? = nil, epsilon: Scalar = 1e-5) throws -> Variable {
        let x = value, gamma = weight?.value
        let (y, mean, rstd) = try x.layerNormWithStatistics(weight: gamma, bias: bias?.value, epsilon: epsilon)
        var inputs: [(Variable, Node<Scalar>.Pullback)] = [(self, { g in
            try normBackward(x: x, mean: mean, rstd: rstd, gamma: gamma, g: g, wanted: .input)
        })]
        if let weight {
            inputs.append((weight, { g in try normBackward(x: x, mean: mean, rstd: rstd, gamma: gamma, g: g, wanted: .gamma) }))
        }
        if let bias { inputs.append((bias, { g in try g.sumOverLeadingAxes() })) }
        return Variable.record(y, inputs)
    }

    /// RMS norm over the last axis: x / √(mean(x²) + ε) ⊙ weight.
    public func rmsNorm(weight: Variable? = nil, epsilon: Scalar = 1e-6) throws -> Variable {
        let x = value, gamma = weight?.value
        let (y, rstd) = try x.rmsNormWithStatistics(weight: gamma, epsilon: epsilon)
        var inputs: [(Variable, Node<Scalar>.Pullback)] = [(self, { g in
            try normBackward(x: x, mean: nil, rstd: rstd, gamma: gamma, g: g, wanted: .input)
        })]
        if let weight {
            inputs.append((weight, { g in try normBackward(x: x, mean: nil, rstd: rstd, gamma: gamma, g: g, wanted: .gamma) }))
        }
        return Variable.record(y, inputs)
    }

    /// Rows of this `[V, D]` table selected by `ids` (row-major, `idShape` of them); the result is
    /// `idShape + [D]`. The pullback scatter-adds the gradient rows into a zero `[V, D]` table.
    public func embedding(_ ids: [Int], shape idShape: [Int]) throws -> Variable {
        let y = try value.embedding(ids, shape: idShape)
        let s = shape
        func addInto(_ table: inout Tensor<Scalar>, _ g: Tensor<Scalar>) throws {
            try table.indexAdd(try g.reshaped([-1, s[1]]), indices: ids)
        }
        return Variable.record(y, self, { g in
            var table = try Tensor<Scalar>.zeros(s)
            try addInto(&table, g)
            return table
        }, addInto: addInto)
    }

    /// The slices `indices` (repeats allowed) along `axis`. The pullback scatter-adds.
    public func gathered(indices: [Int], axis: Int = 0) throws -> Variable {
        let y = try value.gathered(indices: indices, axis: axis)
        let s = shape
        func addInto(_ out: inout Tensor<Scalar>, _ g: Tensor<Scalar>) throws {
            try out.indexAdd(g, indices: indices, axis: axis)
        }
        return Variable.record(y, self, { g in
            var out = try Tensor<Scalar>.zeros(s)
            try addInto(&out, g)
            return out
        }, addInto: addInto)
    }
}

// MARK: - Cross-entropy

/// How a loss over many positions is reduced to one number.
public enum LossReduction: Sendable {
    /// The sum over counted positions (TinT's inner loss).
    case sum
    /// The mean over counted positions (0 when no position is counted).
    case mean
}

/// Cross-entropy of `logits` (`[..., V]`, one row per position) against `targets` (one class per row),
/// fused with log-softmax: loss = Σ over rows with `target ≠ ignoreIndex` of logsumexp(row) − row[target].
/// The pullback is `(softmax(row) − onehot(target))·scale` on counted rows and 0 on ignored rows.
///
/// - Throws: `TensorError` when `targets.count` differs from the number of rows or a target is neither in
///   `0..<V` nor `ignoreIndex`.
public func crossEntropy<Scalar>(logits: Variable<Scalar>, targets: [Int], ignoreIndex: Int = -100,
                                 reduction: LossReduction = .mean) throws -> Variable<Scalar> {
    let op = "crossEntropy"
    guard logits.rank >= 1, let v = logits.shape.last, v > 0 else {
        throw TensorError.invalidShape(op: op, shape: logits.shape, reason: "logits need a non-empty last axis [..., V]")
    }
    let rows = logits.count / v
    guard targets.count == rows else {
        throw TensorError.shapeMismatch(op: op, shapes: [logits.shape, [targets.count]],
                                        reason: "needs one target per row (\(rows)), got \(targets.count)")
    }
    for t in targets where t != ignoreIndex && (t < 0 || t >= v) {
        throw TensorError.indexOutOfRange(op: op, index: t, axis: logits.rank - 1, size: v)
    }
    let z = try logits.value.reshaped([rows, v])
    let lse = try z.logSumExp(axis: 1)
    let counted = targets.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
    let lseScalars = lse.scalars
    var total = 0.0
    z.withUnsafeBufferPointer { zp in
        for (r, t) in targets.enumerated() where t != ignoreIndex {
            total += Double(lseScalars[r]) - Double(zp[r * v + t])
        }
    }
    let divisor = reduction == .mean ? Swift.max(counted, 1) : 1
    let loss = Tensor(scalar: Scalar(total / Double(divisor)))
    let shape = logits.shape
    // The pullback forms softmax(z) from the saved log-sum-exp in one pass. When the backward pass releases the
    // graph, it runs once, so it takes the logits out of `saved` and overwrites them with their gradient: no
    // fresh [rows, V] tensor (103 MB for an OPT vocabulary at T = 512) unless someone else still holds them.
    let saved = SavedTensor(z)
    return Variable.record(loss, logits) { g in
        let scale = try g.item() / Scalar(divisor)
        var p = try GradientMode.isReleasingGraph ? saved.take() : saved.get()
        try p.formSoftmax(logSumExp: lse, scale: scale)
        p.withUnsafeMutableBufferPointer { pp in
            crossEntropyRowsPullback(pp.baseAddress!, targets: targets, ignoreIndex: ignoreIndex, v: v, scale: scale)
        }
        return try p.reshaped(shape)
    }
}

/// A tensor a pullback may consume: `take()` hands over the only reference, so the caller can overwrite it in place.
final class SavedTensor<Scalar: TensorScalar>: @unchecked Sendable {
    private var tensor: Tensor<Scalar>?
    init(_ tensor: Tensor<Scalar>) { self.tensor = tensor }

    func get() throws -> Tensor<Scalar> {
        guard let tensor else { throw AutodiffError.graphReleased }
        return tensor
    }

    func take() throws -> Tensor<Scalar> {
        defer { tensor = nil }
        return try get()
    }
}

/// Turns scaled softmax rows (softmax·scale) into the cross-entropy gradient in place: the target's entry loses
/// `scale` (the one-hot term), and ignored rows become 0.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func crossEntropyRowsPullback<S: TensorScalar>(_ p: UnsafeMutablePointer<S>, targets: [Int], ignoreIndex: Int,
                                               v: Int, scale: S) {
    for (r, t) in targets.enumerated() {
        let row = p + r &* v
        if t == ignoreIndex {
            row.update(repeating: 0, count: v)
        } else {
            row[t] -= scale
        }
    }
}

// MARK: - Attention

/// An additive causal mask `[queries, keys]`: 0 where key j ≤ query i, −∞ above the diagonal (PyTorch's
/// `is_causal`, top-left aligned). Added to attention scores before the softmax.
public func causalMask<Scalar: TensorScalar>(queries: Int, keys: Int? = nil, as: Scalar.Type = Scalar.self) throws -> Tensor<Scalar> {
    let k = keys ?? queries
    var scalars = [Scalar](repeating: 0, count: queries * k)
    for i in 0..<queries { for j in 0..<k where j > i { scalars[i * k + j] = -.infinity } }
    return try Tensor(shape: [queries, k], scalars: scalars)
}

/// softmax(q·kᵀ·scale + mask)·v over the last two dimensions, batch dimensions broadcasting.
///
/// - Parameters:
///   - query: `[..., T, d]`; `key`: `[..., S, d]`; `value`: `[..., S, dv]`.
///   - mask: an additive mask broadcastable to `[..., T, S]` (0 to keep, −∞ to drop), e.g. ``causalMask(queries:keys:as:)``.
///   - causal: also apply the causal mask.
///   - scale: defaults to 1/√d.
///   - detachProbabilities: stop the gradient at the attention probabilities A, so only the value path is
///     differentiated: ∇v = Aᵀ∇o and no gradient reaches the query or key (TinT's stop-gradient backward).
public func scaledDotProductAttention<Scalar>(
    query: Variable<Scalar>, key: Variable<Scalar>, value: Variable<Scalar>, mask: Tensor<Scalar>? = nil,
    causal: Bool = false, scale: Scalar? = nil, detachProbabilities: Bool = false
) throws -> Variable<Scalar> {
    guard query.rank >= 2, key.rank >= 2, value.rank >= 2 else {
        throw TensorError.invalidShape(op: "scaledDotProductAttention", shape: query.shape,
                                       reason: "query, key and value need rank ≥ 2 ([..., T, d])")
    }
    let d = query.shape[query.rank - 1]
    // Scaling q rather than the scores touches T·d elements instead of T·S.
    var scores = try (query * (scale ?? 1 / Scalar.sqrt(Scalar(d)))).matmul(try key.transposed())
    if let mask { scores = try scores + Variable(mask) }
    if causal {
        scores = try scores + Variable(try causalMask(queries: query.shape[query.rank - 2], keys: key.shape[key.rank - 2]))
    }
    var probabilities = try scores.softmax(axis: -1)
    if detachProbabilities { probabilities = probabilities.detached() }
    return try probabilities.matmul(value)
}

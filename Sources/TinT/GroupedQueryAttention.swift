import Tensor

/// Grouped-query attention (GQA) on the simulator (Docs/TINT.md §11): the aux model has `H` query heads and
/// `H_kv` key/value heads, query head `h` reading key/value head `h / G` (`G = H/H_kv`, `transformers`'
/// `repeat_kv`). TinT simulates it as full multi-head attention on **expanded** K and V maps — each kv head's rows
/// repeated for the `G` query heads of its group, at compile time — so `AttentionForward` and the value-gradient
/// layer run unchanged. Only the Descent of `W_V` changes: the `G` replicas of a kv head must receive the group's
/// summed gradient, so that they stay equal and each equals the kv head's update (`GroupedValueBackwardDescent`).
public enum GroupedQueryAttention {
    /// Checks `heads`, `kvHeads`, `headWidth` and the map's shape; returns `G`.
    static func groupSize(rows: Int, heads: Int, kvHeads: Int, headWidth: Int) throws -> Int {
        guard heads > 0, kvHeads > 0, heads % kvHeads == 0, headWidth > 0, rows == kvHeads * headWidth else {
            throw TinTError.invalidArgument(module: "GroupedQueryAttention",
                                            reason: "needs H_kv dividing H and a [H_kv·d_head, d_in] map; got H=\(heads), H_kv=\(kvHeads), d_head=\(headWidth), rows=\(rows)")
        }
        return heads / kvHeads
    }

    /// The full-head map `[H·d_head, d_in]` (and bias `[H·d_head]`) of a kv map `[H_kv·d_head, d_in]`: query head
    /// `h` gets kv head `h/G`'s rows.
    public static func expand<S: TensorScalar>(weight: Tensor<S>, bias: Tensor<S>?, heads: Int, kvHeads: Int,
                                               headWidth dh: Int) throws -> (weight: Tensor<S>, bias: Tensor<S>?) {
        try requireRank(weight, 2)
        let g = try groupSize(rows: weight.shape[0], heads: heads, kvHeads: kvHeads, headWidth: dh)
        let dIn = weight.shape[1], w = weight.contiguous().scalars, b = bias?.contiguous().scalars
        var ew = [S](), eb = [S]()
        ew.reserveCapacity(heads * dh * dIn)
        for h in 0..<heads {
            let k = h / g
            ew += w[(k * dh * dIn)..<((k + 1) * dh * dIn)]
            if let b { eb += b[(k * dh)..<((k + 1) * dh)] }
        }
        return (try Tensor(shape: [heads * dh, dIn], scalars: ew), b == nil ? nil : try Tensor(shape: [heads * dh], scalars: eb))
    }

    /// The kv map of an expanded one: the first replica of each group (`spread`: the largest difference between
    /// a replica and the first, 0 when the replicas moved together).
    public static func collapse<S: TensorScalar>(weight: Tensor<S>, bias: Tensor<S>?, heads: Int, kvHeads: Int,
                                                 headWidth dh: Int) throws -> (weight: Tensor<S>, bias: Tensor<S>?, spread: Double) {
        try requireRank(weight, 2)
        let g = try groupSize(rows: weight.shape[0] / heads * kvHeads, heads: heads, kvHeads: kvHeads, headWidth: dh)
        let dIn = weight.shape[1], w = weight.contiguous().scalars, b = bias?.contiguous().scalars
        var cw = [S](), cb = [S](), spread = 0.0
        for k in 0..<kvHeads {
            let first = k * g
            cw += w[(first * dh * dIn)..<((first + 1) * dh * dIn)]
            if let b { cb += b[(first * dh)..<((first + 1) * dh)] }
            for h in (first + 1)..<(first + g) {
                for i in 0..<(dh * dIn) { spread = max(spread, Double(abs(w[h * dh * dIn + i] - w[first * dh * dIn + i]))) }
                if let b { for i in 0..<dh { spread = max(spread, Double(abs(b[h * dh + i] - b[first * dh + i]))) } }
            }
        }
        return (try Tensor(shape: [kvHeads * dh, dIn], scalars: cw), b == nil ? nil : try Tensor(shape: [kvHeads * dh], scalars: cb), spread)
    }

    private static func requireRank<S: TensorScalar>(_ t: Tensor<S>, _ r: Int) throws {
        guard t.rank == r else {
            throw TinTError.invalidArgument(module: "GroupedQueryAttention", reason: "expected a rank-\(r) map, got \(t.shape)")
        }
    }
}

/// The group-mean layer: each aux head `a` of the signal `∇v` becomes `(1/G)·Σ_{b ∈ group(a)} ∇v_b`. Aux heads may
/// be narrower than the H_sim heads, and a cross-head mix moves coordinates only between heads at the same
/// within-head position, so this layer's map splits the row into heads of the aux head width (`D_sim/d_head`
/// heads, `D_sim²/d_head` mix weights). A residual-only MLP layer: `out = x + M·x`, with `M` = (group mean −
/// identity) on the signal heads.
func groupMeanLayer<S: TensorScalar>(_ config: SimulatorSpec, kvHeads: Int) throws -> GatedLayer<S> {
    let W = config.simWidth, dh = config.auxHeadWidth, H = config.auxHeads
    _ = try GroupedQueryAttention.groupSize(rows: kvHeads * dh, heads: H, kvHeads: kvHeads, headWidth: dh)
    let g = H / kvHeads
    var m = MixBuilder<S>(width: W, heads: W / dh)
    for a in 0..<H {
        let first = a / g * g
        for b in first..<(first + g) { m.route(from: b, to: a, S(1) / S(g)) }
        m.route(from: a, to: a, -1)
    }
    return tokenLayer(.mlp(SimulatorMLP(fc: nil, activation: nil, proj: nil, residual: try m.build())), config)
}

/// Backward ∥ Descent of grouped-query attention through the value path (Docs/TINT.md §11), on the **expanded**
/// V prefixes (`GroupedQueryAttention.expand`, then `LinearPrefixLayout.encode`). Three layers:
/// 1. the value-gradient layer: `∇v = Aᵀ∇o` per query head (as `AttentionBackward`);
/// 2. the group-mean layer: every head of a group gets `(1/G)·Σ_group ∇v`;
/// 3. `LinearBackwardDescent` on the expanded V prefixes with learning rate `G·η`.
///
/// Step 3's Descent gives every replica `−G·η·Σ_t (1/G)Σ_group ∇v_t x_tᵀ = −η·Σ_t Σ_group ∇v_t x_tᵀ`, the kv head's
/// exact update, so the replicas stay equal; its Backward gives `Σ_h W_hᵀ (1/G)Σ_{group(h)} ∇v = Σ_kv W_kvᵀ Σ_group ∇v`,
/// the exact `∇x` of the value path. Backward alone needs no group sum: `AttentionBackward` on the expanded
/// prefixes is already exact.
public struct GroupedValueBackwardDescent<Scalar: TensorScalar>: Sendable {
    /// The configuration the module was built for.
    public let config: SimulatorSpec
    /// H_kv.
    public let kvHeads: Int
    /// The attention score scale (the forward's).
    public let scale: Double
    let valueGradient: GatedLayer<Scalar>
    let groupMean: GatedLayer<Scalar>
    let linear: LinearBackwardDescent<Scalar>

    /// Builds the module; `kvHeads` must divide `config.auxHeads`. `updateBias: false` for a value map without bias.
    public init(config: SimulatorSpec, kvHeads: Int, scale: Double? = nil, updateBias: Bool = true) throws {
        try config.validate()
        self.config = config
        self.kvHeads = kvHeads
        self.scale = scale ?? 1 / Double(config.auxHeadWidth).squareRoot()
        valueGradient = try valueGradientLayer(config, scale: self.scale)
        groupMean = try groupMeanLayer(config, kvHeads: kvHeads)
        var scaled = config
        scaled.learningRate = config.learningRate * Double(config.auxHeads / kvHeads)
        linear = try LinearBackwardDescent(config: scaled, inputWidth: config.auxWidth, outputWidth: config.auxWidth,
                                           memory: .at(config.attentionMemory + 2 * config.auxWidth), updateBias: updateBias)
    }

    /// Runs the three layers; the state's prefixes must hold the expanded `W_V, b_V` and afterwards hold them
    /// updated (`GroupedQueryAttention.collapse` reads the kv map back).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func apply(_ state: inout TinTState<Scalar>) throws {
        try state.validate(config, module: "GroupedValueBackwardDescent")
        try valueGradient.apply(&state)
        try groupMean.apply(&state)
        try linear.apply(&state)
    }

    /// The value-gradient layer, the group-mean layer (`D_sim²/d_head` mix weights and two gates) and
    /// `LinearBackwardDescent`.
    public var parameterCount: ParameterCount {
        valueGradient.parameterCount + groupMean.parameterCount + linear.parameterCount
    }
}

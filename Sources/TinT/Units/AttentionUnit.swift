import LanguageModel
import Autodiff
import Tensor

/// Causal self-attention, both op kinds (`causalSelfAttention` and Llama's `attention` with grouped-query heads and
/// rotary positions):
/// - Forward: `AttentionForward` with the Q, K and V prefixes, or with rotary positions `RotaryAttentionForward`
///   with Q, `P_rot·Q`, K, `P_rot·K` and V (Docs/TINT.md §10);
/// - grouped-query K and V maps (`H_kv < H`) are expanded to full heads at encode time (Docs/TINT.md §11), so
///   both Forwards run unchanged;
/// - Backward ∥ Descent on the V prefixes (value-only backprop: W_Q and W_K are frozen): `AttentionBackwardDescent`,
///   or with grouped heads `GroupedValueBackwardDescent`, whose group mean keeps the replicas of a kv head equal;
///   the read-back collapses them to the kv map.
///
/// An attention module runs H_chunk = D_aux/d_h heads (``SimulatorSpec/auxHeads``). Heads whose widths do not sum
/// to D_aux (`heads·d_h ≠ D_aux`) run in chunks of H_chunk consecutive heads, one module per chunk, the last chunk's
/// missing heads zero (Docs/TINT.md §11.1). This is exact: heads are independent; a zero head attends uniformly to
/// zero values, so its output, its value gradient and its Descent (`∇v xᵀ` with `∇v = 0`) are zero. The chunks'
/// outputs sit side by side; their input gradients add.
struct AttentionUnit<Scalar: TensorScalar>: AuxOpUnit, CompiledNode {
    let query: AuxLinear, key: AuxLinear, value: AuxLinear
    let heads: Int, kvHeads: Int
    /// The query heads of each chunk: `[0, H)` cut into runs of at most H_chunk heads (one run when heads·d_h = D_aux).
    let chunks: [Range<Int>]
    let forwardModule: Forward
    let backwardModule: (any TinTModule<Scalar>)?

    enum Forward: Sendable {
        case plain(AttentionForward<Scalar>)
        case rotary(RotaryAttentionForward<Scalar>)
    }

    /// Prefix tensors per chunk: Q, K, V, and with rotary positions `P_rot·Q`, `P_rot·K`.
    var mapsPerChunk: Int { if case .rotary = forwardModule { 5 } else { 3 } }

    static func compile(_ node: AuxNode, simulated sim: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws -> (any CompiledNode<Scalar>)? {
        guard let a = node.op.attentionDescription else { return nil }
        try check(a, node: node, spec: spec)
        let forward: Forward = try a.rotary.map { .rotary(try cache.rotaryAttentionForward($0)) }
            ?? .plain(try cache.attentionForward())
        var backward: (any TinTModule<Scalar>)? = nil
        if sim {
            let bias = a.value.bias != nil
            // A chunk of H_chunk heads holds H_chunk/G kv groups (check() makes G divide H_chunk).
            backward = a.kvHeads == a.heads ? try cache.attentionBackwardDescent(updateBias: bias)
                : try cache.groupedValueBackwardDescent(kvHeads: spec.auxHeads / (a.heads / a.kvHeads), updateBias: bias)
        }
        return AttentionUnit(query: a.query, key: a.key, value: a.value, heads: a.heads, kvHeads: a.kvHeads,
                             chunks: TinTCompiler.chunks(a.heads, spec.auxHeads), forwardModule: forward, backwardModule: backward)
    }

    /// The shape rules the construction needs, each refused by node (also the parameter formula's check).
    static func check(_ a: AuxAttention, node: AuxNode, spec: SimulatorSpec) throws {
        let D = spec.auxWidth, dh = a.headDim
        func unsupported(_ reason: String) -> TinTError { .unsupportedNode(node: node.name, reason: reason) }
        guard dh > 0 && D % dh == 0 else {
            throw unsupported("its heads of width \(dh) do not divide D_aux = \(D) (an attention module runs D_aux/head_dim heads)")
        }
        guard dh == spec.auxHeadWidth else {
            throw unsupported("its heads are \(dh) wide but the graph's first attention's are \(spec.auxHeadWidth) (one head width per graph)")
        }
        guard a.heads > 0 && a.kvHeads > 0 && a.heads % a.kvHeads == 0 else {
            throw unsupported("its \(a.kvHeads) key/value heads do not divide its \(a.heads) query heads")
        }
        let groupSize = a.heads / a.kvHeads
        guard spec.auxHeads % groupSize == 0 else {
            throw unsupported("its groups of \(groupSize) query heads per key/value head do not tile the chunks of D_aux/head_dim = "
                              + "\(spec.auxHeads) heads its attention runs in")
        }
        for (m, width) in [(a.query, a.heads * dh), (a.key, a.kvHeads * dh), (a.value, a.kvHeads * dh)]
        where m.inputWidth != D || m.outputWidth != width {
            throw unsupported("an attention projection of width \(m.outputWidth) × \(m.inputWidth) does not match its heads "
                              + "(\(width) × D_aux = \(D))")
        }
        if let r = a.rotary {
            guard r.headDim == dh && dh % 2 == 0 else {
                throw unsupported("rotary positions over \(r.headDim) of a \(dh)-wide head (partial rotary) are not supported")
            }
        }
    }

    /// Rows `[chunk·d_h)` of a full-head map (and bias), zero padded to D_aux rows: one chunk's map.
    private func chunkMap(_ w: Tensor<Scalar>, _ b: Tensor<Scalar>?, _ chunk: Range<Int>, spec: SimulatorSpec) throws
        -> (Tensor<Scalar>, Tensor<Scalar>?) {
        let D = spec.auxWidth, rows = (chunk.lowerBound * spec.auxHeadWidth)..<(chunk.upperBound * spec.auxHeadWidth)
        return (try TinTGlue.zeroPadded(try TinTGlue.rows(w, rows), to: [D, w.shape[1]]),
                try b.map { try TinTGlue.zeroPadded(try TinTGlue.rows($0, rows), to: [D]) })
    }

    func encode(_ parameters: AuxParameterReader<Scalar>, spec: SimulatorSpec) throws -> [Tensor<Scalar>] {
        let dh = spec.auxHeadWidth
        let (wq, bq) = try parameters.linear(query)
        var (wk, bk) = try parameters.linear(key), (wv, bv) = try parameters.linear(value)
        if kvHeads != heads {
            (wk, bk) = try GroupedQueryAttention.expand(weight: wk, bias: bk, heads: heads, kvHeads: kvHeads, headWidth: dh)
            (wv, bv) = try GroupedQueryAttention.expand(weight: wv, bias: bv, heads: heads, kvHeads: kvHeads, headWidth: dh)
        }
        var slots: [Tensor<Scalar>] = []
        for chunk in chunks {
            var maps = try [(wq, bq), (wk, bk), (wv, bv)].map { try chunkMap($0.0, $0.1, chunk, spec: spec) }
            if case .rotary = forwardModule {
                maps += [try RotaryAttention.rotateHalfRows(weight: maps[0].0, bias: maps[0].1, headWidth: dh),
                         try RotaryAttention.rotateHalfRows(weight: maps[1].0, bias: maps[1].1, headWidth: dh)]
            }
            slots += try maps.map { try LinearPrefixLayout.encode(weight: $0.0, bias: $0.1, config: spec) }
        }
        return slots
    }

    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar> {
        var outputs: [Tensor<Scalar>] = []
        for (i, chunk) in chunks.enumerated() {
            let p = Array(c.prefixes[(i * mapsPerChunk)..<((i + 1) * mapsPerChunk)]), width = chunk.count * c.spec.auxHeadWidth
            switch forwardModule {
            case .plain(let module):
                outputs.append(try c.run(inputs[0], prefixes: p[0], width: width) {
                    try module.apply(&$0, query: p[0], key: p[1], value: p[2])
                })
            case .rotary(let module):
                outputs.append(try c.run(inputs[0], prefixes: p[0], width: width) {
                    try module.apply(&$0, query: p[0], rotatedQuery: p[3], key: p[1], rotatedKey: p[4], value: p[2])
                })
            }
        }
        return try TinTGlue.concatenate(outputs)
    }

    func backward(_ c: inout NodeContext<Scalar>, gradient: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>] {
        let module = backwardModule!, dh = c.spec.auxHeadWidth
        var inputGradient: Tensor<Scalar>? = nil
        for (i, chunk) in chunks.enumerated() {
            let slot = i * mapsPerChunk + 2
            let g = try TinTGlue.columns(gradient, (chunk.lowerBound * dh)..<(chunk.upperBound * dh))
            let state = try c.restore(i, gradient: g, prefixes: c.prefixes[slot]) { try module.apply(&$0) }
            c.prefixes[slot] = state.prefixes
            let gi = try TinTGlue.signal(state, width: c.D)
            inputGradient = try inputGradient.map { try $0 + gi } ?? gi
        }
        return [inputGradient!]
    }

    func readBack(_ prefixes: [Tensor<Scalar>], into out: inout ParameterSet<Scalar>, spec: SimulatorSpec) throws {
        guard backwardModule != nil else { return }
        let D = spec.auxWidth, dh = spec.auxHeadWidth
        var rows: [Tensor<Scalar>] = [], biases: [Tensor<Scalar>] = []
        for (i, chunk) in chunks.enumerated() {
            let (w, b) = try LinearPrefixLayout.decode(prefixes[i * mapsPerChunk + 2], inputWidth: D, outputWidth: D, config: spec)
            rows.append(try TinTGlue.rows(w, 0..<(chunk.count * dh)))
            biases.append(try TinTGlue.rows(b, 0..<(chunk.count * dh)))
        }
        var w = try Tensor.concatenated(rows, axis: 0)
        var bias: Tensor<Scalar>? = try Tensor.concatenated(biases, axis: 0)
        if kvHeads != heads {
            // The replicas of a kv head moved together (the group mean); the first one is the kv map.
            let collapsed = try GroupedQueryAttention.collapse(weight: w, bias: bias, heads: heads, kvHeads: kvHeads, headWidth: dh)
            (w, bias) = (collapsed.weight, collapsed.bias)
        }
        try out.set(value.weight, try value.storing(weight: w, into: out[value.weight]!))
        if let name = value.bias, let bias { try out.set(name, try value.storing(bias: bias, into: out[name]!)) }
    }

    /// One module per chunk.
    var forwardModules: [(kind: String, count: ParameterCount)] {
        let module: (kind: String, count: ParameterCount) = switch forwardModule {
        case .plain(let m): ("AttentionForward", m.parameterCount)
        case .rotary(let m): ("RotaryAttentionForward", m.parameterCount)
        }
        return Array(repeating: module, count: chunks.count)
    }
    var backwardModules: [(kind: String, count: ParameterCount)] {
        backwardModule.map { Array(repeating: ($0.kind, $0.parameterCount), count: chunks.count) } ?? []
    }
}

extension AttentionUnit {
    static func charges(_ node: AuxNode, simulated sim: Bool, formula f: ModuleFormula) throws -> (forward: [Charge], backward: [Charge])? {
        guard let a = node.op.attentionDescription else { return nil }
        try check(a, node: node, spec: f.config)
        let n = TinTCompiler.chunks(a.heads, f.config.auxHeads).count
        let forward = a.rotary == nil ? Charge(kind: "AttentionForward", count: f.attentionForward, times: n)
            : Charge(kind: "RotaryAttentionForward", count: f.rotaryAttentionForward, times: n)
        guard sim else { return ([forward], []) }
        let bias = a.value.bias != nil
        let backward = a.kvHeads == a.heads
            ? Charge(kind: "AttentionBackwardDescent", count: bias ? f.attentionBackwardDescentBias : f.attentionBackwardDescentNoBias, times: n)
            : Charge(kind: "GroupedValueBackwardDescent", count: try f.valueGradient.addingChecked(f.groupMean)
                        .addingChecked(bias ? f.linearBackwardDescentBias : f.linearBackwardDescentNoBias), times: n)
        return ([forward], [backward])
    }

    /// The value map moves; Q and K are frozen (value-only backprop, with or without rotary positions and grouped
    /// heads).
    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse]? {
        guard let a = op.attentionDescription else { return nil }
        return a.query.parameterUses(.frozen) + a.key.parameterUses(.frozen) + a.value.parameterUses(.moves)
    }

    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters p: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T>? {
        guard let a = op.attentionDescription else { return nil }
        let n = ids.count
        func project(_ l: AuxLinear) throws -> Variable<T> { try l.apply(inputs[0], p).reshaped([1, n, l.outputWidth]) }
        var q = try project(a.query), k = try project(a.key)
        if let r = a.rotary {
            let rope = try RotaryEmbedding<T>(positions: Array(0..<n), headDim: r.headDim, theta: r.theta, scaling: r.scaling)
            q = try Layers.rotary(q, rope)
            k = try Layers.rotary(k, rope)
        }
        let o = try Layers.attention(q: q, k: k, v: project(a.value), heads: a.heads, kvHeads: a.kvHeads,
                                     scale: 1 / T(a.headDim).squareRoot(), keyMask: nil,
                                     detachProbabilities: detachAttentionProbabilities)
        return try o.reshaped([n, a.query.outputWidth])
    }
}

import LanguageModel
import Autodiff
import Tensor

/// Causal self-attention, both op kinds (`causalSelfAttention` and Llama's `attention` with grouped-query heads and
/// rotary positions), on Q/K/V maps of width D_aux and the graph's H_aux heads:
/// - Forward: `AttentionForward` with the Q, K and V prefixes, or with rotary positions `RotaryAttentionForward`
///   with Q, `P_rot·Q`, K, `P_rot·K` and V (Docs/TINT.md §10);
/// - grouped-query K and V maps (`H_kv < H`) are expanded to full heads at encode time (Docs/TINT.md §11), so
///   both Forwards run unchanged;
/// - Backward ∥ Descent on the V prefixes (value-only backprop: W_Q and W_K are frozen): `AttentionBackwardDescent`,
///   or with grouped heads `GroupedValueBackwardDescent`, whose group mean keeps the replicas of a kv head equal;
///   the read-back collapses them to the kv map.
struct AttentionUnit<Scalar: TensorScalar>: AuxOpUnit, CompiledNode {
    let query: AuxLinear, key: AuxLinear, value: AuxLinear
    let heads: Int, kvHeads: Int
    let forwardModule: Forward
    let backwardModule: (any TinTModule<Scalar>)?

    enum Forward: Sendable {
        case plain(AttentionForward<Scalar>)
        case rotary(RotaryAttentionForward<Scalar>)
    }

    static func compile(_ node: AuxNode, simulated sim: Bool, spec: SimulatorSpec, cache: ModuleCache<Scalar>) throws -> (any CompiledNode<Scalar>)? {
        guard let a = attention(node.op) else { return nil }
        try check(a, node: node, spec: spec)
        let forward: Forward = try a.rotary.map { .rotary(try cache.rotaryAttentionForward($0)) }
            ?? .plain(try cache.attentionForward())
        var backward: (any TinTModule<Scalar>)? = nil
        if sim {
            let bias = a.value.bias != nil
            backward = a.kvHeads == a.heads ? try cache.attentionBackwardDescent(updateBias: bias)
                : try cache.groupedValueBackwardDescent(kvHeads: a.kvHeads, updateBias: bias)
        }
        return AttentionUnit(query: a.query, key: a.key, value: a.value, heads: a.heads, kvHeads: a.kvHeads,
                             forwardModule: forward, backwardModule: backward)
    }

    /// Either attention op as one description (`causalSelfAttention` is the case `H_kv = H`, no rotary), or nil.
    static func attention(_ op: AuxOp) -> AuxAttention? {
        switch op {
        case .causalSelfAttention(let q, let k, let v, let heads):
            return AuxAttention(query: q, key: k, value: v, heads: heads, kvHeads: heads, headDim: q.outputWidth / max(heads, 1),
                                rotary: nil)
        case .attention(let a): return a
        default: return nil
        }
    }

    /// The shape rules the construction needs, each refused by node (also the parameter formula's check).
    static func check(_ a: AuxAttention, node: AuxNode, spec: SimulatorSpec) throws {
        let D = spec.auxWidth
        func unsupported(_ reason: String) -> TinTError { .unsupportedNode(node: node.name, reason: reason) }
        guard a.heads == spec.auxHeads else { throw unsupported("it has \(a.heads) heads but the graph's H_aux = \(spec.auxHeads)") }
        guard a.heads * a.headDim == D else {
            throw unsupported("\(a.heads) heads of width \(a.headDim) are not D_aux = \(D) wide (the construction needs heads·head_dim = D_aux)")
        }
        guard a.kvHeads > 0 && a.heads % a.kvHeads == 0 else {
            throw unsupported("its \(a.kvHeads) key/value heads do not divide its \(a.heads) query heads")
        }
        let kv = a.kvHeads * a.headDim
        for (m, width) in [(a.query, D), (a.key, kv), (a.value, kv)] where m.inputWidth != D || m.outputWidth != width {
            throw unsupported("attention projections of width \(m.outputWidth) × \(m.inputWidth) are not supported "
                              + "(the construction needs heads·head_dim = D_aux = \(D))")
        }
        if let r = a.rotary {
            guard r.headDim == a.headDim && a.headDim % 2 == 0 else {
                throw unsupported("rotary positions over \(r.headDim) of a \(a.headDim)-wide head (partial rotary) are not supported")
            }
        }
    }

    func encode(_ parameters: AuxParameterReader<Scalar>, spec: SimulatorSpec) throws -> [Tensor<Scalar>] {
        let dh = spec.auxHeadWidth
        let (wq, bq) = try parameters.linear(query)
        var (wk, bk) = try parameters.linear(key), (wv, bv) = try parameters.linear(value)
        if kvHeads != heads {
            (wk, bk) = try GroupedQueryAttention.expand(weight: wk, bias: bk, heads: heads, kvHeads: kvHeads, headWidth: dh)
            (wv, bv) = try GroupedQueryAttention.expand(weight: wv, bias: bv, heads: heads, kvHeads: kvHeads, headWidth: dh)
        }
        var maps = [(wq, bq), (wk, bk), (wv, bv)]
        if case .rotary = forwardModule {
            maps += [try RotaryAttention.rotateHalfRows(weight: wq, bias: bq, headWidth: dh),
                     try RotaryAttention.rotateHalfRows(weight: wk, bias: bk, headWidth: dh)]
        }
        return try maps.map { try LinearPrefixLayout.encode(weight: $0.0, bias: $0.1, config: spec) }
    }

    func forward(_ c: inout NodeContext<Scalar>, inputs: [Tensor<Scalar>]) throws -> Tensor<Scalar> {
        let p = c.prefixes
        switch forwardModule {
        case .plain(let module):
            return try c.run(inputs[0], prefixes: p[0], width: c.D) { try module.apply(&$0, query: p[0], key: p[1], value: p[2]) }
        case .rotary(let module):
            return try c.run(inputs[0], prefixes: p[0], width: c.D) {
                try module.apply(&$0, query: p[0], rotatedQuery: p[3], key: p[1], rotatedKey: p[4], value: p[2])
            }
        }
    }

    func backward(_ c: inout NodeContext<Scalar>, gradient: Tensor<Scalar>, inputCount: Int) throws -> [Tensor<Scalar>] {
        let module = backwardModule!
        let state = try c.restore(0, gradient: gradient, prefixes: c.prefixes[2]) { try module.apply(&$0) }
        c.prefixes[2] = state.prefixes
        return [try TinTGlue.signal(state, width: c.D)]
    }

    func readBack(_ prefixes: [Tensor<Scalar>], into out: inout ParameterSet<Scalar>, spec: SimulatorSpec) throws {
        guard backwardModule != nil else { return }
        let D = spec.auxWidth
        var (w, b) = try LinearPrefixLayout.decode(prefixes[2], inputWidth: D, outputWidth: D, config: spec)
        var bias: Tensor<Scalar>? = b
        if kvHeads != heads {
            // The replicas of a kv head moved together (the group mean); the first one is the kv map.
            let collapsed = try GroupedQueryAttention.collapse(weight: w, bias: b, heads: heads, kvHeads: kvHeads,
                                                               headWidth: spec.auxHeadWidth)
            (w, bias) = (collapsed.weight, collapsed.bias)
        }
        try out.set(value.weight, try value.storing(weight: w, into: out[value.weight]!))
        if let name = value.bias, let bias { try out.set(name, try value.storing(bias: bias, into: out[name]!)) }
    }

    var forwardModules: [(kind: String, count: ParameterCount)] {
        switch forwardModule {
        case .plain(let m): return [("AttentionForward", m.parameterCount)]
        case .rotary(let m): return [("RotaryAttentionForward", m.parameterCount)]
        }
    }
    var backwardModules: [(kind: String, count: ParameterCount)] {
        backwardModule.map { [($0.kind, $0.parameterCount)] } ?? []
    }
}

extension AttentionUnit {
    static func charges(_ node: AuxNode, simulated sim: Bool, formula f: ModuleFormula) throws -> (forward: [Charge], backward: [Charge])? {
        guard let a = attention(node.op) else { return nil }
        try check(a, node: node, spec: f.config)
        let forward = a.rotary == nil ? Charge(kind: "AttentionForward", count: f.attentionForward, times: 1)
            : Charge(kind: "RotaryAttentionForward", count: f.rotaryAttentionForward, times: 1)
        guard sim else { return ([forward], []) }
        let bias = a.value.bias != nil
        let backward = a.kvHeads == a.heads
            ? Charge(kind: "AttentionBackwardDescent", count: bias ? f.attentionBackwardDescentBias : f.attentionBackwardDescentNoBias, times: 1)
            : Charge(kind: "GroupedValueBackwardDescent", count: try f.valueGradient.addingChecked(f.groupMean)
                        .addingChecked(bias ? f.linearBackwardDescentBias : f.linearBackwardDescentNoBias), times: 1)
        return ([forward], [backward])
    }

    /// The value map moves; Q and K are frozen (value-only backprop, with or without rotary positions and grouped
    /// heads).
    static func parameterUses(_ op: AuxOp, width: Int) -> [AuxParameterUse]? {
        guard let a = attention(op) else { return nil }
        return a.query.parameterUses(.frozen) + a.key.parameterUses(.frozen) + a.value.parameterUses(.moves)
    }

    static func evaluate<T: TensorScalar>(_ op: AuxOp, inputs: [Variable<T>], parameters p: VariableSet<T>, ids: [Int],
                                          detachAttentionProbabilities: Bool) throws -> Variable<T>? {
        guard let a = attention(op) else { return nil }
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

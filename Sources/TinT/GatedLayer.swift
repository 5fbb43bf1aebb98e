import Tensor

/// What a branch of a gated layer computes.
enum LayerBody<Scalar: TensorScalar>: Sendable {
    case attention(SimulatorAttention<Scalar>)
    case mlp(SimulatorMLP<Scalar>)
    case norm(SimulatorLayerNorm<Scalar>)
    case exact(ExactBackwardLayer<Scalar>)
    case glu(SimulatorGLU<Scalar>)

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func update(_ state: TinTState<Scalar>, group: RowGroup) throws -> Tensor<Scalar>? {
        switch self {
        case .attention(let a): return try a.update(state, group: group)
        case .mlp(let m): return try m.update(state, group: group)
        case .norm(let n): return try n.update(state, group: group)
        case .exact(let e): return try e.update(state, group: group)
        case .glu(let g): return try g.update(state, group: group)
        }
    }

    /// The product FLOPs ``update(_:group:)`` executes (``TinTFlopCounter``).
    func flops(_ state: TinTState<Scalar>, group: RowGroup) -> Int {
        let rows = group == .prefixes ? state.prefixCount : state.tokenCount
        switch self {
        case .attention(let a): return a.flops(state, group: group)
        case .mlp(let m): return m.flops(rows: rows)
        case .norm(let n): return n.flops(rows: rows)
        case .exact(let e): return e.flops(rows: rows)
        case .glu(let g): return g.flops(rows: rows)
        }
    }

    var parameterCount: ParameterCount {
        switch self {
        case .attention(let a): return a.parameterCount
        case .mlp(let m): return m.parameterCount
        case .norm(let n): return n.parameterCount
        case .exact(let e): return e.parameterCount
        case .glu(let g): return g.parameterCount
        }
    }
}

/// One branch: a body and the gate that scales its update.
struct GatedBranch<Scalar: TensorScalar>: Sendable {
    let gate: Gate<Scalar>
    let body: LayerBody<Scalar>
}

/// One simulator layer: `out = G_old(row)·x + Σ_b G_b(row)·update_b(x)`, every branch reading the same input
/// (Backward ∥ Descent is two branches). Branches whose gate is exactly zero on a row group are not computed
/// there.
struct GatedLayer<Scalar: TensorScalar>: Sendable {
    let old: Gate<Scalar>
    let branches: [GatedBranch<Scalar>]

    init(old: Gate<Scalar>, _ branches: [GatedBranch<Scalar>]) {
        self.old = old
        self.branches = branches
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func apply(_ state: inout TinTState<Scalar>) throws {
        let input = state
        state.prefixes = try combine(input, group: .prefixes)
        state.tokens = try combine(input, group: .tokens)
    }

    /// `G_old·x + Σ_b G_b·update_b(x)` on the rows of `group`, summed in that order. A term whose gate is exactly 1
    /// on every row starts the sum as it is when it comes first (the rows themselves, or a branch's fresh update,
    /// which is then summed into in place): `0 + a` is `a`, and `x + u` is `u + x`, so the sum is the same.
    private func combine(_ state: TinTState<Scalar>, group: RowGroup) throws -> Tensor<Scalar> {
        let x = group == .prefixes ? state.prefixes : state.tokens
        let k = state.prefixCount, n = x.shape[0], W = x.shape[1]
        let pos = positions(group, count: n, prefixCount: k)
        func values(_ gate: Gate<Scalar>) -> [Scalar] { pos.map { gate.value(position: $0) } }
        var sum: Tensor<Scalar>? = nil
        func add(_ t: Tensor<Scalar>, _ g: [Scalar]) {
            if sum == nil && g.allSatisfy({ $0 == 1 }) { sum = t; return }
            var out = sum ?? (try! Tensor<Scalar>.zeros(x.shape))
            sum = nil  // `out` is the only reference: summed into in place
            accumulateScaledRows(t, g, into: &out, width: W)
            sum = out
        }
        var pendingRows: [Scalar]? = old.isZero(on: group) ? nil : values(old)
        for branch in branches where !branch.gate.isZero(on: group) {
            state.flopCounter?.addLayer(branch.body.flops(state, group: group))
            guard let u = try branch.body.update(state, group: group) else { continue }
            let g = values(branch.gate)
            if let gx = pendingRows, sum == nil, gx.allSatisfy({ $0 == 1 }), g.allSatisfy({ $0 == 1 }) {
                add(u, g); add(x, gx)  // u + x: the fresh update is summed into, the rows are not copied
            } else {
                if let gx = pendingRows { add(x, gx) }
                add(u, g)
            }
            pendingRows = nil
        }
        if let gx = pendingRows { add(x, gx) }
        return try sum ?? Tensor<Scalar>.zeros(x.shape)
    }

    var parameterCount: ParameterCount {
        var c = ParameterCount(gates: old.parameterCount)
        for b in branches { c += ParameterCount(gates: b.gate.parameterCount) + b.body.parameterCount }
        return c
    }
}

/// `out[i] += g[i]·x[i]` row by row (a gate of exactly 1 adds without multiplying).
@_specialize(where S == Float)
@_specialize(where S == Double)
func accumulateScaledRows<S: TensorScalar>(_ x: Tensor<S>, _ g: [S], into out: inout Tensor<S>, width W: Int) {
    x.withUnsafeBufferPointer { xp in
        out.withUnsafeMutableBufferPointer { op in
            let ptrs = UncheckedSendable((xp.baseAddress!, op.baseAddress!))
            parallelChunks(count: g.count, grain: Swift.max(1, 65_536 / Swift.max(W, 1))) { rows in
                let (xs, os) = ptrs.value
                for i in rows where g[i] != 0 {
                    let gi = g[i], s = xs + i * W, o = os + i * W
                    if gi == 1 { for c in 0..<W { o[c] += s[c] } } else { for c in 0..<W { o[c] += gi * s[c] } }
                }
            }
        }
    }
}

import Tensor

/// One stream (query, key or value) of a simulator attention layer: `map(x) + position term`.
struct AttentionStream<Scalar: TensorScalar>: Sendable {
    var map: HSimSplitLinear<Scalar>?
    var position: PositionMap<Scalar>?

    static var zero: AttentionStream { AttentionStream(map: nil, position: nil) }

    /// Whether head `h` of the stream can be non-zero.
    func feeds(head h: Int) -> Bool {
        if let position, position.feeds(head: h) { return true }
        guard let map else { return false }
        guard let pattern = map.pattern else { return true }  // identity mix: every head feeds itself
        return pattern.groups.contains { $0.first <= h && h < $0.first + $0.count && !$0.inputs.isEmpty }
    }

    /// Whether head `h` is a position term alone (no state term reaches it).
    private func positionOnly(head h: Int) -> Bool {
        guard let position, position.coefficients[h] != 0 else { return false }
        guard let map else { return true }
        guard let pattern = map.pattern else { return false }
        return !pattern.groups.contains(where: { $0.first <= h && h < $0.first + $0.count && !$0.inputs.isEmpty })
    }

    /// `c` when head `h` of the stream is exactly `c·e_p` on prefix rows (no state term, identity position block):
    /// the attention kernel then skips the product with that identity.
    func prefixIdentityCoefficient(head h: Int) -> Scalar? {
        guard positionOnly(head: h), let position, position.prefixBlockIsIdentity else { return nil }
        return position.coefficients[h]
    }

    /// `(r, v)` when head `h` of the stream is `v·e_r` on every token row (no state term, a one-hot token row of
    /// the position table: the `e_0` that carries a bias), with `v` as the stream computes it.
    func tokenOneHot(head h: Int) -> (r: Int, value: Scalar)? {
        guard positionOnly(head: h), let position, let e = position.tokenOneHot else { return nil }
        return (e.r, position.coefficients[h] * e.value)
    }

    /// Per head, the input head it copies unchanged — a mix reading that one head with weight 1, no block map,
    /// bias or position term — or nil. The attention kernel reads such a head straight from the rows (a view)
    /// instead of materialising the stream.
    func viewSources(heads: Int) -> [Int?] {
        guard let map, map.block == nil, map.bias == nil, let mix = map.mix, let pattern = map.pattern else {
            return Array(repeating: nil, count: heads)
        }
        let d = map.headWidth, m = mix.scalars
        return (0..<heads).map { h -> Int? in
            if let position, position.coefficients[h] != 0 { return nil }
            guard let g = pattern.groups.first(where: { $0.first <= h && h < $0.first + $0.count }), g.inputs.count == 1 else { return nil }
            let src = g.inputs[0]
            return (0..<d).allSatisfy { m[(src * heads + h) * d + $0] == 1 } ? src : nil
        }
    }

    /// Heads `needed` of the stream for `x` (`[n, W]`) at `positions`, as per-head row pointers: a view into `x`
    /// for a head in `views`, else a head of a materialised stream in which only the needed heads are computed
    /// (other heads are left unwritten and must not be read). `body` gets one pointer per head (rows `W` apart;
    /// unneeded heads point anywhere).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func withHeads(_ x: Tensor<Scalar>, positions: [Int], width W: Int, needed: [Int], views: [Int?],
                   _ body: ([UnsafePointer<Scalar>]) -> Void) {
        let heads = views.count, d = W / heads
        var stream: Tensor<Scalar>? = nil
        switch plan(needed: needed, views: views) {
        case .none: break
        case .whole: stream = try! compute(x, positions: positions, width: W)
        case .heads(let computed, let mixPattern):
            stream = Tensor<Scalar>.uninitialized([x.shape[0], W]) { o in
                if let map, let mixPattern {
                    x.withUnsafeBufferPointer { xp in
                        map.applyMix(xp.baseAddress!, ldx: W, rows: x.shape[0], into: o, ldz: W, accumulate: false,
                                     pattern: mixPattern)
                    }
                } else {
                    for n in 0..<x.shape[0] { for h in computed { (o + n * W + h * d).update(repeating: 0, count: d) } }
                }
                position?.add(to: o, ld: W, positions: positions, heads: computed)
            }
        }
        return x.withUnsafeBufferPointer { xp in
            func pointers(_ s: UnsafePointer<Scalar>?) {
                body((0..<heads).map { h in views[h].map { xp.baseAddress! + $0 * d } ?? (s ?? xp.baseAddress!) + h * d })
            }
            guard let stream else { return pointers(nil) }
            return stream.withUnsafeBufferPointer { pointers($0.baseAddress!) }
        }
    }

    /// How ``withHeads(_:positions:width:needed:views:_:)`` materialises the stream: not at all (every needed head
    /// is a view), whole (every head needed, or a block map or bias that cannot be restricted), or only the
    /// `computed` heads, through the cross-head mix restricted to them (nil: no map, zeros plus positions).
    enum StreamPlan {
        case none, whole
        case heads([Int], mix: MixPattern?)
    }

    /// The one decision ``withHeads(_:positions:width:needed:views:_:)`` and ``flops(rows:needed:views:)`` share.
    func plan(needed: [Int], views: [Int?]) -> StreamPlan {
        let computed = needed.filter { views[$0] == nil }
        if computed.isEmpty { return .none }
        if computed.count == views.count || map?.block != nil || map?.bias != nil || (map != nil && map?.mix == nil) {
            return .whole
        }
        return .heads(computed, mix: map?.pattern.map { $0.restricted(to: computed) })
    }

    /// The product FLOPs ``withHeads(_:positions:width:needed:views:_:)`` executes on `rows` rows.
    func flops(rows: Int, needed: [Int], views: [Int?]) -> Int {
        switch plan(needed: needed, views: views) {
        case .none: return 0
        case .whole: return map?.flops(rows: rows) ?? 0
        case .heads(_, let mixPattern): return 2 * rows * (mixPattern?.pairCount ?? 0) * (map?.headWidth ?? 0)
        }
    }

    /// The stream for `x` (`[n, W]`) at `positions`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func compute(_ x: Tensor<Scalar>, positions: [Int], width: Int) throws -> Tensor<Scalar> {
        var out: Tensor<Scalar>
        if let map, x.shape[0] > 0 {
            out = map.applied(x)
        } else {
            out = try! Tensor<Scalar>.zeros([x.shape[0], width])
            if x.shape[0] == 0 { return out }
        }
        if let position {
            out.withUnsafeMutableBufferPointer { position.add(to: $0.baseAddress!, ld: width, positions: positions) }
        }
        return out
    }

    var parameterCount: ParameterCount {
        ParameterCount(constructed: map?.parameterCount ?? 0, position: position?.parameterCount ?? 0)
    }
}

/// Which rows query which rows (the attention mask).
enum AttentionPattern: Sendable {
    /// Token rows query every prefix row (linear Forward/Backward).
    case tokensToPrefixes
    /// Prefix rows query the train token rows (Descent); prefix↔prefix and eval tokens are masked.
    case prefixesToTrainTokens
    /// Token rows query the earlier token rows (causal softmax attention); prefix columns are excluded.
    case causalTokens
}

/// The attention nonlinearity.
enum AttentionKind: Sendable {
    /// Unnormalised: `out_i = Σ_j (q_i·k_j) v_j`.
    case linear
    /// `out_i = Σ_j softmax_j(scale·q_i·k_j) v_j`.
    case softmax(scale: Double)
    /// The value-path backward: `out_i = Σ_j A_{j,i} v_j` with `A` the causal softmax above.
    case softmaxTransposed(scale: Double)
}

/// One attention layer of the simulator (Docs/TINT.md §2): `heads` heads of width `width/heads`, query/key/value
/// streams built from `HSimSplitLinear` maps and position maps, an output map and a residual map. Its update
/// for a row of the query group is `output(attention) + residual(x)`; other rows get `residual(x)`.
struct SimulatorAttention<Scalar: TensorScalar>: Sendable {
    let width: Int
    let heads: Int
    let query: AttentionStream<Scalar>
    let key: AttentionStream<Scalar>
    let value: AttentionStream<Scalar>
    /// nil: the identity.
    let output: HSimSplitLinear<Scalar>?
    /// nil: no residual term.
    let residual: HSimSplitLinear<Scalar>?
    let kind: AttentionKind
    let pattern: AttentionPattern
    /// Heads whose output can be non-zero; the others are skipped (their output is exactly zero).
    let liveHeads: [Int]
    /// Per stream and head, the input head read in place (``AttentionStream/viewSources(heads:)``).
    let queryViews: [Int?], keyViews: [Int?], valueViews: [Int?]

    var headWidth: Int { width / heads }

    init(width: Int, heads: Int, query: AttentionStream<Scalar>, key: AttentionStream<Scalar>,
         value: AttentionStream<Scalar>, output: HSimSplitLinear<Scalar>?, residual: HSimSplitLinear<Scalar>?,
         kind: AttentionKind, pattern: AttentionPattern) {
        self.width = width
        self.heads = heads
        self.query = query
        self.key = key
        self.value = value
        self.output = output
        self.residual = residual
        self.kind = kind
        self.pattern = pattern
        liveHeads = (0..<heads).filter { h in
            switch kind {
            case .linear: return query.feeds(head: h) && key.feeds(head: h) && value.feeds(head: h)
            case .softmax, .softmaxTransposed: return value.feeds(head: h)
            }
        }
        queryViews = query.viewSources(heads: heads)
        keyViews = key.viewSources(heads: heads)
        valueViews = value.viewSources(heads: heads)
    }

    var queryGroup: RowGroup { pattern == .prefixesToTrainTokens ? .prefixes : .tokens }

    /// The update for the rows of `group`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func update(_ state: TinTState<Scalar>, group: RowGroup) throws -> Tensor<Scalar>? {
        let x = group == .prefixes ? state.prefixes : state.tokens
        var out: Tensor<Scalar>
        if group == queryGroup {
            let attended = try attention(state)
            if let output {
                out = output.applied(attended)
            } else {
                out = attended
            }
        } else {
            guard let residual else { return nil }
            return residual.applied(x)
        }
        if let residual { residual.apply(x, into: &out, accumulate: true) }
        return out
    }

    /// The attention output of the query group, before the output map.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func attention(_ state: TinTState<Scalar>) throws -> Tensor<Scalar> {
        let k = state.prefixCount, W = width
        let qRows: Tensor<Scalar>, qPos: [Int], kRows: Tensor<Scalar>, kPos: [Int]
        switch pattern {
        case .tokensToPrefixes:
            qRows = state.tokens; qPos = positions(.tokens, count: state.tokenCount, prefixCount: k)
            kRows = state.prefixes; kPos = positions(.prefixes, count: k, prefixCount: k)
        case .prefixesToTrainTokens:
            let train = state.trainMask.indices.filter { state.trainMask[$0] }
            qRows = state.prefixes; qPos = positions(.prefixes, count: k, prefixCount: k)
            kRows = gatherRows(state.tokens, train)
            kPos = positions(.tokens, count: train.count, prefixCount: k)
        case .causalTokens:
            qRows = state.tokens; qPos = positions(.tokens, count: state.tokenCount, prefixCount: k)
            kRows = state.tokens; kPos = qPos
        }
        let nA = qRows.shape[0], nB = kRows.shape[0]
        if nA == 0 || nB == 0 || liveHeads.isEmpty { return try! Tensor<Scalar>.zeros([nA, W]) }
        let d = headWidth
        // Every live head's product writes all its rows but a column sum's (one row): only those heads and the heads
        // that are not live are zero-filled, not the whole output.
        let live = Set(liveHeads)
        let partial = (0..<heads).filter { h in
            guard live.contains(h) else { return true }
            if case .linear = kind, case .valueColumnSum = linearProduct(head: h, nA: nA, nB: nB) { return true }
            return false
        }
        var out = Tensor<Scalar>.uninitialized([nA, W]) { o in
            for r in 0..<nA { for h in partial { (o + r * W + h * d).update(repeating: 0, count: d) } }
        }
        let (qNeed, kNeed, vNeed) = streamHeads(nA: nA, nB: nB)
        query.withHeads(qRows, positions: qPos, width: W, needed: qNeed, views: queryViews) { Q in
            key.withHeads(kRows, positions: kPos, width: W, needed: kNeed, views: keyViews) { K in
                value.withHeads(kRows, positions: kPos, width: W, needed: vNeed, views: valueViews) { V in
                    out.withUnsafeMutableBufferPointer { op in
                        let O = op.baseAddress!
                        switch kind {
                        case .linear:
                            linearAttention(Q, K, V, O, nA: nA, nB: nB, d: d)
                        case .softmax(let scale):
                            causalSoftmaxAttention(Q, K, V, O, n: nA, d: d, scale: Scalar(scale), transposed: false,
                                                   starts: state.segmentStarts)
                        case .softmaxTransposed(let scale):
                            causalSoftmaxAttention(Q, K, V, O, n: nA, d: d, scale: Scalar(scale), transposed: true,
                                                   starts: state.segmentStarts)
                        }
                    }
                }
            }
        }
        return out
    }

    /// Which heads of each stream the live heads' products read: only those are materialised (or viewed).
    func streamHeads(nA: Int, nB: Int) -> (query: [Int], key: [Int], value: [Int]) {
        var qNeed: [Int] = [], kNeed: [Int] = [], vNeed: [Int] = []
        for h in liveHeads {
            var reads = (q: true, k: true, v: true)
            if case .linear = kind {
                switch linearProduct(head: h, nA: nA, nB: nB) {
                case .queryKeys: reads.v = false
                case .queryValues: reads.k = false
                case .keyValues: reads.q = false
                case .keysFirst, .scoresFirst: break
                case .valueRowBroadcast, .valueColumnSum: reads = (false, false, true)
                }
            }
            if reads.q { qNeed.append(h) }
            if reads.k { kNeed.append(h) }
            if reads.v { vNeed.append(h) }
        }
        return (qNeed, kNeed, vNeed)
    }

    /// How head `h` of a linear layer forms `O_h = Σ_j (q_i·k_j) v_j`: `Q_h·(K_hᵀ V_h)` or `(Q_h K_hᵀ)·V_h`,
    /// whichever needs fewer flops; when one stream of the head is `c·e_p` on the K prefix rows (an identity), its
    /// product is skipped: `O_h = c·Q_h K_hᵀ` (value), `c·Q_h V_h` (key) or `c·K_hᵀ V_h` (query) — the same numbers
    /// with half the work. The one decision the kernel and ``flops(_:group:)`` share.
    /// When moreover the other operand is `v·e_r` on every token row (a bias head), the remaining product is a
    /// row of values broadcast to every query (`c·(v·V_h[r])`), or one row of sums (`c·Σ_t v·V_h[t]` in row `r`).
    enum LinearHeadProduct {
        case queryKeys(Scalar), queryValues(Scalar), keyValues(Scalar), keysFirst, scoresFirst
        case valueRowBroadcast(row: Int, query: Scalar, alpha: Scalar), valueColumnSum(row: Int, key: Scalar, alpha: Scalar)
    }

    func linearProduct(head h: Int, nA: Int, nB: Int) -> LinearHeadProduct {
        let d = headWidth
        let prefixKeys = pattern == .tokensToPrefixes, prefixQueries = pattern == .prefixesToTrainTokens
        if prefixKeys && nB == d, let c = value.prefixIdentityCoefficient(head: h) { return .queryKeys(c) }
        if prefixKeys && nB == d, let c = key.prefixIdentityCoefficient(head: h) {
            if let e = query.tokenOneHot(head: h) { return .valueRowBroadcast(row: e.r, query: e.value, alpha: c) }
            return .queryValues(c)
        }
        if prefixQueries && nA == d, let c = query.prefixIdentityCoefficient(head: h) {
            if let e = key.tokenOneHot(head: h) { return .valueColumnSum(row: e.r, key: e.value, alpha: c) }
            return .keyValues(c)
        }
        return nB * d + nA * d <= 2 * nA * nB ? .keysFirst : .scoresFirst  // 2nB·d² + 2nA·d² vs 4nA·nB·d
    }

    /// Runs `body` for every live head with a scratch buffer of `scratch` scalars of its own: heads in parallel
    /// (whole heads per thread, as `HSimSplitLinear`'s block maps: a 256-row head product is too short to pay for
    /// splitting its rows), or in order on one thread. Heads write disjoint output columns.
    private func forEachLiveHead(scratch count: Int, _ body: (Int, UnsafeMutablePointer<Scalar>) -> Void) {
        let heads = liveHeads
        withoutActuallyEscaping(body) { body in
            let run = UncheckedSendable(body)
            let work = { (range: Range<Int>) in
                let scratch = UnsafeMutablePointer<Scalar>.allocate(capacity: Swift.max(count, 1))
                defer { scratch.deallocate() }
                for i in range { run.value(heads[i], scratch) }
            }
            if Threading.maxThreads > 1 && heads.count >= 2 * Threading.maxThreads {
                parallelItems(count: heads.count) { work($0..<($0 + 1)) }
            } else {
                work(0..<heads.count)
            }
        }
    }

    /// Per live head, the product ``linearProduct(head:nA:nB:)`` chooses.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func linearAttention(_ Qh: [UnsafePointer<Scalar>], _ Kh: [UnsafePointer<Scalar>], _ Vh: [UnsafePointer<Scalar>],
                                 _ O: UnsafeMutablePointer<Scalar>, nA: Int, nB: Int, d: Int) {
        let W = width
        let keysFirst = nB * d + nA * d <= 2 * nA * nB
        let Os = UncheckedSendable(O)
        forEachLiveHead(scratch: Swift.max(d, keysFirst ? d * d : nA * nB)) { h, scratch in
            let O = Os.value, o = h * d, Q = Qh[h], K = Kh[h], V = Vh[h]
            switch linearProduct(head: h, nA: nA, nB: nB) {
            case .queryKeys(let c):
                gemm(m: nA, n: d, k: d, alpha: c, a: Q, aRowStride: W, aColStride: 1, b: K, bRowStride: 1, bColStride: W, c: O + o, ldc: W)
            case .queryValues(let c):
                gemm(m: nA, n: d, k: d, alpha: c, a: Q, aRowStride: W, aColStride: 1, b: V, bRowStride: W, bColStride: 1, c: O + o, ldc: W)
            case .keyValues(let c):
                gemm(m: d, n: d, k: nB, alpha: c, a: K, aRowStride: 1, aColStride: W, b: V, bRowStride: W, bColStride: 1, c: O + o, ldc: W)
            case .keysFirst:
                gemm(m: d, n: d, k: nB, a: K, aRowStride: 1, aColStride: W, b: V, bRowStride: W, bColStride: 1, c: scratch, ldc: d)
                gemm(m: nA, n: d, k: d, a: Q, aRowStride: W, aColStride: 1, b: scratch, bRowStride: d, bColStride: 1, c: O + o, ldc: W)
            case .scoresFirst:
                gemm(m: nA, n: nB, k: d, a: Q, aRowStride: W, aColStride: 1, b: K, bRowStride: 1, bColStride: W, c: scratch, ldc: nB)
                gemm(m: nA, n: d, k: nB, a: scratch, aRowStride: nB, aColStride: 1, b: V, bRowStride: W, bColStride: 1, c: O + o, ldc: W)
            case .valueRowBroadcast(let r, let q, let c):
                ProductTally.record(2 * d)
                for j in 0..<d { scratch[j] = c * (q * V[r * W + j]) }
                for i in 0..<nA { (O + i * W + o).update(from: scratch, count: d) }
            case .valueColumnSum(let r, let k, let c):
                ProductTally.record(2 * nB * d)
                scratch.update(repeating: 0, count: d)
                for t in 0..<nB { for j in 0..<d { scratch[j] += k * V[t * W + j] } }
                for j in 0..<d { O[r * W + o + j] = c * scratch[j] }
            }
        }
    }

    /// Per live head the causal softmax `A = softmax(scale·QKᵀ)` (row i sees columns `starts[i] ≤ j ≤ i`, its own
    /// sequence; `starts` nil: `0 ≤ j ≤ i`) and `O = A·V`, or `O = Aᵀ·V` when `transposed`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func causalSoftmaxAttention(_ Qh: [UnsafePointer<Scalar>], _ Kh: [UnsafePointer<Scalar>],
                                        _ Vh: [UnsafePointer<Scalar>], _ O: UnsafeMutablePointer<Scalar>,
                                        n: Int, d: Int, scale: Scalar, transposed: Bool, starts: [Int]?) {
        let W = width
        let Os = UncheckedSendable(O)
        forEachLiveHead(scratch: n * n) { h, a in
            let O = Os.value, o = h * d, Q = Qh[h], K = Kh[h], V = Vh[h]
            gemm(m: n, n: n, k: d, alpha: scale, a: Q, aRowStride: W, aColStride: 1, b: K, bRowStride: 1, bColStride: W, c: a, ldc: n)
            for i in 0..<n {
                let row = a + i * n, s = starts?[i] ?? 0
                for j in 0..<s { row[j] = 0 }
                var m = row[s]
                for j in s...i where row[j] > m { m = row[j] }
                var sum: Scalar = 0
                for j in s...i { let e = Scalar.exp(row[j] - m); row[j] = e; sum += e }
                let inv = 1 / sum
                for j in s...i { row[j] *= inv }
                for j in (i + 1)..<n { row[j] = 0 }
            }
            if transposed {
                gemm(m: n, n: d, k: n, a: a, aRowStride: 1, aColStride: n, b: V, bRowStride: W, bColStride: 1, c: O + o, ldc: W)
            } else {
                gemm(m: n, n: d, k: n, a: a, aRowStride: n, aColStride: 1, b: V, bRowStride: W, bColStride: 1, c: O + o, ldc: W)
            }
        }
    }

    /// The product FLOPs ``update(_:group:)`` executes on `state`'s rows of `group` (``TinTFlopCounter``).
    func flops(_ state: TinTState<Scalar>, group: RowGroup) -> Int {
        let rows = group == .prefixes ? state.prefixCount : state.tokenCount
        var f = residual?.flops(rows: rows) ?? 0
        guard group == queryGroup else { return f }
        let (nA, nB): (Int, Int)
        switch pattern {
        case .tokensToPrefixes: (nA, nB) = (state.tokenCount, state.prefixCount)
        case .prefixesToTrainTokens: (nA, nB) = (state.prefixCount, state.trainMask.count(where: { $0 }))
        case .causalTokens: (nA, nB) = (state.tokenCount, state.tokenCount)
        }
        f += output?.flops(rows: nA) ?? 0
        guard nA > 0, nB > 0, !liveHeads.isEmpty else { return f }
        let (qNeed, kNeed, vNeed) = streamHeads(nA: nA, nB: nB)
        f += query.flops(rows: nA, needed: qNeed, views: queryViews) + key.flops(rows: nB, needed: kNeed, views: keyViews)
            + value.flops(rows: nB, needed: vNeed, views: valueViews)
        let d = headWidth
        for h in liveHeads {
            switch kind {
            case .linear:
                switch linearProduct(head: h, nA: nA, nB: nB) {
                case .queryKeys, .queryValues: f += 2 * nA * d * d
                case .keyValues: f += 2 * d * d * nB
                case .keysFirst: f += 2 * d * d * nB + 2 * nA * d * d
                case .scoresFirst: f += 4 * nA * nB * d
                case .valueRowBroadcast: f += 2 * d
                case .valueColumnSum: f += 2 * nB * d
                }
            case .softmax, .softmaxTransposed: f += 4 * nA * nA * d  // the full T × T scores and values
            }
        }
        return f
    }

    var parameterCount: ParameterCount {
        query.parameterCount + key.parameterCount + value.parameterCount
            + ParameterCount(constructed: (output?.parameterCount ?? 0) + (residual?.parameterCount ?? 0))
    }
}

extension HSimSplitLinear {
    /// `self(x)` for a `[n, width]` tensor, into a fresh tensor the layer writes whole (no zero fill first).
    func applied(_ x: Tensor<Scalar>) -> Tensor<Scalar> {
        x.withUnsafeBufferPointer { xp in
            Tensor<Scalar>.uninitialized(x.shape) { o in
                apply(xp.baseAddress!, ldx: width, rows: x.shape[0], into: o, ldo: width, accumulate: false)
            }
        }
    }

    /// `out (+)= self(x)` for `[n, width]` tensors.
    func apply(_ x: Tensor<Scalar>, into out: inout Tensor<Scalar>, accumulate: Bool) {
        let n = x.shape[0]
        if n == 0 { return }
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                apply(xp.baseAddress!, ldx: width, rows: n, into: op.baseAddress!, ldo: width, accumulate: accumulate)
            }
        }
    }
}

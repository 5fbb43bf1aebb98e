import Tensor

/// One gate: `act(v·p + β)` of the position stream `p = [e_p ; 1[token]]` (width K + 1), with `act = tanh`
/// (`.tanh(g)`, weights scaled by g) or the identity on exact 0/1 weights (`.hard`).
struct Gate<Scalar: TensorScalar>: Sendable {
    /// `v`, `K + 1` pre-activation weights.
    let weight: [Scalar]
    /// `β`.
    let bias: Scalar
    let useTanh: Bool

    /// The gate that is `onPrefixes` on prefix rows and `onTokens` on token rows (each 0 or 1 before `act`).
    init(prefixCount k: Int, onPrefixes: Bool, onTokens: Bool, kind: GateKind) {
        let scale: Scalar
        switch kind {
        case .tanh(let g): scale = Scalar(g); useTanh = true
        case .hard: scale = 1; useTanh = false
        }
        // A gate that is on everywhere is a bias alone; otherwise an indicator read from the position stream.
        if onPrefixes && onTokens {
            weight = [Scalar](repeating: 0, count: k + 1)
            bias = scale
        } else {
            weight = (0..<k).map { _ in onPrefixes ? scale : 0 } + [onTokens ? scale : 0]
            bias = 0
        }
    }

    /// The gate value on prefix row `p` (`p < K`) or on a token row (`p == K`).
    @inline(__always)
    func value(position p: Int) -> Scalar {
        let z = weight[p] + bias
        return useTanh ? Scalar.tanh(z) : z
    }

    /// True when the gate is exactly zero on every row of `group` (the branch can be skipped there).
    func isZero(on group: RowGroup) -> Bool {
        switch group {
        case .prefixes: return (0..<(weight.count - 1)).allSatisfy { value(position: $0) == 0 }
        case .tokens: return value(position: weight.count - 1) == 0
        }
    }

    /// `K + 2` weights.
    var parameterCount: Int { weight.count + 1 }
}

import LanguageModel
import Tensor

/// A channel-mixing MLP layer on token rows: `update(x) = proj(σ(fc(x))) + residual(x)` with `H_sim`-split maps.
struct SimulatorMLP<Scalar: TensorScalar>: Sendable {
    /// nil: the identity.
    let fc: HSimSplitLinear<Scalar>?
    let activation: Activation?
    /// nil: the identity.
    let proj: HSimSplitLinear<Scalar>?
    let residual: HSimSplitLinear<Scalar>?

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func update(_ state: TinTState<Scalar>, group: RowGroup) throws -> Tensor<Scalar>? {
        let x = group == .prefixes ? state.prefixes : state.tokens
        var h: Tensor<Scalar>
        h = fc.map { $0.applied(x) } ?? x
        if let activation { applyActivation(activation, &h) }
        var out = proj.map { $0.applied(h) } ?? h
        if let residual { residual.apply(x, into: &out, accumulate: true) }
        return out
    }

    /// The product FLOPs ``update(_:group:)`` executes on `rows` rows (``TinTFlopCounter``).
    func flops(rows: Int) -> Int {
        (fc?.flops(rows: rows) ?? 0) + (proj?.flops(rows: rows) ?? 0) + (residual?.flops(rows: rows) ?? 0)
    }

    var parameterCount: ParameterCount {
        ParameterCount(constructed: (fc?.parameterCount ?? 0) + (proj?.parameterCount ?? 0) + (residual?.parameterCount ?? 0))
    }
}

/// σ applied elementwise in place, with Tensor's one implementation of each activation (`unaryRun`); a shared
/// `x` is copied first (copy-on-write).
func applyActivation<S: TensorScalar>(_ f: Activation, _ x: inout Tensor<S>) {
    x.withUnsafeMutableBufferPointer { p in
        guard let base = p.baseAddress else { return }
        let bs = UncheckedSendable(base), op = f.forwardOp
        parallelChunks(count: p.count, grain: 1 << 14) { r in
            unaryRun(op, UnsafePointer(bs.value + r.lowerBound), bs.value + r.lowerBound, r.count)
        }
    }
}

/// σ applied elementwise to a copy of `x`.
func applyActivation<S: TensorScalar>(_ f: Activation, _ x: Tensor<S>) -> Tensor<S> {
    var y = x
    applyActivation(f, &y)
    return y
}

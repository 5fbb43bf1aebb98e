import Tensor

/// A channel-mixing MLP layer on token rows: `update(x) = proj(σ(fc(x))) + residual(x)` with `H_sim`-split maps.
struct SimulatorMLP<Scalar: TensorScalar>: Sendable {
    /// nil: the identity.
    let fc: HSimSplitLinear<Scalar>?
    let activation: AuxActivation?
    /// nil: the identity.
    let proj: HSimSplitLinear<Scalar>?
    let residual: HSimSplitLinear<Scalar>?

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func update(_ state: TinTState<Scalar>, group: RowGroup) throws -> Tensor<Scalar>? {
        let x = group == .prefixes ? state.prefixes : state.tokens
        var h: Tensor<Scalar>
        if let fc { h = zerosTensor(x.shape); fc.apply(x, into: &h, accumulate: false) } else { h = x }
        if let activation { h = applyActivation(activation, h) }
        var out: Tensor<Scalar>
        if let proj { out = zerosTensor(x.shape); proj.apply(h, into: &out, accumulate: false) } else { out = h }
        if let residual { residual.apply(x, into: &out, accumulate: true) }
        return out
    }

    var parameterCount: ParameterCount {
        ParameterCount(constructed: (fc?.parameterCount ?? 0) + (proj?.parameterCount ?? 0) + (residual?.parameterCount ?? 0))
    }
}

/// σ applied elementwise.
@_specialize(where S == Float)
@_specialize(where S == Double)
func applyActivation<S: TensorScalar>(_ f: AuxActivation, _ x: Tensor<S>) -> Tensor<S> {
    var y = x
    y.withUnsafeMutableBufferPointer { p in
        switch f {  // one loop per function, so ReLU vectorises
        case .relu: for i in p.indices { p[i] = p[i] > 0 ? p[i] : 0 }
        case .gelu: for i in p.indices where p[i] != 0 { p[i] = activationValue(.gelu, p[i]) }
        case .geluTanh: for i in p.indices where p[i] != 0 { p[i] = activationValue(.geluTanh, p[i]) }
        }
    }
    return y
}

/// σ(x).
@inline(__always)
func activationValue<S: TensorScalar>(_ f: AuxActivation, _ x: S) -> S {
    switch f {
    case .relu: return x > 0 ? x : 0
    case .gelu: return x * (1 + S.erf(x / S(2.0.squareRoot()))) / 2
    case .geluTanh:
        let c = S((2 / Double.pi).squareRoot())
        return x * (1 + S.tanh(c * (x + S(0.044715) * x * x * x))) / 2
    }
}

/// σ'(x) (ReLU: 1 for x > 0, else 0).
@inline(__always)
func activationDerivative<S: TensorScalar>(_ f: AuxActivation, _ x: S) -> S {
    switch f {
    case .relu: return x > 0 ? 1 : 0
    case .gelu:
        let cdf = (1 + S.erf(x / S(2.0.squareRoot()))) / 2
        let pdf = S.exp(-x * x / 2) / S((2 * Double.pi).squareRoot())
        return cdf + x * pdf
    case .geluTanh:
        let c = S((2 / Double.pi).squareRoot())
        let u = c * (x + S(0.044715) * x * x * x)
        let t = S.tanh(u)
        let du: S = c * (1 + 3 * S(0.044715) * x * x)
        let sech2: S = 1 - t * t
        return (1 + t) / 2 + x * sech2 * du / 2
    }
}

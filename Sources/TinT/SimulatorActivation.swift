import Tensor

/// The activation functions the simulator's MLP and GLU layers apply elementwise: the aux activations
/// (`AuxActivation`) plus SiLU (Llama's `silu`), which the GLU constructions (Docs/TINT.md §9) and the gated-MLP
/// units need. Kept separate from `AuxActivation` (the graph IR's enum, owned by the compiler) so the simulator can
/// gain a function before the IR names it; `init(_:)` maps one to the other by name.
public enum SimulatorActivation: String, Sendable, Equatable, Hashable, CaseIterable {
    /// `max(x, 0)`.
    case relu
    /// GELU, `erf` form.
    case gelu
    /// GELU, `tanh` approximation.
    case geluTanh
    /// `x·sigmoid(x)`.
    case silu

    /// The simulator function for an aux activation. By raw value, so an `AuxActivation.silu` added to the IR
    /// later maps here without an edit.
    public init(_ aux: AuxActivation) {
        guard let f = SimulatorActivation(rawValue: aux.rawValue) else {
            preconditionFailure("no simulator activation named \(aux.rawValue)")
        }
        self = f
    }

    /// Whether `σ(z) − σ(−z) = z` for every z: the identity the GLU layer's exact product rests on
    /// (Docs/TINT.md §9). True for every case: ReLU `max(z,0) − max(−z,0)`, GELU `zΦ(z) + zΦ(−z)`,
    /// SiLU `z·s(z) + z·s(−z)` (the tanh GELU too, since `tanh` is odd).
    public var isOddComplement: Bool { true }
}

/// σ applied elementwise.
@_specialize(where S == Float)
@_specialize(where S == Double)
func applyActivation<S: TensorScalar>(_ f: SimulatorActivation, _ x: Tensor<S>) -> Tensor<S> {
    var y = x
    y.withUnsafeMutableBufferPointer { p in
        switch f {  // one loop per function, so ReLU vectorises
        case .relu: for i in p.indices { p[i] = p[i] > 0 ? p[i] : 0 }
        case .gelu: for i in p.indices where p[i] != 0 { p[i] = activationValue(.gelu, p[i]) }
        case .geluTanh: for i in p.indices where p[i] != 0 { p[i] = activationValue(.geluTanh, p[i]) }
        case .silu: for i in p.indices where p[i] != 0 { p[i] = activationValue(.silu, p[i]) }
        }
    }
    return y
}

/// σ(x).
@inline(__always)
func activationValue<S: TensorScalar>(_ f: SimulatorActivation, _ x: S) -> S {
    switch f {
    case .relu: return x > 0 ? x : 0
    case .gelu: return x * (1 + S.erf(x / S(2.0.squareRoot()))) / 2
    case .geluTanh:
        let c = S((2 / Double.pi).squareRoot())
        return x * (1 + S.tanh(c * (x + S(0.044715) * x * x * x))) / 2
    case .silu: return x / (1 + S.exp(-x))
    }
}

/// σ'(x) (ReLU: 1 for x > 0, else 0).
@inline(__always)
func activationDerivative<S: TensorScalar>(_ f: SimulatorActivation, _ x: S) -> S {
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
    case .silu:
        // s + x·s·(1 − s) with s = sigmoid(x).
        let s = 1 / (1 + S.exp(-x))
        return s * (1 + x * (1 - s))
    }
}

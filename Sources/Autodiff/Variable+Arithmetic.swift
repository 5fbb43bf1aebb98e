import Tensor

// Broadcasting arithmetic and pointwise functions. A Variable⊕Variable op throws when the shapes do not
// broadcast; each pullback sums the gradient back to its operand's shape (`unbroadcast`).

extension Variable {
    /// a + b (broadcasting).
    public static func + (a: Variable, b: Variable) throws -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        return record(try a.value + b.value,
                      a, { g in try g.unbroadcast(to: sa) },
                      b, { g in try g.unbroadcast(to: sb) })
    }

    /// a − b (broadcasting).
    public static func - (a: Variable, b: Variable) throws -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        return record(try a.value - b.value,
                      a, { g in try g.unbroadcast(to: sa) },
                      b, { g in try (-g).unbroadcast(to: sb) })
    }

    /// a ⊙ b (broadcasting).
    public static func * (a: Variable, b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        return record(try x * y,
                      a, { g in try (g * y).unbroadcast(to: x.shape) },
                      b, { g in try (g * x).unbroadcast(to: y.shape) })
    }

    /// a / b (broadcasting).
    public static func / (a: Variable, b: Variable) throws -> Variable {
        let (x, y) = (a.value, b.value)
        let q = try x / y
        return record(q,
                      a, { g in try (g / y).unbroadcast(to: x.shape) },
                      b, { g in try (-(try g * q) / y).unbroadcast(to: y.shape) })  // −g·a/b² = −g·q/b
    }

    /// −x.
    public static prefix func - (x: Variable) -> Variable {
        record(-x.value, x) { g in -g }
    }

    /// x + s.
    public static func + (x: Variable, s: Scalar) -> Variable { record(x.value + s, x) { g in g } }
    /// s + x.
    public static func + (s: Scalar, x: Variable) -> Variable { x + s }
    /// x − s.
    public static func - (x: Variable, s: Scalar) -> Variable { record(x.value - s, x) { g in g } }
    /// s − x.
    public static func - (s: Scalar, x: Variable) -> Variable { record(s - x.value, x) { g in -g } }
    /// x · s.
    public static func * (x: Variable, s: Scalar) -> Variable { record(x.value * s, x) { g in g * s } }
    /// s · x.
    public static func * (s: Scalar, x: Variable) -> Variable { x * s }
    /// x / s.
    public static func / (x: Variable, s: Scalar) -> Variable { record(x.value / s, x) { g in g / s } }
    /// s / x.
    public static func / (s: Scalar, x: Variable) -> Variable {
        let xv = x.value, y = s / x.value
        return record(y, x) { g in -(try g * y / xv) }  // −s/x² = −y/x
    }

    /// eˣ.
    public func exp() -> Variable {
        let y = value.exp()
        return Variable.record(y, self) { g in try g * y }
    }

    /// ln x.
    public func log() -> Variable {
        let x = value
        return Variable.record(x.log(), self) { g in try g / x }
    }

    /// tanh x.
    public func tanh() -> Variable {
        let y = value.tanh()
        return Variable.record(y, self) { g in try g * (1 - y.squared()) }
    }

    /// √x.
    public func sqrt() -> Variable {
        let y = value.sqrt()
        return Variable.record(y, self) { g in try g / y * 0.5 }
    }

    /// 1/√x.
    public func rsqrt() -> Variable {
        let y = value.rsqrt()
        return Variable.record(y, self) { g in try g * y.squared() * y * -0.5 }
    }

    /// x².
    public func squared() -> Variable {
        let x = value
        return Variable.record(x.squared(), self) { g in try g * x * 2 }
    }

    /// max(x, 0). The derivative at 0 is taken as 0.
    public func relu() -> Variable { activation(.relu) }
    /// σ(x) = 1/(1 + e⁻ˣ).
    public func sigmoid() -> Variable { activation(.sigmoid) }
    /// x·Φ(x), the exact (erf) GELU.
    public func gelu() -> Variable { activation(.gelu) }
    /// The tanh approximation of GELU (`gelu_new` in GPT-2).
    public func geluTanh() -> Variable { activation(.geluTanh) }
    /// x·σ(x) (SiLU / swish).
    public func silu() -> Variable { activation(.silu) }

    private func activation(_ kind: Activation) -> Variable {
        let x = value
        let y: Tensor<Scalar>
        switch kind {
        case .relu: y = x.relu()
        case .sigmoid: y = x.sigmoid()
        case .gelu: y = x.gelu()
        case .geluTanh: y = x.geluTanh()
        case .silu: y = x.silu()
        }
        return Variable.record(y, self) { g in
            switch kind {
            case .relu: return try Tensor.where(y, g, Tensor(scalar: 0))  // y ≠ 0 exactly where x > 0: one pass
            case .sigmoid: return try g * (try y * (1 - y))
            case .gelu: return try g * x.geluDerivative()
            case .geluTanh: return try g * x.geluTanhDerivative()
            case .silu: return try g * x.siluDerivative()
            }
        }
    }

    /// xᵖ for a constant exponent.
    public func pow(_ exponent: Scalar) -> Variable {
        let x = value
        return Variable.record(x.pow(exponent), self) { g in try g * x.pow(exponent - 1) * exponent }
    }

    /// |x|. The derivative at 0 is taken as 0.
    public func abs() -> Variable {
        let x = value
        return Variable.record(x.abs(), self) { g in try g * (x.greater(0) - x.less(0)) }
    }

    /// A copy with the elements where `mask` (broadcast to this shape) is non-zero set to `value` (a constant,
    /// so they get no gradient).
    public func maskedFilled(_ mask: Tensor<Scalar>, with fill: Scalar) throws -> Variable {
        Variable.record(try value.maskedFilled(mask, with: fill), self) { g in try g.maskedFilled(mask, with: 0) }
    }

    /// `a` where `condition` is non-zero, `b` elsewhere (all three broadcast).
    public static func `where`(_ condition: Tensor<Scalar>, _ a: Variable, _ b: Variable) throws -> Variable {
        let (sa, sb) = (a.shape, b.shape)
        let y = try Tensor.where(condition, a.value, b.value)
        let zero = Tensor<Scalar>(scalar: 0)
        return record(y,
                      a, { g in try Tensor.where(condition, g, zero).unbroadcast(to: sa) },
                      b, { g in try Tensor.where(condition, zero, g).unbroadcast(to: sb) })
    }
}

/// The pointwise activations.
enum Activation {
    case relu, sigmoid, gelu, geluTanh, silu
}

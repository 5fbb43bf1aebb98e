/// Elementwise arithmetic with NumPy broadcasting.
///
/// Tensor ⊕ Tensor operators throw ``TensorError/shapeMismatch(op:shapes:reason:)`` when the shapes do not
/// broadcast; Tensor ⊕ Scalar cannot fail and does not throw. In-place forms (`+=`, ``add(_:scaledBy:)``,
/// ``scale(by:)`` …) keep the left operand's shape, so the right one must broadcast to it; they copy the
/// storage first when it is shared with another tensor or is an expanded (stride-0) view.
extension Tensor {
    /// Elementwise sum, broadcasting.
    public static func + (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try lhs.broadcastBinary(rhs, .add, name: "add")
    }
    /// Elementwise difference, broadcasting.
    public static func - (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try lhs.broadcastBinary(rhs, .subtract, name: "subtract")
    }
    /// Elementwise product, broadcasting.
    public static func * (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try lhs.broadcastBinary(rhs, .multiply, name: "multiply")
    }
    /// Elementwise quotient, broadcasting (IEEE: x/0 = ±inf, 0/0 = NaN).
    public static func / (lhs: Tensor, rhs: Tensor) throws -> Tensor {
        try lhs.broadcastBinary(rhs, .divide, name: "divide")
    }

    /// Adds a scalar to every element.
    public static func + (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.binary(scalar: rhs, .add) }
    /// Adds every element to a scalar.
    public static func + (lhs: Scalar, rhs: Tensor) -> Tensor { rhs.binary(scalar: lhs, .add, scalarFirst: true) }
    /// Subtracts a scalar from every element.
    public static func - (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.binary(scalar: rhs, .subtract) }
    /// A scalar minus each element.
    public static func - (lhs: Scalar, rhs: Tensor) -> Tensor {
        rhs.binary(scalar: lhs, .subtract, scalarFirst: true)
    }
    /// Multiplies every element by a scalar.
    public static func * (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.binary(scalar: rhs, .multiply) }
    /// Multiplies a scalar by every element.
    public static func * (lhs: Scalar, rhs: Tensor) -> Tensor {
        rhs.binary(scalar: lhs, .multiply, scalarFirst: true)
    }
    /// Divides every element by a scalar (a true division, not a multiplication by the reciprocal).
    public static func / (lhs: Tensor, rhs: Scalar) -> Tensor { lhs.binary(scalar: rhs, .divide) }
    /// A scalar divided by each element.
    public static func / (lhs: Scalar, rhs: Tensor) -> Tensor {
        rhs.binary(scalar: lhs, .divide, scalarFirst: true)
    }

    /// Elementwise negation (flips the sign bit, so −0 and NaN signs flip too).
    public static prefix func - (x: Tensor) -> Tensor { x.mapUnary(.negate) }

    /// Adds `rhs` (broadcast to `lhs.shape`) in place.
    public static func += (lhs: inout Tensor, rhs: Tensor) throws {
        try lhs.binaryInPlace(rhs, .add, name: "+=")
    }
    /// Subtracts `rhs` (broadcast to `lhs.shape`) in place.
    public static func -= (lhs: inout Tensor, rhs: Tensor) throws {
        try lhs.binaryInPlace(rhs, .subtract, name: "-=")
    }
    /// Multiplies by `rhs` (broadcast to `lhs.shape`) in place.
    public static func *= (lhs: inout Tensor, rhs: Tensor) throws {
        try lhs.binaryInPlace(rhs, .multiply, name: "*=")
    }
    /// Divides by `rhs` (broadcast to `lhs.shape`) in place.
    public static func /= (lhs: inout Tensor, rhs: Tensor) throws {
        try lhs.binaryInPlace(rhs, .divide, name: "/=")
    }

    /// Adds a scalar to every element in place.
    public static func += (lhs: inout Tensor, rhs: Scalar) { lhs.binaryInPlace(scalar: rhs, .add) }
    /// Subtracts a scalar from every element in place.
    public static func -= (lhs: inout Tensor, rhs: Scalar) { lhs.binaryInPlace(scalar: rhs, .subtract) }
    /// Multiplies every element by a scalar in place.
    public static func *= (lhs: inout Tensor, rhs: Scalar) { lhs.binaryInPlace(scalar: rhs, .multiply) }
    /// Divides every element by a scalar in place.
    public static func /= (lhs: inout Tensor, rhs: Scalar) { lhs.binaryInPlace(scalar: rhs, .divide) }

    /// `self += alpha · other` in place (axpy), with `other` broadcast to `self.shape`. The product and the
    /// sum are rounded separately (no fused multiply-add), identically on every build.
    public mutating func add(_ other: Tensor, scaledBy alpha: Scalar = 1) throws {
        if alpha == 1 {
            try binaryInPlace(other, .add, name: "add(_:scaledBy:)")
        } else {
            try binaryInPlace(other, .addScaled(Double(alpha)), name: "add(_:scaledBy:)")
        }
    }

    /// Multiplies every element by `factor` in place.
    public mutating func scale(by factor: Scalar) { binaryInPlace(scalar: factor, .multiply) }

    /// The elementwise maximum, broadcasting; NaN when either element is NaN (like `torch.maximum`).
    public func maximum(_ other: Tensor) throws -> Tensor { try broadcastBinary(other, .maximum, name: "maximum") }
    /// The elementwise minimum, broadcasting; NaN when either element is NaN (like `torch.minimum`).
    public func minimum(_ other: Tensor) throws -> Tensor { try broadcastBinary(other, .minimum, name: "minimum") }
    /// The elementwise maximum with a scalar; NaN elements stay NaN.
    public func maximum(_ other: Scalar) -> Tensor { binary(scalar: other, .maximum) }
    /// The elementwise minimum with a scalar; NaN elements stay NaN.
    public func minimum(_ other: Scalar) -> Tensor { binary(scalar: other, .minimum) }

    /// Each element raised to `exponent` (libm `pow` semantics; exponent 2 is an exact square).
    public func pow(_ exponent: Scalar) -> Tensor { mapUnary(.pow(Double(exponent))) }
    /// Each element squared.
    public func squared() -> Tensor { mapUnary(.square) }
    /// Each element clamped to [`min`, `max`]; NaN elements stay NaN. When `min > max` every element becomes
    /// `max`, like `torch.clamp`.
    public func clamped(min: Scalar, max: Scalar) -> Tensor { mapUnary(.clamp(Double(min), Double(max))) }
    /// The absolute value of each element.
    public func abs() -> Tensor { mapUnary(.abs) }
}

/// Elementwise comparison and selection. Comparisons return a tensor of the same scalar type holding 1 where
/// the relation holds and 0 elsewhere; every comparison with NaN is false except `notEqual`. Where a 0/1
/// tensor is read as a condition or mask, any non-zero element (NaN included) means true.
extension Tensor {
    /// 1 where `self == other` (broadcasting), else 0.
    public func equal(_ other: Tensor) throws -> Tensor { try broadcastBinary(other, .equal, name: "equal") }
    /// 1 where `self != other` (broadcasting), else 0.
    public func notEqual(_ other: Tensor) throws -> Tensor { try broadcastBinary(other, .notEqual, name: "notEqual") }
    /// 1 where `self < other` (broadcasting), else 0.
    public func less(_ other: Tensor) throws -> Tensor { try broadcastBinary(other, .less, name: "less") }
    /// 1 where `self <= other` (broadcasting), else 0.
    public func lessEqual(_ other: Tensor) throws -> Tensor {
        try broadcastBinary(other, .lessEqual, name: "lessEqual")
    }
    /// 1 where `self > other` (broadcasting), else 0.
    public func greater(_ other: Tensor) throws -> Tensor { try broadcastBinary(other, .greater, name: "greater") }
    /// 1 where `self >= other` (broadcasting), else 0.
    public func greaterEqual(_ other: Tensor) throws -> Tensor {
        try broadcastBinary(other, .greaterEqual, name: "greaterEqual")
    }

    /// 1 where an element equals `other`, else 0.
    public func equal(_ other: Scalar) -> Tensor { binary(scalar: other, .equal) }
    /// 1 where an element differs from `other`, else 0.
    public func notEqual(_ other: Scalar) -> Tensor { binary(scalar: other, .notEqual) }
    /// 1 where an element is less than `other`, else 0.
    public func less(_ other: Scalar) -> Tensor { binary(scalar: other, .less) }
    /// 1 where an element is at most `other`, else 0.
    public func lessEqual(_ other: Scalar) -> Tensor { binary(scalar: other, .lessEqual) }
    /// 1 where an element is greater than `other`, else 0.
    public func greater(_ other: Scalar) -> Tensor { binary(scalar: other, .greater) }
    /// 1 where an element is at least `other`, else 0.
    public func greaterEqual(_ other: Scalar) -> Tensor { binary(scalar: other, .greaterEqual) }

    /// `a` where `condition` is non-zero and `b` elsewhere, with all three broadcast to a common shape.
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let shapes = [condition.shape, a.shape, b.shape]
        let shape: [Int]
        do {
            shape = try broadcastShapes(try broadcastShapes(condition.shape, a.shape, op: "where"), b.shape, op: "where")
        } catch TensorError.shapeMismatch(_, _, let reason) {
            throw TensorError.shapeMismatch(op: "where", shapes: shapes, reason: reason)
        }
        let out = Tensor(uninitializedShape: shape)
        let o = out.basePointer
        let c = UnsafePointer(condition.basePointer), x = UnsafePointer(a.basePointer), y = UnsafePointer(b.basePointer)
        withExtendedLifetime((condition, a, b)) {
            forEachElementwiseRun(shape: shape, strides: [out.strides, condition.stridesBroadcast(to: shape),
                                                          a.stridesBroadcast(to: shape), b.stridesBroadcast(to: shape)]) {
                off, n, st in
                selectRun(c + off[1], st[1], x + off[2], st[2], y + off[3], st[3], o + off[0], st[0], n)
            }
        }
        return out
    }

    /// Sets the elements where `mask` (broadcast to `self.shape`) is non-zero to `value`, in place.
    public mutating func maskedFill(_ mask: Tensor, with value: Scalar) throws {
        let shape = try broadcastShapes(self.shape, mask.shape, op: "maskedFill")
        guard shape == self.shape else {
            throw TensorError.shapeMismatch(op: "maskedFill", shapes: [self.shape, mask.shape],
                                            reason: "the mask must broadcast to the tensor's shape \(self.shape)")
        }
        makeUnique()
        let o = basePointer, m = UnsafePointer(mask.basePointer)
        withExtendedLifetime(mask) {
            forEachElementwiseRun(shape: shape, strides: [strides, mask.stridesBroadcast(to: shape)]) { off, n, st in
                fillRun(o + off[0], st[0], m + off[1], st[1], value, n)
            }
        }
    }

    /// A copy with the elements where `mask` (broadcast to `self.shape`) is non-zero set to `value`.
    public func maskedFilled(_ mask: Tensor, with value: Scalar) throws -> Tensor {
        var out = self
        try out.maskedFill(mask, with: value)
        return out
    }

    /// The additive causal attention mask of size `t`×`t`: 0 on and below the diagonal (key j ≤ query i may be
    /// attended) and −inf above it. Add it to the attention scores before the softmax.
    public static func causalMask(_ t: Int) throws -> Tensor {
        guard t >= 0 else {
            throw TensorError.invalidArgument(op: "causalMask", reason: "size must be non-negative, got \(t)")
        }
        let out = Tensor(uninitializedShape: [t, t])
        let p = out.basePointer
        for i in 0..<t {
            for j in 0..<t { p[i * t + j] = j <= i ? 0 : -.infinity }
        }
        return out
    }
}

/// o[i·so] = c[i·sc] != 0 ? a[i·sa] : b[i·sb].
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func selectRun<S: TensorScalar>(_ c: UnsafePointer<S>, _ sc: Int, _ a: UnsafePointer<S>, _ sa: Int,
                                _ b: UnsafePointer<S>, _ sb: Int, _ o: UnsafeMutablePointer<S>, _ so: Int, _ n: Int) {
    if S.self == Float.self && so == 1 && sc == 1 && sa == 1 && sb == 1 {
        selectDenseFloat(UnsafeRawPointer(c).assumingMemoryBound(to: Float.self),
                         UnsafeRawPointer(a).assumingMemoryBound(to: Float.self),
                         UnsafeRawPointer(b).assumingMemoryBound(to: Float.self),
                         UnsafeMutableRawPointer(o).assumingMemoryBound(to: Float.self), n)
        return
    }
    for i in 0..<n {
        o[i &* so] = c[i &* sc] != 0 ? a[i &* sa] : b[i &* sb]
    }
}

/// The dense Float case of ``selectRun(_:_:_:_:_:_:_:_:_:)`` with SIMD selects.
@inline(never)
func selectDenseFloat(_ c: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                      _ o: UnsafeMutablePointer<Float>, _ n: Int) {
    var i = 0
    while i &+ 8 <= n {
        let cv = UnsafeRawPointer(c + i).loadUnaligned(as: SIMD8<Float>.self)
        let av = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD8<Float>.self)
        let bv = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD8<Float>.self)
        UnsafeMutableRawPointer(o + i).storeBytes(of: vmSelect(cv .!= 0, av, bv), as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < n {
        o[i] = c[i] != 0 ? a[i] : b[i]
        i &+= 1
    }
}

/// o[i·so] = value where m[i·sm] != 0 (other elements untouched).
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func fillRun<S: TensorScalar>(_ o: UnsafeMutablePointer<S>, _ so: Int, _ m: UnsafePointer<S>, _ sm: Int,
                              _ value: S, _ n: Int) {
    if sm == 0 {
        if m.pointee != 0 { for i in 0..<n { o[i &* so] = value } }
    } else if so == 1 && sm == 1 {
        for i in 0..<n where m[i] != 0 { o[i] = value }
    } else {
        for i in 0..<n where m[i &* sm] != 0 { o[i &* so] = value }
    }
}

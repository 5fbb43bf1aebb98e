import Tensor

/// `acc + g` for two gradients of the same shape, written into `acc`'s storage when it owns it alone.
func accumulate<Scalar: TensorScalar>(_ acc: Tensor<Scalar>, _ g: Tensor<Scalar>) throws -> Tensor<Scalar> {
    guard acc.shape == g.shape else {
        throw AutodiffError.internalShapeError(expected: acc.shape, got: g.shape)
    }
    var out = acc
    out.withUnsafeMutableBufferPointer { p in
        g.withUnsafeBufferPointer { q in addAssign(p.baseAddress!, q.baseAddress!, p.count) }
    }
    return out
}

@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func addAssign<S: TensorScalar>(_ p: UnsafeMutablePointer<S>, _ q: UnsafePointer<S>, _ n: Int) {
    for i in 0..<n { p[i] += q[i] }
}

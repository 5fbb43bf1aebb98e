import Tensor

/// `acc + g` for two gradients of the same shape, in place in whichever operand is contiguous (so a transposed
/// view never gets copied just to be added to); `+=` copies first when the storage is shared.
func accumulate<Scalar: TensorScalar>(_ acc: Tensor<Scalar>, _ g: Tensor<Scalar>) throws -> Tensor<Scalar> {
    guard acc.shape == g.shape else {
        throw AutodiffError.internalShapeError(expected: acc.shape, got: g.shape)
    }
    var (out, other) = !acc.isContiguous && g.isContiguous ? (g, acc) : (acc, g)
    try out += other
    return out
}

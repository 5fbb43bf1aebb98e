import Tensor

/// acc += g for two gradients of the same shape, in place in whichever operand is contiguous (so a transposed view
/// never gets copied just to be added to). The caller hands over both: `acc` uniquely owned, `g` consumed, so
/// neither is copied unless its storage is shared elsewhere.
func accumulate<Scalar: TensorScalar>(into acc: inout Tensor<Scalar>, _ g: consuming Tensor<Scalar>) throws {
    guard acc.shape == g.shape else {
        throw AutodiffError.internalShapeError(expected: acc.shape, got: g.shape)
    }
    if !acc.isContiguous && g.isContiguous { swap(&acc, &g) }
    try acc += g
}

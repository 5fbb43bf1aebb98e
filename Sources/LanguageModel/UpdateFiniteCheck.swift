import Tensor

/// Throws ``ModelError/nonFiniteUpdate(op:step:tensor:index:value:)`` when the updated weight `t` holds a NaN or an
/// infinity. A diverging update otherwise surfaces much later as a loss of `nan` printed with exit status 0.
func requireFiniteUpdate<S: TensorScalar>(_ t: Tensor<S>, step: Int, tensor: String) throws {
    let found: (Int, Double)? = t.withUnsafeBufferPointer { buf in
        for i in buf.indices where !buf[i].isFinite { return (i, Double(buf[i])) }
        return nil
    }
    guard let (flat, value) = found else { return }
    var index = [Int](repeating: 0, count: t.shape.count), rest = flat
    for axis in stride(from: t.shape.count - 1, through: 0, by: -1) where t.shape[axis] > 0 {
        index[axis] = rest % t.shape[axis]
        rest /= t.shape[axis]
    }
    throw ModelError.nonFiniteUpdate(op: "dynamicUpdate", step: step, tensor: tensor, index: index, value: value)
}

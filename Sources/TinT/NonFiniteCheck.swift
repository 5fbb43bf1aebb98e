import Tensor

// A learning rate that is too large, or weights near Float's limit, make a descent produce NaN or infinity. Left
// unchecked that surfaces much later as a loss of `nan` with exit status 0 (or a JSON encoder error). The
// descents check their logits and updated weights after every step and stop at the first non-finite value, so
// the error can say where it appeared: which step and which tensor.

/// The first NaN or infinity in `t` (row-major), with its index, or nil.
func firstNonFiniteElement<S: TensorScalar>(_ t: Tensor<S>) -> (index: [Int], value: Double)? {
    let found: (Int, Double)? = t.withUnsafeBufferPointer { buf in
        for i in buf.indices where !buf[i].isFinite { return (i, Double(buf[i])) }
        return nil
    }
    guard let (flat, value) = found else { return nil }
    var index = [Int](repeating: 0, count: t.shape.count), rest = flat
    for axis in stride(from: t.shape.count - 1, through: 0, by: -1) where t.shape[axis] > 0 {
        index[axis] = rest % t.shape[axis]
        rest /= t.shape[axis]
    }
    return (index, value)
}

/// Throws ``TinTError/nonFiniteValue(module:step:tensor:index:value:)`` when `t` holds a NaN or an infinity.
func requireFinite<S: TensorScalar>(_ t: Tensor<S>, module: String, step: Int, tensor: String) throws {
    if let (index, value) = firstNonFiniteElement(t) {
        throw TinTError.nonFiniteValue(module: module, step: step, tensor: tensor, index: index, value: value)
    }
}

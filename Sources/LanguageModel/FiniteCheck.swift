import Tensor

/// The index of the first NaN or infinity in `p[0..<count]`, or nil.
///
/// Blocks of 4096 are screened with SIMD: `v - v` is 0 in a finite lane and NaN in a NaN or infinite
/// one, so a block whose accumulator stays NaN-free is clean; only a bad block is searched element by
/// element.
@inline(never)
func firstNonFinite(_ p: UnsafePointer<Float>, count: Int) -> Int? {
    var start = 0
    while start < count {
        let end = Swift.min(start &+ 4096, count)
        var acc = SIMD16<Float>(repeating: 0)
        var i = start
        while i &+ 16 <= end {
            let v = UnsafeRawPointer(p + i).loadUnaligned(as: SIMD16<Float>.self)
            acc += v - v
            i &+= 16
        }
        var bad = (acc .!= acc) != SIMDMask(repeating: false)
        while i < end { if !p[i].isFinite { bad = true }; i &+= 1 }
        if bad {
            for j in start..<end where !p[j].isFinite { return j }
        }
        start = end
    }
    return nil
}

/// Throws ``ModelError/nonFiniteValue(file:tensor:index:value:)`` when `t` holds a NaN or an infinity.
func checkFinite(_ t: Tensor<Float>, name: String, file: String) throws {
    let c = t.contiguous()
    let found: (Int, Float)? = c.withUnsafeBufferPointer { buf in
        guard let base = buf.baseAddress, let i = firstNonFinite(base, count: buf.count) else { return nil }
        return (i, buf[i])
    }
    guard let (flat, value) = found else { return }
    var index = [Int](repeating: 0, count: c.shape.count)
    var rest = flat
    for axis in stride(from: c.shape.count - 1, through: 0, by: -1) where c.shape[axis] > 0 {
        index[axis] = rest % c.shape[axis]
        rest /= c.shape[axis]
    }
    throw ModelError.nonFiniteValue(file: file, tensor: name, index: index, value: value.isNaN ? "nan" : "\(value)")
}

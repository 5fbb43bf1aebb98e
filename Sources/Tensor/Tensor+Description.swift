extension Tensor: CustomStringConvertible {
    /// NumPy-style nested rows; dimensions longer than 6 show their first and last 3 entries.
    public var description: String {
        let c = contiguous()
        let out = "Tensor<\(Scalar.dtypeName)>\(shape)\n"
        if rank == 0 { return out + "\(c.storage.base[c.offset])" }
        let edge = 3
        func render(_ dim: Int, _ base: Int, _ indent: String) -> String {
            let n = shape[dim]
            let idx: [Int?] = n > 2 * edge ? Array(0..<edge) + [nil] + Array((n - edge)..<n) : Array(0..<n)
            if dim == rank - 1 {
                let items = idx.map { i -> String in
                    guard let i else { return "..." }
                    return "\(c.storage.base[c.offset + base + i * c.strides[dim]])"
                }
                return "[" + items.joined(separator: ", ") + "]"
            }
            let sep = ",\n" + String(repeating: "\n", count: Swift.max(0, rank - dim - 2)) + indent + " "
            let items = idx.map { i -> String in
                guard let i else { return "..." }
                return render(dim + 1, base + i * c.strides[dim], indent + " ")
            }
            return "[" + items.joined(separator: sep) + "]"
        }
        return out + render(0, 0, "")
    }
}

extension Tensor {
    /// Whether `self` and `other` have the same shape and |a − b| ≤ atol + rtol·|b| everywhere (NaNs unequal).
    public func allClose(_ other: Tensor, rtol: Scalar = 1e-5, atol: Scalar = 1e-8) -> Bool {
        guard shape == other.shape else { return false }
        let a = scalars, b = other.scalars
        for i in a.indices {
            let d = (a[i] - b[i]).magnitude
            if !(d <= atol + rtol * b[i].magnitude) { return false }
        }
        return true
    }

    /// The largest |a − b| over all elements (infinite when shapes differ, NaN when any difference is NaN).
    public func maxAbsDifference(_ other: Tensor) -> Scalar {
        guard shape == other.shape else { return .infinity }
        let a = scalars, b = other.scalars
        var m: Scalar = 0
        for i in a.indices {
            let d = (a[i] - b[i]).magnitude
            if d.isNaN { return .nan }
            m = Swift.max(m, d)
        }
        return m
    }
}

import Tensor

// Small Tensor helpers the pullbacks share.

extension Tensor {
    /// Zeros of `shape` as a stride-0 view of one zero: free to make, and the first write materialises it
    /// through Tensor's specialised strided copy. (`Tensor.zeros` fills element by element through generic
    /// code when called from this module's generic ops, which costs milliseconds per million elements.)
    static func zerosView(_ shape: [Int]) throws -> Tensor {
        try Tensor(scalar: 0).expanded(to: shape)
    }

    /// The sum over every axis but the last (the gradient of a bias broadcast over rows).
    func sumOverLeadingAxes() throws -> Tensor {
        rank <= 1 ? self : try sum(axes: Array(0..<(rank - 1)))
    }

    /// Sums a broadcast gradient back to `target` (NumPy broadcasting in reverse): the leading dimensions
    /// `target` lacks are summed away, and so are the dimensions where `target` has size 1. A no-op when the
    /// shapes agree.
    func unbroadcast(to target: [Int]) throws -> Tensor {
        if shape == target { return self }
        let lead = rank - target.count
        guard lead >= 0 else {
            throw AutodiffError.internalShapeError(expected: target, got: shape)
        }
        var axes = Array(0..<lead)
        for d in target.indices where target[d] == 1 && shape[lead + d] != 1 { axes.append(lead + d) }
        let summed = axes.isEmpty ? self : try sum(axes: axes, keepDims: true)
        return try summed.reshaped(target)
    }
}

import Tensor

// Small Tensor helpers the pullbacks share.

extension Tensor {
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

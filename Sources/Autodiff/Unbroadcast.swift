import Tensor

extension Tensor {
    /// Sums a broadcast gradient back to `shape` (NumPy broadcasting in reverse): leading dimensions are
    /// summed away and dimensions where `shape` has 1 are summed with keepDims. A no-op when shapes agree.
    func unbroadcast(to target: [Int]) throws -> Tensor {
        if shape == target { return self }
        fatalError("TODO")
    }
}

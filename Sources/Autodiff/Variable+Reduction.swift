import Tensor

// Reductions. Each pullback reshapes the output gradient to the keep-dims shape and broadcasts it back
// over the reduced axes as a stride-0 view (no copy).

extension Variable {
    /// The sum over `axes` (all when `nil`).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        let y = try value.sum(axes: axes, keepDims: keepDims)
        let (s, kept) = (shape, try keptShape(axes))
        return Variable.record(y, self) { g in try g.reshaped(kept).expanded(to: s) }
    }

    /// The sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) throws -> Variable { try sum(axes: [axis], keepDims: keepDims) }

    /// The mean over `axes` (all when `nil`).
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        let y = try value.mean(axes: axes, keepDims: keepDims)
        let (s, kept) = (shape, try keptShape(axes))
        let scale = Scalar(kept.reduce(1, *)) / Scalar(Swift.max(count, 1))
        return Variable.record(y, self) { g in try (g * scale).reshaped(kept).expanded(to: s) }
    }

    /// The mean over one axis.
    public func mean(axis: Int, keepDims: Bool = false) throws -> Variable { try mean(axes: [axis], keepDims: keepDims) }

    /// The maximum over `axes` (all when `nil`). The gradient is shared equally by tied maxima.
    public func max(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        try extremum(try value.max(axes: axes, keepDims: true), axes, keepDims)
    }

    /// The minimum over `axes` (all when `nil`). The gradient is shared equally by tied minima.
    public func min(axes: [Int]? = nil, keepDims: Bool = false) throws -> Variable {
        try extremum(try value.min(axes: axes, keepDims: true), axes, keepDims)
    }

    /// The maximum over one axis.
    public func max(axis: Int, keepDims: Bool = false) throws -> Variable { try max(axes: [axis], keepDims: keepDims) }
    /// The minimum over one axis.
    public func min(axis: Int, keepDims: Bool = false) throws -> Variable { try min(axes: [axis], keepDims: keepDims) }

    /// `extreme` (kept dims) back to the requested shape; the pullback sends the gradient to the elements
    /// equal to it, divided by their number.
    private func extremum(_ extreme: Tensor<Scalar>, _ axes: [Int]?, _ keepDims: Bool) throws -> Variable {
        let kept = extreme.shape
        let outShape = keepDims ? kept : try reducedShape(axes)
        let x = value
        return Variable.record(try extreme.reshaped(outShape), self) { g in
            let hits = try x.equal(extreme)
            let ties = try hits.sum(axes: axes, keepDims: true)
            return try hits * (try g.reshaped(kept) / ties)
        }
    }

    /// The shape of a reduction over `axes` without keepDims.
    func reducedShape(_ axes: [Int]?) throws -> [Int] {
        guard let axes else { return [] }
        let drop = try Set(axes.map { try normalizedAxis($0) })
        return shape.indices.filter { !drop.contains($0) }.map { shape[$0] }
    }

    /// `axis` in 0..<rank; throws when out of range.
    func normalizedAxis(_ axis: Int, op: String = "reduction") throws -> Int {
        let d = axis < 0 ? axis + rank : axis
        guard d >= 0 && d < rank else { throw TensorError.axisOutOfRange(op: op, axis: axis, rank: rank) }
        return d
    }

    /// The shape of a keep-dims reduction over `axes`.
    func keptShape(_ axes: [Int]?) throws -> [Int] {
        guard let axes else { return [Int](repeating: 1, count: rank) }
        var s = shape
        for a in axes { s[try normalizedAxis(a)] = 1 }
        return s
    }
}

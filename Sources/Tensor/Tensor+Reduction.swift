/// Reductions over any set of axes of any strided tensor: sum, mean, max, min, variance, argmax, argmin.
///
/// Accuracy: sums and means accumulate in `Double` (contiguous `Float` runs in fp32 SIMD lanes over blocks
/// of 512 elements, block totals in `Double`), so a `Float` sum of 10⁶ elements matches a `Double` loop to
/// about 1e-7 relative. NaN propagates through every reduction: a NaN input gives a NaN sum, max or min.

/// Positions returned by ``Tensor/argmax(axis:keepDims:)`` and ``Tensor/argmin(axis:keepDims:)``.
public struct TensorIndices: Equatable, Sendable {
    /// The shape of the result (the input shape without the reduced axis, or with size 1 there).
    public var shape: [Int]
    /// One index along the reduced axis per result element, in row-major order.
    public var values: [Int]

    /// Indices `values` laid out with `shape` (row-major).
    public init(shape: [Int], values: [Int]) {
        self.shape = shape
        self.values = values
    }
}

extension Tensor {
    /// The sum over `axes` (all axes when `nil`; none when empty). An empty reduction gives 0.
    /// With `keepDims` the reduced axes stay as size 1.
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let plan = try ReductionPlan(self, axes: axes, keepDims: keepDims, op: "sum")
        return reduceTensor(self, plan, .sum, scale: 1)
    }

    /// The sum over one axis.
    public func sum(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try sum(axes: [axis], keepDims: keepDims)
    }

    /// The arithmetic mean over `axes` (all axes when `nil`). An empty reduction gives NaN.
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let plan = try ReductionPlan(self, axes: axes, keepDims: keepDims, op: "mean")
        return reduceTensor(self, plan, .sum, scale: 1 / Double(plan.reducedCount))
    }

    /// The mean over one axis.
    public func mean(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try mean(axes: [axis], keepDims: keepDims)
    }

    /// The largest element over `axes` (all axes when `nil`). NaN if any reduced element is NaN.
    /// Throws when a result element would reduce over no elements.
    public func max(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let plan = try ReductionPlan(self, axes: axes, keepDims: keepDims, op: "max", needsElements: true)
        return reduceTensor(self, plan, .max, scale: 1)
    }

    /// The largest element over one axis.
    public func max(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try max(axes: [axis], keepDims: keepDims)
    }

    /// The smallest element over `axes` (all axes when `nil`). NaN if any reduced element is NaN.
    /// Throws when a result element would reduce over no elements.
    public func min(axes: [Int]? = nil, keepDims: Bool = false) throws -> Tensor {
        let plan = try ReductionPlan(self, axes: axes, keepDims: keepDims, op: "min", needsElements: true)
        return reduceTensor(self, plan, .min, scale: 1)
    }

    /// The smallest element over one axis.
    public func min(axis: Int, keepDims: Bool = false) throws -> Tensor {
        try min(axes: [axis], keepDims: keepDims)
    }

    /// The variance over `axes` (all axes when `nil`): Σ(x − mean)² / (n − 1) when `unbiased`, else / n
    /// (the default, as in layer norm). Computed in two passes with a correction term, so rows with a large
    /// mean and a small spread keep their accuracy. NaN when n (or n − 1 when unbiased) is 0.
    public func variance(axes: [Int]? = nil, keepDims: Bool = false, unbiased: Bool = false) throws -> Tensor {
        let plan = try ReductionPlan(self, axes: axes, keepDims: keepDims, op: "variance")
        let rows = plan.rows(of: self)
        let out = Tensor(uninitializedShape: plan.outShape)
        withExtendedLifetime(rows) {
            rowVariances(rows.basePointer, out.storage.base, rows: plan.outCount, length: plan.reducedCount,
                         correction: unbiased ? 1 : 0)
        }
        return out
    }

    /// The index of the largest element along `axis`. On ties the first index wins; if the run holds a NaN
    /// the index of the first NaN is returned (NaN counts as the largest, as in PyTorch).
    /// Throws for an out-of-range axis or an empty axis.
    public func argmax(axis: Int, keepDims: Bool = false) throws -> TensorIndices {
        try argExtremum(axis: axis, keepDims: keepDims, isMax: true, op: "argmax")
    }

    /// The index of the smallest element along `axis`. On ties the first index wins; if the run holds a NaN
    /// the index of the first NaN is returned (NaN counts as the smallest, as in PyTorch).
    /// Throws for an out-of-range axis or an empty axis.
    public func argmin(axis: Int, keepDims: Bool = false) throws -> TensorIndices {
        try argExtremum(axis: axis, keepDims: keepDims, isMax: false, op: "argmin")
    }

    private func argExtremum(axis: Int, keepDims: Bool, isMax: Bool, op: String) throws -> TensorIndices {
        let a = try normalizeAxis(axis, rank: rank, op: op)
        let plan = try ReductionPlan(self, axes: [a], keepDims: keepDims, op: op, needsElements: true)
        var values = [Int](repeating: 0, count: plan.outCount)
        if values.isEmpty { return TensorIndices(shape: plan.outShape, values: []) }
        values.withUnsafeMutableBufferPointer { v in
            withExtendedLifetime(self) {
                argExtremumKernel(basePointer, plan, length: shape[a], stride: strides[a], isMax: isMax,
                                  into: v.baseAddress!)
            }
        }
        return TensorIndices(shape: plan.outShape, values: values)
    }
}

/// The layout of a reduction: the output elements (kept axes, row-major) outside, and for each of them the
/// reduced elements inside, both as coalesced strided layouts over the input.
struct ReductionPlan {
    let outShape: [Int]
    let outCount: Int
    /// Elements reduced into each output element.
    let reducedCount: Int
    /// Coalesced input layout of the output elements, row-major (size-1 dimensions dropped).
    let keptShape: [Int], keptStrides: [Int]
    /// Coalesced input layout of one output element's inputs, largest stride first.
    let reducedShape: [Int], reducedStrides: [Int]
    /// Axes of the input that are reduced, as flags.
    let isReduced: [Bool]

    /// Validates `axes` (`nil` = all; duplicates throw). With `needsElements`, throws when an output element
    /// would reduce over no elements.
    init<S>(_ x: Tensor<S>, axes: [Int]?, keepDims: Bool, op: String, needsElements: Bool = false) throws {
        var isReduced = [Bool](repeating: axes == nil, count: x.rank)
        for axis in axes ?? [] {
            let a = try normalizeAxis(axis, rank: x.rank, op: op)
            guard !isReduced[a] else {
                throw TensorError.invalidArgument(op: op, reason: "axis \(axis) appears twice in \(axes!)")
            }
            isReduced[a] = true
        }
        self.isReduced = isReduced
        let dims = x.shape.indices
        let kept = dims.filter { !isReduced[$0] }
        let reduced = dims.filter { isReduced[$0] }.sorted { Swift.abs(x.strides[$0]) > Swift.abs(x.strides[$1]) }
        outShape = keepDims ? dims.map { isReduced[$0] ? 1 : x.shape[$0] } : kept.map { x.shape[$0] }
        outCount = kept.reduce(1) { $0 * x.shape[$1] }
        reducedCount = reduced.reduce(1) { $0 * x.shape[$1] }
        if needsElements && reducedCount == 0 && outCount > 0 {
            throw TensorError.invalidShape(op: op, shape: x.shape,
                                           reason: "cannot reduce over an empty axis (no identity element)")
        }
        (keptShape, keptStrides) = coalesce(kept.map { (x.shape[$0], x.strides[$0]) })
        (reducedShape, reducedStrides) = coalesce(reduced.map { (x.shape[$0], x.strides[$0]) })
    }

    /// `x` as contiguous rows `[outCount, reducedCount]`: kept axes first, reduced axes last (in their
    /// original order). Free when `x` is contiguous and the reduced axes are trailing.
    func rows<S>(of x: Tensor<S>) -> Tensor<S> {
        let order = x.shape.indices.filter { !isReduced[$0] } + x.shape.indices.filter { isReduced[$0] }
        let moved = x.view(shape: order.map { x.shape[$0] }, strides: order.map { x.strides[$0] }, offset: x.offset)
        let c = moved.contiguous()
        return c.view(shape: [outCount, reducedCount], strides: [reducedCount, 1], offset: c.offset)
    }
}

/// Drops size-1 dimensions and merges neighbours that are contiguous with each other.
private func coalesce(_ dims: [(size: Int, stride: Int)]) -> ([Int], [Int]) {
    var shape: [Int] = [], strides: [Int] = []
    for (n, s) in dims where n != 1 {
        if let last = strides.last, last == s * n {
            shape[shape.count - 1] *= n
            strides[strides.count - 1] = s
        } else {
            shape.append(n)
            strides.append(s)
        }
    }
    return (shape, strides)
}

enum ReductionKind { case sum, max, min }

/// Below this many elements per chunk a reduction stays on one thread.
let reductionChunkElements = 1 << 17

@inline(__always)
private func reduceRun<S: TensorScalar>(_ p: UnsafePointer<S>, _ n: Int, _ stride: Int, _ kind: ReductionKind) -> Double {
    switch kind {
    case .sum: return runSum(p, n, stride)
    case .max: return Double(runMax(p, n, stride))
    case .min: return Double(runMin(p, n, stride))
    }
}

@inline(__always)
private func combine(_ a: Double, _ b: Double, _ kind: ReductionKind) -> Double {
    switch kind {
    case .sum: return a + b
    case .max: return a.isNaN || b.isNaN ? .nan : Swift.max(a, b)
    case .min: return a.isNaN || b.isNaN ? .nan : Swift.min(a, b)
    }
}

/// acc[j] ⊕= x[j·stride] for j < n (the first reduced element initialises `acc`).
@inline(__always)
private func accumulateRun<S: TensorScalar>(_ acc: UnsafeMutablePointer<Double>, _ p: UnsafePointer<S>, _ n: Int,
                                            _ stride: Int, _ kind: ReductionKind, first: Bool) {
    if first {
        for j in 0..<n { acc[j] = Double(p[j &* stride]) }
        return
    }
    switch kind {
    case .sum:
        if stride == 1 {
            for j in 0..<n { acc[j] += Double(p[j]) }
        } else {
            for j in 0..<n { acc[j] += Double(p[j &* stride]) }
        }
    case .max:  // replace when larger or NaN; a NaN accumulator stays NaN
        for j in 0..<n {
            let v = Double(p[j &* stride]), a = acc[j]
            if !(v <= a) && !a.isNaN { acc[j] = v }
        }
    case .min:
        for j in 0..<n {
            let v = Double(p[j &* stride]), a = acc[j]
            if !(v >= a) && !a.isNaN { acc[j] = v }
        }
    }
}

/// Evaluates a planned reduction into a new contiguous tensor; each result is `S(accumulated · scale)`.
///
/// Two loop orders: when the innermost reduced stride is the smaller one ("row" mode, e.g. a sum over the
/// last axis) each output element reduces its runs in turn; otherwise ("column" mode, e.g. a sum over the
/// batch axis) blocks of up to 256 neighbouring outputs are accumulated together in a Double buffer, so
/// the input is read along its rows. Both parallelise over outputs once there is enough work.
@_specialize(where S == Float)
@_specialize(where S == Double)
func reduceTensor<S: TensorScalar>(_ x: Tensor<S>, _ plan: ReductionPlan, _ kind: ReductionKind,
                                   scale: Double) -> Tensor<S> {
    let out = Tensor<S>(uninitializedShape: plan.outShape)
    let m = plan.outCount, k = plan.reducedCount
    let dst = out.storage.base
    if m == 0 { return out }
    if k == 0 {  // only sums reach here (max and min throw in the plan)
        dst.initialize(repeating: S(0 * scale), count: m)
        return out
    }
    let src = UnsafePointer(x.basePointer)
    let innerKept = plan.keptStrides.last.map(Swift.abs) ?? 0
    let innerReduced = plan.reducedStrides.last.map(Swift.abs) ?? 0
    withExtendedLifetime(x) {
        if innerKept != 0 && innerKept < innerReduced {
            reduceColumns(src, dst, plan, kind, scale: scale)
        } else {
            reduceRows(src, dst, plan, kind, scale: scale)
        }
    }
    return out
}

@inline(__always)
private func reduceRows<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>,
                                         _ plan: ReductionPlan, _ kind: ReductionKind, scale: Double) {
    let m = plan.outCount, k = plan.reducedCount
    let runLength = plan.reducedShape.last ?? 1, runStride = plan.reducedStrides.last ?? 0
    let runs = k / runLength
    let outer = StridedCursor(shape: plan.reducedShape.dropLast(), strides: plan.reducedStrides.dropLast())
    let out = SendablePointer(dst)
    parallelChunks(count: m, grain: Swift.max(1, reductionChunkElements / k)) { range in
        var kept = StridedCursor(shape: plan.keptShape, strides: plan.keptStrides, start: range.lowerBound)
        var runCursor = outer
        for i in range {
            let base = src + kept.offset
            var acc = reduceRun(base, runLength, runStride, kind)
            if runs > 1 {
                runCursor.reset()
                for _ in 1..<runs {
                    runCursor.next()
                    acc = combine(acc, reduceRun(base + runCursor.offset, runLength, runStride, kind), kind)
                }
            }
            out.p[i] = S(acc * scale)
            kept.next()
        }
    }
}

@inline(__always)
private func reduceColumns<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>,
                                            _ plan: ReductionPlan, _ kind: ReductionKind, scale: Double) {
    let block = 256
    let k = plan.reducedCount
    let width = plan.keptShape.last!, stride = plan.keptStrides.last!
    let blocks = (width + block - 1) / block
    let tiles = plan.outCount / width * blocks
    let outer = StridedCursor(shape: plan.keptShape.dropLast(), strides: plan.keptStrides.dropLast())
    let reduced = StridedCursor(shape: plan.reducedShape, strides: plan.reducedStrides)
    let out = SendablePointer(dst)
    let grain = Swift.max(1, reductionChunkElements / (k * Swift.min(width, block)))
    parallelChunks(count: tiles, grain: grain) { range in
        let acc = UnsafeMutablePointer<Double>.allocate(capacity: block)
        defer { acc.deallocate() }
        var rowCursor = outer, red = reduced
        for t in range {
            let row = t / blocks, j0 = (t % blocks) * block
            let n = Swift.min(block, width - j0)
            rowCursor.seek(row)
            let base = src + rowCursor.offset + j0 * stride
            red.reset()
            accumulateRun(acc, base, n, stride, kind, first: true)
            for _ in 1..<k {
                red.next()
                accumulateRun(acc, base + red.offset, n, stride, kind, first: false)
            }
            let d = out.p + row * width + j0
            for j in 0..<n { d[j] = S(acc[j] * scale) }
        }
    }
}

/// Two-pass variance of each contiguous row: shift by the rounded mean, then correct with Σd.
@_specialize(where S == Float)
@_specialize(where S == Double)
func rowVariances<S: TensorScalar>(_ src: UnsafePointer<S>, _ dst: UnsafeMutablePointer<S>, rows: Int, length n: Int,
                                   correction: Int) {
    let out = SendablePointer(dst)
    parallelChunks(count: rows, grain: Swift.max(1, reductionChunkElements / Swift.max(n, 1))) { range in
        for r in range {
            let p = src + r * n
            let shift = S(runSum(p, n, 1) / Double(n))
            let (s1, s2) = runMoments(p, n, shift: shift)
            let centred = Swift.max(0, s2 - s1 * s1 / Double(n))
            let v = n - correction > 0 ? centred / Double(n - correction) : .nan
            out.p[r] = S(v)
        }
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
func argExtremumKernel<S: TensorScalar>(_ src: UnsafeMutablePointer<S>, _ plan: ReductionPlan, length n: Int,
                                        stride: Int, isMax: Bool, into values: UnsafeMutablePointer<Int>) {
    let out = SendablePointer(values)
    let base = UnsafePointer(src)
    parallelChunks(count: plan.outCount, grain: Swift.max(1, reductionChunkElements / Swift.max(n, 1))) { range in
        var kept = StridedCursor(shape: plan.keptShape, strides: plan.keptStrides, start: range.lowerBound)
        for i in range {
            let p = base + kept.offset
            let best = isMax ? runMax(p, n, stride) : runMin(p, n, stride)
            var j = 0
            if best.isNaN {
                while !p[j &* stride].isNaN { j &+= 1 }
            } else {
                while p[j &* stride] != best { j &+= 1 }
            }
            out.p[i] = j
            kept.next()
        }
    }
}

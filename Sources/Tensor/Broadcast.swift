/// NumPy broadcasting and the machinery that runs elementwise kernels over broadcast, arbitrarily strided
/// operands: shapes are aligned on the right, a dimension of size 1 stretches (stride 0) to match the other.
///
/// Every elementwise op walks its operands with ``CoalescedLayout``, so a kernel only ever sees one inner
/// run (a count and one stride per operand). Runs where every operand is dense reach the SIMD loops; an inner
/// stride of 0 (a scalar, a bias row, a broadcast column) gets a splat; anything else a strided scalar loop,
/// visited tile by tile when an operand is transposed (see ``CoalescedLayout/prefersTiles``).
/// Ops on at least ``elementwiseParallelMinimum`` elements are split over threads by runs, and long runs are
/// cut into pieces so that even a single dense run is shared out.

extension Tensor {
    /// The shape that `a` and `b` broadcast to under NumPy rules: aligned on the right, each pair of sizes
    /// must be equal or one of them 1 (a missing leading dimension counts as 1). A size-0 dimension
    /// broadcasts with 1 (giving 0) but not with any other size.
    ///
    /// Throws ``TensorError/shapeMismatch(op:shapes:reason:)`` naming both shapes when they do not broadcast,
    /// and ``TensorError/invalidShape(op:shape:reason:)`` for a negative dimension.
    public static func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
        try broadcastShapes(a, b, op: "broadcastShape")
    }
}

/// Broadcasts two shapes; errors name `op` and both shapes.
func broadcastShapes(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    if a == b {
        _ = try checkedCount(a, op: op)
        return a
    }
    _ = try checkedCount(a, op: op)
    _ = try checkedCount(b, op: op)
    let rank = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
        let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
        let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
        if da == db || db == 1 {
            out[i] = da
        } else if da == 1 {
            out[i] = db
        } else {
            throw TensorError.shapeMismatch(
                op: op, shapes: [a, b],
                reason: "sizes \(da) and \(db) at dimension \(i - rank) (counted from the right) do not broadcast")
        }
    }
    return out
}

/// The strides that view a tensor of `shape`/`strides` as broadcast to `target` (stride 0 where stretched).
/// The caller has checked that `shape` broadcasts to `target`.
func broadcastStrides(shape: [Int], strides: [Int], to target: [Int]) -> [Int] {
    let lead = target.count - shape.count
    precondition(lead >= 0, "broadcastStrides: target rank is lower")
    var out = [Int](repeating: 0, count: target.count)
    for d in 0..<shape.count where shape[d] == target[lead + d] {
        out[lead + d] = strides[d]
    }
    return out
}

extension Tensor {
    /// This tensor's strides when broadcast to `target` (which it must broadcast to).
    func stridesBroadcast(to target: [Int]) -> [Int] {
        broadcastStrides(shape: shape, strides: strides, to: target)
    }
}

/// Elementwise ops with at least this many elements are split across threads (≈ 50–100 µs of memory-bound
/// work per thread on this class of machine).
let elementwiseParallelMinimum = 1 << 18

/// Calls `body(offsets, count, innerStrides)` for every inner run of `shape` with the given per-operand
/// strides, serially for small work and split over threads (runs cut into pieces) from `parallelMinimum`
/// elements. `body` must only write the output elements of its own run.
func forEachElementwiseRun(
    shape: [Int], strides: [[Int]], parallelMinimum: Int = elementwiseParallelMinimum,
    _ body: (_ offsets: UnsafeBufferPointer<Int>, _ count: Int, _ innerStrides: UnsafeBufferPointer<Int>) -> Void
) {
    let total = shape.reduce(1, *)
    if total == 0 { return }
    if total < parallelMinimum && singleRun(shape: shape, strides: strides, total: total, body) { return }
    let layout = CoalescedLayout(shape: shape, strides: strides)
    if layout.prefersTiles {
        layout.forEachRunTiled(parallel: total >= parallelMinimum && Threading.maxThreads > 1, body)
    } else if total < parallelMinimum || Threading.maxThreads <= 1 {
        layout.forEachRun(body)
    } else {
        layout.forEachRunInParallel(body)
    }
}

/// The common small case without building a ``CoalescedLayout``: when every operand is dense row-major over
/// `shape` or a single broadcast element (all strides 0), the op is one run of `total` elements with inner
/// strides 1 or 0. Returns false (having done nothing) otherwise.
private func singleRun(
    shape: [Int], strides: [[Int]], total: Int,
    _ body: (_ offsets: UnsafeBufferPointer<Int>, _ count: Int, _ innerStrides: UnsafeBufferPointer<Int>) -> Void
) -> Bool {
    let ops = strides.count
    return withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 * ops) { buf in
        for k in 0..<ops {
            var expected = 1, dense = true, zero = true
            for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
                let s = strides[k][d]
                dense = dense && s == expected
                zero = zero && s == 0
                expected *= shape[d]
            }
            guard dense || zero else { return false }
            buf[k] = 0
            buf[ops + k] = dense ? 1 : 0
        }
        body(UnsafeBufferPointer(rebasing: buf[0..<ops]), total, UnsafeBufferPointer(rebasing: buf[ops..<2 * ops]))
        return true
    }
}

extension CoalescedLayout {
    /// Like ``forEachRun(_:)`` but shared over threads: each run is cut into pieces of about 32K elements
    /// (one piece when shorter), and contiguous ranges of pieces of at least `chunkElements` elements are
    /// handed out dynamically by ``parallelChunks(count:grain:_:)``. Pieces arrive in no particular order.
    func forEachRunInParallel(
        chunkElements: Int = 1 << 16,
        _ body: (_ offsets: UnsafeBufferPointer<Int>, _ count: Int, _ innerStrides: UnsafeBufferPointer<Int>) -> Void
    ) {
        if shape.contains(0) { return }
        let rank = shape.count, ops = strides.count
        let inner = shape[rank - 1]
        let piecesPerRun = Swift.max(1, inner >> 15)
        let pieceLength = Swift.max(1, inner / piecesPerRun)
        let pieces = runCount * piecesPerRun
        let innerStrides = strides.map { $0[rank - 1] }
        parallelChunks(count: pieces, grain: Swift.max(1, chunkElements / pieceLength)) { range in
            // Outer index and operand offsets of the first run in this chunk.
            var index = [Int](repeating: 0, count: rank)
            var offsets = [Int](repeating: 0, count: ops)
            var r = range.lowerBound / piecesPerRun
            for d in stride(from: rank - 2, through: 0, by: -1) {
                index[d] = r % shape[d]
                r /= shape[d]
                for k in 0..<ops { offsets[k] += index[d] * strides[k][d] }
            }
            var pieceOffsets = offsets
            innerStrides.withUnsafeBufferPointer { inS in
                var p = range.lowerBound
                while p < range.upperBound {
                    let part = p % piecesPerRun
                    let lo = inner * part / piecesPerRun, hi = inner * (part + 1) / piecesPerRun
                    for k in 0..<ops { pieceOffsets[k] = offsets[k] + lo * inS[k] }
                    pieceOffsets.withUnsafeBufferPointer { body($0, hi - lo, inS) }
                    p += 1
                    if part == piecesPerRun - 1 {
                        // Next run: advance the outer index like an odometer.
                        var d = rank - 2
                        while d >= 0 {
                            index[d] += 1
                            if index[d] < shape[d] {
                                for k in 0..<ops { offsets[k] += strides[k][d] }
                                break
                            }
                            for k in 0..<ops { offsets[k] -= strides[k][d] * (shape[d] - 1) }
                            index[d] = 0
                            d -= 1
                        }
                    }
                }
            }
        }
    }
}

extension CoalescedLayout {
    /// Rows and columns of one tile in ``forEachRunTiled(parallel:_:)``: 16 rows use each 64-byte line of a
    /// column-major operand fully, and 128 columns keep its 128 live lines well inside L1.
    static let tileRows = 16, tileColumns = 128

    /// Whether some operand (often the output of an in-place op) walks the inner dimension with a large
    /// stride but the next-outer one densely — a transposed view. Row-by-row it would touch a new cache line
    /// per element; tiles of the last two dimensions reuse each line 16 times.
    var prefersTiles: Bool {
        let r = shape.count
        guard r >= 2, shape[r - 1] >= 32, shape[r - 2] >= Self.tileRows else { return false }
        return strides.contains { $0[r - 1].magnitude >= 16 && $0[r - 2].magnitude == 1 }
    }

    /// Visits every element like ``forEachRun(_:)``, but tile by tile over the last two dimensions: rows of
    /// at most ``tileColumns`` elements, ``tileRows`` rows per tile. With `parallel`, bands of whole tile rows
    /// are shared out over threads.
    func forEachRunTiled(
        parallel: Bool,
        _ body: (_ offsets: UnsafeBufferPointer<Int>, _ count: Int, _ innerStrides: UnsafeBufferPointer<Int>) -> Void
    ) {
        if shape.contains(0) { return }
        let rank = shape.count, ops = strides.count
        let rows = shape[rank - 2], columns = shape[rank - 1]
        let bandsPerMatrix = (rows + Self.tileRows - 1) / Self.tileRows
        let matrices = shape.dropLast(2).reduce(1, *)
        let rowStrides = strides.map { $0[rank - 2] }, innerStrides = strides.map { $0[rank - 1] }
        func work(_ range: Range<Int>) {
            var offsets = [Int](repeating: 0, count: ops)
            innerStrides.withUnsafeBufferPointer { inS in
                for band in range {
                    // Offsets of the band's first element: decompose the matrix index over the outer dims.
                    var m = band / bandsPerMatrix
                    var base = [Int](repeating: 0, count: ops)
                    for d in stride(from: rank - 3, through: 0, by: -1) {
                        let i = m % shape[d]
                        m /= shape[d]
                        for k in 0..<ops { base[k] += i * strides[k][d] }
                    }
                    let r0 = (band % bandsPerMatrix) * Self.tileRows, r1 = Swift.min(r0 + Self.tileRows, rows)
                    var c0 = 0
                    while c0 < columns {
                        let n = Swift.min(Self.tileColumns, columns - c0)
                        for r in r0..<r1 {
                            for k in 0..<ops { offsets[k] = base[k] + r * rowStrides[k] + c0 * inS[k] }
                            offsets.withUnsafeBufferPointer { body($0, n, inS) }
                        }
                        c0 += n
                    }
                }
            }
        }
        let bands = matrices * bandsPerMatrix
        if parallel {
            parallelChunks(count: bands, grain: Swift.max(1, (1 << 16) / (Self.tileRows * columns)), work)
        } else {
            work(0..<bands)
        }
    }
}

// MARK: - Binary kernels

/// A binary elementwise operation. Comparisons produce 1 for true and 0 for false (NaN compares unequal).
enum BinaryOp: Sendable {
    case add, subtract, multiply, divide
    /// Larger / smaller of the two; NaN if either is NaN (like `torch.maximum`).
    case maximum, minimum
    /// a + alpha·b.
    case addScaled(Double)
    case equal, notEqual, less, lessEqual, greater, greaterEqual
}

/// out[i·so] = op(a[i·sa], b[i·sb]) for i in 0..<n. `o` may be `a` (in place) with `so == sa`.
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func binaryRun<S: TensorScalar>(_ op: BinaryOp, _ a: UnsafePointer<S>, _ sa: Int, _ b: UnsafePointer<S>, _ sb: Int,
                                _ o: UnsafeMutablePointer<S>, _ so: Int, _ n: Int) {
    if S.self == Float.self {
        binaryRunFloat(op, UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), sa,
                       UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), sb,
                       UnsafeMutableRawPointer(o).assumingMemoryBound(to: Float.self), so, n)
        return
    }
    // Scalar loops (Double and any other conformer); LLVM vectorises the dense ones.
    @inline(__always) func run(_ f: (S, S) -> S) {
        if so == 1 && sa == 1 && sb == 1 {
            for i in 0..<n { o[i] = f(a[i], b[i]) }
        } else {
            for i in 0..<n { o[i &* so] = f(a[i &* sa], b[i &* sb]) }
        }
    }
    switch op {
    case .add: run { $0 + $1 }
    case .subtract: run { $0 - $1 }
    case .multiply: run { $0 * $1 }
    case .divide: run { $0 / $1 }
    case .maximum: run { x, y in x > y || x != x ? x : y }
    case .minimum: run { x, y in x < y || x != x ? x : y }
    case .addScaled(let alpha):
        let s = S(alpha)
        run { $0 + s * $1 }
    case .equal: run { $0 == $1 ? 1 : 0 }
    case .notEqual: run { $0 != $1 ? 1 : 0 }
    case .less: run { $0 < $1 ? 1 : 0 }
    case .lessEqual: run { $0 <= $1 ? 1 : 0 }
    case .greater: run { $0 > $1 ? 1 : 0 }
    case .greaterEqual: run { $0 >= $1 ? 1 : 0 }
    }
}

/// The Float path with explicit SIMD8 code. (Generic `SIMD8<S>` code resolves to the stdlib's generic
/// per-lane implementations, and for comparisons and selects LLVM does not re-vectorise those.)
@inline(never)
func binaryRunFloat(_ op: BinaryOp, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                    _ o: UnsafeMutablePointer<Float>, _ so: Int, _ n: Int) {
    @inline(__always) func bool(_ m: SIMDMask<SIMD8<Int32>>) -> SIMD8<Float> {
        unsafeBitCast(unsafeBitCast(SIMD8<Float>(repeating: 1), to: SIMD8<Int32>.self) & m._storage,
                      to: SIMD8<Float>.self)
    }
    switch op {
    case .add: binaryLoop(a, sa, b, sb, o, so, n, { $0 + $1 }, { $0 + $1 })
    case .subtract: binaryLoop(a, sa, b, sb, o, so, n, { $0 - $1 }, { $0 - $1 })
    case .multiply: binaryLoop(a, sa, b, sb, o, so, n, { $0 * $1 }, { $0 * $1 })
    case .divide: binaryLoop(a, sa, b, sb, o, so, n, { $0 / $1 }, { $0 / $1 })
    case .maximum:
        binaryLoop(a, sa, b, sb, o, so, n, { x, y in x > y || x != x ? x : y },
                   { x, y in vmSelect((x .> y) .| (x .!= x), x, y) })
    case .minimum:
        binaryLoop(a, sa, b, sb, o, so, n, { x, y in x < y || x != x ? x : y },
                   { x, y in vmSelect((x .< y) .| (x .!= x), x, y) })
    case .addScaled(let alpha): addScaledRunFloat(Float(alpha), a, sa, b, sb, o, so, n)
    case .equal: binaryLoop(a, sa, b, sb, o, so, n, { $0 == $1 ? 1 : 0 }, { bool($0 .== $1) })
    case .notEqual: binaryLoop(a, sa, b, sb, o, so, n, { $0 != $1 ? 1 : 0 }, { bool($0 .!= $1) })
    case .less: binaryLoop(a, sa, b, sb, o, so, n, { $0 < $1 ? 1 : 0 }, { bool($0 .< $1) })
    case .lessEqual: binaryLoop(a, sa, b, sb, o, so, n, { $0 <= $1 ? 1 : 0 }, { bool($0 .<= $1) })
    case .greater: binaryLoop(a, sa, b, sb, o, so, n, { $0 > $1 ? 1 : 0 }, { bool($0 .> $1) })
    case .greaterEqual: binaryLoop(a, sa, b, sb, o, so, n, { $0 >= $1 ? 1 : 0 }, { bool($0 .>= $1) })
    }
}

/// a + alpha·b; its own function because in the big switch above LLVM declines to inline a closure that
/// captures `alpha`.
@inline(never)
func addScaledRunFloat(_ alpha: Float, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                       _ o: UnsafeMutablePointer<Float>, _ so: Int, _ n: Int) {
    let av = SIMD8<Float>(repeating: alpha)
    binaryLoop(a, sa, b, sb, o, so, n, { $0 + alpha * $1 }, { $0 + av * $1 })
}

/// The loop shapes of a Float binary kernel: dense, one operand splatted (inner stride 0), or general
/// strides. `f` and `v` must compute the same function (the tail uses `f`).
@inline(__always)
func binaryLoop(_ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
                _ o: UnsafeMutablePointer<Float>, _ so: Int, _ n: Int,
                _ f: (Float, Float) -> Float, _ v: (SIMD8<Float>, SIMD8<Float>) -> SIMD8<Float>) {
    @inline(__always) func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }
    @inline(__always) func store(_ x: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: x, as: SIMD8<Float>.self)
    }
    var i = 0
    if so == 1 && sa == 1 && sb == 1 {
        while i &+ 8 <= n {
            store(v(load(a + i), load(b + i)), o + i)
            i &+= 8
        }
        while i < n { o[i] = f(a[i], b[i]); i &+= 1 }
    } else if so == 1 && sa == 1 && sb == 0 {
        let y = b.pointee, yv = SIMD8<Float>(repeating: y)
        while i &+ 8 <= n {
            store(v(load(a + i), yv), o + i)
            i &+= 8
        }
        while i < n { o[i] = f(a[i], y); i &+= 1 }
    } else if so == 1 && sa == 0 && sb == 1 {
        let x = a.pointee, xv = SIMD8<Float>(repeating: x)
        while i &+ 8 <= n {
            store(v(xv, load(b + i)), o + i)
            i &+= 8
        }
        while i < n { o[i] = f(x, b[i]); i &+= 1 }
    } else {
        while i < n {
            o[i &* so] = f(a[i &* sa], b[i &* sb])
            i &+= 1
        }
    }
}

/// out = op(a, b) over `shape`, each operand given by a base pointer and strides already broadcast to `shape`.
func binaryApply<S: TensorScalar>(_ op: BinaryOp, shape: [Int],
                                  out: UnsafeMutablePointer<S>, outStrides: [Int],
                                  a: UnsafePointer<S>, aStrides: [Int],
                                  b: UnsafePointer<S>, bStrides: [Int]) {
    forEachElementwiseRun(shape: shape, strides: [outStrides, aStrides, bStrides]) { off, n, st in
        binaryRun(op, a + off[1], st[1], b + off[2], st[2], out + off[0], st[0], n)
    }
}

extension Tensor {
    /// op(self, other) broadcast to their common shape; errors name `name` and both shapes.
    func broadcastBinary(_ other: Tensor, _ op: BinaryOp, name: String) throws -> Tensor {
        let shape = try broadcastShapes(self.shape, other.shape, op: name)
        let out = Tensor(uninitializedShape: shape)
        withExtendedLifetime((self, other)) {
            binaryApply(op, shape: shape, out: out.basePointer, outStrides: out.strides,
                        a: basePointer, aStrides: stridesBroadcast(to: shape),
                        b: other.basePointer, bStrides: other.stridesBroadcast(to: shape))
        }
        return out
    }

    /// op(self, s), or op(s, self) when `scalarFirst`; the scalar is a stride-0 operand (no allocation).
    func binary(scalar s: Scalar, _ op: BinaryOp, scalarFirst: Bool = false) -> Tensor {
        let out = Tensor(uninitializedShape: shape)
        let zeros = [Int](repeating: 0, count: rank)
        withExtendedLifetime(self) {
            withUnsafePointer(to: s) { sp in
                if scalarFirst {
                    binaryApply(op, shape: shape, out: out.basePointer, outStrides: out.strides,
                                a: sp, aStrides: zeros, b: basePointer, bStrides: strides)
                } else {
                    binaryApply(op, shape: shape, out: out.basePointer, outStrides: out.strides,
                                a: basePointer, aStrides: strides, b: sp, bStrides: zeros)
                }
            }
        }
        return out
    }

    /// self = op(self, other) with `other` broadcast to `self.shape`, written into self's own storage
    /// (copied first when shared or expanded, so no other tensor sees the change).
    mutating func binaryInPlace(_ other: Tensor, _ op: BinaryOp, name: String) throws {
        let shape = try broadcastShapes(self.shape, other.shape, op: name)
        guard shape == self.shape else {
            throw TensorError.shapeMismatch(op: name, shapes: [self.shape, other.shape],
                                            reason: "the right operand must broadcast to the left one's shape \(self.shape)")
        }
        makeUnique()
        let p = basePointer
        withExtendedLifetime(other) {
            binaryApply(op, shape: shape, out: p, outStrides: strides, a: p, aStrides: strides,
                        b: other.basePointer, bStrides: other.stridesBroadcast(to: shape))
        }
    }

    /// self = op(self, s) in place (copy-on-write like ``binaryInPlace(_:_:name:)``).
    mutating func binaryInPlace(scalar s: Scalar, _ op: BinaryOp) {
        makeUnique()
        let p = basePointer
        let zeros = [Int](repeating: 0, count: rank)
        withUnsafePointer(to: s) { sp in
            binaryApply(op, shape: shape, out: p, outStrides: strides, a: p, aStrides: strides, b: sp, bStrides: zeros)
        }
    }
}

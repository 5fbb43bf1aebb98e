/// Strided iteration shared by every elementwise kernel: the loop nest over the outer dimensions is
/// walked once here, and kernels only ever see one inner run (a count and a stride per operand).

/// A layout reduced to the fewest dimensions: size-1 dimensions dropped and neighbours merged where every
/// operand is contiguous across them. The last dimension is the inner run.
struct CoalescedLayout {
    var shape: [Int]
    /// strides[k][d]: stride of operand k along dimension d.
    var strides: [[Int]]

    init(shape: [Int], strides operandStrides: [[Int]]) {
        var dims: [Int] = []
        var strides = [[Int]](repeating: [], count: operandStrides.count)
        for d in 0..<shape.count where shape[d] != 1 {
            if let last = dims.last,
               operandStrides.indices.allSatisfy({ strides[$0].last! == operandStrides[$0][d] * shape[d] }) {
                dims[dims.count - 1] = last * shape[d]
                for k in operandStrides.indices { strides[k][strides[k].count - 1] = operandStrides[k][d] }
            } else {
                dims.append(shape[d])
                for k in operandStrides.indices { strides[k].append(operandStrides[k][d]) }
            }
        }
        if dims.isEmpty {  // a single element
            dims = [1]
            for k in operandStrides.indices { strides[k] = [1] }
        }
        self.shape = dims
        self.strides = strides
    }

    /// Calls `body(offsets, count, innerStrides)` once per inner run, in row-major order. `offsets[k]` is
    /// the element offset of operand k's first element in the run, relative to its base.
    @inline(__always)
    func forEachRun(_ body: (_ offsets: UnsafeBufferPointer<Int>, _ count: Int,
                             _ innerStrides: UnsafeBufferPointer<Int>) -> Void) {
        let rank = shape.count, ops = strides.count
        let inner = shape[rank - 1]
        if shape.contains(0) { return }
        let innerStrides = strides.map { $0[rank - 1] }
        var offsets = [Int](repeating: 0, count: ops)
        var index = [Int](repeating: 0, count: rank)
        innerStrides.withUnsafeBufferPointer { inS in
            while true {
                offsets.withUnsafeBufferPointer { body($0, inner, inS) }
                // Advance the outer index (odometer) and the per-operand offsets with it.
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
                if d < 0 { return }
            }
        }
    }

    /// The number of inner runs.
    var runCount: Int { shape.dropLast().reduce(1, *) }
}

/// Copies `src` element by element into `dst` (same shape), whatever either layout is.
///
/// Copies of more than a megabyte or so are shared over threads: at 2 threads, TinT's serial token-row copies
/// (slices made contiguous, states assembled) were half of the time one thread ran alone.
func copyStrided<Scalar: TensorScalar>(from src: Tensor<Scalar>, into dst: inout Tensor<Scalar>) {
    precondition(src.shape == dst.shape, "copyStrided: shape mismatch")
    let layout = CoalescedLayout(shape: src.shape, strides: [dst.strides, src.strides])
    let d = UncheckedSendable(dst.basePointer), s = src.basePointer
    let copyRun = { (off: UnsafeBufferPointer<Int>, n: Int, st: UnsafeBufferPointer<Int>) in
        stridedCopy(s + off[1], st[1], d.value + off[0], st[0], n)
    }
    withExtendedLifetime(src) {
        if src.count >= parallelCopyElements {
            layout.forEachRunInParallel(chunkElements: parallelCopyElements / 2, copyRun)
        } else {
            layout.forEachRun(copyRun)
        }
    }
}

/// Elements from which a copy is shared over threads (2^17: 512 KiB of `Float`, ~25 µs of one core's copying,
/// against 1–2 µs for a ``WorkerPool`` region whose worker is awake).
let parallelCopyElements = 1 << 17

@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func stridedCopy<S: TensorScalar>(_ src: UnsafePointer<S>, _ srcStride: Int,
                                  _ dst: UnsafeMutablePointer<S>, _ dstStride: Int, _ n: Int) {
    if srcStride == 1 && dstStride == 1 {
        dst.update(from: src, count: n)
    } else if srcStride == 0 {
        let v = src.pointee
        for i in 0..<n { dst[i &* dstStride] = v }
    } else {
        for i in 0..<n { dst[i &* dstStride] = src[i &* srcStride] }
    }
}

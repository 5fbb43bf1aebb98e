/// A reference-counted, 64-byte aligned buffer of scalars. Tensors share it for views and copy it on write.
@usableFromInline
final class TensorStorage<Scalar: TensorScalar>: @unchecked Sendable {
    let base: UnsafeMutablePointer<Scalar>
    let count: Int

    /// Allocates `count` scalars; the memory is uninitialised (scalars are trivial types). Large buffers come
    /// from ``TensorBufferPool`` (recycled inside a ``Tensor/reusingBuffers(_:)`` scope).
    init(uninitializedCount count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Scalar>.stride
        let raw = bytes >= TensorBufferPool.minimumBytes ? TensorBufferPool.allocate(bytes: bytes)
            : UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        base = raw.bindMemory(to: Scalar.self, capacity: max(count, 1))
    }

    convenience init(repeating value: Scalar, count: Int) {
        self.init(uninitializedCount: count)
        fill(base, value, count)
    }

    deinit {
        let bytes = max(count, 1) * MemoryLayout<Scalar>.stride
        if bytes >= TensorBufferPool.minimumBytes {
            TensorBufferPool.release(UnsafeMutableRawPointer(base), bytes: bytes)
        } else {
            UnsafeMutableRawPointer(base).deallocate()
        }
    }
}

/// Writes `value` into `n` scalars: a memset for zero, a specialised loop otherwise. (The stdlib's
/// `initialize(repeating:)` called from unspecialised generic code costs a witness call per element.) Large fills
/// are shared over threads, as large copies are (``parallelCopyElements``).
@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func fill<S: TensorScalar>(_ p: UnsafeMutablePointer<S>, _ value: S, _ n: Int) {
    guard n >= parallelCopyElements else { return fillRun(p, value, n) }
    let base = UncheckedSendable(p)
    parallelChunks(count: n, grain: parallelCopyElements / 2) { range in fillRun(base.value + range.lowerBound, value, range.count) }
}

@inline(__always)
private func fillRun<S: TensorScalar>(_ p: UnsafeMutablePointer<S>, _ value: S, _ n: Int) {
    if value == 0 && value.sign == .plus {
        UnsafeMutableRawPointer(p).initializeMemory(as: UInt8.self, repeating: 0, count: n * MemoryLayout<S>.stride)
    } else {
        for i in 0..<n { p[i] = value }
    }
}

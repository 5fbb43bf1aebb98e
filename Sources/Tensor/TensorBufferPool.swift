/// Recycles the large buffers of tensors freed while a ``Tensor/reusingBuffers(_:)`` scope runs, so a loop that
/// frees and allocates same-sized tensors (the TinT executor: every simulator layer's token rows) reuses warm
/// memory instead of returning it to the kernel and page-faulting fresh zeroed pages back in.
///
/// Only buffers of at least `minimumBytes` pass through the pool: smaller ones come from malloc's arenas, which
/// already reuse memory; larger ones are mmap'ed by malloc and unmapped on free. Buffers are kept by size (rounded
/// up to a 4 KiB page), at most `capacityBytes` in all; when the last scope ends the pool frees them. A buffer
/// freed outside every scope goes straight back to malloc. Guarded by an `NSLock` (`LockedValue`) for
/// ThreadSanitizer, as the GEMM's scratch pool.
enum TensorBufferPool {
    static let minimumBytes = 1 << 18
    static let capacityBytes = 256 << 20

    private struct State {
        var scopes = 0
        var pooledBytes = 0
        var free: [Int: [UnsafeMutableRawPointer]] = [:]
    }
    private static let state = LockedValue(State())

    /// The size class of a request: whole pages.
    static func sizeClass(_ bytes: Int) -> Int { (bytes + 4095) & ~4095 }

    /// A 64-byte aligned buffer of `sizeClass(bytes)` bytes, from the pool when one of that size is free.
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = sizeClass(bytes)
        let reused = state.withLock { s -> UnsafeMutableRawPointer? in
            guard let p = s.free[size]?.popLast() else { return nil }
            s.pooledBytes -= size
            return p
        }
        return reused ?? UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    /// Returns a buffer from ``allocate(bytes:)``: kept for reuse inside a scope while the pool has room.
    static func release(_ p: UnsafeMutableRawPointer, bytes: Int) {
        let size = sizeClass(bytes)
        let kept = state.withLock { s -> Bool in
            guard s.scopes > 0, s.pooledBytes + size <= capacityBytes else { return false }
            s.free[size, default: []].append(p)
            s.pooledBytes += size
            return true
        }
        if !kept { p.deallocate() }
    }

    static func enter() { state.withLock { $0.scopes += 1 } }

    static func leave() {
        let drained = state.withLock { s -> [UnsafeMutableRawPointer] in
            s.scopes -= 1
            guard s.scopes == 0 else { return [] }
            defer { s.free = [:]; s.pooledBytes = 0 }
            return s.free.values.flatMap { $0 }
        }
        for p in drained { p.deallocate() }
    }
}

extension Tensor {
    /// Runs `body` with the large buffers of tensors freed meanwhile recycled for later allocations of the same
    /// size (``TensorBufferPool``), and frees the recycled buffers when the outermost such scope ends. Nothing else
    /// changes: tensors keep value semantics, and a tensor that outlives the scope keeps its buffer.
    public static func reusingBuffers<R>(_ body: () throws -> R) rethrows -> R {
        TensorBufferPool.enter()
        defer { TensorBufferPool.leave() }
        return try body()
    }
}

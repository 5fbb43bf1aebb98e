import Synchronization

/// Large tensor buffers kept for reuse: while a ``Tensor/reusingBuffers(in:_:)`` scope runs with this workspace,
/// the buffers of tensors freed meanwhile are kept here by size and handed to later allocations of that size.
///
/// A loop that frees and allocates same-sized tensors (the TinT executor: every simulator layer's token rows) then
/// reuses warm memory instead of returning it to the kernel and page-faulting fresh zeroed pages back in. A
/// workspace that outlives its scope keeps its buffers for the next scope — as an inference engine keeps its
/// compute buffer between evaluations — so a second run of the same shapes maps no new memory; they are freed by
/// ``removeAll()`` or when the workspace is deinitialised.
///
/// Only buffers of at least 256 KiB pass through a workspace (smaller ones come from malloc's arenas, which
/// already reuse memory); they are kept by size (rounded up to a 4 KiB page), at most ``capacityBytes`` in all.
/// A workspace may serve scopes on several threads at once (it is locked).
public final class TensorWorkspace: @unchecked Sendable {
    /// The most bytes this workspace keeps; a buffer freed past it goes back to malloc.
    public let capacityBytes: Int
    private struct Buffers {
        var free: [Int: [UnsafeMutableRawPointer]] = [:]
        var bytes = 0
    }
    // An NSLock (`LockedValue`), which ThreadSanitizer follows, as the GEMM's scratch pool.
    private let buffers = LockedValue(Buffers())

    /// The workspace of the innermost ``Tensor/reusingBuffers(in:_:)`` scope of this thread (or task), if any.
    /// Worker threads run outside it: their large tensors, rare in any kernel, go through malloc (a TinT run
    /// allocates none there).
    @TaskLocal private static var current: TensorWorkspace?
    /// How many scopes are running in the process: the fast path's test for threads outside every scope.
    private static let scopes = Atomic<Int>(0)

    /// A workspace that keeps at most `capacityBytes` of freed buffers. The default sets no limit: a workspace then
    /// holds at most what its scopes had live at one time, by size.
    public init(capacityBytes: Int = .max) {
        self.capacityBytes = capacityBytes
    }

    deinit {
        buffers.withLock { b in
            for list in b.free.values { for p in list { p.deallocate() } }
        }
    }

    /// The bytes held for reuse now.
    public var retainedBytes: Int { buffers.withLock { $0.bytes } }

    /// Frees every buffer held for reuse. Safe while a scope runs: the workspace then fills again.
    public func removeAll() {
        let drained = buffers.withLock { b -> [UnsafeMutableRawPointer] in
            defer { b = Buffers() }
            return b.free.values.flatMap { $0 }
        }
        for p in drained { p.deallocate() }
    }

    /// A kept buffer of exactly `size` bytes, if there is one.
    func take(size: Int) -> UnsafeMutableRawPointer? {
        buffers.withLock { b in
            guard let p = b.free[size]?.popLast() else { return nil }
            b.bytes -= size
            return p
        }
    }

    /// Keeps `p` (of `size` bytes) if there is room; false when the caller must free it.
    func keep(_ p: UnsafeMutableRawPointer, size: Int) -> Bool {
        buffers.withLock { b in
            guard b.bytes <= capacityBytes - size else { return false }
            b.free[size, default: []].append(p)
            b.bytes += size
            return true
        }
    }

    static func scoped<R>(_ workspace: TensorWorkspace, _ body: () throws -> R) rethrows -> R {
        scopes.add(1, ordering: .relaxed)
        defer { scopes.subtract(1, ordering: .relaxed) }
        return try $current.withValue(workspace, operation: body)
    }

    /// This thread's workspace (nil, without a task-local read, when no scope runs in the process).
    @inline(__always)
    static var active: TensorWorkspace? { scopes.load(ordering: .relaxed) > 0 ? current : nil }
}

/// Where tensor storage gets and returns its buffers: buffers of at least `minimumBytes` go through the current
/// ``TensorWorkspace`` when a scope runs on this thread, every other buffer through malloc.
enum TensorBufferPool {
    static let minimumBytes = 1 << 18
    /// The limit of the workspace ``Tensor/reusingBuffers(_:)`` makes for one scope.
    static let scopedCapacityBytes = 256 << 20

    /// The size class of a request: whole pages.
    static func sizeClass(_ bytes: Int) -> Int { (bytes + 4095) & ~4095 }

    /// A 64-byte aligned buffer of `sizeClass(bytes)` bytes, from the current workspace when it holds one of that size.
    static func allocate(bytes: Int) -> UnsafeMutableRawPointer {
        let size = sizeClass(bytes)
        return TensorWorkspace.active?.take(size: size) ?? UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
    }

    /// Returns a buffer from ``allocate(bytes:)``: kept by the current workspace while it has room.
    static func release(_ p: UnsafeMutableRawPointer, bytes: Int) {
        if TensorWorkspace.active?.keep(p, size: sizeClass(bytes)) != true { p.deallocate() }
    }
}

extension Tensor {
    /// Runs `body` with the large buffers of tensors freed meanwhile recycled for later allocations of the same
    /// size, and frees the recycled buffers when the scope ends (a ``TensorWorkspace`` of 256 MiB made for the
    /// scope). Nothing else changes: tensors keep value semantics, and a tensor that outlives the scope keeps its
    /// buffer.
    public static func reusingBuffers<R>(_ body: () throws -> R) rethrows -> R {
        try reusingBuffers(in: TensorWorkspace(capacityBytes: TensorBufferPool.scopedCapacityBytes), body)
    }

    /// ``reusingBuffers(_:)`` with the buffers kept in `workspace`, which holds them after the scope for the next
    /// one. The scope covers this thread (or task); an inner scope's workspace takes over until it ends.
    public static func reusingBuffers<R>(in workspace: TensorWorkspace, _ body: () throws -> R) rethrows -> R {
        try TensorWorkspace.scoped(workspace, body)
    }
}

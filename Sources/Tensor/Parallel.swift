import Foundation
import Synchronization

/// How many threads the kernels may use. Defaults to the number of active cores; Bench sets 1 or 2.
public enum Threading {
    private static let limit = Atomic<Int>(0)
    /// Read once: `activeProcessorCount` reads cgroup files on Linux and costs ~15 µs per call.
    private static let defaultThreads = ProcessInfo.processInfo.activeProcessorCount

    /// The thread budget for kernels (≥ 1). Setting 0 restores the default (all active cores).
    public static var maxThreads: Int {
        get {
            let v = limit.load(ordering: .relaxed)
            return v > 0 ? v : defaultThreads
        }
        set { limit.store(max(0, newValue), ordering: .relaxed) }
    }
}

/// Runs `body` over `0..<count` split into contiguous chunks of at least `grain` items.
///
/// Work too small to pay for a thread wake-up runs inline. Otherwise there are several chunks per thread,
/// handed out dynamically by the ``WorkerPool``, so a descheduled core on this shared machine delays one
/// chunk rather than half the op.
public func parallelChunks(count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let threads = Threading.maxThreads
    let maxChunks = count / Swift.max(grain, 1)
    if threads <= 1 || maxChunks < 2 {
        if count > 0 { body(0..<count) }
        return
    }
    let chunks = Swift.min(maxChunks, threads * 4)
    let tally = ProductTally.forWorkers
    WorkerPool.shared.run(iterations: chunks, threads: threads) { c in
        let lo = count * c / chunks, hi = count * (c + 1) / chunks
        ProductTally.continuing(tally) { body(lo..<hi) }
    }
}

/// Runs `body(i)` for every `i` in `0..<count`, each item its own unit of work handed out dynamically: for a few
/// heavy, equal items (attention heads, per-head block maps), where ``parallelChunks(count:grain:_:)``'s cap of four
/// chunks per thread would pair some items up (12 heads in 8 chunks) and leave a thread idle for a whole item at the
/// end. One item or one thread runs inline.
public func parallelItems(count: Int, _ body: (Int) -> Void) {
    let threads = Threading.maxThreads
    guard threads > 1 && count >= 2 else {
        for i in 0..<count { body(i) }
        return
    }
    guard count <= WorkerPool.maxIterations else {
        return parallelChunks(count: count, grain: 1) { r in for i in r { body(i) } }
    }
    let tally = ProductTally.forWorkers
    WorkerPool.shared.run(iterations: count, threads: threads) { i in
        ProductTally.continuing(tally) { body(i) }
    }
}

/// Wraps a value the caller knows is safe to share across the threads of one parallel loop.
public struct UncheckedSendable<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

/// Pointer wrapper for capture in `@Sendable` closures (each chunk writes a disjoint region).
struct SendablePointer<T>: @unchecked Sendable {
    let p: UnsafeMutablePointer<T>
    init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}

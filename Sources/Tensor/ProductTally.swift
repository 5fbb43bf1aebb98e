import Synchronization

/// Counts the floating-point operations the product kernels execute (2 per multiply-add) inside
/// ``measure(_:)``: every `gemm`, and every hand-written product kernel of another module that calls ``record(_:)``.
///
/// It is the ground truth a program's own FLOP accounting is tested against (TinT's `TinTFlopCounter`): what the
/// kernels ran, not what a formula says they should. The tally follows the work into `parallelChunks`' worker
/// threads, and tallies of concurrent callers (tests running in parallel) stay apart. Outside `measure`, a kernel
/// pays one relaxed atomic load.
public final class ProductTally: Sendable {
    private let count = Atomic<Int>(0)
    @TaskLocal static var current: ProductTally?
    /// How many `measure` calls are running in the process: the fast path's test.
    private static let active = Atomic<Int>(0)

    private init() {}

    /// Runs `body` and returns its result with the FLOPs the product kernels executed for it (on this thread and
    /// in the parallel regions it started).
    public static func measure<R>(_ body: () throws -> R) rethrows -> (result: R, flops: Int) {
        let tally = ProductTally()
        active.add(1, ordering: .relaxed)
        defer { active.subtract(1, ordering: .relaxed) }
        let result = try $current.withValue(tally) { try body() }
        return (result, tally.count.load(ordering: .relaxed))
    }

    /// Adds `flops` to the tally of the `measure` this call runs under, if any. Product kernels call it once per
    /// call, on the calling thread.
    @inline(__always)
    public static func record(_ flops: @autoclosure () -> Int) {
        guard active.load(ordering: .relaxed) > 0, let tally = current else { return }
        tally.count.add(flops(), ordering: .relaxed)
    }

    /// The tally to carry into worker threads (nil on the fast path).
    @inline(__always)
    static var forWorkers: ProductTally? { active.load(ordering: .relaxed) > 0 ? current : nil }

    /// Runs `body` under `tally` (a worker thread continuing its caller's `measure`).
    @inline(__always)
    static func continuing(_ tally: ProductTally?, _ body: () -> Void) {
        if let tally { $current.withValue(tally, operation: body) } else { body() }
    }
}

import Foundation
import Synchronization

/// The threads behind every parallel region of the kernels (``parallelChunks(count:grain:_:)``,
/// ``parallelItems(count:_:)`` and the GEMM's chunks).
///
/// Why not `DispatchQueue.concurrentPerform`: on this project's VM a libdispatch worker that has gone idle takes
/// tens to a hundred µs to wake (an idle vCPU halts, and waking it is a trip through the hypervisor). TinT enters
/// about 44,000 parallel regions per forward pass, some 35 µs apart, so the second core spent a quarter of its
/// time waiting to be woken. Measured on the VM by `Bench regions` (Docs/BENCHMARKS.md): two 38 µs items took
/// 102 µs through `concurrentPerform` against 76.5 µs on one thread; through this pool, 39.6 µs.
///
/// So a worker that finishes a region keeps polling for the next one for a short while (``spinBudget``) before
/// it sleeps on a condition variable — the bounded spin of an OpenMP runtime, not OpenBLAS's unbounded one: on a
/// loaded machine an idle worker costs at most that budget of CPU time after each region, and the calling thread
/// never spins waiting for a descheduled worker for long (it yields, then sleeps).
///
/// A region is one word, `generation | iterations | next index`: a worker claims an item with a compare-and-swap
/// on that word, so it can never claim an item of a region other than the one it read, and it reads the region's
/// body only after a successful claim (the region cannot end, and its body cannot be replaced, while a claimed
/// item is unfinished). One region runs at a time: a region entered while another is running — nested inside an
/// item, or from another thread — runs inline on its caller.
final class WorkerPool: @unchecked Sendable {
    static let shared = WorkerPool()

    /// How long a worker polls for the next region before sleeping, and how long the caller polls for the last
    /// items before sleeping.
    static let spinBudget: Duration = .microseconds(200)

    private static let indexBits = 20, iterationBits = 20, generationShift = indexBits + iterationBits
    private static let indexMask = (1 << indexBits) - 1, iterationMask = (1 << iterationBits) - 1
    /// Generations wrap (23 bits keep the word non-negative); a worker only compares them for equality.
    private static let generationMask = (1 << (63 - generationShift)) - 1
    /// The largest region the pool takes; larger ones are split by the caller into at most this many chunks.
    static let maxIterations = iterationMask

    /// generation (high bits) | iterations | next unclaimed index.
    private let word = Atomic<Int>(0)
    /// Items of the current region finished.
    private let finished = Atomic<Int>(0)
    /// Whether a region is running (one at a time).
    private let busy = Atomic<Bool>(false)
    /// Workers allowed to take part in the current region (the region's thread budget minus the caller).
    private let allowedWorkers = Atomic<Int>(0)
    /// Workers asleep on `wake`, and the caller asleep on `allDone`.
    private let sleepers = Atomic<Int>(0)
    private let callerSleeping = Atomic<Bool>(false)
    private let wake = NSCondition()
    private let allDone = NSCondition()
    /// The current region's body; written before the region's word is published, read only after a claim.
    private var body: ((Int) -> Void)? = nil
    private let spawnLock = NSLock()
    private var workerCount = 0

    /// Runs `body(i)` for every `i` in `0..<iterations` on up to `threads` threads (the caller is one of them),
    /// items handed out one at a time as threads become free. Returns when every item has finished.
    func run(iterations: Int, threads: Int, _ body: (Int) -> Void) {
        precondition(iterations <= Self.maxIterations, "WorkerPool: too many iterations")
        if iterations <= 0 { return }
        let helpers = Swift.min(threads, iterations) - 1
        guard helpers > 0, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for i in 0..<iterations { body(i) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        ensureWorkers(helpers)
        withoutActuallyEscaping(body) { body in
            self.body = body
            finished.store(0, ordering: .relaxed)
            allowedWorkers.store(helpers, ordering: .relaxed)
            let generation = (word.load(ordering: .relaxed) >> Self.generationShift &+ 1) & Self.generationMask
            word.store(generation << Self.generationShift | iterations << Self.indexBits, ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                wake.lock()
                wake.broadcast()
                wake.unlock()
            }
            while let (i, _) = claim(generation: generation) { runItem(i, of: iterations) }
            waitUntilFinished(iterations)
            self.body = nil
        }
    }

    /// Claims the next item of region `generation`: its index and the region's item count, or nil when the region
    /// has none left (or has ended).
    @inline(__always)
    private func claim(generation: Int) -> (index: Int, iterations: Int)? {
        var w = word.load(ordering: .acquiring)
        while true {
            let n = (w >> Self.indexBits) & Self.iterationMask, i = w & Self.indexMask
            if w >> Self.generationShift != generation || i >= n { return nil }
            let (exchanged, current) = word.compareExchange(expected: w, desired: w &+ 1, ordering: .acquiringAndReleasing)
            if exchanged { return (i, n) }
            w = current
        }
    }

    @inline(__always)
    private func runItem(_ i: Int, of iterations: Int) {
        body!(i)
        if finished.add(1, ordering: .sequentiallyConsistent).newValue == iterations,
           callerSleeping.load(ordering: .sequentiallyConsistent) {
            allDone.lock()
            allDone.broadcast()
            allDone.unlock()
        }
    }

    /// The caller's wait for the items other threads claimed: poll, yielding the core after the first 20 µs (a
    /// worker descheduled mid-item may be waiting for it), then sleep.
    private func waitUntilFinished(_ iterations: Int) {
        let clock = ContinuousClock(), start = clock.now
        var polls = 0
        while finished.load(ordering: .acquiring) < iterations {
            polls &+= 1
            if polls & 255 == 0 {
                let waited = clock.now - start
                if waited > Self.spinBudget { break }
                if waited > .microseconds(20) { sched_yield() }
            }
        }
        if finished.load(ordering: .acquiring) == iterations { return }
        allDone.lock()
        callerSleeping.store(true, ordering: .sequentiallyConsistent)
        while finished.load(ordering: .sequentiallyConsistent) < iterations { allDone.wait() }
        callerSleeping.store(false, ordering: .relaxed)
        allDone.unlock()
    }

    private func ensureWorkers(_ count: Int) {
        spawnLock.lock()
        defer { spawnLock.unlock() }
        while workerCount < count {
            let index = workerCount
            let thread = Thread { [unowned self] in self.workerLoop(index: index) }
            thread.name = "tint-worker-\(index)"
            thread.start()
            workerCount += 1
        }
    }

    /// A worker: take part in every region that allows it, polling for the next one for ``spinBudget`` before
    /// sleeping.
    private func workerLoop(index: Int) -> Never {
        let clock = ContinuousClock()
        var seen = word.load(ordering: .acquiring) >> Self.generationShift
        while true {
            var generation = word.load(ordering: .acquiring) >> Self.generationShift
            if generation == seen {
                let start = clock.now
                var polls = 0
                while generation == seen {
                    polls &+= 1
                    if polls & 255 == 0 && clock.now - start > Self.spinBudget { break }
                    generation = word.load(ordering: .acquiring) >> Self.generationShift
                }
                if generation == seen {
                    wake.lock()
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while word.load(ordering: .sequentiallyConsistent) >> Self.generationShift == seen {
                        wake.wait()
                    }
                    sleepers.subtract(1, ordering: .relaxed)
                    wake.unlock()
                    continue
                }
            }
            seen = generation
            guard index < allowedWorkers.load(ordering: .relaxed) else { continue }
            while let (i, n) = claim(generation: generation) { runItem(i, of: n) }
        }
    }
}

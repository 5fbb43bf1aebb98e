import Foundation
import Synchronization
import Testing
@testable import Tensor

/// The pool behind every parallel region: each item of a region runs exactly once and has finished when `run`
/// returns, whatever the caller does — many short regions back to back, regions after the workers have gone to
/// sleep, regions nested in an item, regions from several threads at once, thread budgets that change.
/// Visits are counted per item without a lock: a visit made twice at once is then itself a race ThreadSanitizer
/// reports (CI runs these under TSan).
@Suite struct WorkerPoolTests {
    /// Runs one region of `count` items on `threads` threads and returns how often each item ran.
    func visits(_ count: Int, threads: Int, _ extra: (Int) -> Void = { _ in }) -> [Int] {
        let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
        defer { seen.deallocate() }
        seen.initialize(repeating: 0)
        let s = UncheckedSendable(seen)
        WorkerPool.shared.run(iterations: count, threads: threads) { i in
            extra(i)
            s.value[i] += 1
        }
        return Array(seen.prefix(count))
    }

    @Test func manyShortRegionsBackToBack() {
        var bad = 0
        for r in 0..<5_000 {
            let count = 1 + r % 17
            if visits(count, threads: 2 + r % 3) != Array(repeating: 1, count: count) { bad += 1 }
        }
        #expect(bad == 0, "\(bad) regions ran an item other than once")
    }

    @Test func regionsAfterTheWorkersSleep() throws {
        for _ in 0..<3 {
            #expect(visits(8, threads: 2) == Array(repeating: 1, count: 8))
            Thread.sleep(forTimeInterval: 0.01)  // 50× the spin budget: the workers are asleep on the condition
        }
    }

    @Test func itemsThatOutlastTheCallersSpin() {
        // One item much longer than the spin budget, the rest short: the caller sleeps until the last one ends.
        let result = visits(4, threads: 2) { i in if i == 3 { Thread.sleep(forTimeInterval: 0.005) } }
        #expect(result == [1, 1, 1, 1])
    }

    @Test func nestedRegionsRunInline() {
        let outer = 6, inner = 5
        let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: outer * inner)
        defer { seen.deallocate() }
        seen.initialize(repeating: 0)
        let s = UncheckedSendable(seen)
        WorkerPool.shared.run(iterations: outer, threads: 2) { i in
            WorkerPool.shared.run(iterations: inner, threads: 2) { j in s.value[i * inner + j] += 1 }
        }
        #expect(seen.allSatisfy { $0 == 1 })
    }

    @Test func regionsFromSeveralThreadsAtOnce() {
        let callers = 4, regions = 1_000
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: callers) { c in
            for r in 0..<regions {
                let count = 1 + (r + c) % 9
                if visits(count, threads: 2) != Array(repeating: 1, count: count) {
                    failures.add(1, ordering: .relaxed)
                }
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }

    @Test func emptyAndSingleThreadRegions() {
        #expect(visits(0, threads: 2).isEmpty)
        #expect(visits(1, threads: 4) == [1])
        #expect(visits(7, threads: 1) == Array(repeating: 1, count: 7))
    }

    @Test func parallelChunksCoverTheRangeOnce() {
        for count in [2, 3, 63, 64, 1000] {
            let seen = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
            defer { seen.deallocate() }
            seen.initialize(repeating: 0)
            let s = UncheckedSendable(seen)
            parallelChunks(count: count, grain: 1) { r in for i in r { s.value[i] += 1 } }
            #expect(seen.allSatisfy { $0 == 1 }, "count \(count)")
        }
    }
}

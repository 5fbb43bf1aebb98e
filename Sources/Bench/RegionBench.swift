// `Bench regions`: what one parallel region costs — the same items on one thread, through libdispatch's
// `DispatchQueue.concurrentPerform` (what the kernels used before), and through `parallelItems` (the kernels'
// `WorkerPool`). TinT enters ~44,000 regions per forward pass, so a region's overhead is paid tens of thousands of
// times; this measures it directly, back to back, as the executor issues them.
import Dispatch
import Foundation
import Tensor

enum RegionBench {
    /// One case: `items` items of about `itemMicroseconds` each; each time is a whole region's.
    struct Row: Codable {
        var items: Int
        var itemMicroseconds: Double
        var serialMicroseconds: Double
        var dispatchMicroseconds: Double
        var poolMicroseconds: Double
    }

    struct Report: Codable {
        var machine: MachineInfo
        var threads: Int
        var rounds: Int
        var rows: [Row]
    }

    static let help = """
        usage: Bench regions [--rounds N] [--threads N] [--json FILE]
          Times one parallel region of `items` equal items (a dependent chain of float adds, ~1–80 µs each), back to
          back: on one thread, through DispatchQueue.concurrentPerform, and through parallelItems (the WorkerPool).
          Each figure is the median over rounds of the mean region time in a round of ≥ 0.2 s.
          --rounds N    rounds per case (default 5)
          --threads N   the thread budget (default 2)
          --json FILE   also write the results as JSON
        """

    /// A chain of `work` dependent multiply-adds from `seed` (bounded: x stays below 8·10⁶): time that cannot be
    /// vectorised away.
    @inline(never)
    static func spin(_ work: Int, _ seed: Double) -> Double {
        var x = seed
        for j in 0..<work { x = x * 0.999_999 + Double(j & 7) }
        return x
    }

    /// Mean seconds per call of `body` over ≥ `minSeconds`.
    static func meanCall(minSeconds: Double = 0.2, _ body: () -> Void) -> Double {
        var calls = 0
        let start = now()
        repeat { body(); calls += 1 } while now() - start < minSeconds
        return (now() - start) / Double(calls)
    }

    static func run(_ args: [String]) throws {
        if args.contains("--help") { print(help); return }
        let o = try Options(args, valued: ["--rounds", "--threads", "--json"], flags: [])
        let rounds = try o.int("--rounds", default: 5), threads = try o.int("--threads", default: 2)
        Threading.maxThreads = threads
        defer { Threading.maxThreads = 0 }
        let sink = UnsafeMutableBufferPointer<Double>.allocate(capacity: 64 * 8)
        defer { sink.deallocate() }
        sink.initialize(repeating: 0)
        let out = UncheckedSendable(sink)
        // Calibrate: chain steps per µs on this machine. Each call continues from the value the last one stored, so
        // no call can be hoisted or folded away.
        let perMicrosecond = Double(1_000_000) / (meanCall { out.value[0] = spin(1_000_000, out.value[0]) } * 1e6)
        print("Bench regions — \(MachineInfo.current().cpu), \(threads) threads, \(rounds) rounds")
        print("items  item µs   1 thread µs   concurrentPerform µs   WorkerPool µs   speed-up (dispatch / pool)")
        var rows: [Row] = []
        for (items, micros) in [(2, 2.0), (2, 10.0), (2, 40.0), (2, 80.0), (12, 10.0), (12, 40.0), (8, 5.0)] {
            let work = Int(micros * perMicrosecond)
            var serial: [Double] = [], dispatch: [Double] = [], pool: [Double] = []
            for _ in 0..<rounds {
                serial.append(meanCall { for i in 0..<items { out.value[i * 8] = spin(work, out.value[i * 8]) } })
                dispatch.append(meanCall {
                    DispatchQueue.concurrentPerform(iterations: items) { i in out.value[i * 8] = spin(work, out.value[i * 8]) }
                })
                pool.append(meanCall { parallelItems(count: items) { i in out.value[i * 8] = spin(work, out.value[i * 8]) } })
            }
            let row = Row(items: items, itemMicroseconds: median(serial) * 1e6 / Double(items),
                          serialMicroseconds: median(serial) * 1e6, dispatchMicroseconds: median(dispatch) * 1e6,
                          poolMicroseconds: median(pool) * 1e6)
            rows.append(row)
            print(pad("\(items)", 5), pad(fmt(row.itemMicroseconds), 7), pad(fmt(row.serialMicroseconds), 13),
                  pad(fmt(row.dispatchMicroseconds), 22), pad(fmt(row.poolMicroseconds), 15),
                  "   \(fmt(row.serialMicroseconds / row.dispatchMicroseconds, 2))× / \(fmt(row.serialMicroseconds / row.poolMicroseconds, 2))×")
        }
        if let path = o["--json"] {
            try writeJSON(Report(machine: .current(), threads: threads, rounds: rounds, rows: rows), to: path)
            print("wrote \(path)")
        }
    }
}

// `Bench gemm`: fp32 GEMM throughput of Tensor's packed kernel, against a naive i-k-j loop measured in the
// same run. Methodology (also used by Scripts/bench_blas.py): a round is the fastest call among at least
// `minCalls` calls that take at least `minSeconds` together; over `rounds` rounds we report the best round and
// the median round. C = A·B with preallocated row-major A, B, C (no allocation inside the timed call).
import Foundation
import Tensor

enum GEMMBench {
    struct Shape: Codable {
        var m: Int, k: Int, n: Int
        var flops: Double { 2 * Double(m) * Double(k) * Double(n) }
        var label: String { "\(m)x\(k)·\(k)x\(n)" }
    }

    struct Result: Codable {
        var m: Int, k: Int, n: Int, threads: Int
        var bestGFlops: Double, medianGFlops: Double, medianMs: Double
        var roundGFlops: [Double]
        var callsPerRound: [Int]
        var naiveGFlops: Double?
        var naiveRows: Int?
        var speedupVsNaive: Double?
    }

    struct Report: Codable {
        var bench = "gemm"
        var machine: MachineInfo
        var kernel: String
        var rounds: Int, minSeconds: Double, minCalls: Int
        var methodology: String
        var results: [Result]
    }

    static let defaultShapes = [
        Shape(m: 256, k: 256, n: 256), Shape(m: 512, k: 512, n: 512), Shape(m: 1024, k: 1024, n: 1024),
        Shape(m: 2048, k: 2048, n: 2048), Shape(m: 512, k: 768, n: 768), Shape(m: 512, k: 768, n: 3072),
        Shape(m: 512, k: 3072, n: 768), Shape(m: 512, k: 768, n: 50272),
    ]
    static let quickShapes = [Shape(m: 256, k: 256, n: 256), Shape(m: 512, k: 512, n: 512),
                              Shape(m: 512, k: 768, n: 768)]

    static let help = """
        usage: Bench gemm [--rounds N] [--threads 1,2] [--shapes MxKxN,...] [--min-time SECONDS] [--json FILE] [--quick]
          --rounds N       rounds per shape and thread count (default 3; --quick: 1)
          --threads LIST   thread counts (default 1,2)
          --shapes LIST    e.g. 512x768x3072 (M×K times K×N); default: 256³ 512³ 1024³ 2048³ and the M=512
                           transformer shapes 512x768x768 512x768x3072 512x3072x768 512x768x50272
          --min-time S     each round runs ≥ 5 calls and ≥ S seconds (default 0.4; --quick: 0.05 and ≥ 2 calls)
          --json FILE      also write the results as JSON
          --quick          short smoke run (3 small shapes, 1 round)
          --no-naive       skip the naive reference (used by Scripts/compare_gemm.sh)
          --cpu-time       time with the thread's CPU-time clock (1 thread only): per-core speed on a loaded machine
        """

    static func parseShapes(_ s: String) throws -> [Shape] {
        try s.split(separator: ",").map { item in
            let d = item.lowercased().split(separator: "x").compactMap { Int($0) }
            guard d.count == 3, d.allSatisfy({ $0 > 0 }) else { throw BenchError("bad shape \(item); use MxKxN") }
            return Shape(m: d[0], k: d[1], n: d[2])
        }
    }

    static func run(_ args: [String]) throws {
        if args.contains("--help") { print(help); return }
        let o = try Options(args, valued: ["--rounds", "--threads", "--shapes", "--min-time", "--json"],
                            flags: ["--quick", "--no-naive", "--cpu-time"])
        let quick = o.has("--quick")
        let rounds = try o.int("--rounds", default: quick ? 1 : 3)
        let threadCounts = try o.intList("--threads", default: [1, 2])
        let shapes = try o["--shapes"].map(parseShapes) ?? (quick ? quickShapes : defaultShapes)
        let minSeconds = try o["--min-time"].map { s -> Double in
            guard let x = Double(s), x >= 0 else { throw BenchError("--min-time needs seconds, got \(s)") }
            return x
        } ?? (quick ? 0.05 : 0.4)
        let minCalls = quick ? 2 : 5
        if o.has("--cpu-time") {
            guard threadCounts == [1] else { throw BenchError("--cpu-time needs --threads 1") }
            useThreadCPUTime = true
        }

        let machine = MachineInfo.current()
        print("Bench gemm — \(machine.date), \(machine.cpu), \(machine.cores) cores, build: \(machine.build)")
        print("best / median over \(rounds) round(s); a round = fastest call of ≥ \(minCalls) calls and ≥ \(minSeconds) s")
        if useThreadCPUTime { print("timing: calling thread's CPU time (descheduled time excluded)") }
        print("naive = i-k-j loop, 1 thread, timed on the first `rows` rows of A (all of them when small) and scaled by FLOPs")
        print("")
        print(pad("shape M×K·K×N", 20, right: false) + pad("thr", 4) + pad("best GF/s", 11) + pad("median GF/s", 13)
              + pad("median ms", 11) + pad("naive GF/s", 12) + pad("rows", 6) + pad("×naive", 8))

        var results: [Result] = []
        for shape in shapes {
            var rng = TensorRNG(seed: 42)
            let a = try Tensor<Float>.uniform([shape.m, shape.k], low: -1, high: 1, using: &rng).scalars
            let b = try Tensor<Float>.uniform([shape.k, shape.n], low: -1, high: 1, using: &rng).scalars
            var c = [Float](repeating: 0, count: shape.m * shape.n)

            // Naive reference on a slice of rows small enough to time in well under a second.
            let naiveRows = max(1, min(shape.m, Int(0.4e9 / (2 * Double(shape.k) * Double(shape.n)))))
            var naiveTime = Double.nan
            if !o.has("--no-naive") {
            a.withUnsafeBufferPointer { ap in
                b.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        naiveTime = fastestCall(minSeconds: quick ? 0.02 : 0.2, minCalls: quick ? 1 : 2) {
                            naiveGEMM(m: naiveRows, n: shape.n, k: shape.k, a: ap.baseAddress!, b: bp.baseAddress!,
                                      c: cp.baseAddress!)
                        }.0
                    }
                }
            }
            }
            let naive = naiveTime.isNaN ? nil : 2 * Double(naiveRows) * Double(shape.k) * Double(shape.n) / naiveTime / 1e9

            // Rounds outermost so 1-thread and 2-thread rounds alternate and share the machine's noise.
            var times = [Int: [Double]](), calls = [Int: [Int]]()
            for _ in 0..<rounds {
                for t in threadCounts {
                    Threading.maxThreads = t
                    var r = (0.0, 0)
                    a.withUnsafeBufferPointer { ap in
                        b.withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                r = fastestCall(minSeconds: minSeconds, minCalls: minCalls) {
                                    gemm(m: shape.m, n: shape.n, k: shape.k, a: ap.baseAddress!, aRowStride: shape.k,
                                         aColStride: 1, b: bp.baseAddress!, bRowStride: shape.n, bColStride: 1,
                                         c: cp.baseAddress!, ldc: shape.n)
                                }
                            }
                        }
                    }
                    times[t, default: []].append(r.0)
                    calls[t, default: []].append(r.1)
                }
            }
            Threading.maxThreads = 0
            for t in threadCounts {
                let ts = times[t]!
                let gf = ts.map { shape.flops / $0 / 1e9 }
                let res = Result(m: shape.m, k: shape.k, n: shape.n, threads: t, bestGFlops: gf.max()!,
                                 medianGFlops: median(gf), medianMs: median(ts) * 1e3, roundGFlops: gf,
                                 callsPerRound: calls[t]!, naiveGFlops: naive, naiveRows: naive == nil ? nil : naiveRows,
                                 speedupVsNaive: naive.map { median(gf) / $0 })
                results.append(res)
                print(pad(shape.label, 20, right: false) + pad("\(t)", 4) + pad(fmt(res.bestGFlops), 11)
                      + pad(fmt(res.medianGFlops), 13) + pad(fmt(res.medianMs, 2), 11)
                      + pad(naive.map { fmt($0, 2) } ?? "-", 12) + pad(naive == nil ? "-" : "\(naiveRows)", 6)
                      + pad(res.speedupVsNaive.map { fmt($0) } ?? "-", 8))
            }
        }
        if let path = o["--json"] {
            try writeJSON(Report(machine: machine, kernel: gemmKernelDescription, rounds: rounds,
                                 minSeconds: minSeconds, minCalls: minCalls,
                                 methodology: "round = fastest of >= minCalls calls taking >= minSeconds; best/median over rounds; naive = i-k-j loop on naiveRows rows, scaled by FLOPs",
                                 results: results), to: path)
            print("wrote \(path)")
        }
    }

    /// The naive reference: C = A·B with an i-k-j loop (the inner loop auto-vectorises; no blocking, no packing).
    @inline(never)
    static func naiveGEMM(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                          c: UnsafeMutablePointer<Float>) {
        for i in 0..<m {
            let ci = c + i * n
            ci.update(repeating: 0, count: n)
            for p in 0..<k {
                let aip = a[i * k + p], bp = b + p * n
                for j in 0..<n { ci[j] += aip * bp[j] }
            }
        }
    }
}

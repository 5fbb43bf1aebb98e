// Timing, statistics, option parsing and machine description shared by the Bench subcommands.
import Foundation
import Tensor

/// A command-line error with a message for the user.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Whether `now()` reads the calling thread's CPU time instead of wall time (`--cpu-time`, 1-thread runs only:
/// it leaves out the time the thread was descheduled, which on a loaded machine dominates long calls).
nonisolated(unsafe) var useThreadCPUTime = false

/// Seconds on a monotonic clock (or the calling thread's CPU-time clock, see `useThreadCPUTime`).
@inline(never)
func now() -> Double {
    var ts = timespec()
    clock_gettime(useThreadCPUTime ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// The fastest of at least `minCalls` calls of `body` that together take at least `minSeconds`
/// (stopping early after `maxSeconds`). Returns (fastest seconds, number of calls).
func fastestCall(minSeconds: Double, minCalls: Int, maxSeconds: Double = 30, _ body: () -> Void) -> (Double, Int) {
    var best = Double.infinity, calls = 0
    let start = now()
    while true {
        let t0 = now()
        body()
        let dt = now() - t0
        best = min(best, dt)
        calls += 1
        let total = now() - start
        if (calls >= minCalls && total >= minSeconds) || total >= maxSeconds { break }
    }
    return (best, calls)
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Simple `--name value` / `--flag` parser.
struct Options {
    private var values: [String: String] = [:]
    private var flags: Set<String> = []

    init(_ args: [String], valued: Set<String>, flags known: Set<String>) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            if valued.contains(a) {
                guard i + 1 < args.count else { throw BenchError("\(a) needs a value") }
                values[a] = args[i + 1]
                i += 2
            } else if known.contains(a) {
                flags.insert(a)
                i += 1
            } else {
                throw BenchError("unknown option \(a)")
            }
        }
    }

    subscript(_ name: String) -> String? { values[name] }
    func has(_ flag: String) -> Bool { flags.contains(flag) }

    func int(_ name: String, default d: Int) throws -> Int {
        guard let v = values[name] else { return d }
        guard let x = Int(v), x > 0 else { throw BenchError("\(name) needs a positive integer, got \(v)") }
        return x
    }

    func intList(_ name: String, default d: [Int]) throws -> [Int] {
        guard let v = values[name] else { return d }
        let xs = v.split(separator: ",").compactMap { Int($0) }
        guard !xs.isEmpty, xs.allSatisfy({ $0 > 0 }) else { throw BenchError("\(name) needs e.g. 1,2, got \(v)") }
        return xs
    }
}

/// What the numbers were measured on.
struct MachineInfo: Codable {
    var cpu: String
    var cores: Int
    var build: String
    var date: String

    static func current() -> MachineInfo {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) }
        let family = cpuinfo.split(separator: "\n").first { $0.hasPrefix("cpu family") }
            .map { String($0.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces) }
        // The compile-time baseline, and the fp32 GEMM kernel dispatched at run time (AVX-512 where the CPU has it, even
        // in an x86-64-v3 build), so a report never names only the baseline.
        #if SIMD_FMA
        let baseline = "SIMD_FMA (x86-64-v3 AVX2+FMA)"
        #else
        let baseline = "portable (no SIMD_FMA)"
        #endif
        let build = "\(baseline); GEMM: \(gemmKernelDescription)"
        let f = DateFormatter()
        f.dateFormat = "yyyy-MM-dd HH:mm:ss'Z'"
        f.timeZone = TimeZone(identifier: "UTC")
        return MachineInfo(cpu: (model ?? "unknown") + (family.map { " (family \($0))" } ?? ""),
                           cores: ProcessInfo.processInfo.activeProcessorCount, build: build, date: f.string(from: Date()))
    }
}

func writeJSON<T: Encodable>(_ value: T, to path: String) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.prettyPrinted, .sortedKeys]
    try enc.encode(value).write(to: URL(fileURLWithPath: path))
}

func pad(_ s: String, _ w: Int, right: Bool = true) -> String {
    s.count >= w ? s : (right ? String(repeating: " ", count: w - s.count) + s : s + String(repeating: " ", count: w - s.count))
}

func fmt(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }

// `Bench tint`: the whole TinT for an OPT-125M-shaped aux model (random weights; D_sim 3072, K 256, H_sim 12,
// 12 layers, one step, forward reuse): compile time, prefix-encoding time, one TinT forward pass at T = 256 and
// 512 (half train, half eval), the aux model's own forward at the same T for scale, parameters, peak memory.
import Foundation
import LanguageModel
import OPT
import Tensor
import TinT

enum TinTBench {
    struct Result: Codable {
        var tokens: Int, threads: Int
        var tintSeconds: [Double], auxForwardSeconds: [Double]
        var tintBest: Double, tintMedian: Double, auxBest: Double, ratioBest: Double
    }

    struct Report: Codable {
        var bench = "tint"
        var machine: MachineInfo
        var shape: String
        var compileSeconds: Double, encodeSeconds: Double
        var parameters: Int, auxParameters: Int
        var peakRSSMiB: Double
        var results: [Result]
    }

    static let help = """
        usage: Bench tint [--tokens 256,512] [--threads 2] [--rounds N] [--layers L] [--json FILE] [--quick]
          --tokens LIST    sequence lengths (default 256,512); the first half of each sequence is the train part
          --threads LIST   thread counts (default 2)
          --rounds N       TinT forward passes per length (default 3; --quick 1)
          --layers L       aux layers (default 12, OPT-125M)
          --json FILE      also write the results as JSON
          --quick          D_aux 96, 2 layers, T 64 (smoke test)
        """

    static func peakRSSMiB() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024
    }

    static func run(_ args: [String]) throws {
        if args.contains("--help") { print(help); return }
        let o = try Options(args, valued: ["--tokens", "--threads", "--rounds", "--layers", "--json"], flags: ["--quick"])
        let quick = o.has("--quick")
        var c = OPTConfig()
        c.numHiddenLayers = try o.int("--layers", default: quick ? 2 : 12)
        if quick {
            c.hiddenSize = 96; c.wordEmbedProjDim = 96; c.ffnDim = 384; c.numAttentionHeads = 6; c.vocabSize = 4096
        }
        let tokensList = try o.intList("--tokens", default: quick ? [64] : [256, 512])
        let threadsList = try o.intList("--threads", default: [2])
        let rounds = try o.int("--rounds", default: quick ? 1 : 3)
        let machine = MachineInfo.current()
        let shape = "D_aux \(c.hiddenSize), \(c.numHiddenLayers) layers, FFN \(c.ffnDim), vocab \(c.vocabSize); S 3, H_sim 12, 1 step, forward reuse"
        print("Bench tint — \(machine.cpu), \(machine.cores) cores, \(machine.build)")
        print(shape)

        let model = try OPTModel(config: c, seed: 0)
        let config = TinTConfig()
        var t0 = now()
        let program = try TinTCompiler.compile(try AuxGraph(opt: c), config: config)
        let compileSeconds = now() - t0
        t0 = now()
        let executor = try TinTExecutor(program: program, parameters: model.parameters)
        let encodeSeconds = now() - t0
        let report = program.parameterReport
        print("compile \(fmt(compileSeconds, 2)) s, prefix encoding \(fmt(encodeSeconds, 2)) s")
        print(report)

        var results: [Result] = []
        var rng = TensorRNG(seed: 7)
        for threads in threadsList {
            Threading.maxThreads = threads
            for T in tokensList {
                let ids = (0..<T).map { _ in Int(rng.next() % UInt64(c.vocabSize - 4)) + 4 }
                let mask = (0..<T).map { $0 < T / 2 }
                var tint: [Double] = [], aux: [Double] = []
                for _ in 0..<rounds {
                    var s = now()
                    _ = try executor.run(ids: ids, trainMask: mask)
                    tint.append(now() - s)
                    s = now()
                    _ = try model.logits(ids)
                    aux.append(now() - s)
                }
                let r = Result(tokens: T, threads: threads, tintSeconds: tint, auxForwardSeconds: aux,
                               tintBest: tint.min()!, tintMedian: median(tint), auxBest: aux.min()!,
                               ratioBest: tint.min()! / aux.min()!)
                results.append(r)
                print("T \(T), \(threads) thread(s): TinT forward best \(fmt(r.tintBest, 2)) s, median \(fmt(r.tintMedian, 2)) s "
                      + "(\(rounds) rounds); aux forward best \(fmt(r.auxBest * 1000, 1)) ms; ratio \(fmt(r.ratioBest, 0))×; "
                      + "peak RSS so far \(fmt(peakRSSMiB() / 1024, 2)) GiB")
            }
        }
        let out = Report(machine: machine, shape: shape, compileSeconds: compileSeconds, encodeSeconds: encodeSeconds,
                         parameters: report.total, auxParameters: report.auxParameters, peakRSSMiB: peakRSSMiB(),
                         results: results)
        if let path = o["--json"] { try writeJSON(out, to: path) }
    }
}

// How `Bench tint` holds a TinT run in memory, and the model of its peak resident memory that picks the plan when
// the caller does not (Docs/BENCHMARKS.md "Scale"; Scripts/tint_memory_table.py prints the same model for the zoo).
import Foundation
import TinT

struct TinTMemoryPlan: CustomStringConvertible {
    /// How the executor keeps the prefixes.
    var storage: PrefixStorage
    /// The aux model is freed once encoded, the executor keeps no read-back base, and one run consumes it
    /// (``TinTExecutor/consumingRun(ids:trainMask:countsTarget:segmentStarts:readBack:flops:)``): the aux weights
    /// and the prefixes exist once each, and never together with the run's stored rows.
    var lowMemory: Bool

    /// Measured peak RSS over the model: logits, working tensors, allocator (+15% at OPT-125M fp32 and OPT-1.3B f16).
    static let residue = 1.15

    /// Modelled peak bytes of a run of `tokens` tokens (before the residue):
    /// - standard: aux weights (4 B × aux parameters, kept for read-back) + two prefix sets (the executor's and the
    ///   run's updated copies) + the stored post-Forward rows (4 B × T × D_sim per Forward module);
    /// - low memory: the larger of encoding (aux weights + one prefix set) and the run (one prefix set + the tables
    ///   + the stored rows).
    func modelledBytes(program: TinTProgram<Float>, tokens: Int) -> Double {
        let report = program.parameterReport
        let b = storage == .native ? 4.0 : 2.0
        let weights = 4 * Double(report.auxParameters), prefixes = b * Double(report.prefixStorage)
        let forwardModules = report.entries.filter { $0.kind.hasSuffix("Forward") }.reduce(0) { $0 + $1.modules }
        let rows = 4 * Double(tokens) * Double(program.spec.simWidth) * Double(forwardModules)
        let tables = 4 * Double(program.graph.tableShapes.values.reduce(0) { $0 + $1.reduce(1, *) })
        return lowMemory ? max(weights + prefixes, prefixes + tables + rows) : weights + 2 * prefixes + rows
    }

    /// The first plan that fits `budget` bytes with the residue: fp32, f16, then f16 with low memory; nil if none.
    static func pick(program: TinTProgram<Float>, tokens: Int, budget: Double) -> TinTMemoryPlan? {
        [TinTMemoryPlan(storage: .native, lowMemory: false), TinTMemoryPlan(storage: .float16, lowMemory: false),
         TinTMemoryPlan(storage: .float16, lowMemory: true)]
            .first { residue * $0.modelledBytes(program: program, tokens: tokens) <= budget }
    }

    var description: String { "\(storage.rawValue) prefixes" + (lowMemory ? ", low memory" : "") }
}

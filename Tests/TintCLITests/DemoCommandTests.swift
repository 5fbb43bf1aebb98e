import Foundation
import Testing
import TinT
@testable import TintCLI

/// `tint demo` end to end on the shipped model, small enough for CI.
@Suite struct DemoCommandTests {
    @Test func demoRunsOnTwoPassages() throws {
        let o = try ParsedOptions(["--max-passages", "2", "--validation-passages", "1", "--lr-grid", "1e-5,1e-4", "--quiet"],
                                  valued: TinTOptions.valued.union(["--max-passages", "--validation-passages", "--lr-grid"]),
                                  flags: TinTOptions.flags.union(["--quiet"]))
        let r = try Demo.run(o)
        #expect(r.passages == 2 && r.lr_selection.count == 2 && [1e-5, 1e-4].contains(r.lr))
        #expect(r.methods.map(\.method) == ["TinT", "approx GD", "exact GD"])
        let tint = r.methods[0], approx = r.methods[1]
        #expect(r.model_eval_loss.isFinite && tint.eval_loss.isFinite)
        #expect(abs(r.tint_vs_approx_perplexity_gap_percent) < 0.5)
        #expect(r.cosine_tint_approx > 0.999)
        #expect(abs(tint.eval_loss - approx.eval_loss) < 1e-3)
        #expect(r.tint_parameters > r.aux_parameters)
        try Demo.print(r)
    }

    @Test func demoRejectsBadPaths() throws {
        #expect(throws: CommandError.self) { try demoCommand.run(["--model", "/nonexistent/model", "--quiet"]) }
        #expect(throws: ArgumentError.self) { try demoCommand.run(["--lr-grid", "a,b", "--quiet"]) }
    }

    /// A real checkpoint (e.g. OPT-125M in Hugging Face layout), only when `TINT_OPT_DIR` names one: weights cannot be
    /// downloaded here, so this runs on a machine that has them.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["TINT_OPT_DIR"] != nil))
    func demoRunsOnARealCheckpoint() throws {
        let dir = ProcessInfo.processInfo.environment["TINT_OPT_DIR"]!
        let o = try ParsedOptions(["--model", dir, "--max-passages", "2", "--validation-passages", "1", "--lr", "1e-6",
                                   "--block", "256", "--quiet"],
                                  valued: TinTOptions.valued.union(["--model", "--max-passages", "--validation-passages", "--block"]),
                                  flags: TinTOptions.flags.union(["--quiet"]))
        let r = try Demo.run(o)
        #expect(r.passages == 2 && r.model_eval_loss.isFinite)
        #expect(abs(r.tint_vs_approx_perplexity_gap_percent) < 0.5)
        try Demo.print(r)
    }
}

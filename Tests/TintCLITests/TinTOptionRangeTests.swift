import Foundation
import Testing
import TinT
@testable import TintCLI

/// Issue 18, item 5: --gate-scale and --fd-scale outside the range where TinT matches approximate GD are refused
/// (naming the range), or accepted with a warning under --unchecked-options (Docs/TINT.md §4, "Accurate ranges").
@Suite struct TinTOptionRangeTests {
    func parse(_ args: [String]) throws -> TinTConfig {
        let o = try ParsedOptions(args + ["--rows-per-prefix", "4", "--sim-heads", "20"], valued: TinTOptions.valued,
                                  flags: TinTOptions.flags)
        let graph = AuxGraph(hiddenWidth: 32, heads: 4, maxPositions: 64, layerCount: 2, headWeight: "head")
        return try TinTOptions.config(o, graph: graph, layers: 2).config
    }

    @Test(arguments: [["--gate-scale", "1"], ["--gate-scale", "1e-3"], ["--gate-scale", "9"],
                      ["--fd-scale", "1e12"], ["--fd-scale", "1e-3"], ["--fd-scale", "99"], ["--fd-scale", "3001"]])
    func outOfRangeValuesAreRefusedNamingTheRange(_ args: [String]) throws {
        do {
            _ = try parse(args)
            Issue.record("\(args) was accepted")
        } catch let error as ArgumentError {
            let range = args[0] == "--gate-scale" ? "≥ 9.1" : "100…3000"
            #expect(error.description.contains(range) && error.description.contains("--unchecked-options"), "\(error)")
        }
    }

    @Test func uncheckedOptionsAcceptThem() throws {
        let c = try parse(["--gate-scale", "1", "--fd-scale", "1e12", "--unchecked-options"])
        #expect(c.gates == .tanh(1) && c.layerNormBackward == .firstOrder(1e12))
        #expect(c.inaccurateOptions.count == 2)
    }

    @Test func theRangeEndsAndDefaultsAreAccepted() throws {
        for args in [["--gate-scale", "9.1"], ["--gate-scale", "1e12"], ["--fd-scale", "100"], ["--fd-scale", "3000"], []] {
            #expect(try parse(args).inaccurateOptions.isEmpty, "\(args)")
        }
        // Hard gates and exact backwards have no scale to check.
        #expect(try parse(["--gates", "hard", "--ln-backward", "exact", "--act-backward", "exact"]).inaccurateOptions.isEmpty)
    }

    /// The derivation of the gate bound: tanh(g) is exactly 1 in fp32 from g ≈ 9.01 on, and not at 9.
    @Test func gateBoundIsWhereTanhRoundsToOne() {
        #expect(Float(tanh(9.1)) == 1)
        #expect(Float(tanh(9.0)) < 1)
    }
}

import Testing
import TinT
@testable import TintCLI

/// The TinT flags shared by `tint dynamic-eval`, `tint compare` and `tint params` (Sources/TintCLI/TinTOptions.swift).
@Suite struct TinTOptionsTests {
    /// The tiny fixtures' shape: D_aux 32, 4 heads, 64 positions, 2 layers (S = 4, H_sim = 20 are valid).
    func parse(_ args: [String], width: Int = 32, heads: Int = 4, positions: Int = 64, layers: Int = 2) throws -> TinTConfig {
        try choose(args, width: width, heads: heads, positions: positions, layers: layers).config
    }

    func choose(_ args: [String], width: Int = 32, heads: Int = 4, positions: Int = 64, layers: Int = 2) throws -> TinTChoice {
        let o = try ParsedOptions(args, valued: TinTOptions.valued, flags: TinTOptions.flags)
        let graph = AuxGraph(hiddenWidth: width, heads: heads, maxPositions: positions, layerCount: layers, headWeight: "head")
        return try TinTOptions.config(o, graph: graph, layers: layers)
    }

    /// Defaults: S = 3, H_sim = 12 where valid (no note); else the smallest valid S ≥ 3 and the valid H_sim nearest 12,
    /// with a note naming the rule the paper's choice breaks; explicit values are kept.
    @Test func defaultsAreThePapersWhereValidElseTheNearestValid() throws {
        let paper = try choose([], width: 768, heads: 12, positions: 2048, layers: 12)
        #expect(paper.config.rowsPerPrefix == 3 && paper.config.simHeads == 12 && paper.note == nil)
        // D 32, H_aux 4: S = 3 does not divide 32; S = 4 gives D_sim 160, whose valid H_sim are 10 and 20 (10 nearer).
        let tiny = try choose([])
        #expect(tiny.config.rowsPerPrefix == 4 && tiny.config.simHeads == 10)
        #expect(tiny.note?.contains("prefixCount") == true)
        // D 1024, H_aux 16 (OPT-350M): S = 4, D_sim 5120; H_sim must be ≥ 16 with a head width dividing 1024 → 20.
        let c350 = try choose([], width: 1024, heads: 16, positions: 2048, layers: 24)
        #expect(c350.config.rowsPerPrefix == 4 && c350.config.simHeads == 20)
        // An explicit S keeps S; H_sim is chosen for it: D_sim 288, H_sim 12 gives head width 24 ∤ 32; 9 gives 32.
        let s8 = try choose(["--rows-per-prefix", "8"])
        #expect(s8.config.rowsPerPrefix == 8 && s8.config.simHeads == 9)
        // Every chosen default satisfies the rules.
        for c in [paper, tiny, s8] {
            try SimulatorSpec(config: c.config, auxWidth: c.config.rowsPerPrefix == 3 ? 768 : 32,
                              auxHeads: c.config.rowsPerPrefix == 3 ? 12 : 4, auxMaxPositions: 64).validate()
        }
    }

    @Test func noFlagsGiveThePaperDefaults() throws {
        let c = try parse([], width: 768, heads: 12, positions: 2048, layers: 12)
        #expect(c == TinTConfig())
        let spec = SimulatorSpec(config: c, auxWidth: 768, auxHeads: 12, auxMaxPositions: 2048)
        #expect(c.rowsPerPrefix == 3 && spec.prefixCount == 256 && c.simHeads == 12 && spec.simWidth == 3072)
        #expect(c.learningRate == 1e-4 && c.simulatedLayers == nil && c.steps == 1)
        #expect(c.reuseForward && !c.reuseBackward && !c.referenceCompatible)
        #expect(c.layerNormBackward == .firstOrder(1000) && c.activationBackward == .finiteDifference(1000))
        #expect(c.gates == .tanh(10) && c.layerNormUpdate == .biasOnly && c.attentionBackward == .valueOnly)
    }

    @Test func everyFieldHasAFlag() throws {
        let c = try parse(["--rows-per-prefix", "4", "--prefixes", "8", "--sim-heads", "20", "--lr", "0.5", "--layers", "1",
                           "--steps", "3", "--no-reuse-forward", "--reuse-backward", "--reference-compatible",
                           "--ln-backward", "exact", "--act-backward", "finite-difference", "--fd-scale", "250",
                           "--gates", "tanh", "--gate-scale", "12", "--ln-update", "full", "--attn-backward", "value-only"])
        var expected = TinTConfig(rowsPerPrefix: 4, simHeads: 20,
                                  learningRate: 0.5, simulatedLayers: 1, steps: 3, reuseForward: false,
                                  reuseBackward: true, referenceCompatible: true)
        expected.layerNormBackward = .exact
        expected.activationBackward = .finiteDifference(250)
        expected.gates = .tanh(12)
        expected.layerNormUpdate = .full
        #expect(c == expected)

        let other = try parse(["--rows-per-prefix=4", "--sim-heads=20", "--ln-backward", "first-order", "--act-backward",
                               "exact", "--fd-scale", "100", "--gates", "hard", "--reuse-forward", "--no-reuse-backward",
                               "--ln-update", "bias-only", "--layers", "0", "--steps", "0", "--lr", "-1e-3"])
        #expect(other.layerNormBackward == .firstOrder(100) && other.activationBackward == .exact)
        #expect(other.gates == .hard && other.reuseForward && !other.reuseBackward && other.layerNormUpdate == .biasOnly)
        #expect(other.simulatedLayers == 0 && other.steps == 0 && other.learningRate == -1e-3)
    }

    @Test(arguments: [
        (["--ln-backward", "second-order"], "--ln-backward must be one of first-order, exact, got 'second-order'"),
        (["--act-backward", "fd"], "--act-backward must be one of finite-difference, exact, got 'fd'"),
        (["--gates", "soft"], "--gates must be one of tanh, hard, got 'soft'"),
        (["--ln-update", "gamma"], "--ln-update must be one of bias-only, full, got 'gamma'"),
        (["--attn-backward", "full"], "--attn-backward must be one of value-only, got 'full'"),
        (["--ln-backward", "exact", "--act-backward", "exact", "--fd-scale", "5"],
         "--fd-scale applies only with --ln-backward first-order or --act-backward finite-difference"),
        (["--gates", "hard", "--gate-scale", "5"], "--gate-scale applies only with --gates tanh"),
        (["--reuse-forward", "--no-reuse-forward"], "give either --reuse-forward or --no-reuse-forward, not both"),
        (["--reuse-backward", "--no-reuse-backward"], "give either --reuse-backward or --no-reuse-backward, not both"),
        (["--layers", "3"], "--layers needs an integer in 0…2, got '3'"),
    ])
    func malformedFlagsAreUsageErrors(_ args: [String], _ message: String) {
        #expect(throws: ArgumentError(message)) { _ = try parse(["--rows-per-prefix", "4", "--sim-heads", "20"] + args) }
    }

    @Test func badNumbersAreUsageErrors() {
        for args in [["--steps", "-1"], ["--lr", "inf"], ["--fd-scale", "0"], ["--gate-scale", "-1"], ["--sim-heads", "0"],
                     ["--rows-per-prefix", "x"], ["--prefixes", "0"], ["--lr"]] {
            #expect(throws: ArgumentError.self, "\(args)") { _ = try parse(["--rows-per-prefix", "4", "--sim-heads", "20"] + args) }
        }
    }

    /// A well-formed configuration that breaks a construction rule names the rule.
    @Test(arguments: [
        (["--rows-per-prefix", "4", "--sim-heads", "20", "--prefixes", "4"], "prefixCount"),
        (["--rows-per-prefix", "3"], "prefixCount"),           // an explicit S = 3 does not divide D_aux = 32
        (["--rows-per-prefix", "3", "--sim-heads", "12"], "prefixCount"),
        (["--rows-per-prefix", "2", "--sim-heads", "20"], "rowsPerPrefix"),
        (["--rows-per-prefix", "4", "--sim-heads", "7"], "simHeadsDivide"),
        (["--rows-per-prefix", "4", "--sim-heads", "4"], "simHeadWidth"),
        (["--rows-per-prefix", "4", "--sim-heads", "20", "--lr", "0", "--fd-scale", "1e-300", "--gate-scale", "1e-300",
          "--unchecked-options"], nil),
    ] as [([String], String?)])
    func ruleViolationsNameTheRule(_ args: [String], _ rule: String?) throws {
        guard let rule else { _ = try parse(args); return }
        do {
            _ = try parse(args)
            Issue.record("\(args) should break rule \(rule)")
        } catch let TinTError.ruleViolation(name, _, _) {
            #expect(name == rule, "\(args)")
        }
    }
}

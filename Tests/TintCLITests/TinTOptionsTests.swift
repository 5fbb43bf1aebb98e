import Testing
import TinT
@testable import TintCLI

/// The TinT flags shared by `tint dynamic-eval`, `tint compare` and `tint params` (Sources/TintCLI/TinTOptions.swift).
@Suite struct TinTOptionsTests {
    /// The tiny fixtures' shape: D_aux 32, 4 heads, 64 positions, 2 layers (S = 4, H_sim = 20 are valid).
    func parse(_ args: [String], width: Int = 32, heads: Int = 4, positions: Int = 64, layers: Int = 2) throws -> TinTConfig {
        let o = try ParsedOptions(args, valued: TinTOptions.valued, flags: TinTOptions.flags)
        return try TinTOptions.config(o, auxWidth: width, auxHeads: heads, auxMaxPositions: positions, auxLayers: layers)
    }

    @Test func noFlagsGiveThePaperDefaults() throws {
        let c = try parse([], width: 768, heads: 12, positions: 2048, layers: 12)
        #expect(c == TinTConfig(auxWidth: 768, auxHeads: 12, auxMaxPositions: 2048))
        #expect(c.rowsPerPrefix == 3 && c.prefixCount == 256 && c.simHeads == 12 && c.simWidth == 3072)
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
        var expected = TinTConfig(auxWidth: 32, auxHeads: 4, auxMaxPositions: 64, rowsPerPrefix: 4, simHeads: 20,
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
        ([], "prefixCount"),                                   // S = 3 does not divide D_aux = 32
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

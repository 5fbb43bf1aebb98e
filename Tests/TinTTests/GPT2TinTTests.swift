import Foundation
import Testing
import Autodiff
import GPT2
import LanguageModel
import Tensor
@testable import TinT

/// The zoo's tiny GPT-2 (Tests/ZooTests/Fixtures/tiny-gpt2: D 32, 4 heads, 2 layers, FFN 128, vocabulary 448, tied
/// head, gelu_new, Conv1D weights `[in, out]`, fused `c_attn`).
func tinyGPT2() throws -> GPT2Model {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ZooTests/Fixtures/tiny-gpt2")
    return try GPT2Model.load(directory: dir)
}

/// TinT compiled from GPT-2's front end, against the model itself and the approximate-GD oracle (GPT-2's own
/// `dynamicUpdate` under TinT's rule derived from the graph).
@Suite struct GPT2TinTTests {
    /// The defaults for D 32, H_aux 4: S = 4 (S = 3 does not divide 32), H_sim = 10.
    func config(_ graph: AuxGraph, learningRate: Double, steps: Int = 1, simulatedLayers: Int? = nil,
                exact: Bool = false) throws -> TinTConfig {
        let chosen = try TinTDefaults(graph: graph)
        #expect(chosen.config.rowsPerPrefix == 4 && chosen.config.simHeads == 10 && chosen.note != nil)
        return try defaultConfig(graph, learningRate: learningRate, steps: steps, simulatedLayers: simulatedLayers, exact: exact)
    }

    /// The graph names every checkpoint parameter in its stored layout, and its Autodiff evaluation is the model.
    @Test func graphIsTheModel() throws { try expectGraphIsTheModel(try tinyGPT2()) }

    /// η = 0: TinT's logits before and after equal the model's (fp32, ≤ 1e-5).
    @Test(arguments: [false, true]) func zeroLearningRateReproducesTheModel(exact: Bool) throws {
        let model = try tinyGPT2()
        let sim = try TinTSimulator(model: model, config: try config(try AuxGraph(model: model), learningRate: 0, exact: exact))
        let ids = fixtureIDs(24, vocabulary: model.config.vocabSize, seed: 3)
        let out = try sim.run(ids: ids, trainMask: (0..<24).map { $0 < 12 })
        let reference = try model.logits(ids)
        #expect(maxDiff(out.logitsBefore, reference) <= 1e-5)
        #expect(maxDiff(out.logitsAfter, reference) <= 1e-5)
    }

    /// TinT's logit change against the approximate-GD oracle: ≤ 5e-3 relative with the paper's N = 1000 and tanh
    /// gates, ≤ 1e-5 with exact backward rules and hard gates, over several masks, η, 1–2 steps and n_sim = 1 < 2
    /// layers. The read-back weights come back under the checkpoint's names and layouts and equal the oracle's
    /// (`c_attn`: only V's columns move; Conv1D `[in, out]`).
    @Test(arguments: [false, true]) func matchesApproximateGradientDescent(exact: Bool) throws {
        let model = try tinyGPT2()
        let D = model.config.nEmbd
        try expectTinTMatchesApproximateGD(model, exact: exact,
                                           cases: [(1, nil, 12, 0.002), (2, nil, 16, 0.001), (1, 1, 9, 0.005), (2, 1, 20, 0.003)]) { out, label in
            // The fused c_attn of a simulated layer: Q and K columns untouched, V's moved.
            let tintParameters = try #require(out.parameters)
            let top = GPT2Model.layerName(1, "attn.c_attn.weight")
            let moved = try tintParameters.tensor(top) - model.parameters.tensor(top)
            let qk = try moved.sliced(axis: 1, 0..<(2 * D)).contiguous(), v = try moved.sliced(axis: 1, (2 * D)..<(3 * D)).contiguous()
            #expect(maxAbs(qk) == 0 && maxAbs(v) > 0, "\(label)")
        }
    }

    /// `referenceCompatible` on GPT-2 has OPT's quirks: `mlp.c_proj.bias` (the map with FFN/D = 4 input chunks)
    /// moves 4·η, and the last position counts when it is a train token; the oracle with the same switch agrees.
    @Test func referenceCompatibleHasOPTsQuirks() throws {
        let model = try tinyGPT2()
        let graph = try AuxGraph(model: model)
        let T = 20, ids = fixtureIDs(T, vocabulary: model.config.vocabSize, seed: 11)
        let plain = try config(graph, learningRate: 0.002, exact: true)
        var quirky = plain
        quirky.referenceCompatible = true
        let rule = try DescentRule.approximate(for: model, config: quirky)
        #expect(rule.unmaskedLastPosition)
        #expect(rule.learningRateScale == [GPT2Model.layerName(0, "mlp.c_proj.bias"): 4, GPT2Model.layerName(1, "mlp.c_proj.bias"): 4])
        let evalLast = (0..<T).map { $0 < 10 }
        let a = try #require(try TinTSimulator(model: model, config: plain).run(ids: ids, trainMask: evalLast, readBack: true).parameters)
        let b = try #require(try TinTSimulator(model: model, config: quirky).run(ids: ids, trainMask: evalLast, readBack: true).parameters)
        for (name, original) in model.parameters {
            let da = try a.tensor(name) - original, db = try b.tensor(name) - original
            if name.hasSuffix("mlp.c_proj.bias") {
                #expect(relativeError(db, da * 4) <= 1e-4, "\(name) moves 4·η")
            } else {
                // Unchanged up to fp32 rounding of w + Δw (4 ulps of the weight's magnitude).
                #expect(maxDiff(da, db) <= 4.8e-7 * max(maxAbs(original), 1), "\(name) unchanged by the switch")
            }
        }
        // All tokens train: TinT with the quirks equals the oracle with the quirks.
        let all = [Bool](repeating: true, count: T)
        let tint = try TinTSimulator(model: model, config: quirky).run(ids: ids, trainMask: all)
        let oracle = try approximateGradientDescent(model: model, ids: ids, trainMask: all, config: quirky)
        let err = relativeError(try tint.logitsAfter - tint.logitsBefore, try oracle.logitsAfter - oracle.logitsBefore)
        #expect(err <= 1e-5, "reference-compatible logit-change error \(err)")
    }
}

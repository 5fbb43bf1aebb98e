import Testing
import Autodiff
import LanguageModel
import Tensor
@testable import TinT

/// A front end's graph is the model: it names every checkpoint parameter in its stored layout and count, and its
/// Autodiff evaluation gives the model's logits (fp32, ≤ 1e-5).
func expectGraphIsTheModel(_ model: any CausalLM, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let graph = try AuxGraph(model: model)
    #expect(graph.parameterNames == Set(model.parameters.names), sourceLocation: sourceLocation)
    for (name, shape) in graph.parameterShapes {
        #expect(model.parameters[name]?.shape == shape, "\(name)", sourceLocation: sourceLocation)
    }
    #expect(graph.parameterCount == model.parameterCount, sourceLocation: sourceLocation)
    let ids = fixtureIDs(20, vocabulary: model.config.vocabSize, seed: 1)
    let z = try noGrad { try graph.logits(ids: ids, parameters: model.parameters.constants).value }
    #expect(maxDiff(z, try model.logits(ids)) <= 1e-5, sourceLocation: sourceLocation)
}

/// The defaults TinT chooses for `graph` (``TinTDefaults``) with η, steps and n_sim set; `exact` switches off every
/// approximation (exact layer-norm and activation backward, hard gates).
func defaultConfig(_ graph: AuxGraph, learningRate: Double, steps: Int = 1, simulatedLayers: Int? = nil,
                   exact: Bool = false) throws -> TinTConfig {
    var c = try TinTDefaults(graph: graph).config
    (c.learningRate, c.steps, c.simulatedLayers) = (learningRate, steps, simulatedLayers)
    return exact ? withoutApproximations(c) : c
}

/// `c` with exact layer-norm and activation backward and hard gates: nothing in TinT approximates.
func withoutApproximations(_ c: TinTConfig) -> TinTConfig {
    var c = c
    (c.layerNormBackward, c.activationBackward, c.gates) = (.exact, .exact, .hard)
    return c
}

/// TinT (the defaults for `model`) against the approximate-GD oracle (the model's own `dynamicUpdate` under TinT's
/// rule) over (steps, n_sim, train tokens of 24, η) cases: the logit change within 5e-3 relative with the paper's
/// options and 1e-5 with `exact`; every weight read back under its checkpoint name and shape, moving as the oracle's
/// (≤ 1e-2 / 1e-4) or not at all. `more` checks a case's outcome further.
func expectTinTMatchesApproximateGD(_ model: any CausalLM, exact: Bool, cases: [(Int, Int?, Int, Double)],
                                    sourceLocation: SourceLocation = #_sourceLocation,
                                    more: (DescentOutcome<Float>, String) throws -> Void = { _, _ in }) throws {
    let graph = try AuxGraph(model: model)
    let T = 24
    for (steps, nSim, trainCount, eta) in cases {
        var c = try defaultConfig(graph, learningRate: eta, steps: steps, simulatedLayers: nSim, exact: exact)
        c.reuseBackward = steps == 2
        let ids = fixtureIDs(T, vocabulary: model.config.vocabSize, seed: UInt64(trainCount))
        let mask = (0..<T).map { $0 < trainCount }
        let out = try TinTSimulator(model: model, config: c).run(ids: ids, trainMask: mask, readBack: true)
        let reference = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: c)
        let oracleChange = try reference.logitsAfter - reference.logitsBefore
        let err = relativeError(try out.logitsAfter - out.logitsBefore, oracleChange)
        let label = "steps \(steps) n_sim \(String(describing: nSim)) train \(trainCount) η \(eta)"
        #expect(maxAbs(oracleChange) > 1e-3, "the step must move the logits (\(label))", sourceLocation: sourceLocation)
        #expect(err <= (exact ? 1e-5 : 5e-3), "\(label): logit-change error \(err)", sourceLocation: sourceLocation)

        let tint = try #require(out.parameters), oracle = try #require(reference.parameters)
        #expect(Set(tint.names) == Set(model.parameters.names), sourceLocation: sourceLocation)
        for (name, tensor) in oracle {
            let original = try model.parameters.tensor(name)
            #expect(try tint.tensor(name).shape == original.shape, "\(name) keeps its checkpoint shape", sourceLocation: sourceLocation)
            let moved = try tensor - original, tintMoved = try tint.tensor(name) - original
            if maxAbs(moved) == 0 {
                #expect(maxAbs(tintMoved) == 0, "\(name) must stay frozen (\(label))", sourceLocation: sourceLocation)
            } else {
                let e = relativeError(tintMoved, moved)
                #expect(e <= (exact ? 1e-4 : 1e-2), "\(name): weight-change error \(e) (\(label))", sourceLocation: sourceLocation)
            }
        }
        try more(out, label)
    }
}

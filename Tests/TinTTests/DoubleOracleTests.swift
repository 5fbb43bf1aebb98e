import Foundation
import Testing
import Autodiff
import GPT2
import LanguageModel
import OPT
import Tensor
@testable import TinT

/// The end-to-end oracle of TINT-DESIGN §4.3 in Double: with exact layer-norm and activation backward and hard gates
/// no TinT module approximates anything, so TinT run in Double must equal the approximate-GD oracle on the same graph
/// (Autodiff, Double) up to rounding. The fixtures' Float weights are converted to Double; the tolerance 1e-9 is the
/// design's and sits far above Double rounding (measured ≤ 8e-15) and far below any real discrepancy (η off by 1e-8
/// relative already fails it).
@Suite struct DoubleOracleTests {
    /// The tiny OPT fixtures (pre-LN, post-LN) and the zoo's tiny GPT-2, all D 32, 4 heads, 2 layers; and the
    /// RMS-norm / GELU (erf) graph of `AuxGraphTests` (D 48, 3 heads, 2 layers), for the modules no fixture uses.
    /// The zoo's tiny Llama (GQA 4/2, RoPE, SwiGLU, untied head, no biases) and a random Llama with FFN 44 (K-rounded,
    /// zero-padded blocks), biases, a tied head and GeGLU; random Llamas whose heads span 16 and 48 of D 32 (attention
    /// in zero-padded chunks of 4 heads).
    static let fixtures = ["tiny-opt-pre-ln", "tiny-opt-post-ln", "tiny-gpt2", "rms-graph", "tiny-llama", "padded-llama",
                           "narrow-heads-llama", "wide-heads-llama"]

    /// The fixture's graph and its parameters in Double.
    func fixture(_ name: String) throws -> (graph: AuxGraph, parameters: ParameterSet<Double>, vocabulary: Int) {
        if name == "rms-graph" {
            let graph = try rmsGraph()
            return (graph, try randomParameters(graph, seed: 9).converted(to: Double.self), 64)
        }
        let model: any CausalLM
        switch name {
        case "tiny-gpt2": model = try tinyGPT2()
        case "tiny-llama": model = try tinyLlama()
        case "padded-llama": model = try paddedLlama()
        case "narrow-heads-llama": model = try headsLlama(heads: 2, kvHeads: 1)
        case "wide-heads-llama": model = try headsLlama(heads: 6, kvHeads: 3)
        default: model = try fixtureModel(name)
        }
        let graph = try AuxGraph(model: model)
        let vocabulary = try #require(graph.tableShapes[graph.headWeight]?.first)
        return (graph, try model.parameters.converted(to: Double.self), vocabulary)
    }

    /// The defaults (S 4, H_sim 10 for D 32; S 3, H_sim 12 for D 48) with every approximation switched off.
    func exactConfig(_ graph: AuxGraph, learningRate: Double, steps: Int, simulatedLayers: Int?) throws -> TinTConfig {
        var c = try TinTDefaults(graph: graph).config
        c.learningRate = learningRate
        c.steps = steps
        c.simulatedLayers = simulatedLayers
        c.layerNormBackward = .exact
        c.activationBackward = .exact
        c.gates = .hard
        return c
    }

    /// Logits before equal the graph's Autodiff logits; the logit change and every read-back weight change equal the
    /// oracle's to ≤ 1e-9 relative (frozen weights bit-identical), over masks with 9–20 train tokens of 24, η
    /// 0.001–0.005, 1–2 steps and n_sim 1 (below the 2 layers) and 2.
    @Test(arguments: fixtures) func doubleTinTEqualsApproximateGradientDescent(name: String) throws {
        let (graph, parameters, vocabulary) = try fixture(name)
        let T = 24
        for (steps, nSim, trainCount, eta) in [(1, nil, 12, 0.002), (2, nil, 16, 0.001), (1, 1, 9, 0.005), (2, 1, 20, 0.003)]
            as [(Int, Int?, Int, Double)] {
            let c = try exactConfig(graph, learningRate: eta, steps: steps, simulatedLayers: nSim)
            let ids = fixtureIDs(T, vocabulary: vocabulary, seed: UInt64(trainCount))
            let mask = (0..<T).map { $0 < trainCount }
            let program = try TinTCompiler.compile(graph, config: c, scalar: Double.self)
            let out = try TinTExecutor(program: program, parameters: parameters).run(ids: ids, trainMask: mask, readBack: true)
            let oracle = try graph.approximateGradientDescent(parameters: parameters, ids: ids, trainMask: mask, config: c)
            let label = "\(name) steps \(steps) n_sim \(String(describing: nSim)) train \(trainCount) η \(eta)"

            let forwardError = relativeError(out.logitsBefore, oracle.logitsBefore)
            #expect(forwardError <= 1e-12, "\(label): logits-before error \(forwardError)")
            let change = try out.logitsAfter - out.logitsBefore, oracleChange = try oracle.logitsAfter - oracle.logitsBefore
            let err = relativeError(change, oracleChange)
            #expect(maxAbs(oracleChange) > 1e-3, "the step must move the logits (\(label))")
            #expect(err <= 1e-9, "\(label): logit-change error \(err)")

            let tint = try #require(out.parameters), expected = try #require(oracle.parameters)
            #expect(Set(tint.names) == Set(parameters.names))
            for (weight, original) in parameters {
                let moved = try expected.tensor(weight) - original, tintMoved = try tint.tensor(weight) - original
                if maxAbs(moved) == 0 {
                    #expect(maxAbs(tintMoved) == 0, "\(weight) must stay frozen (\(label))")
                } else {
                    let e = relativeError(tintMoved, moved)
                    #expect(e <= 1e-9, "\(weight): weight-change error \(e) (\(label))")
                }
            }
        }
    }

    /// The scalar changes what the modules compute in, not the construction: a Double program of the same graph and
    /// configuration has the Float program's parameter report.
    @Test func doubleProgramHasTheFloatConstruction() throws {
        let (graph, _, _) = try fixture("tiny-opt-pre-ln")
        let c = try exactConfig(graph, learningRate: 0.002, steps: 1, simulatedLayers: 1)
        let double = try TinTCompiler.compile(graph, config: c, scalar: Double.self)
        let float = try TinTCompiler.compile(graph, config: c)
        #expect(double.parameterReport == float.parameterReport)
        #expect(double.simulated == float.simulated && double.plans.count == float.plans.count)
    }
}

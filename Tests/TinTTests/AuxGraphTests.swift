import Foundation
import Testing
import Autodiff
import LanguageModel
import OPT
import Tensor
@testable import TinT

/// A graph no OPT config produces: pre-RMS-norm blocks, GELU, query/key and fc2 maps without bias, a final RMS norm.
func rmsGraph(width D: Int = 48, heads: Int = 3, layers: Int = 2, vocabulary V: Int = 64, positions: Int = 32) throws -> AuxGraph {
    var g = AuxGraph(hiddenWidth: D, heads: heads, maxPositions: positions, layerCount: layers, headWeight: "wte")
    g.tableShapes = ["wte": [V, D], "wpe": [positions, D]]
    func linear(_ name: String, _ dIn: Int, _ dOut: Int, bias: Bool) -> AuxLinear {
        AuxLinear(weight: name + ".w", bias: bias ? name + ".b" : nil, inputWidth: dIn, outputWidth: dOut)
    }
    let tokens = try g.append("wte", .tokenEmbedding(weight: "wte"), layer: nil, width: D)
    let positionRows = try g.append("wpe", .positionEmbedding(weight: "wpe", offset: 0), layer: nil, width: D)
    var h = try g.append("embed", .add, inputs: [tokens, positionRows], layer: nil, width: D)
    for l in 0..<layers {
        let p = "l\(l)."
        let x = try g.append(p + "rms1", .rmsNorm(weight: p + "rms1", epsilon: 1e-6), inputs: [h], layer: l, width: D)
        let a = try g.append(p + "attn", .causalSelfAttention(query: linear(p + "q", D, D, bias: false), key: linear(p + "k", D, D, bias: false),
                                                                value: linear(p + "v", D, D, bias: true), heads: heads),
                             inputs: [x], layer: l, width: D)
        let o = try g.append(p + "o", .linear(linear(p + "o", D, D, bias: true), trainable: true), inputs: [a], layer: l, width: D)
        h = try g.append(p + "res1", .add, inputs: [h, o], layer: l, width: D)
        let y = try g.append(p + "rms2", .rmsNorm(weight: p + "rms2", epsilon: 1e-6), inputs: [h], layer: l, width: D)
        let f = try g.append(p + "fc1", .linear(linear(p + "fc1", D, 2 * D, bias: true), trainable: true), inputs: [y], layer: l, width: 2 * D)
        let s = try g.append(p + "gelu", .activation(.gelu), inputs: [f], layer: l, width: 2 * D)
        let m = try g.append(p + "fc2", .linear(linear(p + "fc2", 2 * D, D, bias: false), trainable: true), inputs: [s], layer: l, width: D)
        h = try g.append(p + "res2", .add, inputs: [h, m], layer: l, width: D)
    }
    g.output = try g.append("norm", .rmsNorm(weight: "norm", epsilon: 1e-6), inputs: [h], layer: layers, width: D)
    return g
}

/// Random parameters for a graph: weights N(0, 0.15²), norm weights 1 + N(0, 0.1²).
func randomParameters(_ g: AuxGraph, seed: UInt64) throws -> ParameterSet<Float> {
    var rng = TensorRNG(seed: seed)
    var p = ParameterSet<Float>()
    for (name, shape) in g.parameterShapes.sorted(by: { $0.key < $1.key }) {
        var t = try Tensor<Float>.normal(shape, std: shape.count == 1 ? 0.1 : 0.15, using: &rng)
        if shape.count == 1 && (name.contains("rms") || name == "norm") { t = t + 1 }
        try p.insert(name, t)
    }
    return p
}

@Suite struct AuxGraphTests {
    /// The graph interpreter is itself checked: on the OPT fixtures it reproduces `OPTModel`'s logits.
    @Test(arguments: ["tiny-opt-pre-ln", "tiny-opt-post-ln"]) func interpreterMatchesOPT(name: String) throws {
        let model = try fixtureModel(name)
        let ids = fixtureIDs(20, vocabulary: model.config.vocabSize, seed: 2)
        let z = try noGrad { try AuxGraph(opt: model.config).logits(ids: ids, parameters: model.parameters.constants).value }
        #expect(maxDiff(z, try model.logits(ids)) <= 1e-5)
    }

    func config(_ g: AuxGraph, learningRate: Double, exact: Bool) -> TinTConfig {
        var c = TinTConfig(learningRate: learningRate)
        if exact { c.layerNormBackward = .exact; c.activationBackward = .exact; c.gates = .hard }
        return c
    }

    /// RMS norm, GELU and bias-free maps compile; η = 0 reproduces the graph's logits, and one or two steps match the
    /// approximate-GD oracle computed on the graph (≤ 5e-3 with the paper's finite differences, ≤ 1e-5 exact).
    @Test(arguments: [false, true]) func rmsNormGraphMatchesItsOracle(exact: Bool) throws {
        let g = try rmsGraph()
        let params = try randomParameters(g, seed: 9)
        let T = 24, ids = fixtureIDs(T, vocabulary: 64, seed: 4)
        let identity = try TinTExecutor(program: TinTCompiler.compile(g, config: config(g, learningRate: 0, exact: exact)),
                                        parameters: params).run(ids: ids, trainMask: (0..<T).map { $0 < 12 })
        let reference = try noGrad { try g.logits(ids: ids, parameters: params.constants).value }
        #expect(maxDiff(identity.logitsAfter, reference) <= 1e-5)
        #expect(maxDiff(identity.logitsBefore, reference) <= 1e-5)

        for (steps, trainCount, eta) in [(1, 12, 0.003), (2, 16, 0.002)] {
            var c = config(g, learningRate: eta, exact: exact)
            c.steps = steps
            let mask = (0..<T).map { $0 < trainCount }
            let program = try TinTCompiler.compile(g, config: c)
            let out = try TinTExecutor(program: program, parameters: params).run(ids: ids, trainMask: mask, readBack: true)
            let oracle = try g.approximateGradientDescent(parameters: params, ids: ids, trainMask: mask, config: c)
            let change = try out.logitsAfter - out.logitsBefore, oracleChange = try oracle.logitsAfter - oracle.logitsBefore
            let err = relativeError(change, oracleChange)
            #expect(maxAbs(oracleChange) > 1e-2, "the step must move the logits")
            #expect(err <= (exact ? 1e-5 : 5e-3), "steps \(steps): logit-change error \(err)")
            let updated = try #require(out.parameters), expected = try #require(oracle.parameters)
            for (name, original) in params {
                let moved = try expected.tensor(name) - original, tintMoved = try updated.tensor(name) - original
                if maxAbs(moved) == 0 {
                    #expect(maxAbs(tintMoved) == 0, "\(name) must stay frozen")
                } else {
                    #expect(relativeError(tintMoved, moved) <= (exact ? 1e-4 : 1e-2), "\(name)")
                }
            }
        }
        let kinds = Set(try TinTCompiler.compile(g, config: config(g, learningRate: 0.01, exact: exact)).parameterReport.entries.map(\.kind))
        #expect(kinds.contains("RMSNormForward") && kinds.contains("RMSNormBackward") && !kinds.contains("LayerNormForward"))
    }
}

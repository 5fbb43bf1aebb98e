import Foundation
import Testing
import Autodiff
import LanguageModel
import OPT
import Tensor
@testable import TinT

/// The tiny OPT fixtures made by Scripts/make_fixtures.py (D_aux 32, 4 heads, 2 layers, FFN 64).
func fixtureModel(_ name: String) throws -> OPTModel {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("OPTTests/Fixtures/\(name)")
    return try OPTModel.load(directory: dir)
}

/// S = 4 (32 is not divisible by 3): K = 8, D_sim = 160, H_sim = 10 (head width 16 holds two aux heads).
func fixtureConfig(_ model: OPTModel, learningRate: Double, steps: Int = 1, simulatedLayers: Int? = nil,
                   exact: Bool = false) -> TinTConfig {
    let c = TinTConfig(rowsPerPrefix: 4, simHeads: 10, learningRate: learningRate, simulatedLayers: simulatedLayers, steps: steps)
    return exact ? withoutApproximations(c) : c
}

/// Deterministic token ids.
func fixtureIDs(_ count: Int, vocabulary: Int, seed: UInt64) -> [Int] {
    var rng = TensorRNG(seed: seed)
    return (0..<count).map { _ in Int(rng.next() % UInt64(vocabulary - 4)) + 4 }
}

/// `‖a − b‖ / ‖b‖` over all entries.
func relativeError<S: TensorScalar>(_ a: Tensor<S>, _ b: Tensor<S>) -> Double {
    var num = 0.0, den = 0.0
    for (x, y) in zip(a.scalars, b.scalars) { num += Double(x - y) * Double(x - y); den += Double(y) * Double(y) }
    return (num / max(den, 1e-300)).squareRoot()
}

@Suite struct TinTExecutorTests {
    static let models = ["tiny-opt-pre-ln", "tiny-opt-post-ln"]

    @Test(arguments: models) func zeroLearningRateReproducesTheModel(name: String) throws {
        let model = try fixtureModel(name)
        let sim = try TinTSimulator(model: model, config: fixtureConfig(model, learningRate: 0))
        let ids = fixtureIDs(24, vocabulary: model.config.vocabSize, seed: 3)
        let mask = (0..<24).map { $0 < 12 }
        let out = try sim.run(ids: ids, trainMask: mask)
        let reference = try model.logits(ids)
        #expect(maxDiff(out.logitsBefore, reference) <= 1e-5)
        #expect(maxDiff(out.logitsAfter, reference) <= 1e-5)
    }

    /// TinT's logit change against the approximate-GD oracle: ≤ 5e-3 relative with the paper's N = 1000 and tanh
    /// gates, ≤ 1e-5 with exact layer-norm and activation backward and hard gates; read-back weights too.
    @Test(arguments: models, [false, true]) func matchesApproximateGradientDescent(name: String, exact: Bool) throws {
        let model = try fixtureModel(name)
        let T = 24
        for (steps, nSim, trainCount, eta) in [(1, nil, 12, 0.002), (2, nil, 16, 0.001), (1, 1, 9, 0.005)] as [(Int, Int?, Int, Double)] {
            var config = fixtureConfig(model, learningRate: eta, steps: steps, simulatedLayers: nSim, exact: exact)
            config.reuseForward = steps == 1  // reuse changes the parameter count, never the numbers
            config.reuseBackward = steps == 2
            let sim = try TinTSimulator(model: model, config: config)
            let ids = fixtureIDs(T, vocabulary: model.config.vocabSize, seed: UInt64(trainCount))
            let out = try sim.run(ids: ids, trainMask: (0..<T).map { $0 < trainCount }, readBack: true)
            let mask = (0..<T).map { $0 < trainCount }
            let reference = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
            let oracle = try #require(reference.parameters)
            let change = try out.logitsAfter - out.logitsBefore
            let oracleChange = try reference.logitsAfter - reference.logitsBefore
            let err = relativeError(change, oracleChange)
            #expect(maxAbs(oracleChange) > 1e-3, "the step must move the logits")
            #expect(err <= (exact ? 1e-5 : 5e-3), "\(name) steps \(steps) n_sim \(String(describing: nSim)): logit-change error \(err)")
            for (name, tensor) in oracle {
                let tint = try #require(out.parameters?[name])
                let moved = try tensor - model.parameters.tensor(name)
                let tintMoved = try tint - model.parameters.tensor(name)
                if maxAbs(moved) == 0 {
                    #expect(maxAbs(tintMoved) == 0, "\(name) must stay frozen")
                } else {
                    let e = relativeError(tintMoved, moved)
                    #expect(e <= (exact ? 1e-4 : 1e-2), "\(name): weight-change error \(e)")
                }
            }
        }
    }
}

@Suite struct TinTExecutorRulesTests {
    /// `referenceCompatible` changes exactly the two quirks: the MLP output bias moves C = ffn/D times as far,
    /// and the last position's gradient counts when the last token is a train token.
    @Test func referenceCompatibleChangesOnlyTheQuirks() throws {
        let model = try fixtureModel("tiny-opt-pre-ln")
        let T = 20, ids = fixtureIDs(T, vocabulary: model.config.vocabSize, seed: 11)
        var plain = fixtureConfig(model, learningRate: 0.002, exact: true)
        var quirky = plain
        quirky.referenceCompatible = true
        let C = Float(model.config.ffnDim / model.config.hiddenSize)
        let evalLast = (0..<T).map { $0 < 10 }
        let a = try #require(try TinTSimulator(model: model, config: plain).run(ids: ids, trainMask: evalLast, readBack: true).parameters)
        let b = try #require(try TinTSimulator(model: model, config: quirky).run(ids: ids, trainMask: evalLast, readBack: true).parameters)
        for (name, original) in model.parameters {
            let da = try a.tensor(name) - original, db = try b.tensor(name) - original
            if name.hasSuffix("fc2.bias") {
                #expect(relativeError(db, da * C) <= 1e-4, "\(name) moves C·η")
            } else {
                #expect(maxDiff(da, db) <= 1e-5 * max(maxAbs(da), 1e-3), "\(name) unchanged by the switch")
            }
        }
        // All tokens train: the unmasked last position changes the update (e.g. of layer 1's W_V).
        plain.referenceCompatible = false
        let all = [Bool](repeating: true, count: T)
        let c = try #require(try TinTSimulator(model: model, config: plain).run(ids: ids, trainMask: all, readBack: true).parameters)
        let d = try #require(try TinTSimulator(model: model, config: quirky).run(ids: ids, trainMask: all, readBack: true).parameters)
        let name = OPTModel.layerName(1, "self_attn.v_proj.weight")
        #expect(maxDiff(try c.tensor(name), try d.tensor(name)) > 1e-6)
    }

    /// Eval tokens never influence the update: two sequences that share the train part give the same weights —
    /// to fp32 rounding with exact backward rules; with the finite differences, `N·(f(x) − x̂)` at an eval position
    /// is fp32 rounding noise (not exactly 0 under FMA) that reaches train positions through `Aᵀ`, ≤ 2e-3 relative.
    @Test(arguments: [true, false]) func evalTokensDoNotInfluenceTheUpdate(exact: Bool) throws {
        let model = try fixtureModel("tiny-opt-post-ln")
        let T = 24, nTrain = 12
        let sim = try TinTSimulator(model: model, config: fixtureConfig(model, learningRate: 0.002, exact: exact))
        let a = fixtureIDs(T, vocabulary: model.config.vocabSize, seed: 5)
        var b = a
        for t in nTrain..<T { b[t] = (a[t] + 7) % model.config.vocabSize }
        let mask = (0..<T).map { $0 < nTrain }
        let pa = try #require(try sim.run(ids: a, trainMask: mask, readBack: true).parameters)
        let pb = try #require(try sim.run(ids: b, trainMask: mask, readBack: true).parameters)
        for (name, original) in model.parameters {
            let da = try pa.tensor(name) - original, db = try pb.tensor(name) - original
            #expect(maxDiff(da, db) <= (exact ? 1e-6 : 2e-3) * max(maxAbs(da), 1e-6), "\(name)")
        }
    }

    /// The summed-loss convention: a Descent over a train segment that appears twice moves the weights twice as far.
    @Test func duplicatedTrainSegmentDoublesTheUpdate() throws {
        let config = SimulatorSpec(auxWidth: 48, auxHeads: 3, auxMaxPositions: 64, learningRate: 0.01, gates: .hard)
        let D = 48, T = 10
        let w = randn([D, D], seed: 1, as: Float.self), bias = randn([D], seed: 2, as: Float.self)
        let prefixes = try LinearPrefixLayout.encode(weight: w, bias: bias, config: config)
        let x = randn([T, D], seed: 3, as: Float.self), g = randn([T, D], seed: 4, as: Float.self)
        let mask = (0..<T).map { $0 < 6 }
        func update(_ copies: Int) throws -> (Tensor<Float>, Tensor<Float>) {
            var tokens = try Tensor<Float>.zeros([copies * T, config.simWidth])
            let xs = try Tensor.concatenated([Tensor<Float>](repeating: x, count: copies), axis: 0)
            let gs = try Tensor.concatenated([Tensor<Float>](repeating: g, count: copies), axis: 0)
            try tokens.assign(gs, axis: 1, 0..<D)
            try tokens.assign(xs, axis: 1, config.linearMemory..<(config.linearMemory + D))
            var state = try TinTState(prefixes: prefixes, tokens: tokens, trainMask: Array([[Bool]](repeating: mask, count: copies).joined()))
            try LinearDescent<Float>(config: config, inputWidth: D, outputWidth: D).apply(&state)
            let (w1, b1) = try LinearPrefixLayout.decode(state.prefixes, inputWidth: D, outputWidth: D, config: config)
            return (try w1 - w, try b1 - bias)
        }
        let (dw1, db1) = try update(1), (dw2, db2) = try update(2)
        #expect(relativeError(dw2, dw1 * 2) <= 1e-5)
        #expect(relativeError(db2, db1 * 2) <= 1e-5)
    }

    @Test func unsupportedNodesAndRulesAreNamed() throws {
        var c = OPTConfig()
        c.vocabSize = 64; c.hiddenSize = 48; c.numHiddenLayers = 2; c.ffnDim = 96; c.numAttentionHeads = 3
        c.maxPositionEmbeddings = 32; c.wordEmbedProjDim = 48
        c.activationFunction = .silu
        var config = TinTConfig()
        // SiLU is simulated; a node no unit can simulate (here a gated product with one input) is refused by name.
        var graph = try AuxGraph(opt: c)
        _ = try TinTCompiler.compile(graph, config: config)
        graph.output = try graph.append("bad", .gatedProduct(.silu), inputs: [graph.output], layer: 2, width: 48)
        for attempt in [{ _ = try TinTCompiler.compile(graph, config: config) }, { _ = try TinTParameterReport(graph: graph, config: config) }] {
            #expect { try attempt() } throws: { error in
                guard case TinTError.unsupportedNode(let node, let reason) = error else { return false }
                return node == "bad" && reason.contains("two nodes")
            }
        }
        c.activationFunction = .relu
        // The aux shape is the graph's: the program's spec reads D_aux, H_aux, T_aux and ε from it.
        let spec = try TinTCompiler.compile(try AuxGraph(opt: c), config: config).spec
        #expect(spec.auxWidth == 48 && spec.auxHeads == 3 && spec.auxMaxPositions == 32 && spec.layerNormEpsilon == 1e-5)
        config.simulatedLayers = 3
        #expect { try TinTCompiler.compile(try AuxGraph(opt: c), config: config) } throws: { error in
            guard case TinTError.ruleViolation(let rule, _, _) = error else { return false }
            return rule == "simulatedLayers"
        }
        // An FFN width that is not a multiple of K = 16: fc1's last output chunk (8 wide) and fc2's last input chunk
        // run in 16-wide modules, zero padded.
        c.ffnDim = 104
        let program = try TinTCompiler.compile(try AuxGraph(opt: c), config: TinTConfig())
        #expect(program.parameterReport == (try TinTParameterReport(graph: program.graph, config: TinTConfig())))
    }

    /// The whole OPT-125M TinT (S 3, K 256, H_sim 12, one step, forward reuse): module counts per kind, prefix
    /// storage = the aux weights of 12 × 14 + 1 prefix tensors, and the total under the 1.2B target.
    @Test func opt125MParameterCount() throws {
        let program = try TinTCompiler.compile(try AuxGraph(opt: OPTConfig()), config: TinTConfig())
        let r = program.parameterReport
        let modules = Dictionary(uniqueKeysWithValues: r.entries.map { ($0.kind, $0.modules) })
        #expect(modules == ["LayerNormForward": 25, "AttentionForward": 12, "LinearForward": 108, "ActivationForward": 48,
                            "LayerNormBackwardDescent": 25, "AttentionBackwardDescent": 12, "LinearBackwardDescent": 108,
                            "ActivationBackward": 48])
        #expect(r.prefixStorage == (12 * 14 + 1) * 256 * 3072)
        #expect(r.embeddings == 50272 * 768 + 2050 * 768)
        #expect(r.total < 1_200_000_000)
        #expect(r.auxParameters == 125_239_296)
        var noReuse = TinTConfig()
        noReuse.reuseForward = false
        let r2 = try TinTCompiler.compile(try AuxGraph(opt: OPTConfig()), config: noReuse).parameterReport
        let forwardWeights = r.entries.filter { $0.kind.hasSuffix("Forward") }.reduce(0) { $0 + $1.count.moduleWeights }
        #expect(r2.total == r.total + forwardWeights)
    }
}

import Foundation
import Testing
import Autodiff
import LanguageModel
import Llama
import Tensor
@testable import TinT

/// The zoo's tiny Llama (Tests/ZooTests/Fixtures/tiny-llama: D 32, 4 heads, 2 KV heads, head 8, FFN 48, SwiGLU,
/// RoPE θ 500, untied head, no biases).
func tinyLlama() throws -> LlamaModel {
    let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ZooTests/Fixtures/tiny-llama")
    return try LlamaModel.load(directory: dir)
}

/// A random Llama-family model with an MLP width (44) that is not a multiple of K = 8 at the default S = 4, biases on
/// every map, a tied head, one key/value head for 4 query heads and GeGLU (GELU-tanh).
func paddedLlama() throws -> LlamaModel {
    var c = LlamaConfig()
    (c.vocabSize, c.hiddenSize, c.intermediateSize, c.numHiddenLayers) = (64, 32, 44, 2)
    (c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.maxPositionEmbeddings) = (4, 1, 8, 32)
    (c.attentionBias, c.mlpBias, c.tieWordEmbeddings, c.hiddenAct) = (true, true, true, "gelu_pytorch_tanh")
    c.initializerRange = 0.3
    return try LlamaModel(config: c, seed: 7)
}

/// A random Llama-family model (D 32, head width 8, 2 layers, SwiGLU, biases on Q/K/V, untied head) whose heads do not
/// span D_aux: 2 query heads over 1 kv head (Q/K/V 16 wide, one chunk of 4 heads, 2 of them zero), or 6 query heads
/// over 3 kv heads (Q/K/V 48 and 24 wide, two chunks of 4 heads, the second half zero).
func headsLlama(heads: Int, kvHeads: Int) throws -> LlamaModel {
    var c = LlamaConfig()
    (c.vocabSize, c.hiddenSize, c.intermediateSize, c.numHiddenLayers) = (64, 32, 48, 2)
    (c.numAttentionHeads, c.numKeyValueHeads, c.headDim, c.maxPositionEmbeddings) = (heads, kvHeads, 8, 32)
    (c.attentionBias, c.tieWordEmbeddings) = (true, false)
    c.initializerRange = 0.3
    return try LlamaModel(config: c, seed: UInt64(10 + heads))
}

/// TinT compiled from Llama's front end (rotary attention, grouped-query heads, gated MLPs, RMS norms), against the
/// model and the approximate-GD oracle; what has no construction is refused by node.
@Suite struct LlamaTinTTests {
    @Test func graphIsTheModel() throws { try expectGraphIsTheModel(try tinyLlama()) }

    /// The rule moves v_proj, o_proj, gate/up/down of the simulated layers (never q/k, γ, embeddings or the head),
    /// and the graph's Autodiff oracle equals Llama's own dynamic update under it (two implementations, ≤ 1e-5).
    @Test(arguments: [nil, 1] as [Int?]) func approximateRuleFromTheGraph(simulatedLayers: Int?) throws {
        let model = try tinyLlama()
        let graph = try AuxGraph(model: model)
        let config = TinTConfig(learningRate: 0.01, simulatedLayers: simulatedLayers, steps: 2)
        let rule = try DescentRule.approximate(for: model, config: config)
        let layers = simulatedLayers.map { (2 - $0)..<2 } ?? 0..<2
        let expected = Set(layers.flatMap { l in
            ["self_attn.v_proj.weight", "self_attn.o_proj.weight", "mlp.gate_proj.weight", "mlp.up_proj.weight",
             "mlp.down_proj.weight"].map { LlamaModel.layerName(l, $0) }
        })
        #expect(rule.trainable == expected && rule.forward.detachAttentionProbabilities)
        let T = 16, ids = fixtureIDs(T, vocabulary: model.config.vocabSize, seed: 4), mask = (0..<T).map { $0 < 10 }
        let viaModel = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
        let viaGraph = try graph.approximateGradientDescent(parameters: model.parameters, ids: ids, trainMask: mask, config: config)
        let a = try viaModel.logitsAfter - viaModel.logitsBefore, b = try viaGraph.logitsAfter - viaGraph.logitsBefore
        #expect(maxAbs(b) > 1e-3)
        #expect(relativeError(a, b) <= 1e-5, "logit-change error \(relativeError(a, b))")
    }

    /// η = 0: TinT's logits before and after equal the model's (fp32, ≤ 1e-5): rotary attention with grouped-query
    /// heads, RMS norms, SwiGLU and the untied head, simulated.
    @Test(arguments: [false, true]) func zeroLearningRateReproducesTheModel(exact: Bool) throws {
        let model = try tinyLlama()
        let sim = try TinTSimulator(model: model, config: try defaultConfig(try AuxGraph(model: model), learningRate: 0, exact: exact))
        let ids = fixtureIDs(24, vocabulary: model.config.vocabSize, seed: 3)
        let out = try sim.run(ids: ids, trainMask: (0..<24).map { $0 < 12 })
        let reference = try model.logits(ids)
        #expect(maxDiff(out.logitsBefore, reference) <= 1e-5, "before: \(maxDiff(out.logitsBefore, reference))")
        #expect(maxDiff(out.logitsAfter, reference) <= 1e-5, "after: \(maxDiff(out.logitsAfter, reference))")
    }

    /// TinT's logit change against the approximate-GD oracle: ≤ 5e-3 relative with the paper's N = 1000 and tanh gates,
    /// ≤ 1e-5 with exact backward rules and hard gates, over several masks, η, 1–2 steps and n_sim = 1 < 2 layers. The
    /// read-back weights equal the oracle's: v_proj (collapsed from its expanded heads), o_proj, gate/up/down move;
    /// q/k, the norms' γ, embeddings and the head stay frozen.
    @Test(arguments: [false, true]) func matchesApproximateGradientDescent(exact: Bool) throws {
        try expectTinTMatchesApproximateGD(try tinyLlama(), exact: exact,
                                           cases: [(1, nil, 12, 0.01), (2, nil, 16, 0.005), (1, 1, 9, 0.02), (2, 1, 20, 0.01)])
    }

    /// A random Llama-family model with what the fixture lacks: an MLP width (44) that is not a multiple of K = 8, so
    /// the last gate/up/down blocks run zero padded to 16 (Docs/TINT.md §9.4); biases on every map; a tied head;
    /// GeGLU (GELU-tanh). With exact options and hard gates TinT equals the approximate-GD oracle (≤ 1e-5), the
    /// padding included, and with η = 0 it reproduces the model.
    @Test func paddedWidthsBiasesAndTiedHead() throws {
        let model = try paddedLlama(), c = model.config
        let graph = try AuxGraph(model: model)
        var tc = try defaultConfig(graph, learningRate: 0, steps: 2, exact: true)
        #expect(tc.rowsPerPrefix == 4 && 44 % (32 / tc.rowsPerPrefix) != 0, "the MLP width must need padding")
        let T = 20, ids = fixtureIDs(T, vocabulary: c.vocabSize, seed: 9), mask = (0..<T).map { $0 < 12 }
        let still = try TinTSimulator(model: model, config: tc).run(ids: ids, trainMask: mask)
        let modelLogits = try model.logits(ids)
        #expect(maxDiff(still.logitsAfter, modelLogits) <= 1e-5 * max(1, maxAbs(modelLogits)), "\(maxDiff(still.logitsBefore, modelLogits)) \(maxDiff(still.logitsAfter, modelLogits)) \(maxAbs(modelLogits))")
        tc.learningRate = 0.02
        let out = try TinTSimulator(model: model, config: tc).run(ids: ids, trainMask: mask, readBack: true)
        let reference = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: tc)
        let change = try out.logitsAfter - out.logitsBefore, oracleChange = try reference.logitsAfter - reference.logitsBefore
        #expect(maxAbs(oracleChange) > 1e-3)
        #expect(relativeError(change, oracleChange) <= 1e-5, "logit-change error \(relativeError(change, oracleChange))")
        let tintParameters = try #require(out.parameters), oracle = try #require(reference.parameters)
        for (name, tensor) in oracle {
            let original = try model.parameters.tensor(name)
            let moved = try tensor - original, tintMoved = try tintParameters.tensor(name) - original
            if maxAbs(moved) == 0 { #expect(maxAbs(tintMoved) == 0, "\(name) frozen") } else {
                #expect(relativeError(tintMoved, moved) <= 1e-4, "\(name): \(relativeError(tintMoved, moved))")
            }
        }
    }

    /// Heads whose widths do not sum to D_aux (16 or 48 of 32) run in chunks of D_aux/head_dim = 4 heads, the missing
    /// heads zero (Docs/TINT.md §12): the graph is the model; η = 0 reproduces its logits (≤ 1e-5); TinT equals the
    /// approximate-GD oracle with exact options (≤ 1e-5) and with the paper's (≤ 5e-3), and reads back v_proj in its
    /// checkpoint shape; the parameter report charges one attention module per chunk and equals the closed formulas.
    @Test(arguments: [(2, 1), (6, 3)]) func headsNarrowerOrWiderThanTheModel(heads: Int, kvHeads: Int) throws {
        let model = try headsLlama(heads: heads, kvHeads: kvHeads)
        try expectGraphIsTheModel(model)
        let graph = try AuxGraph(model: model)
        let still = try TinTSimulator(model: model, config: try defaultConfig(graph, learningRate: 0, exact: true))
        let ids = fixtureIDs(20, vocabulary: 64, seed: 5), reference = try model.logits(ids)
        let out = try still.run(ids: ids, trainMask: (0..<20).map { $0 < 12 })
        #expect(maxDiff(out.logitsAfter, reference) <= 1e-5 * max(1, maxAbs(reference)), "\(maxDiff(out.logitsAfter, reference))")
        for exact in [true, false] {
            try expectTinTMatchesApproximateGD(model, exact: exact, cases: [(1, nil, 12, 0.01), (2, 1, 16, 0.005)])
        }
        let c = try defaultConfig(graph, learningRate: 0.01)
        let report = try TinTCompiler.compile(graph, config: c).parameterReport
        #expect(report == (try TinTParameterReport(graph: graph, config: c)))
        let chunks = (heads + 3) / 4
        #expect(report.entries.filter { $0.kind == "RotaryAttentionForward" }.map(\.modules).reduce(0, +) == 2 * chunks)
        #expect(report.entries.filter { $0.kind == "GroupedValueBackwardDescent" }.map(\.modules).reduce(0, +) == 2 * chunks)
    }

    /// The compiled parameter report equals the closed formulas, rotary features and grouped heads included.
    @Test func parameterReportMatchesTheFormulas() throws {
        let graph = try AuxGraph(model: try tinyLlama())
        for simulatedLayers in [nil, 1] as [Int?] {
            let c = try defaultConfig(graph, learningRate: 0.01, steps: 2, simulatedLayers: simulatedLayers)
            let compiled = try TinTCompiler.compile(graph, config: c).parameterReport
            #expect(compiled == (try TinTParameterReport(graph: graph, config: c)))
            let kinds = Set(compiled.entries.map(\.kind))
            #expect(kinds.isSuperset(of: ["RotaryAttentionForward", "GroupedValueBackwardDescent", "GatedProductForward",
                                          "GatedProductBackward", "RotaryFeatures"]))
        }
    }

    /// Tied weights TinT's Descent would move apart are refused by node, naming the other reader: two maps sharing
    /// one weight, and a moving map sharing the frozen head table. Frozen ties (Q and K) pass.
    @Test func tiedWeightsAreRefusedByNode() throws {
        let graph = try AuxGraph(model: try tinyLlama())
        let c = try defaultConfig(graph, learningRate: 0.01)
        func retied(_ change: (AuxNode) -> AuxOp?) throws -> AuxGraph {
            var g = AuxGraph(hiddenWidth: graph.hiddenWidth, heads: graph.heads, maxPositions: graph.maxPositions,
                             layerCount: graph.layerCount, headWeight: graph.headWeight)
            g.tableShapes = graph.tableShapes
            for node in graph.nodes {
                g.output = try g.append(node.name, change(node) ?? node.op, inputs: node.inputs, layer: node.layer, width: node.width)
            }
            return g
        }
        let sharedUp = try retied { node in
            guard node.name == "layers.1.mlp.up_proj", case .linear(var l, let t) = node.op else { return nil }
            l.weight = LlamaModel.layerName(1, "mlp.gate_proj.weight")
            return .linear(l, trainable: t)
        }
        let sharedHead = try retied { node in
            guard node.name == "layers.1.self_attn.o_proj", case .linear(var l, let t) = node.op else { return nil }
            l.weight = LlamaModel.lmHeadName
            return .linear(l, trainable: t)
        }
        for (g, reason) in [(sharedUp, "also read by node 'layers.1.mlp.up_proj'"), (sharedHead, "frozen table")] {
            #expect { try TinTCompiler.compile(g, config: c) } throws: { error in
                guard case TinTError.unsupportedNode(let node, let r) = error else { return false }
                return node.hasPrefix("layers.1.") && r.contains(reason)
            }
        }
        let frozenTie = try retied { node in
            guard case .attention(var a) = node.op else { return nil }
            a.key = AuxLinear(weight: a.query.weight, bias: nil, inputWidth: 32, outputWidth: 16, outputSlice: 0..<16,
                              storedOutputWidth: 32)
            return .attention(a)
        }
        _ = try TinTCompiler.compile(frozenTie, config: c)
    }

    /// Ops without a construction are refused by node: a partial rotary, a head width that does not divide D_aux, and
    /// query groups (3 heads per kv head) that do not tile the chunks of D_aux/head_dim = 4 heads.
    @Test func compilerRefusesByNode() throws {
        let graph = try AuxGraph(model: try tinyLlama())
        let c = try defaultConfig(graph, learningRate: 0.01)
        for (mutate, expected) in [({ (a: inout AuxAttention) in a.rotary?.headDim = 4 }, "partial rotary"),
                                   ({ (a: inout AuxAttention) in a.headDim = 12; a.query.outputWidth = 48; a.key.outputWidth = 24
                                       a.value.outputWidth = 24; a.rotary?.headDim = 12 }, "do not divide D_aux"),
                                   ({ (a: inout AuxAttention) in (a.heads, a.kvHeads) = (3, 1); a.query.outputWidth = 24
                                       (a.key.outputWidth, a.value.outputWidth) = (8, 8) }, "do not tile")]
            as [((inout AuxAttention) -> Void, String)] {
            var g = AuxGraph(hiddenWidth: graph.hiddenWidth, heads: graph.heads, maxPositions: graph.maxPositions,
                             layerCount: graph.layerCount, headWeight: graph.headWeight)
            g.tableShapes = graph.tableShapes
            for node in graph.nodes {
                var op = node.op
                if case .attention(var a) = op { mutate(&a); op = .attention(a) }
                g.output = try g.append(node.name, op, inputs: node.inputs, layer: node.layer, width: node.width)
            }
            for attempt in [{ _ = try TinTCompiler.compile(g, config: c) }, { _ = try TinTParameterReport(graph: g, config: c) }] {
                #expect { try attempt() } throws: { error in
                    guard case TinTError.unsupportedNode(let node, let reason) = error else { return false }
                    return node == "layers.0.self_attn" && reason.contains(expected)
                }
            }
        }
    }
}

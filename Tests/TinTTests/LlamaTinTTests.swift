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

/// Llama's front end: its graph is the model, TinT's approximate-GD rule is derived from the graph, and the compiler
/// refuses the nodes whose constructions have not landed, by name.
@Suite struct LlamaTinTTests {
    @Test func graphIsTheModel() throws {
        let model = try tinyLlama()
        let graph = try AuxGraph(model: model)
        #expect(graph.parameterNames == Set(model.parameters.names))
        for (name, shape) in graph.parameterShapes { #expect(model.parameters[name]?.shape == shape, "\(name)") }
        #expect(graph.parameterCount == model.parameterCount)
        let ids = fixtureIDs(20, vocabulary: model.config.vocabSize, seed: 1)
        let z = try noGrad { try graph.logits(ids: ids, parameters: model.parameters.constants).value }
        #expect(maxDiff(z, try model.logits(ids)) <= 1e-5)
    }

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

    /// Until the constructions land, the compiler names the first node it cannot simulate and what is missing.
    @Test func compilerRefusesByNode() throws {
        let model = try tinyLlama()
        #expect { try TinTSimulator(model: model, config: TinTDefaults(graph: try AuxGraph(model: model)).config) } throws: { error in
            guard case TinTError.unsupportedNode(let node, let reason) = error else { return false }
            return node == "layers.0.self_attn" && reason.contains("rotary") && reason.contains("grouped-query")
        }
        let graph = try AuxGraph(model: model)
        // Without the attention, the gated MLP's product is the node refused.
        var mlpOnly = AuxGraph(hiddenWidth: 32, heads: 4, maxPositions: 64, layerCount: 1, headWeight: LlamaModel.lmHeadName)
        let x = try mlpOnly.append("embed_tokens", .tokenEmbedding(weight: LlamaModel.embedTokensName), layer: nil, width: 32)
        for node in graph.nodes where node.name.hasPrefix("layers.0.mlp.gate_proj") || node.name.hasPrefix("layers.0.mlp.up_proj") {
            try mlpOnly.append(node.name, node.op, inputs: [x], layer: 0, width: node.width)
        }
        mlpOnly.output = try mlpOnly.append("layers.0.mlp.act", .gatedProduct(.silu), inputs: [1, 2], layer: 0, width: 48)
        #expect { try TinTCompiler.compile(mlpOnly, config: TinTConfig(rowsPerPrefix: 4, simHeads: 10)) } throws: { error in
            guard case TinTError.unsupportedNode(let node, let reason) = error else { return false }
            return node == "layers.0.mlp.act" && reason.contains("GLU")
        }
    }
}

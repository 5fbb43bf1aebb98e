import Foundation
import Testing
@testable import LanguageModel
@testable import OPT

@Suite struct OPTConfigTests {
    func config(_ json: String) throws -> OPTConfig { try OPTConfig(data: Data(json.utf8), source: "config.json") }

    @Test func defaultsAreTransformers() throws {
        let c = try config("{}")
        #expect(c == OPTConfig())
        #expect(c.vocabSize == 50272 && c.hiddenSize == 768 && c.numHiddenLayers == 12 && c.ffnDim == 3072)
        #expect(c.maxPositionEmbeddings == 2048 && c.doLayerNormBefore && !c.removeFinalLayerNorm)
        #expect(c.wordEmbedProjDim == 768 && c.numAttentionHeads == 12 && c.activationFunction == .relu)
        #expect(c.dropout == 0.1 && c.attentionDropout == 0 && c.layerdrop == 0 && c.initStd == 0.02)
        #expect(c.padTokenID == 1 && c.bosTokenID == 2 && c.eosTokenID == 2)
        #expect(c.enableBias && c.layerNormElementwiseAffine && c.tieWordEmbeddings && c.useCache)
        #expect(c.headDim == 64 && c.hasFinalLayerNorm && !c.hasEmbeddingProjections)
    }

    @Test func wordEmbedProjDimDefaultsToHiddenSize() throws {
        #expect(try config(#"{"hidden_size": 64, "num_attention_heads": 4}"#).wordEmbedProjDim == 64)
        #expect(try config(#"{"hidden_size": 64, "num_attention_heads": 4, "word_embed_proj_dim": null}"#).wordEmbedProjDim == 64)
        #expect(try config(#"{"d_model": 64, "num_attention_heads": 4}"#).hiddenSize == 64)
    }

    @Test func fixtureConfigsDecode() throws {
        let pre = try OPTConfig(contentsOf: Fixtures.url("tiny-opt-pre-ln/config.json"))
        #expect(pre.vocabSize == 632 && pre.hiddenSize == 32 && pre.numHiddenLayers == 2 && pre.numAttentionHeads == 4)
        #expect(pre.ffnDim == 64 && pre.maxPositionEmbeddings == 64 && pre.doLayerNormBefore && pre.wordEmbedProjDim == 32)
        #expect(pre.hasFinalLayerNorm && !pre.hasEmbeddingProjections && pre.tieWordEmbeddings)
        let post = try OPTConfig(contentsOf: Fixtures.url("tiny-opt-post-ln"))  // a directory works too
        #expect(!post.doLayerNormBefore && post.wordEmbedProjDim == 16 && post.hiddenSize == 32)
        #expect(!post.hasFinalLayerNorm && post.hasEmbeddingProjections)
        let half = try OPTConfig(contentsOf: Fixtures.url("tiny-opt-pre-ln-fp16"))
        #expect(half == pre)
    }

    @Test func tokenIDsMayBeNullOrLists() throws {
        let c = try config(#"{"pad_token_id": null, "eos_token_id": [2, 5], "bos_token_id": 0}"#)
        #expect(c.padTokenID == nil && c.eosTokenID == 2 && c.bosTokenID == 0)
    }

    @Test func encodeDecodeRoundTrip() throws {
        var c = OPTConfig()
        c.vocabSize = 100; c.hiddenSize = 48; c.numAttentionHeads = 6; c.wordEmbedProjDim = 24
        c.doLayerNormBefore = false; c.activationFunction = .geluNew; c.padTokenID = nil; c.removeFinalLayerNorm = true
        let data = try JSONEncoder().encode(c)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"word_embed_proj_dim\":24") && text.contains("\"_remove_final_layer_norm\":true"))
        #expect(text.contains("\"model_type\":\"opt\"") && text.contains("\"activation_function\":\"gelu_new\""))
        #expect(try OPTConfig(data: data) == c)
    }

    func expectInvalid(_ json: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try config(json)
            Issue.record("accepted \(json)", sourceLocation: sourceLocation)
        } catch let ModelError.invalidConfig(file, reason) {
            #expect(file == "config.json", sourceLocation: sourceLocation)
            #expect(reason.contains(fragment), "\(reason)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func invalidConfigsAreRejected() {
        expectInvalid(#"{"hidden_size": 30, "num_attention_heads": 4}"#, "hidden_size 30 is not divisible by num_attention_heads 4")
        expectInvalid(#"{"vocab_size": 0}"#, "vocab_size must be positive")
        expectInvalid(#"{"num_attention_heads": 0}"#, "num_attention_heads must be positive")
        expectInvalid(#"{"num_hidden_layers": -1}"#, "num_hidden_layers must not be negative")
        expectInvalid(#"{"dropout": 1.5}"#, "dropout must be a probability")
        expectInvalid(#"{"vocab_size": 10, "pad_token_id": 10}"#, "pad_token_id 10 is outside the vocabulary")
        expectInvalid(#"{"activation_function": "gelu_10"}"#, "activation_function 'gelu_10' is not supported")
        expectInvalid(#"{"model_type": "gpt2"}"#, "model_type is 'gpt2', not 'opt'")
        expectInvalid(#"{"hidden_size": "768"}"#, "hidden_size must be an integer, not '768'")
        expectInvalid(#"{"hidden_size": 768.5}"#, "hidden_size must be an integer, not 768.5")
        expectInvalid(#"{"do_layer_norm_before": 1}"#, "do_layer_norm_before must be true or false, not 1")
        expectInvalid(#"{"dropout": "0.1"}"#, "dropout must be a number, not '0.1'")
        expectInvalid(#"{"eos_token_id": [2, "x"]}"#, "eos_token_id must be an integer, a list of integers or null, not an array")
        expectInvalid(#"{"activation_function": null}"#, "activation_function must be a string, not null")
        expectInvalid(#"{"hidden_size": 768, "hidden_size": 768}"#, "duplicate key 'hidden_size'")
        expectInvalid("[1]", "the config is an array, not a JSON object")
        expectInvalid("{", "invalid JSON")
    }

    @Test func missingConfigFileIsNamed() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/config.json")
        #expect(throws: ModelError.io(file: url.path, reason: "no such file")) { try OPTConfig(contentsOf: url) }
    }

    @Test func checkpointShapesFollowTheOptions() {
        var c = OPTConfig()
        c.vocabSize = 10; c.hiddenSize = 8; c.numAttentionHeads = 2; c.ffnDim = 12; c.numHiddenLayers = 1
        c.maxPositionEmbeddings = 5; c.wordEmbedProjDim = 8
        let base = c.checkpointShapes
        #expect(base["model.decoder.embed_positions.weight"] == [7, 8])
        #expect(base["model.decoder.layers.0.fc1.weight"] == [12, 8] && base["model.decoder.layers.0.fc2.weight"] == [8, 12])
        #expect(base["model.decoder.final_layer_norm.weight"] == [8] && base["lm_head.weight"] == nil)
        #expect(base.count == 2 + 2 + 8 + 2 + 4 + 2)
        c.enableBias = false; c.layerNormElementwiseAffine = false; c.tieWordEmbeddings = false; c.wordEmbedProjDim = 4
        let bare = c.checkpointShapes
        #expect(bare["model.decoder.layers.0.self_attn.q_proj.bias"] == nil && bare["model.decoder.final_layer_norm.weight"] == nil)
        #expect(bare["lm_head.weight"] == [10, 4] && bare["model.decoder.project_in.weight"] == [8, 4])
        #expect(bare["model.decoder.project_out.weight"] == [4, 8])
        #expect(bare.count == 2 + 2 + 6 + 1)
    }
}

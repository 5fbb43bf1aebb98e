import Foundation
import GPT2
import LanguageModel
import Testing

/// GPT-2's `config.json`: transformers' keys and defaults, strict types, unsupported flags refused by name.
@Suite struct GPT2ConfigTests {
    /// The config error's reason, or nil when `json` decodes.
    func refusal(_ json: String) -> String? {
        do {
            _ = try GPT2Config(data: Data(json.utf8), source: "test.json")
            return nil
        } catch let ModelError.invalidConfig(file, reason) {
            #expect(file == "test.json")
            return reason
        } catch {
            Issue.record("unexpected error \(error)")
            return "\(error)"
        }
    }

    @Test func fixtureConfigDecodes() throws {
        let c = try GPT2Config(contentsOf: GPT2Fixtures.url("tiny-gpt2"))
        #expect(c.vocabSize == 448 && c.nEmbd == 32 && c.nLayer == 2 && c.nHead == 4 && c.nPositions == 64)
        #expect(c.nInner == nil && c.innerDim == 128 && c.headDim == 8)
        #expect(c.activation == .geluTanh && c.layerNormEpsilon == 1e-5 && c.tieWordEmbeddings)
        #expect(c.bosTokenID == 447 && c.eosTokenID == 447 && c.padTokenID == nil)
        #expect(c.hiddenSize == 32 && c.numHiddenLayers == 2 && c.maxPositionEmbeddings == 64 && c.keyValueWidth == 32)
    }

    @Test func defaultsAreGPT2Small() throws {
        let c = try GPT2Config(data: Data(#"{"model_type": "gpt2"}"#.utf8))
        #expect(c == GPT2Config())
        #expect(c.vocabSize == 50257 && c.nEmbd == 768 && c.nLayer == 12 && c.innerDim == 3072)
        #expect(c.checkedParameterCount == 124_439_808)  // GPT-2 small, tied head
    }

    @Test func encodingWritesEveryKeyAndRoundTrips() throws {
        var c = GPT2Config()
        (c.vocabSize, c.nEmbd, c.nHead, c.nLayer, c.nInner, c.nPositions) = (100, 16, 2, 3, 40, 20)
        (c.bosTokenID, c.eosTokenID, c.padTokenID) = (1, 2, nil)
        c.activationFunction = "relu"
        c.layerNormEpsilon = 1e-6
        c.tieWordEmbeddings = false
        let data = try JSONEncoder().encode(c)
        let object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        #expect(object["model_type"] as? String == "gpt2")
        for key in ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "activation_function",
                    "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range", "summary_type",
                    "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
                    "scale_attn_weights", "use_cache", "bos_token_id", "eos_token_id", "pad_token_id",
                    "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention",
                    "tie_word_embeddings"] {
            #expect(object.keys.contains(key), "\(key) not written")
        }
        #expect(try GPT2Config(data: data) == c)
        // The fixture's own file round-trips too.
        let fixture = try GPT2Config(contentsOf: GPT2Fixtures.url("tiny-gpt2"))
        #expect(try GPT2Config(data: try JSONEncoder().encode(fixture)) == fixture)
    }

    @Test func aliasesAndTokenIDForms() throws {
        let c = try GPT2Config(data: Data(#"""
            {"model_type": "gpt2", "hidden_size": 64, "num_attention_heads": 8, "num_hidden_layers": 3,
             "max_position_embeddings": 128, "vocab_size": 10, "bos_token_id": null, "eos_token_id": [3, 4],
             "n_ctx": 1024, "architectures": ["GPT2LMHeadModel"], "torch_dtype": "float32"}
            """#.utf8))
        #expect(c.nEmbd == 64 && c.nHead == 8 && c.nLayer == 3 && c.nPositions == 128)
        #expect(c.bosTokenID == nil && c.eosTokenID == 3)
        let reason = refusal(#"{"n_embd": 64, "hidden_size": 32, "vocab_size": 10, "eos_token_id": 1, "bos_token_id": 1}"#)
        #expect(reason?.contains("n_embd") == true && reason?.contains("hidden_size") == true)
    }

    @Test(arguments: [
        ("scale_attn_by_inverse_layer_idx", "true"), ("reorder_and_upcast_attn", "true"),
        ("add_cross_attention", "true"), ("scale_attn_weights", "false"),
    ])
    func unsupportedFlagsAreRefusedByName(_ key: String, _ value: String) throws {
        let reason = refusal(#"{"model_type": "gpt2", "\#(key)": \#(value)}"#)
        #expect(reason?.contains(key) == true && reason?.contains("not supported") == true, "\(reason ?? "accepted")")
        // The supported value is accepted.
        let supported = value == "true" ? "false" : "true"
        #expect(refusal(#"{"model_type": "gpt2", "\#(key)": \#(supported)}"#) == nil)
    }

    @Test func unknownActivationIsNamedWithTheSupportedOnes() throws {
        let reason = refusal(#"{"activation_function": "quick_gelu"}"#)
        #expect(reason?.contains("'quick_gelu'") == true && reason?.contains("gelu_new") == true)
        #expect(refusal(#"{"activation_function": "gelu"}"#) == nil)
    }

    @Test(arguments: [
        (#"{"n_embd": "768"}"#, "n_embd"), (#"{"n_inner": 1.5}"#, "n_inner"), (#"{"n_layer": 2.0e400}"#, "n_layer"),
        (#"{"tie_word_embeddings": 1}"#, "tie_word_embeddings"), (#"{"eos_token_id": "x"}"#, "eos_token_id"),
        (#"{"layer_norm_epsilon": "1e-5"}"#, "layer_norm_epsilon"), (#"{"activation_function": 3}"#, "activation_function"),
        (#"{"summary_activation": false}"#, "summary_activation"), (#"{"model_type": 2}"#, "model_type"),
        (#"{"hidden_size": [768]}"#, "hidden_size"), (#"[1, 2]"#, "JSON object"), (#"{"n_embd": 8,}"#, "invalid JSON"),
        (#"{"n_embd": 8, "n_embd": 16}"#, "n_embd"), (#"{"model_type": "opt"}"#, "'opt'"),
    ])
    func wrongTypesAreNamed(_ json: String, _ named: String) throws {
        let reason = refusal(json)
        #expect(reason?.contains(named) == true, "\(json): \(reason ?? "accepted")")
    }

    @Test(arguments: [
        (#"{"n_embd": 30, "n_head": 4}"#, "divisible"), (#"{"n_embd": 0}"#, "n_embd"), (#"{"n_head": -1}"#, "n_head"),
        (#"{"n_layer": -1}"#, "n_layer"), (#"{"n_layer": 10001}"#, "n_layer"), (#"{"vocab_size": 0}"#, "vocab_size"),
        (#"{"n_inner": 0}"#, "n_inner"), (#"{"n_positions": 3000000000}"#, "n_positions"),
        (#"{"vocab_size": 2147483647, "n_embd": 2147483647, "n_head": 1, "bos_token_id": 0, "eos_token_id": 0}"#, "parameters"),
        (#"{"n_layer": 10000, "n_embd": 100000000, "n_head": 1}"#, "parameters"),
        (#"{"bos_token_id": 50257}"#, "bos_token_id"), (#"{"pad_token_id": -2}"#, "pad_token_id"),
        (#"{"layer_norm_epsilon": 0}"#, "layer_norm_epsilon"), (#"{"attn_pdrop": 1.5}"#, "attn_pdrop"),
        (#"{"initializer_range": -1}"#, "initializer_range"),
    ])
    func impossibleShapesAreRefused(_ json: String, _ named: String) throws {
        let reason = refusal(json)
        #expect(reason?.contains(named) == true, "\(json): \(reason ?? "accepted")")
    }

    @Test func registryReadsGPT2Configs() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpt2-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("config.json")
        try Data(#"{"model_type": "gpt2", "n_embd": 16, "n_head": 2, "n_layer": 1, "vocab_size": 20, "bos_token_id": 0, "eos_token_id": 0}"#.utf8).write(to: url)
        let config = try ModelRegistry.zoo.config(at: dir)
        #expect((config as? GPT2Config)?.nEmbd == 16)
        try Data(#"{"model_type": "gpt2", "reorder_and_upcast_attn": true}"#.utf8).write(to: url)
        #expect(throws: ModelError.self) { _ = try ModelRegistry.zoo.config(at: dir) }
    }
}

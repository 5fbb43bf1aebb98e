import Autodiff
import Foundation
import LanguageModel
import Llama
import Tensor
import Testing

/// `config.json` of the Llama family: both rope forms, per-type defaults, strict types, and every unsupported
/// feature refused by name.
@Suite struct LlamaConfigTests {
    /// The fixture's config from the tiny Llama (transformers 5 form), with keys removed, then keys set to the
    /// given JSON texts.
    func json(_ changes: [String: String] = [:], removing: [String] = []) throws -> Data {
        let data = try Data(contentsOf: LlamaReference.url("tiny-llama/config.json"))
        var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        for key in removing { object[key] = nil }
        for (key, text) in changes {
            object[key] = try JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)
        }
        return try JSONSerialization.data(withJSONObject: object)
    }

    func reason(_ data: Data) -> String? {
        do {
            _ = try LlamaConfig(data: data, source: "config.json")
            return nil
        } catch let ModelError.invalidConfig(file, reason) {
            #expect(file == "config.json")
            return reason
        } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }

    @Test func fixtureConfigDecodes() throws {
        let c = try LlamaConfig(data: try json(), source: "config.json")
        #expect(c.modelType == "llama" && c.vocabSize == 400 && c.hiddenSize == 32 && c.intermediateSize == 48)
        #expect(c.numAttentionHeads == 4 && c.numKeyValueHeads == 2 && c.headDim == 8 && c.keyValueWidth == 16)
        #expect(c.ropeType == "default" && c.ropeTheta == 500 && c.rmsNormEps == 1e-5)
        #expect(!c.tieWordEmbeddings && !c.attentionBias && !c.mlpBias && c.padTokenID == nil)
        #expect(c.bosTokenID == 1 && c.eosTokenID == 2 && c.hiddenAct == "silu")
    }

    /// transformers-4 configs: top-level rope_theta with rope_scaling null, or nothing at all (θ = 10000).
    @Test func transformers4RopeForm() throws {
        let v4 = try LlamaConfig(contentsOf: LlamaReference.url("tiny-llama-v4config"))
        #expect(v4.ropeTheta == 500 && v4.ropeType == "default")
        let none = try LlamaConfig(data: try json(removing: ["rope_parameters"]))
        #expect(none.ropeTheta == 10000)
        let top = try LlamaConfig(data: try json(["rope_theta": "250000.0"], removing: ["rope_parameters"]))
        #expect(top.ropeTheta == 250000)
        // rope_scaling with its own θ, and a linear rope in the transformers-4 spelling ("type").
        let linear = try LlamaConfig(data: try json(["rope_scaling": #"{"type": "linear", "factor": 4.0}"#, "rope_theta": "500.0"],
                                                    removing: ["rope_parameters"]))
        #expect(linear.ropeType == "linear" && linear.ropeFactor == 4 && linear.ropeTheta == 500)
        // The same θ in both places is fine; two different θ are refused.
        _ = try LlamaConfig(data: try json(["rope_theta": "500.0"]))
        #expect(reason(try json(["rope_theta": "10000.0"]))?.contains("rope_theta") == true)
    }

    /// Absent keys take the model type's transformers defaults.
    @Test func perTypeDefaults() throws {
        let llama = try LlamaConfig(data: Data(#"{"model_type": "llama"}"#.utf8))
        #expect(llama == LlamaConfig())
        #expect(llama.headDim == 128 && llama.numKeyValueHeads == 32 && llama.ropeTheta == 10000)
        let qwen = try LlamaConfig(data: Data(#"{"model_type": "qwen2", "num_hidden_layers": 2}"#.utf8))
        #expect(qwen.vocabSize == 151936 && qwen.hasQKVBias && !qwen.hasOutputBias && qwen.bosTokenID == nil)
        let mistral = try LlamaConfig(data: Data(#"{"model_type": "mistral", "sliding_window": null}"#.utf8))
        #expect(mistral.numKeyValueHeads == 8 && mistral.intermediateSize == 14336)
        let nullHeads = try LlamaConfig(data: Data(#"{"model_type": "mistral", "sliding_window": null, "num_key_value_heads": null}"#.utf8))
        #expect(nullHeads.numKeyValueHeads == 32)
    }

    @Test func encodingRoundTripsInTheTransformers5Form() throws {
        for modelType in LlamaConfig.modelTypes {
            var c = smallLlamaConfig(modelType: modelType)
            if modelType == "llama" { c.ropeType = "linear"; c.ropeFactor = 2; c.attentionBias = true }
            let data = try JSONEncoder().encode(c)
            let back = try LlamaConfig(data: data)
            #expect(back == c, "\(modelType)")
            let root = try JSONParser.parse([UInt8](data)).objectValue!
            let keys = Set(root.map(\.key))
            #expect(keys.contains("model_type") && keys.contains("rope_parameters") && !keys.contains("rope_theta"))
            #expect(keys.contains("attention_bias") == (modelType == "llama"))
            #expect(keys.contains("use_sliding_window") == (modelType == "qwen2"))
        }
    }

    /// Llama 3.1's rope in both forms; original_max_position_embeddings comes from the top level, else the rope
    /// object, else max_position_embeddings (as transformers' standardize_rope_params).
    @Test func llama3Rope() throws {
        let rope = #"{"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}"#
        let v5 = try LlamaConfig(data: try json(["rope_parameters": rope]))
        #expect(v5.ropeScaling == .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 16))
        #expect(v5.ropeTheta == 500000)
        let v4 = try LlamaConfig(data: try json(["rope_scaling": rope.replacingOccurrences(of: #""rope_theta": 500000.0, "#, with: ""),
                                                 "rope_theta": "500000.0"], removing: ["rope_parameters"]))
        #expect(v4 == v5)
        let noOriginal = try LlamaConfig(data: try json(["rope_parameters": rope.replacingOccurrences(of: #", "original_max_position_embeddings": 16"#, with: "")]))
        #expect(noOriginal.ropeOriginalMaxPositions == 64)
        let top = try LlamaConfig(data: try json(["rope_parameters": rope, "original_max_position_embeddings": "32"]))
        #expect(top.ropeOriginalMaxPositions == 32)
        #expect(try LlamaConfig(data: try JSONEncoder().encode(v5)) == v5)
        // The model uses it: logits differ from the default rope's over the same weights.
        var c = smallLlamaConfig()
        let base = try randomLlama(c, seed: 13)
        c.ropeType = "llama3"; c.ropeFactor = 8; c.ropeLowFreqFactor = 1; c.ropeHighFreqFactor = 4; c.ropeOriginalMaxPositions = 4
        let scaled = try LlamaModel(config: c, parameters: base.parameters)
        #expect(llamaMaxAbsDiff(try scaled.logits([1, 5, 9, 3, 7, 8]), try base.logits([1, 5, 9, 3, 7, 8])) > 1e-4)
    }

    @Test func unsupportedFeaturesAreRefusedByName() throws {
        let cases: [(Data, String)] = [
            (try json(["rope_parameters": #"{"rope_type": "yarn", "rope_theta": 500.0, "factor": 4.0}"#]), "'yarn'"),
            (try json(["rope_parameters": #"{"rope_type": "llama3", "rope_theta": 500.0, "factor": 8.0}"#]), "needs low_freq_factor"),
            (try json(["rope_parameters": #"{"rope_type": "llama3", "rope_theta": 500.0, "factor": 8.0, "low_freq_factor": 4.0, "high_freq_factor": 1.0}"#]),
             "0 < low_freq_factor < high_freq_factor"),
            (try json(["rope_scaling": #"{"type": "dynamic", "factor": 2.0}"#]), "'dynamic'"),
            (try json(["rope_parameters": #"{"rope_type": "longrope", "rope_theta": 500.0}"#]), "'longrope'"),
            (try json(["rope_parameters": #"{"rope_type": "linear", "rope_theta": 500.0}"#]), "needs a factor"),
            (try json(["partial_rotary_factor": "0.5"]), "partial_rotary_factor"),
            (try json(["pretraining_tp": "2"]), "pretraining_tp 2"),
            (try json(["hidden_act": #""xielu""#]), "'xielu'"),
            (try json(["num_key_value_heads": "3"]), "num_key_value_heads 3"),
            (try json(["head_dim": "7"]), "head_dim 7"),
            (try json(["model_type": #""mistral""#, "sliding_window": "16"]), "sliding_window 16"),
            // MistralConfig's default window, shorter than the context.
            (try json(["model_type": #""mistral""#, "max_position_embeddings": "8192"]), "sliding_window 4096"),
            (try json(["model_type": #""qwen2""#, "use_sliding_window": "true", "sliding_window": "16", "max_window_layers": "1"]),
             "use_sliding_window"),
            (try json(["model_type": #""qwen2""#, "layer_types": #"["full_attention", "chunked_attention"]"#]), "'chunked_attention'"),
            (try json(["model_type": #""gemma""#]), "'gemma'"),
            (try json(["bos_token_id": "400"]), "bos_token_id 400"),
            (try json(["rms_norm_eps": "-1e-5"]), "rms_norm_eps"),
            (try json(["num_hidden_layers": "10001"]), "num_hidden_layers 10001"),
            (try json(["vocab_size": "2147483647", "hidden_size": "2147483647", "intermediate_size": "2147483647"]),
             "more than \(Int.max) parameters"),
            (try json(["intermediate_size": "0"]), "intermediate_size must be positive"),
        ]
        for (data, needle) in cases {
            let r = reason(data)
            #expect(r?.contains(needle) == true, "expected a refusal naming \(needle), got \(r ?? "success")")
        }
        // Allowed: a Mistral window that cannot drop a key, and Qwen2's window switched off or never reached.
        _ = try LlamaConfig(data: try json(["model_type": #""mistral""#, "sliding_window": "64"]))
        _ = try LlamaConfig(data: try json(["model_type": #""qwen2""#, "use_sliding_window": "false", "sliding_window": "16"]))
        _ = try LlamaConfig(data: try json(["model_type": #""qwen2""#, "use_sliding_window": "true", "sliding_window": "16",
                                            "max_window_layers": "2"]))
    }

    @Test func wrongJSONTypesAreNamed() throws {
        let cases: [(Data, String)] = [
            (try json(["hidden_size": #""32""#]), "hidden_size must be an integer"),
            (try json(["num_key_value_heads": "2.5"]), "num_key_value_heads must be an integer or null"),
            (try json(["tie_word_embeddings": "1"]), "tie_word_embeddings must be true or false"),
            (try json(["rms_norm_eps": #""1e-5""#]), "rms_norm_eps must be a number"),
            (try json(["rope_parameters": "5"]), "rope_parameters must be an object or null"),
            (try json(["rope_parameters": #"{"rope_type": "default", "rope_theta": "500"}"#]), "rope_parameters.rope_theta must be a number"),
            (try json(["rope_scaling": #"{"type": 1}"#]), "rope_scaling.type must be a string"),
            (try json(["eos_token_id": #"[2, "x"]"#]), "eos_token_id must be"),
            (try json(["layer_types": "[1]"]), "layer_types must be"),
            (Data("[1, 2]".utf8), "not a JSON object"),
            (Data(#"{"vocab_size": 4, "vocab_size": 5}"#.utf8), "invalid JSON"),
            (Data(#"{"vocab_size": 4"#.utf8), "invalid JSON"),
        ]
        for (data, needle) in cases {
            let r = reason(data)
            #expect(r?.contains(needle) == true, "expected \(needle), got \(r ?? "success")")
        }
        let list = try LlamaConfig(data: try json(["eos_token_id": "[2, 3]"], removing: ["eos_token_id"]))
        #expect(list.eosTokenID == 2)
    }

    /// The linear rope divides every frequency by its factor: positions 2p with factor 2 give the default
    /// rope's logits at positions p, and a linear model is not the default one.
    @Test func linearRopeIsPositionInterpolation() throws {
        var c = smallLlamaConfig()
        let base = try randomLlama(c, seed: 12)
        c.ropeType = "linear"
        c.ropeFactor = 2
        let linear = try LlamaModel(config: c, parameters: base.parameters)
        let batch = TokenBatch([1, 5, 9, 3])
        func run(_ m: LlamaModel, _ positions: [Int]?) throws -> Tensor<Float> {
            try noGrad { try m.logits(batch, parameters: m.parameters.constants, cache: nil, options: ForwardOptions(),
                                      positions: positions).value }
        }
        #expect(llamaMaxAbsDiff(try run(linear, [0, 2, 4, 6]), try run(base, nil)) <= 1e-5)
        #expect(llamaMaxAbsDiff(try run(linear, nil), try run(base, nil)) > 1e-3)
    }
}

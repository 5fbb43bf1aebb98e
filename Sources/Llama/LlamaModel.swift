import Autodiff
import Foundation
import LanguageModel
import Tensor

/// A Llama-family causal language model with the semantics of Hugging Face `transformers`'
/// `LlamaForCausalLM` (and `MistralForCausalLM` without a sliding window, `Qwen2ForCausalLM` with its q/k/v
/// biases): pre-norm decoder layers with RMS norm, rotary position embeddings, grouped-query attention and a
/// gated (SwiGLU) feed-forward layer.
///
/// The parameters live in a ``ParameterSet`` under their checkpoint names (`model.embed_tokens.weight`,
/// `model.layers.0.self_attn.q_proj.weight`, …) in `named_parameters()` order. The forward pass is written
/// once over `Variable`s with the shared layer library (``Layers``): constants for inference, tracked
/// variables for exact gradients, Float or Double.
///
/// ```swift
/// let model = try LlamaModel.load(directory: URL(fileURLWithPath: "tiny-llama"))
/// let logits = try model.logits([1, 389, 396])             // [3, vocab], inference
/// ```
public struct LlamaModel: CausalLM {
    /// The hyper-parameters.
    public let config: LlamaConfig
    /// Every parameter under its checkpoint name; replace tensors with `ParameterSet.set` (shapes are fixed).
    public var parameters: ParameterSet<Float>

    /// A model from a config and parameters, checked strictly: every expected name must be present with its
    /// shape, and no other name may appear.
    ///
    /// - Throws: ``ModelError/invalidConfig(file:reason:)`` for an impossible or unsupported config,
    ///   ``ModelError/checkpointMismatch(file:missing:unexpected:wrongShapes:)`` naming every difference.
    public init(config: LlamaConfig, parameters: ParameterSet<Float>) throws {
        try config.validate()
        self.config = config
        // Stored in the canonical order whatever order the caller used.
        self.parameters = try LlamaModel.checkedParameters(parameters, config: config)
    }

    /// A freshly initialised model, as `transformers` initialises one: linear and embedding weights from
    /// N(0, `initializer_range`²), biases 0, RMS norm weights 1, the padding token's embedding row 0.
    public init(config: LlamaConfig, seed: UInt64) throws {
        try config.validate()
        var rng = TensorRNG(seed: seed)
        var pairs: [(String, Tensor<Float>)] = []
        let std = Float(config.initializerRange)
        for (name, shape) in LlamaModel.parameterShapes(config) {
            var t: Tensor<Float>
            if name.hasSuffix("norm.weight") {
                t = try .ones(shape)
            } else if name.hasSuffix(".bias") {
                t = try .zeros(shape)
            } else {
                t = try .normal(shape, mean: 0, std: std, using: &rng)
            }
            if name == LlamaModel.embedTokensName, let pad = config.padTokenID {
                let d = shape[1]
                t.withUnsafeMutableBufferPointer { p in for j in 0..<d { p[pad * d + j] = 0 } }
            }
            pairs.append((name, t))
        }
        self.config = config
        self.parameters = try ParameterSet(pairs)
    }
}

// MARK: - Parameter names

extension LlamaModel {
    /// The token embedding (also the output projection when the embeddings are tied).
    public static let embedTokensName = "model.embed_tokens.weight"
    /// The final RMS norm's weight.
    public static let finalNormName = "model.norm.weight"
    /// The untied output projection.
    public static let lmHeadName = "lm_head.weight"

    /// The name of a parameter of decoder layer `layer`, e.g. `layerName(0, "self_attn.q_proj.weight")`.
    public static func layerName(_ layer: Int, _ suffix: String) -> String { "model.layers.\(layer).\(suffix)" }

    /// Every parameter's name and shape in `named_parameters()` order: the token embedding, then each layer
    /// (q, k, v, o projections, gate, up, down projections, the two RMS norms), the final norm, and
    /// `lm_head.weight` only when the embeddings are not tied.
    public static func parameterShapes(_ config: LlamaConfig) -> [(name: String, shape: [Int])] {
        let h = config.hiddenSize, i = config.intermediateSize
        let q = config.numAttentionHeads * config.headDim, kv = config.keyValueWidth
        var out: [(String, [Int])] = [(embedTokensName, [config.vocabSize, h])]
        func linear(_ prefix: String, _ o: Int, _ inputs: Int, bias: Bool) {
            out.append((prefix + ".weight", [o, inputs]))
            if bias { out.append((prefix + ".bias", [o])) }
        }
        for l in 0..<config.numHiddenLayers {
            let qkvBias = config.hasQKVBias
            linear(layerName(l, "self_attn.q_proj"), q, h, bias: qkvBias)
            linear(layerName(l, "self_attn.k_proj"), kv, h, bias: qkvBias)
            linear(layerName(l, "self_attn.v_proj"), kv, h, bias: qkvBias)
            linear(layerName(l, "self_attn.o_proj"), h, q, bias: config.hasOutputBias)
            linear(layerName(l, "mlp.gate_proj"), i, h, bias: config.mlpBias)
            linear(layerName(l, "mlp.up_proj"), i, h, bias: config.mlpBias)
            linear(layerName(l, "mlp.down_proj"), h, i, bias: config.mlpBias)
            out.append((layerName(l, "input_layernorm.weight"), [h]))
            out.append((layerName(l, "post_attention_layernorm.weight"), [h]))
        }
        out.append((finalNormName, [h]))
        if !config.tieWordEmbeddings { out.append((lmHeadName, [config.vocabSize, h])) }
        return out
    }

    /// The names of every parameter of decoder layer `layer`.
    public func layerParameterNames(_ layer: Int) -> [String] {
        let prefix = LlamaModel.layerName(layer, "")
        return parameters.names.filter { $0.hasPrefix(prefix) }
    }

    /// The final RMS norm's weight.
    public var finalNormParameterNames: [String] { [LlamaModel.finalNormName] }

    /// Maps a checkpoint's tensors onto the model's names: drops the rotary `inv_freq` buffers older
    /// checkpoints stored (`model.layers.{i}.self_attn.rotary_emb.inv_freq`, `model.rotary_emb.inv_freq`),
    /// and a stored `lm_head.weight` when the embeddings are tied (the head is the token embedding).
    public static func sanitize<Weight>(weights: [String: Weight], config: LlamaConfig) throws -> [String: Weight] {
        var out: [String: Weight] = [:]
        for (name, t) in weights {
            if name.hasSuffix("rotary_emb.inv_freq") { continue }
            if config.tieWordEmbeddings && name == lmHeadName { continue }
            out[name] = t
        }
        return out
    }
}

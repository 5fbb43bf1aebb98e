import Autodiff
import LanguageModel
import Foundation
import Tensor

/// An OPT causal language model with the semantics of Hugging Face `transformers`' `OPTForCausalLM`.
///
/// The parameters live in a ``ParameterSet`` under their checkpoint names
/// (`model.decoder.layers.0.self_attn.q_proj.weight`, …), in the order `named_parameters()` lists them.
/// The architecture is written once, over `Variable`s (OPTModel+Forward.swift): give it the model's own
/// parameters as constants (or run it inside `noGrad`) for fast inference, or give it gradient-tracking
/// variables from `valueAndGradient(of:trainable:_:)` for exact gradients.
///
/// ```swift
/// let model = try OPTModel.load(directory: URL(fileURLWithPath: "opt-125m"))
/// let logits = try model.logits([2, 31414, 232])            // [3, vocab], inference
/// let (loss, grads) = try valueAndGradient(of: model.parameters) { p in
///     try model.loss(TokenBatch([2, 31414, 232]), parameters: p)
/// }
/// ```
public struct OPTModel: CausalLM {
    /// The hyper-parameters.
    public let config: OPTConfig
    /// Every parameter under its checkpoint name; replace tensors with `ParameterSet.set` (shapes are fixed).
    public var parameters: ParameterSet<Float>

    /// A model from a config and parameters, checked strictly: every expected name must be present with its
    /// shape, and no other name may appear.
    ///
    /// - Throws: ``ModelError/invalidConfig(file:reason:)`` for an impossible config,
    ///   ``ModelError/checkpointMismatch(file:missing:unexpected:wrongShapes:)`` naming every difference.
    public init(config: OPTConfig, parameters: ParameterSet<Float>) throws {
        try config.validate()
        self.config = config
        // Stored in the canonical order whatever order the caller used.
        self.parameters = try OPTModel.checkedParameters(parameters, config: config)
    }

    /// A freshly initialised model, as `transformers` initialises one: linear and embedding weights from
    /// N(0, `init_std`²), biases 0, layer norms 1 and 0, the padding token's embedding row 0.
    public init(config: OPTConfig, seed: UInt64) throws {
        try config.validate()
        var rng = TensorRNG(seed: seed)
        var pairs: [(String, Tensor<Float>)] = []
        let std = Float(config.initStd)
        for (name, shape) in OPTModel.parameterShapes(config) {
            var t: Tensor<Float>
            if name.hasSuffix("layer_norm.weight") {
                t = try .ones(shape)
            } else if name.hasSuffix(".bias") {
                t = try .zeros(shape)
            } else {
                t = try .normal(shape, mean: 0, std: std, using: &rng)
            }
            if name == OPTModel.embedTokensName, let pad = config.padTokenID {
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

extension OPTModel {
    /// The token embedding (also the output projection when the embeddings are tied).
    public static let embedTokensName = "model.decoder.embed_tokens.weight"
    /// The learned position embedding (`max_position_embeddings + 2` rows).
    public static let embedPositionsName = "model.decoder.embed_positions.weight"
    /// The untied output projection.
    public static let lmHeadName = "lm_head.weight"

    /// The name of a parameter of decoder layer `layer`, e.g. `layerName(0, "self_attn.q_proj.weight")`.
    public static func layerName(_ layer: Int, _ suffix: String) -> String { "model.decoder.layers.\(layer).\(suffix)" }

    /// Every parameter's name and shape in `named_parameters()` order: embeddings, projections, the final
    /// layer norm, then each layer (k, v, q, out projections, attention layer norm, fc1, fc2, final layer
    /// norm), and `lm_head.weight` only when the embeddings are not tied.
    public static func parameterShapes(_ config: OPTConfig) -> [(name: String, shape: [Int])] {
        let h = config.hiddenSize, p = config.wordEmbedProjDim, f = config.ffnDim
        var out: [(String, [Int])] = [
            (embedTokensName, [config.vocabSize, p]),
            (embedPositionsName, [config.maxPositionEmbeddings + 2, h]),
        ]
        if config.hasEmbeddingProjections {
            out.append(("model.decoder.project_out.weight", [p, h]))
            out.append(("model.decoder.project_in.weight", [h, p]))
        }
        func layerNorm(_ prefix: String) {
            guard config.layerNormElementwiseAffine else { return }
            out.append((prefix + ".weight", [h]))
            out.append((prefix + ".bias", [h]))
        }
        func linear(_ prefix: String, _ o: Int, _ i: Int) {
            out.append((prefix + ".weight", [o, i]))
            if config.enableBias { out.append((prefix + ".bias", [o])) }
        }
        if config.hasFinalLayerNorm { layerNorm("model.decoder.final_layer_norm") }
        for l in 0..<config.numHiddenLayers {
            for proj in ["k_proj", "v_proj", "q_proj", "out_proj"] { linear(layerName(l, "self_attn." + proj), h, h) }
            layerNorm(layerName(l, "self_attn_layer_norm"))
            linear(layerName(l, "fc1"), f, h)
            linear(layerName(l, "fc2"), h, f)
            layerNorm(layerName(l, "final_layer_norm"))
        }
        if !config.tieWordEmbeddings { out.append((lmHeadName, [config.vocabSize, p])) }
        return out
    }

    /// The names of every parameter of decoder layer `layer`.
    public func layerParameterNames(_ layer: Int) -> [String] {
        let prefix = OPTModel.layerName(layer, "")
        return parameters.names.filter { $0.hasPrefix(prefix) }
    }

    /// The names of the final layer norm's parameters (empty for post-LN models).
    public var finalNormParameterNames: [String] {
        parameters.names.filter { $0.hasPrefix("model.decoder.final_layer_norm.") }
    }

    /// Maps a checkpoint's tensors onto the model's names.
    ///
    /// Checkpoints saved from `OPTForCausalLM` use the names of ``parameterShapes(_:)``; older hub
    /// checkpoints saved from the bare `OPTModel` drop the `model.` prefix (`decoder.layers.0…`). With tied
    /// embeddings `lm_head.weight` may be stored or not (it is dropped: the head is the token embedding).
    public static func sanitize<Weight>(weights: [String: Weight], config: OPTConfig) throws -> [String: Weight] {
        let bare = !weights.keys.contains { $0.hasPrefix("model.") } && weights.keys.contains { $0.hasPrefix("decoder.") }
        var out: [String: Weight] = [:]
        for (name, t) in weights {
            if config.tieWordEmbeddings && name == lmHeadName { continue }
            out[bare && name.hasPrefix("decoder.") ? "model." + name : name] = t
        }
        return out
    }
}

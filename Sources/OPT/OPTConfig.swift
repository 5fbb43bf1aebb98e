import Foundation
import LanguageModel

/// The feed-forward activations an OPT config may name (`activation_function`).
public enum OPTActivation: String, Codable, CaseIterable, Sendable {
    /// max(0, x): every released OPT model.
    case relu
    /// The exact (erf) GELU.
    case gelu
    /// The tanh approximation of GELU (`gelu_new`).
    case geluNew = "gelu_new"
    /// The same tanh approximation under PyTorch's name (`gelu_pytorch_tanh`).
    case geluPytorchTanh = "gelu_pytorch_tanh"
    /// x · sigmoid(x).
    case silu
}

extension OPTActivation {
    /// The layer library's activation this config key names (a config key maps onto one implementation).
    public var activation: Activation {
        switch self {
        case .relu: return .relu
        case .gelu: return .gelu
        case .geluNew, .geluPytorchTanh: return .geluTanh
        case .silu: return .silu
        }
    }
}

/// An OPT model's hyper-parameters, decoded from a Hugging Face `config.json`.
///
/// Keys are `transformers`' snake_case names; an absent key takes `transformers`' default (5.x
/// `OPTConfig`), so `OPTConfig()` describes OPT-125M's shapes with a 50272-token vocabulary. Unknown keys
/// (`architectures`, `torch_dtype`, …) are ignored. ``init(contentsOf:)`` validates the result.
public struct OPTConfig: Codable, Equatable, Sendable {
    /// Rows of the token embedding and of the output projection.
    public var vocabSize = 50272
    /// Width of the residual stream (`hidden_size`; older configs say `d_model`).
    public var hiddenSize = 768
    /// Number of decoder layers.
    public var numHiddenLayers = 12
    /// Width of the feed-forward layer.
    public var ffnDim = 3072
    /// Positions the learned position embedding covers (it has two more rows: OPT's offset of 2).
    public var maxPositionEmbeddings = 2048
    /// Pre-LN (true, most OPT models) or post-LN (false, OPT-350M).
    public var doLayerNormBefore = true
    /// Drops the final layer norm of a pre-LN model (`_remove_final_layer_norm`, for old fine-tunes).
    public var removeFinalLayerNorm = false
    /// Width of the token embedding; when it differs from `hiddenSize` the decoder has `project_in`
    /// and `project_out` (OPT-350M: 512 vs 1024). Defaults to `hiddenSize`.
    public var wordEmbedProjDim = 768
    /// Dropout probability of the residual branches (training only).
    public var dropout = 0.1
    /// Dropout probability of the attention weights (training only).
    public var attentionDropout = 0.0
    /// Number of attention heads; must divide `hiddenSize`.
    public var numAttentionHeads = 12
    /// The feed-forward activation.
    public var activationFunction = OPTActivation.relu
    /// LayerDrop probability (training only).
    public var layerdrop = 0.0
    /// Standard deviation of `transformers`' weight initialisation.
    public var initStd = 0.02
    /// Whether generation caches keys and values.
    public var useCache = true
    /// The padding token (its embedding row gets no gradient in `transformers`).
    public var padTokenID: Int? = 1
    /// The beginning-of-sequence token (`</s>` in OPT's vocabulary).
    public var bosTokenID: Int? = 2
    /// The end-of-sequence token (the first one when the config lists several).
    public var eosTokenID: Int? = 2
    /// Whether attention and feed-forward linear layers have biases.
    public var enableBias = true
    /// Whether layer norms have a learned scale and shift.
    public var layerNormElementwiseAffine = true
    /// Whether the output projection is the token embedding (`lm_head.weight` is then not stored).
    public var tieWordEmbeddings = true

    /// The `transformers` defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case dModel = "d_model"
        case numHiddenLayers = "num_hidden_layers"
        case ffnDim = "ffn_dim"
        case maxPositionEmbeddings = "max_position_embeddings"
        case doLayerNormBefore = "do_layer_norm_before"
        case removeFinalLayerNorm = "_remove_final_layer_norm"
        case wordEmbedProjDim = "word_embed_proj_dim"
        case dropout
        case attentionDropout = "attention_dropout"
        case numAttentionHeads = "num_attention_heads"
        case activationFunction = "activation_function"
        case layerdrop
        case initStd = "init_std"
        case useCache = "use_cache"
        case padTokenID = "pad_token_id"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
        case enableBias = "enable_bias"
        case layerNormElementwiseAffine = "layer_norm_elementwise_affine"
        case tieWordEmbeddings = "tie_word_embeddings"
        case modelType = "model_type"
    }

    /// Decodes `transformers`' keys, with its defaults for absent ones (no validation: see
    /// ``validate(source:)``).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let type = try c.decodeIfPresent(String.self, forKey: .modelType), type != "opt" {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c,
                                                   debugDescription: "model_type is \(quoted(type)), not 'opt'")
        }
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        // Token ids may be null; eos_token_id may also be a list.
        func tokenID(_ key: CodingKeys, _ fallback: Int?) throws -> Int? {
            guard c.contains(key) else { return fallback }
            if try c.decodeNil(forKey: key) { return nil }
            if let list = try? c.decode([Int].self, forKey: key) { return list.first }
            return try c.decode(Int.self, forKey: key)
        }
        let d = OPTConfig()
        vocabSize = try value(.vocabSize, d.vocabSize)
        hiddenSize = try c.decodeIfPresent(Int.self, forKey: .hiddenSize)
            ?? c.decodeIfPresent(Int.self, forKey: .dModel) ?? d.hiddenSize
        numHiddenLayers = try value(.numHiddenLayers, d.numHiddenLayers)
        ffnDim = try value(.ffnDim, d.ffnDim)
        maxPositionEmbeddings = try value(.maxPositionEmbeddings, d.maxPositionEmbeddings)
        doLayerNormBefore = try value(.doLayerNormBefore, d.doLayerNormBefore)
        removeFinalLayerNorm = try value(.removeFinalLayerNorm, d.removeFinalLayerNorm)
        wordEmbedProjDim = try c.decodeIfPresent(Int?.self, forKey: .wordEmbedProjDim).flatMap { $0 } ?? hiddenSize
        dropout = try value(.dropout, d.dropout)
        attentionDropout = try value(.attentionDropout, d.attentionDropout)
        numAttentionHeads = try value(.numAttentionHeads, d.numAttentionHeads)
        if let name = try c.decodeIfPresent(String.self, forKey: .activationFunction) {
            guard let activation = OPTActivation(rawValue: name) else {
                let known = OPTActivation.allCases.map(\.rawValue).joined(separator: ", ")
                throw DecodingError.dataCorruptedError(
                    forKey: .activationFunction, in: c,
                    debugDescription: "activation_function \(quoted(name)) is not supported (supported: \(known))")
            }
            activationFunction = activation
        }
        layerdrop = try value(.layerdrop, d.layerdrop)
        initStd = try value(.initStd, d.initStd)
        useCache = try value(.useCache, d.useCache)
        padTokenID = try tokenID(.padTokenID, d.padTokenID)
        bosTokenID = try tokenID(.bosTokenID, d.bosTokenID)
        eosTokenID = try tokenID(.eosTokenID, d.eosTokenID)
        enableBias = try value(.enableBias, d.enableBias)
        layerNormElementwiseAffine = try value(.layerNormElementwiseAffine, d.layerNormElementwiseAffine)
        tieWordEmbeddings = try value(.tieWordEmbeddings, d.tieWordEmbeddings)
    }

    /// Encodes every field under `transformers`' keys, with `"model_type": "opt"`.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("opt", forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(ffnDim, forKey: .ffnDim)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(doLayerNormBefore, forKey: .doLayerNormBefore)
        try c.encode(removeFinalLayerNorm, forKey: .removeFinalLayerNorm)
        try c.encode(wordEmbedProjDim, forKey: .wordEmbedProjDim)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(attentionDropout, forKey: .attentionDropout)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(activationFunction, forKey: .activationFunction)
        try c.encode(layerdrop, forKey: .layerdrop)
        try c.encode(initStd, forKey: .initStd)
        try c.encode(useCache, forKey: .useCache)
        try c.encode(padTokenID, forKey: .padTokenID)
        try c.encode(bosTokenID, forKey: .bosTokenID)
        try c.encode(eosTokenID, forKey: .eosTokenID)
        try c.encode(enableBias, forKey: .enableBias)
        try c.encode(layerNormElementwiseAffine, forKey: .layerNormElementwiseAffine)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
    }
}

extension OPTConfig: CausalLMConfig {
    /// `opt`.
    public static let modelTypes = ["opt"]

    /// Keys and values are `hidden_size` wide (one per head).
    public var keyValueWidth: Int { hiddenSize }

    /// Decodes and validates config JSON; `source` names it in error messages.
    public init(data: Data, source: String = "<memory>") throws {
        self = try decodeConfig(OPTConfig.self, data: data, source: source, typeProblem: OPTConfig.typeProblem)
    }

    /// The JSON type of each known key (a wrong type is named by key).
    static let keyTypes = ConfigKeyTypes(
        integers: ["vocab_size", "hidden_size", "d_model", "num_hidden_layers", "ffn_dim", "max_position_embeddings",
                   "num_attention_heads"],
        optionalIntegers: ["word_embed_proj_dim", "pad_token_id", "bos_token_id"],
        booleans: ["do_layer_norm_before", "_remove_final_layer_norm", "use_cache", "enable_bias",
                   "layer_norm_elementwise_affine", "tie_word_embeddings"],
        numbers: ["dropout", "attention_dropout", "layerdrop", "init_std"],
        strings: ["activation_function", "model_type"])

    /// The first known key whose JSON value has the wrong type, described; nil when all are right.
    static func typeProblem(in root: JSONValue) -> String? { keyTypes.problem(in: root) }

    /// Throws ``ModelError/invalidConfig(file:reason:)`` when the hyper-parameters describe no valid model.
    public func validate(source: String = "<config>") throws {
        func fail(_ reason: String) -> ModelError { .invalidConfig(file: source, reason: reason) }
        let positive: [(String, Int)] = [
            ("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("ffn_dim", ffnDim),
            ("max_position_embeddings", maxPositionEmbeddings), ("num_attention_heads", numAttentionHeads),
            ("word_embed_proj_dim", wordEmbedProjDim),
        ]
        try ConfigLimits.check(dimensions: positive, layersKey: "num_hidden_layers", layers: numHiddenLayers,
                               parameterCount: checkedParameterCount, source: source)
        guard hiddenSize % numAttentionHeads == 0 else {
            throw fail("hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        for (key, p) in [("dropout", dropout), ("attention_dropout", attentionDropout), ("layerdrop", layerdrop)]
        where !(p >= 0 && p <= 1) {
            throw fail("\(key) must be a probability in [0, 1], got \(p)")
        }
        for (key, id) in [("pad_token_id", padTokenID), ("bos_token_id", bosTokenID), ("eos_token_id", eosTokenID)] {
            if let id, id < 0 || id >= vocabSize {
                throw fail("\(key) \(id) is outside the vocabulary (vocab_size \(vocabSize))")
            }
        }
    }

    /// The largest accepted `vocab_size`, `hidden_size`, `ffn_dim`, `max_position_embeddings`,
    /// `num_attention_heads` and `word_embed_proj_dim` (2^31 − 1).
    public static let maxDimension = ConfigLimits.maxDimension
    /// The largest accepted `num_hidden_layers` (the largest released OPT has 96).
    public static let maxLayers = ConfigLimits.maxLayers

    /// The number of scalars in the model's tensors (``checkpointShapes`` without a stored tied
    /// `lm_head`), or nil when it overflows `Int`.
    var checkedParameterCount: Int? {
        let h = hiddenSize, p = wordEmbedProjDim, f = ffnDim
        let norm = layerNormElementwiseAffine ? 2 * h : 0
        let bias = enableBias ? 1 : 0
        let perLayer = checkedSum(checkedProduct(4, h, h + bias), norm, norm, checkedProduct(f, h + bias),
                                  checkedProduct(h, f), h * bias)
        let layers = perLayer.flatMap { checkedProduct(numHiddenLayers, $0) }
        return checkedSum(checkedProduct(vocabSize, p), checkedProduct(maxPositionEmbeddings + 2, h),
                          hasEmbeddingProjections ? checkedProduct(2, h, p) : 0, hasFinalLayerNorm ? norm : 0, layers,
                          tieWordEmbeddings ? 0 : checkedProduct(vocabSize, p))
    }

    /// Width of one attention head.
    public var headDim: Int { hiddenSize / numAttentionHeads }

    /// Whether the decoder ends with a layer norm (pre-LN models unless `_remove_final_layer_norm`).
    public var hasFinalLayerNorm: Bool { doLayerNormBefore && !removeFinalLayerNorm }

    /// Whether embeddings are projected in and out (`word_embed_proj_dim` ≠ `hidden_size`).
    public var hasEmbeddingProjections: Bool { wordEmbedProjDim != hiddenSize }

    /// The name and shape of every tensor in a `transformers` `OPTForCausalLM` checkpoint of this config
    /// (the keys `save_pretrained` writes; `lm_head.weight` only when the embeddings are not tied).
    public var checkpointShapes: [String: [Int]] {
        let h = hiddenSize, p = wordEmbedProjDim, f = ffnDim
        var shapes: [String: [Int]] = [
            "model.decoder.embed_tokens.weight": [vocabSize, p],
            "model.decoder.embed_positions.weight": [maxPositionEmbeddings + 2, h],
        ]
        if hasEmbeddingProjections {
            shapes["model.decoder.project_in.weight"] = [h, p]
            shapes["model.decoder.project_out.weight"] = [p, h]
        }
        func layerNorm(_ prefix: String) {
            guard layerNormElementwiseAffine else { return }
            shapes[prefix + ".weight"] = [h]
            shapes[prefix + ".bias"] = [h]
        }
        func linear(_ prefix: String, out: Int, in inputs: Int) {
            shapes[prefix + ".weight"] = [out, inputs]
            if enableBias { shapes[prefix + ".bias"] = [out] }
        }
        if hasFinalLayerNorm { layerNorm("model.decoder.final_layer_norm") }
        for i in 0..<numHiddenLayers {
            let l = "model.decoder.layers.\(i)."
            for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] { linear(l + "self_attn." + proj, out: h, in: h) }
            layerNorm(l + "self_attn_layer_norm")
            linear(l + "fc1", out: f, in: h)
            linear(l + "fc2", out: h, in: f)
            layerNorm(l + "final_layer_norm")
        }
        if !tieWordEmbeddings { shapes["lm_head.weight"] = [vocabSize, p] }
        return shapes
    }
}

import Foundation
import LanguageModel

/// A GPT-2 model's hyper-parameters, decoded from a Hugging Face `config.json` (`model_type` `gpt2`).
///
/// Keys are `transformers`' snake_case names (5.x `GPT2Config`); an absent key takes `transformers`' default,
/// so `GPT2Config()` describes GPT-2 small (124M). The aliases of `GPT2Config.attribute_map`
/// (`hidden_size`, `max_position_embeddings`, `num_attention_heads`, `num_hidden_layers`) are read too.
/// Unknown keys (`architectures`, `dtype`, `n_ctx`, …) are ignored. Flags that change the maths and that this
/// package does not implement (`scale_attn_by_inverse_layer_idx`, `reorder_and_upcast_attn`,
/// `add_cross_attention`, `scale_attn_weights: false`) are refused by name.
public struct GPT2Config: Codable, Equatable, Sendable {
    /// Rows of the token embedding (and of the output projection).
    public var vocabSize = 50257
    /// Rows of the learned position embedding: the longest sequence (`n_positions`).
    public var nPositions = 1024
    /// Width of the residual stream (`n_embd`).
    public var nEmbd = 768
    /// Number of decoder blocks (`n_layer`).
    public var nLayer = 12
    /// Number of attention heads (`n_head`); must divide `n_embd`.
    public var nHead = 12
    /// Width of the feed-forward layer; `nil` means 4 · `n_embd` (see ``innerDim``).
    public var nInner: Int? = nil
    /// The feed-forward activation, by `transformers`' name (`gelu_new` for every released GPT-2).
    public var activationFunction = "gelu_new"
    /// Dropout of the residual branches (training only; this package runs without dropout).
    public var residPdrop = 0.1
    /// Dropout of the embeddings (training only).
    public var embdPdrop = 0.1
    /// Dropout of the attention weights (training only).
    public var attnPdrop = 0.1
    /// ε of every layer norm.
    public var layerNormEpsilon = 1e-5
    /// Standard deviation of `transformers`' weight initialisation.
    public var initializerRange = 0.02
    /// `GPT2DoubleHeadsModel`'s summary head (kept for round trips; unused by a causal LM).
    public var summaryType = "cls_index"
    /// `GPT2DoubleHeadsModel`'s summary head (unused by a causal LM).
    public var summaryUseProj = true
    /// `GPT2DoubleHeadsModel`'s summary head (unused by a causal LM).
    public var summaryActivation: String? = nil
    /// `GPT2DoubleHeadsModel`'s summary head (unused by a causal LM).
    public var summaryProjToLabels = true
    /// `GPT2DoubleHeadsModel`'s summary head (unused by a causal LM).
    public var summaryFirstDropout = 0.1
    /// Whether attention scores are divided by √head_dim. Only `true` is supported.
    public var scaleAttnWeights = true
    /// Whether generation caches keys and values.
    public var useCache = true
    /// The beginning-of-sequence token (`<|endoftext|>` in GPT-2's vocabulary).
    public var bosTokenID: Int? = 50256
    /// The end-of-sequence token (the first one when the config lists several).
    public var eosTokenID: Int? = 50256
    /// The padding token, if any (GPT-2 has none; its embedding row is trained like any other).
    public var padTokenID: Int? = nil
    /// Divides layer `i`'s attention scores by `i + 1` as well. Only `false` is supported.
    public var scaleAttnByInverseLayerIdx = false
    /// Scales keys before the product and upcasts the softmax (mixed precision). Only `false` is supported.
    public var reorderAndUpcastAttn = false
    /// Adds cross-attention blocks (encoder-decoder use). Only `false` is supported.
    public var addCrossAttention = false
    /// Whether the output projection is the token embedding (`lm_head.weight` is then not stored).
    public var tieWordEmbeddings = true

    /// The `transformers` defaults (GPT-2 small).
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case vocabSize = "vocab_size"
        case nPositions = "n_positions"
        case nEmbd = "n_embd"
        case nLayer = "n_layer"
        case nHead = "n_head"
        case nInner = "n_inner"
        case activationFunction = "activation_function"
        case residPdrop = "resid_pdrop"
        case embdPdrop = "embd_pdrop"
        case attnPdrop = "attn_pdrop"
        case layerNormEpsilon = "layer_norm_epsilon"
        case initializerRange = "initializer_range"
        case summaryType = "summary_type"
        case summaryUseProj = "summary_use_proj"
        case summaryActivation = "summary_activation"
        case summaryProjToLabels = "summary_proj_to_labels"
        case summaryFirstDropout = "summary_first_dropout"
        case scaleAttnWeights = "scale_attn_weights"
        case useCache = "use_cache"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
        case padTokenID = "pad_token_id"
        case scaleAttnByInverseLayerIdx = "scale_attn_by_inverse_layer_idx"
        case reorderAndUpcastAttn = "reorder_and_upcast_attn"
        case addCrossAttention = "add_cross_attention"
        case tieWordEmbeddings = "tie_word_embeddings"
        case modelType = "model_type"
        // `GPT2Config.attribute_map`'s aliases (read only).
        case hiddenSize = "hidden_size"
        case maxPositionEmbeddings = "max_position_embeddings"
        case numAttentionHeads = "num_attention_heads"
        case numHiddenLayers = "num_hidden_layers"
    }

    /// The aliases `transformers` maps onto GPT-2's own keys (`GPT2Config.attribute_map`).
    static let aliases: [(alias: CodingKeys, key: CodingKeys)] = [
        (.hiddenSize, .nEmbd), (.maxPositionEmbeddings, .nPositions),
        (.numAttentionHeads, .nHead), (.numHiddenLayers, .nLayer),
    ]

    /// Decodes `transformers`' keys, with its defaults for absent ones (no validation: see
    /// ``validate(source:)``).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let type = try c.decodeIfPresent(String.self, forKey: .modelType), type != "gpt2" {
            throw DecodingError.dataCorruptedError(forKey: .modelType, in: c,
                                                   debugDescription: "model_type is \(quoted(type)), not 'gpt2'")
        }
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        /// A key or its `attribute_map` alias; both present must agree.
        func aliased(_ key: CodingKeys, _ alias: CodingKeys, _ fallback: Int) throws -> Int {
            let own = try c.decodeIfPresent(Int.self, forKey: key), other = try c.decodeIfPresent(Int.self, forKey: alias)
            if let own, let other, own != other {
                throw DecodingError.dataCorruptedError(
                    forKey: alias, in: c,
                    debugDescription: "\(key.rawValue) \(own) and its alias \(alias.rawValue) \(other) disagree")
            }
            return own ?? other ?? fallback
        }
        // Token ids may be null; eos_token_id may also be a list.
        func tokenID(_ key: CodingKeys, _ fallback: Int?) throws -> Int? {
            guard c.contains(key) else { return fallback }
            if try c.decodeNil(forKey: key) { return nil }
            if let list = try? c.decode([Int].self, forKey: key) { return list.first }
            return try c.decode(Int.self, forKey: key)
        }
        func optional<T: Decodable>(_ key: CodingKeys, _ fallback: T?) throws -> T? {
            guard c.contains(key) else { return fallback }
            return try c.decodeNil(forKey: key) ? nil : try c.decode(T.self, forKey: key)
        }
        let d = GPT2Config()
        vocabSize = try value(.vocabSize, d.vocabSize)
        nPositions = try aliased(.nPositions, .maxPositionEmbeddings, d.nPositions)
        nEmbd = try aliased(.nEmbd, .hiddenSize, d.nEmbd)
        nLayer = try aliased(.nLayer, .numHiddenLayers, d.nLayer)
        nHead = try aliased(.nHead, .numAttentionHeads, d.nHead)
        nInner = try optional(.nInner, d.nInner)
        activationFunction = try value(.activationFunction, d.activationFunction)
        residPdrop = try value(.residPdrop, d.residPdrop)
        embdPdrop = try value(.embdPdrop, d.embdPdrop)
        attnPdrop = try value(.attnPdrop, d.attnPdrop)
        layerNormEpsilon = try value(.layerNormEpsilon, d.layerNormEpsilon)
        initializerRange = try value(.initializerRange, d.initializerRange)
        summaryType = try value(.summaryType, d.summaryType)
        summaryUseProj = try value(.summaryUseProj, d.summaryUseProj)
        summaryActivation = try optional(.summaryActivation, d.summaryActivation)
        summaryProjToLabels = try value(.summaryProjToLabels, d.summaryProjToLabels)
        summaryFirstDropout = try value(.summaryFirstDropout, d.summaryFirstDropout)
        scaleAttnWeights = try value(.scaleAttnWeights, d.scaleAttnWeights)
        useCache = try value(.useCache, d.useCache)
        bosTokenID = try tokenID(.bosTokenID, d.bosTokenID)
        eosTokenID = try tokenID(.eosTokenID, d.eosTokenID)
        padTokenID = try tokenID(.padTokenID, d.padTokenID)
        scaleAttnByInverseLayerIdx = try value(.scaleAttnByInverseLayerIdx, d.scaleAttnByInverseLayerIdx)
        reorderAndUpcastAttn = try value(.reorderAndUpcastAttn, d.reorderAndUpcastAttn)
        addCrossAttention = try value(.addCrossAttention, d.addCrossAttention)
        tieWordEmbeddings = try value(.tieWordEmbeddings, d.tieWordEmbeddings)
    }

    /// Encodes every field under `transformers`' keys, with `"model_type": "gpt2"` (nil values as null).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode("gpt2", forKey: .modelType)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(nPositions, forKey: .nPositions)
        try c.encode(nEmbd, forKey: .nEmbd)
        try c.encode(nLayer, forKey: .nLayer)
        try c.encode(nHead, forKey: .nHead)
        try c.encode(nInner, forKey: .nInner)
        try c.encode(activationFunction, forKey: .activationFunction)
        try c.encode(residPdrop, forKey: .residPdrop)
        try c.encode(embdPdrop, forKey: .embdPdrop)
        try c.encode(attnPdrop, forKey: .attnPdrop)
        try c.encode(layerNormEpsilon, forKey: .layerNormEpsilon)
        try c.encode(initializerRange, forKey: .initializerRange)
        try c.encode(summaryType, forKey: .summaryType)
        try c.encode(summaryUseProj, forKey: .summaryUseProj)
        try c.encode(summaryActivation, forKey: .summaryActivation)
        try c.encode(summaryProjToLabels, forKey: .summaryProjToLabels)
        try c.encode(summaryFirstDropout, forKey: .summaryFirstDropout)
        try c.encode(scaleAttnWeights, forKey: .scaleAttnWeights)
        try c.encode(useCache, forKey: .useCache)
        try c.encode(bosTokenID, forKey: .bosTokenID)
        try c.encode(eosTokenID, forKey: .eosTokenID)
        try c.encode(padTokenID, forKey: .padTokenID)
        try c.encode(scaleAttnByInverseLayerIdx, forKey: .scaleAttnByInverseLayerIdx)
        try c.encode(reorderAndUpcastAttn, forKey: .reorderAndUpcastAttn)
        try c.encode(addCrossAttention, forKey: .addCrossAttention)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
    }
}

extension GPT2Config: CausalLMConfig {
    /// `gpt2`.
    public static let modelTypes = ["gpt2"]

    /// Rows of the token embedding.
    public var hiddenSize: Int { nEmbd }
    /// Number of decoder blocks.
    public var numHiddenLayers: Int { nLayer }
    /// Number of attention heads.
    public var numAttentionHeads: Int { nHead }
    /// The longest sequence (rows of the position embedding).
    public var maxPositionEmbeddings: Int { nPositions }
    /// Keys and values are `n_embd` wide (one per head).
    public var keyValueWidth: Int { nEmbd }
    /// Width of the feed-forward layer: `n_inner`, or 4 · `n_embd` when it is null.
    public var innerDim: Int { nInner ?? 4 &* nEmbd }
    /// Width of one attention head.
    public var headDim: Int { nEmbd / nHead }
    /// The feed-forward activation (nil when `activation_function` names one this package lacks; such a
    /// config does not validate).
    public var activation: Activation? { Activation(huggingFaceName: activationFunction) }

    /// Decodes and validates config JSON; `source` names it in error messages.
    public init(data: Data, source: String = "<memory>") throws {
        self = try decodeConfig(GPT2Config.self, data: data, source: source, typeProblem: GPT2Config.typeProblem)
    }

    /// The JSON type of each known key (a wrong type is named by key).
    static let keyTypes = ConfigKeyTypes(
        integers: ["vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "hidden_size", "max_position_embeddings",
                   "num_attention_heads", "num_hidden_layers"],
        optionalIntegers: ["n_inner", "pad_token_id", "bos_token_id"],
        booleans: ["summary_use_proj", "summary_proj_to_labels", "scale_attn_weights", "use_cache",
                   "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "add_cross_attention",
                   "tie_word_embeddings"],
        numbers: ["resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range",
                  "summary_first_dropout"],
        strings: ["activation_function", "summary_type", "model_type"],
        optionalStrings: ["summary_activation"])

    /// The first known key whose JSON value has the wrong type, described; nil when all are right.
    static func typeProblem(in root: JSONValue) -> String? { keyTypes.problem(in: root) }

    /// Throws ``ModelError/invalidConfig(file:reason:)`` when the hyper-parameters describe no valid model or
    /// set a flag this package does not implement (named, with the supported value).
    public func validate(source: String = "<config>") throws {
        func fail(_ reason: String) -> ModelError { .invalidConfig(file: source, reason: reason) }
        // Flags that change the maths: refused by name rather than silently ignored.
        let unsupported: [(String, Bool, String)] = [
            ("scale_attn_by_inverse_layer_idx", scaleAttnByInverseLayerIdx, "false"),
            ("reorder_and_upcast_attn", reorderAndUpcastAttn, "false"),
            ("add_cross_attention", addCrossAttention, "false"),
            ("scale_attn_weights", !scaleAttnWeights, "true"),
        ]
        for (key, set, supported) in unsupported where set {
            throw fail("\(key) \(supported == "true" ? "false" : "true") is not supported (supported: \(supported))")
        }
        guard activation != nil else {
            throw fail("activation_function \(quoted(activationFunction)) is not supported "
                       + "(supported: \(Activation.huggingFaceNames.joined(separator: ", ")))")
        }
        var positive: [(String, Int)] = [
            ("vocab_size", vocabSize), ("n_positions", nPositions), ("n_embd", nEmbd), ("n_head", nHead),
        ]
        if let nInner { positive.append(("n_inner", nInner)) }
        try ConfigLimits.check(dimensions: positive, layersKey: "n_layer", layers: nLayer,
                               parameterCount: checkedParameterCount, source: source)
        guard nEmbd % nHead == 0 else {
            throw fail("n_embd \(nEmbd) is not divisible by n_head \(nHead)")
        }
        for (key, p) in [("resid_pdrop", residPdrop), ("embd_pdrop", embdPdrop), ("attn_pdrop", attnPdrop),
                         ("summary_first_dropout", summaryFirstDropout)] where !(p >= 0 && p <= 1) {
            throw fail("\(key) must be a probability in [0, 1], got \(p)")
        }
        guard layerNormEpsilon > 0 && layerNormEpsilon.isFinite else {
            throw fail("layer_norm_epsilon must be positive and finite, got \(layerNormEpsilon)")
        }
        guard initializerRange >= 0 && initializerRange.isFinite else {
            throw fail("initializer_range must be a finite number ≥ 0, got \(initializerRange)")
        }
        for (key, id) in [("pad_token_id", padTokenID), ("bos_token_id", bosTokenID), ("eos_token_id", eosTokenID)] {
            if let id, id < 0 || id >= vocabSize {
                throw fail("\(key) \(id) is outside the vocabulary (vocab_size \(vocabSize))")
            }
        }
    }

    /// The largest accepted `vocab_size`, `n_positions`, `n_embd`, `n_head` and `n_inner` (2^31 − 1).
    public static let maxDimension = ConfigLimits.maxDimension
    /// The largest accepted `n_layer` (the largest released GPT-2 has 48).
    public static let maxLayers = ConfigLimits.maxLayers

    /// The number of scalars in the model's parameters, or nil when it overflows `Int`.
    package var checkedParameterCount: Int? {
        let h = nEmbd, v = vocabSize
        guard let f = nInner ?? checkedProduct(4, h) else { return nil }
        // ln_1, c_attn, attn.c_proj, ln_2, c_fc, mlp.c_proj.
        let perLayer = checkedSum(checkedProduct(2, h), checkedProduct(h + 1, 3, h), checkedProduct(h + 1, h), checkedProduct(2, h), checkedProduct(h + 1, f), checkedProduct(f, h), h)
        let layers = perLayer.flatMap { checkedProduct(nLayer, $0) }
        return checkedSum(checkedProduct(v, h), checkedProduct(nPositions, h), layers, checkedProduct(2, h), tieWordEmbeddings ? 0 : checkedProduct(v, h))
    }
}

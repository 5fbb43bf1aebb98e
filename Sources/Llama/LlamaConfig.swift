import Foundation
import LanguageModel

/// The hyper-parameters of a Llama-family model (`llama`, and `mistral` and `qwen2`, which are Llama with
/// flags), decoded from a Hugging Face `config.json`.
///
/// Keys are `transformers`' snake_case names; an absent key takes the default of the `model_type`'s config
/// class in `transformers` 5 (`LlamaConfig`, `MistralConfig`, `Qwen2Config`). Unknown keys (`architectures`,
/// `torch_dtype`, …) are ignored. Rotary embeddings are read in both forms real checkpoints use: the
/// transformers-5 `rope_parameters` object and the transformers-4 top-level `rope_theta` with `rope_scaling`.
/// What the model does not implement is refused by name (``validate(source:)``), never replaced by a default:
/// rope types other than `default`, `linear` and `llama3`, `partial_rotary_factor` ≠ 1, `pretraining_tp` ≠ 1, sliding-window
/// attention that could drop a key, and activations outside ``Activation``.
public struct LlamaConfig: Equatable, Sendable {
    /// `llama`, `mistral` or `qwen2`: which `transformers` class the config is for (it decides the defaults,
    /// the biases and the keys written back).
    public var modelType = "llama"
    /// Rows of the token embedding and of the output projection.
    public var vocabSize = 32000
    /// Width of the residual stream.
    public var hiddenSize = 4096
    /// Width of the gated feed-forward layer.
    public var intermediateSize = 11008
    /// Number of decoder layers.
    public var numHiddenLayers = 32
    /// Number of query heads.
    public var numAttentionHeads = 32
    /// Number of key/value heads (grouped-query attention when fewer than the query heads); divides them.
    public var numKeyValueHeads = 32
    /// Width of one head (`hidden_size / num_attention_heads` unless the config says otherwise).
    public var headDim = 128
    /// The feed-forward gate's activation (`hidden_act`), by its `transformers` name.
    public var hiddenAct = "silu"
    /// The longest sequence the model takes (positions are refused beyond it).
    public var maxPositionEmbeddings = 2048
    /// Standard deviation of `transformers`' weight initialisation.
    public var initializerRange = 0.02
    /// ε of every RMS norm.
    public var rmsNormEps = 1e-6
    /// Whether generation caches keys and values.
    public var useCache = true
    /// The padding token, if any.
    public var padTokenID: Int? = nil
    /// The beginning-of-sequence token.
    public var bosTokenID: Int? = 1
    /// The end-of-sequence token (the first one when the config lists several).
    public var eosTokenID: Int? = 2
    /// Tensor-parallel slices used in pretraining; only 1 (no slicing) is supported.
    public var pretrainingTP = 1
    /// Whether the output projection is the token embedding (`lm_head.weight` is then not stored).
    public var tieWordEmbeddings = false
    /// The rope type (`rope_parameters.rope_type`, or `rope_scaling.type` in transformers-4 configs).
    public var ropeType = "default"
    /// The rotary base θ.
    public var ropeTheta = 10000.0
    /// The `linear` and `llama3` ropes' factor; nil for the default rope.
    public var ropeFactor: Double? = nil
    /// The `llama3` rope's `low_freq_factor`.
    public var ropeLowFreqFactor: Double? = nil
    /// The `llama3` rope's `high_freq_factor`.
    public var ropeHighFreqFactor: Double? = nil
    /// The `llama3` rope's `original_max_position_embeddings` (the pretraining context).
    public var ropeOriginalMaxPositions: Int? = nil
    /// The fraction of each head that is rotated; only 1 is supported.
    public var partialRotaryFactor = 1.0
    /// Whether the q, k, v and o projections have biases (Llama's `attention_bias`).
    public var attentionBias = false
    /// Whether q, k and v have biases while o has none (Qwen2).
    public var qkvBiasOnly = false
    /// Dropout probability of the attention weights (training only; not applied here).
    public var attentionDropout = 0.0
    /// Whether the feed-forward projections have biases.
    public var mlpBias = false
    /// Mistral's and Qwen2's attention window (nil: none). Supported only when it cannot drop a key
    /// (≥ `max_position_embeddings`, or switched off by Qwen2's `use_sliding_window`).
    public var slidingWindow: Int? = nil
    /// Qwen2: whether `sliding_window` applies (to layers from `max_window_layers` on).
    public var useSlidingWindow = false
    /// Qwen2: the first layer index that uses the sliding window when it is on.
    public var maxWindowLayers = 28
    /// Qwen2: each layer's attention kind (`full_attention` or `sliding_attention`), when the config lists them.
    public var layerTypes: [String]? = nil

    /// `transformers`' `LlamaConfig()` (Llama-2-7B shapes).
    public init() {}

    /// The `transformers` defaults of `model_type` (`llama`, `mistral` or `qwen2`).
    public init(modelType: String) {
        self.modelType = modelType
        switch modelType {
        case "mistral":
            intermediateSize = 14336
            numKeyValueHeads = 8
            maxPositionEmbeddings = 4096 * 32
            slidingWindow = 4096
        case "qwen2":
            vocabSize = 151936
            intermediateSize = 22016
            maxPositionEmbeddings = 32768
            bosTokenID = nil
            eosTokenID = nil
            qkvBiasOnly = true
            slidingWindow = 4096
        default:
            break
        }
    }

    /// The `architectures` entry `transformers` writes for this model type.
    var architecture: String {
        switch modelType {
        case "mistral": "MistralForCausalLM"
        case "qwen2": "Qwen2ForCausalLM"
        default: "LlamaForCausalLM"
        }
    }

    /// Whether q, k and v have biases.
    public var hasQKVBias: Bool { attentionBias || qkvBiasOnly }
    /// Whether o has a bias.
    public var hasOutputBias: Bool { attentionBias && !qkvBiasOnly }
    /// The feed-forward activation.
    public var activation: Activation? { Activation(huggingFaceName: hiddenAct) }

    /// The rope type's rescaling of the rotary frequencies (valid after ``validate(source:)``).
    public var ropeScaling: RopeScaling {
        switch ropeType {
        case "linear": .linear(factor: ropeFactor ?? 1)
        case "llama3": .llama3(factor: ropeFactor ?? 1, lowFrequencyFactor: ropeLowFreqFactor ?? 1,
                               highFrequencyFactor: ropeHighFreqFactor ?? 4,
                               originalMaxPositions: ropeOriginalMaxPositions ?? maxPositionEmbeddings)
        default: .none
        }
    }

    enum CodingKeys: String, CodingKey {
        case modelType = "model_type"
        case architectures
        case vocabSize = "vocab_size"
        case hiddenSize = "hidden_size"
        case intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads"
        case numKeyValueHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case hiddenAct = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings"
        case initializerRange = "initializer_range"
        case rmsNormEps = "rms_norm_eps"
        case useCache = "use_cache"
        case padTokenID = "pad_token_id"
        case bosTokenID = "bos_token_id"
        case eosTokenID = "eos_token_id"
        case pretrainingTP = "pretraining_tp"
        case tieWordEmbeddings = "tie_word_embeddings"
        case ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling"
        case ropeTheta = "rope_theta"
        case partialRotaryFactor = "partial_rotary_factor"
        case originalMaxPositionEmbeddings = "original_max_position_embeddings"
        case attentionBias = "attention_bias"
        case attentionDropout = "attention_dropout"
        case mlpBias = "mlp_bias"
        case slidingWindow = "sliding_window"
        case useSlidingWindow = "use_sliding_window"
        case maxWindowLayers = "max_window_layers"
        case layerTypes = "layer_types"
    }

    /// The rotary settings inside `rope_parameters` / `rope_scaling` (other keys are ignored).
    struct RopeDictionary: Codable {
        var ropeType: String?
        var type: String?
        var ropeTheta: Double?
        var factor: Double?
        var lowFreqFactor: Double?
        var highFreqFactor: Double?
        var originalMaxPositionEmbeddings: Int?
        var partialRotaryFactor: Double?

        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type", type, ropeTheta = "rope_theta", factor
            case lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings"
            case partialRotaryFactor = "partial_rotary_factor"
        }
    }
}

extension LlamaConfig: Codable {
    /// Decodes `transformers`' keys, with the `model_type`'s defaults for absent ones (no validation: see
    /// ``validate(source:)``).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let type = try c.decodeIfPresent(String.self, forKey: .modelType) ?? "llama"
        guard LlamaConfig.modelTypes.contains(type) else {
            throw DecodingError.dataCorruptedError(
                forKey: .modelType, in: c, debugDescription: "model_type \(quoted(type)) is not a Llama-family type "
                    + "(supported: \(LlamaConfig.modelTypes.joined(separator: ", ")))")
        }
        self.init(modelType: type)
        let d = self
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        // A key that may be null: absent gives `fallback`, null gives nil.
        func optional(_ key: CodingKeys, _ fallback: Int?) throws -> Int? {
            guard c.contains(key) else { return fallback }
            return try c.decodeNil(forKey: key) ? nil : c.decode(Int.self, forKey: key)
        }
        // Token ids may be null; eos_token_id may also be a list.
        func tokenID(_ key: CodingKeys, _ fallback: Int?) throws -> Int? {
            guard c.contains(key) else { return fallback }
            if try c.decodeNil(forKey: key) { return nil }
            if let list = try? c.decode([Int].self, forKey: key) { return list.first }
            return try c.decode(Int.self, forKey: key)
        }
        vocabSize = try value(.vocabSize, d.vocabSize)
        hiddenSize = try value(.hiddenSize, d.hiddenSize)
        intermediateSize = try value(.intermediateSize, d.intermediateSize)
        numHiddenLayers = try value(.numHiddenLayers, d.numHiddenLayers)
        numAttentionHeads = try value(.numAttentionHeads, d.numAttentionHeads)
        // Absent, num_key_value_heads takes the class default (Llama: the head count; Mistral 8; Qwen2 32);
        // null means the head count, as in transformers' __post_init__.
        let defaultKVHeads = type == "llama" ? numAttentionHeads : d.numKeyValueHeads
        numKeyValueHeads = try optional(.numKeyValueHeads, defaultKVHeads) ?? numAttentionHeads
        headDim = try c.decodeIfPresent(Int?.self, forKey: .headDim).flatMap { $0 }
            ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0)
        hiddenAct = try value(.hiddenAct, d.hiddenAct)
        maxPositionEmbeddings = try value(.maxPositionEmbeddings, d.maxPositionEmbeddings)
        initializerRange = try value(.initializerRange, d.initializerRange)
        rmsNormEps = try value(.rmsNormEps, d.rmsNormEps)
        useCache = try value(.useCache, d.useCache)
        padTokenID = try tokenID(.padTokenID, d.padTokenID)
        bosTokenID = try tokenID(.bosTokenID, d.bosTokenID)
        eosTokenID = try tokenID(.eosTokenID, d.eosTokenID)
        pretrainingTP = try c.decodeIfPresent(Int?.self, forKey: .pretrainingTP).flatMap { $0 } ?? 1
        tieWordEmbeddings = try value(.tieWordEmbeddings, d.tieWordEmbeddings)
        attentionDropout = try value(.attentionDropout, d.attentionDropout)
        if type == "llama" {
            // Mistral and Qwen2 fix their biases in the modeling file, whatever the config says.
            attentionBias = try value(.attentionBias, d.attentionBias)
            mlpBias = try value(.mlpBias, d.mlpBias)
        }
        if type != "llama" {
            slidingWindow = try optional(.slidingWindow, d.slidingWindow)
        }
        if type == "qwen2" {
            useSlidingWindow = try value(.useSlidingWindow, d.useSlidingWindow)
            maxWindowLayers = try value(.maxWindowLayers, d.maxWindowLayers)
            layerTypes = try c.decodeIfPresent([String]?.self, forKey: .layerTypes).flatMap { $0 }
        }

        // Rotary embeddings, with transformers' precedence: rope_scaling (transformers 4) or rope_parameters
        // (transformers 5) gives the type and its settings; θ comes from that object, else from the top-level
        // rope_theta, else it is the class default 10000. Two different θ in one config are refused.
        let scaling = try c.decodeIfPresent(RopeDictionary?.self, forKey: .ropeScaling).flatMap { $0 }
        let parameters = try c.decodeIfPresent(RopeDictionary?.self, forKey: .ropeParameters).flatMap { $0 }
        let rope = scaling ?? parameters
        let topTheta = try c.decodeIfPresent(Double.self, forKey: .ropeTheta)
        if let inner = rope?.ropeTheta, let topTheta, inner != topTheta {
            throw DecodingError.dataCorruptedError(
                forKey: .ropeTheta, in: c, debugDescription: "rope_theta \(topTheta) disagrees with the "
                    + "\(scaling != nil ? "rope_scaling" : "rope_parameters") rope_theta \(inner)")
        }
        ropeTheta = rope?.ropeTheta ?? topTheta ?? d.ropeTheta
        ropeType = rope?.ropeType ?? rope?.type ?? "default"
        ropeFactor = rope?.factor
        ropeLowFreqFactor = rope?.lowFreqFactor
        ropeHighFreqFactor = rope?.highFreqFactor
        if ropeType == "llama3" {
            // As standardize_rope_params: a top-level original_max_position_embeddings wins, then the rope
            // object's, then max_position_embeddings.
            ropeOriginalMaxPositions = try c.decodeIfPresent(Int.self, forKey: .originalMaxPositionEmbeddings)
                ?? rope?.originalMaxPositionEmbeddings ?? maxPositionEmbeddings
        }
        partialRotaryFactor = try rope?.partialRotaryFactor
            ?? c.decodeIfPresent(Double.self, forKey: .partialRotaryFactor) ?? 1
    }

    /// Encodes every field under `transformers`' keys in the transformers-5 form (`rope_parameters`), with
    /// `model_type` and `architectures`; each model type writes its own flags.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(modelType, forKey: .modelType)
        try c.encode([architecture], forKey: .architectures)
        try c.encode(vocabSize, forKey: .vocabSize)
        try c.encode(hiddenSize, forKey: .hiddenSize)
        try c.encode(intermediateSize, forKey: .intermediateSize)
        try c.encode(numHiddenLayers, forKey: .numHiddenLayers)
        try c.encode(numAttentionHeads, forKey: .numAttentionHeads)
        try c.encode(numKeyValueHeads, forKey: .numKeyValueHeads)
        try c.encode(headDim, forKey: .headDim)
        try c.encode(hiddenAct, forKey: .hiddenAct)
        try c.encode(maxPositionEmbeddings, forKey: .maxPositionEmbeddings)
        try c.encode(initializerRange, forKey: .initializerRange)
        try c.encode(rmsNormEps, forKey: .rmsNormEps)
        try c.encode(useCache, forKey: .useCache)
        try c.encode(padTokenID, forKey: .padTokenID)
        try c.encode(bosTokenID, forKey: .bosTokenID)
        try c.encode(eosTokenID, forKey: .eosTokenID)
        try c.encode(tieWordEmbeddings, forKey: .tieWordEmbeddings)
        var rope = RopeDictionary(ropeType: ropeType, ropeTheta: ropeTheta, factor: ropeFactor, lowFreqFactor: ropeLowFreqFactor,
                                  highFreqFactor: ropeHighFreqFactor, originalMaxPositionEmbeddings: ropeOriginalMaxPositions)
        if partialRotaryFactor != 1 { rope.partialRotaryFactor = partialRotaryFactor }
        try c.encode(rope, forKey: .ropeParameters)
        try c.encode(attentionDropout, forKey: .attentionDropout)
        switch modelType {
        case "llama":
            try c.encode(attentionBias, forKey: .attentionBias)
            try c.encode(mlpBias, forKey: .mlpBias)
            try c.encode(pretrainingTP, forKey: .pretrainingTP)
        case "mistral":
            try c.encode(slidingWindow, forKey: .slidingWindow)
        default:
            try c.encode(useSlidingWindow, forKey: .useSlidingWindow)
            try c.encode(slidingWindow, forKey: .slidingWindow)
            try c.encode(maxWindowLayers, forKey: .maxWindowLayers)
            if let layerTypes { try c.encode(layerTypes, forKey: .layerTypes) }
        }
    }
}

extension LlamaConfig: CausalLMConfig {
    /// `llama`, `mistral` (without an effective sliding window) and `qwen2` (q/k/v biases).
    public static let modelTypes = ["llama", "mistral", "qwen2"]

    /// Keys and values are `num_key_value_heads × head_dim` wide.
    public var keyValueWidth: Int { numKeyValueHeads * headDim }

    /// The rope types the model implements.
    public static let supportedRopeTypes = ["default", "linear", "llama3"]

    /// Decodes and validates config JSON; `source` names it in error messages.
    public init(data: Data, source: String = "<memory>") throws {
        self = try decodeConfig(LlamaConfig.self, data: data, source: source, typeProblem: LlamaConfig.typeProblem)
    }

    /// The JSON type of each known key (a wrong type is named by key, inside rope objects too).
    static let keyTypes = ConfigKeyTypes(
        integers: ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                   "max_position_embeddings", "max_window_layers"],
        optionalIntegers: ["num_key_value_heads", "head_dim", "pretraining_tp", "sliding_window", "pad_token_id",
                           "bos_token_id", "original_max_position_embeddings"],
        booleans: ["use_cache", "tie_word_embeddings", "attention_bias", "mlp_bias", "use_sliding_window"],
        numbers: ["initializer_range", "rms_norm_eps", "attention_dropout", "rope_theta", "partial_rotary_factor"],
        strings: ["hidden_act", "model_type"],
        custom: ["rope_parameters": ropeProblem, "rope_scaling": ropeProblem, "layer_types": { key, value in
            let list = value.arrayValue.map { $0.allSatisfy { $0.stringValue != nil } } ?? false
            return list || value.isNull ? nil : "\(key) must be a list of strings or null, not \(value.brief)"
        }])

    /// The problem with a rope object (`rope_parameters`, `rope_scaling`), or nil.
    @Sendable static func ropeProblem(_ key: String, _ value: JSONValue) -> String? {
        guard !value.isNull else { return nil }
        guard let inner = value.objectValue else { return "\(key) must be an object or null, not \(value.brief)" }
        for (k, v) in inner {
            let ok: Bool, expected: String
            switch k {
            case "rope_type", "type": (ok, expected) = (v.stringValue != nil, "a string")
            case "rope_theta", "factor", "partial_rotary_factor", "low_freq_factor", "high_freq_factor":
                (ok, expected) = (v.isNumber, "a number")
            case "original_max_position_embeddings": (ok, expected) = (v.intValue != nil, "an integer")
            default: continue
            }
            if !ok { return "\(key).\(k) must be \(expected), not \(v.brief)" }
        }
        return nil
    }

    /// The first known key whose JSON value has the wrong type, described; nil when all are right.
    static func typeProblem(in root: JSONValue) -> String? { keyTypes.problem(in: root) }

    /// Throws ``ModelError/invalidConfig(file:reason:)`` when the hyper-parameters describe no valid model or
    /// one this implementation does not compute exactly; the message names the key.
    public func validate(source: String = "<config>") throws {
        func fail(_ reason: String) -> ModelError { .invalidConfig(file: source, reason: reason) }
        guard LlamaConfig.modelTypes.contains(modelType) else {
            throw fail("model_type \(quoted(modelType)) is not a Llama-family type (supported: \(LlamaConfig.modelTypes.joined(separator: ", ")))")
        }
        let positive: [(String, Int)] = [
            ("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("intermediate_size", intermediateSize),
            ("max_position_embeddings", maxPositionEmbeddings), ("num_attention_heads", numAttentionHeads),
            ("num_key_value_heads", numKeyValueHeads), ("head_dim", headDim),
        ]
        try ConfigLimits.check(dimensions: positive, layersKey: "num_hidden_layers", layers: numHiddenLayers,
                               parameterCount: checkedParameterCount, source: source)
        guard numAttentionHeads % numKeyValueHeads == 0 else {
            throw fail("num_attention_heads \(numAttentionHeads) is not divisible by num_key_value_heads \(numKeyValueHeads)")
        }
        guard headDim % 2 == 0 else { throw fail("head_dim \(headDim) must be even (rotary embeddings rotate pairs)") }
        guard activation != nil else {
            throw fail("hidden_act \(quoted(hiddenAct)) is not supported (supported: \(Activation.huggingFaceNames.joined(separator: ", ")))")
        }
        guard rmsNormEps.isFinite && rmsNormEps >= 0 else { throw fail("rms_norm_eps must be finite and ≥ 0, got \(rmsNormEps)") }
        guard initializerRange.isFinite && initializerRange >= 0 else {
            throw fail("initializer_range must be finite and ≥ 0, got \(initializerRange)")
        }
        guard attentionDropout >= 0 && attentionDropout <= 1 else {
            throw fail("attention_dropout must be a probability in [0, 1], got \(attentionDropout)")
        }
        guard pretrainingTP == 1 else {
            throw fail("pretraining_tp \(pretrainingTP) is not supported (only 1: the sliced projections of "
                       + "tensor-parallel pretraining are not implemented)")
        }
        guard LlamaConfig.supportedRopeTypes.contains(ropeType) else {
            throw fail("rope type \(quoted(ropeType)) is not supported (supported: \(LlamaConfig.supportedRopeTypes.joined(separator: ", ")))")
        }
        guard ropeTheta.isFinite && ropeTheta > 0 else { throw fail("rope_theta must be finite and positive, got \(ropeTheta)") }
        if ropeType == "linear" || ropeType == "llama3" {
            guard let f = ropeFactor else { throw fail("rope type \(quoted(ropeType)) needs a factor") }
            guard f.isFinite && f > 0 else { throw fail("the \(ropeType) rope factor must be finite and positive, got \(f)") }
        }
        if ropeType == "llama3" {
            guard let low = ropeLowFreqFactor, let high = ropeHighFreqFactor else {
                throw fail("rope type 'llama3' needs low_freq_factor and high_freq_factor")
            }
            guard low.isFinite && high.isFinite && low > 0 && high > low else {
                throw fail("rope type 'llama3' needs 0 < low_freq_factor < high_freq_factor, got \(low) and \(high)")
            }
            guard let original = ropeOriginalMaxPositions, original > 0 else {
                throw fail("rope type 'llama3' needs a positive original_max_position_embeddings")
            }
        }
        guard partialRotaryFactor == 1 else {
            throw fail("partial_rotary_factor \(partialRotaryFactor) is not supported (only 1: every feature of a head rotates)")
        }
        if let w = slidingWindow, modelType == "mistral", w < maxPositionEmbeddings {
            throw fail("sliding_window \(w) is not supported: sliding-window attention is not implemented "
                       + "(supported: null or ≥ max_position_embeddings \(maxPositionEmbeddings))")
        }
        if modelType == "qwen2" {
            let window = useSlidingWindow ? slidingWindow : nil
            let types = layerTypes ?? (0..<numHiddenLayers).map {
                window != nil && $0 >= maxWindowLayers ? "sliding_attention" : "full_attention"
            }
            if let bad = types.first(where: { $0 != "full_attention" && $0 != "sliding_attention" }) {
                throw fail("layer_types entry \(quoted(bad)) is not supported (supported: full_attention)")
            }
            if layerTypes != nil && layerTypes!.count != numHiddenLayers {
                throw fail("layer_types has \(layerTypes!.count) entries for \(numHiddenLayers) layers")
            }
            if types.contains("sliding_attention"), let w = window, w < maxPositionEmbeddings {
                throw fail("use_sliding_window with sliding_window \(w) is not supported: sliding-window attention is not "
                           + "implemented (supported: use_sliding_window false, or sliding_window ≥ max_position_embeddings)")
            }
        }
        for (key, id) in [("pad_token_id", padTokenID), ("bos_token_id", bosTokenID), ("eos_token_id", eosTokenID)] {
            if let id, id < 0 || id >= vocabSize {
                throw fail("\(key) \(id) is outside the vocabulary (vocab_size \(vocabSize))")
            }
        }
    }

    /// The largest accepted dimension (2^31 − 1).
    public static let maxDimension = ConfigLimits.maxDimension
    /// The largest accepted `num_hidden_layers`.
    public static let maxLayers = ConfigLimits.maxLayers

    /// The number of scalars in the model's tensors, or nil when it overflows `Int`.
    package var checkedParameterCount: Int? {
        let h = hiddenSize, i = intermediateSize
        guard let q = checkedProduct(numAttentionHeads, headDim), let kv = checkedProduct(numKeyValueHeads, headDim) else { return nil }
        let qkvBias = hasQKVBias ? checkedSum(q, kv, kv) : 0, oBias = hasOutputBias ? h : 0, mlpBiases = mlpBias ? checkedSum(i, i, h) : 0
        let perLayer = checkedSum(checkedProduct(h, q), checkedProduct(2, h, kv), checkedProduct(q, h), qkvBias, oBias, checkedProduct(3, h, i), mlpBiases, checkedProduct(2, h))
        let layers = perLayer.flatMap { checkedProduct(numHiddenLayers, $0) }
        return checkedSum(checkedProduct(vocabSize, h), layers, h, tieWordEmbeddings ? 0 : checkedProduct(vocabSize, h))
    }
}

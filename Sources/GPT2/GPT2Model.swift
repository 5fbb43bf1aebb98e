import Autodiff
import Foundation
import LanguageModel
import Tensor

/// A GPT-2 causal language model with the semantics of Hugging Face `transformers`' `GPT2LMHeadModel`.
///
/// Pre-LN blocks (`ln_1` → fused-QKV causal attention → `c_proj`, `ln_2` → `c_fc` → `gelu_new` → `c_proj`),
/// learned positions without an offset, a final `ln_f` and an output projection tied to the token embedding
/// (unless `tie_word_embeddings` is false).
///
/// The parameters live in a ``ParameterSet`` under their checkpoint names and in the checkpoint's layout:
/// the `Conv1D` weights (`attn.c_attn`, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj`) are `[in, out]` and
/// `c_attn` holds Q, K and V side by side (`[n_embd, 3·n_embd]`). The forward reads them through
/// `Layers.linear(…, layout: .inOut)` (no transposed copy), gradients come back in the same layout, and
/// ``save(to:dtype:)`` writes a checkpoint `transformers` loads as is. ``sanitize(weights:config:)`` is the one
/// place that maps other checkpoint forms (the bare `GPT2Model` names without `transformer.`, the old
/// `attn.bias`/`attn.masked_bias` buffers, a stored tied `lm_head.weight`) onto these names.
///
/// ```swift
/// let model = try GPT2Model.load(directory: URL(fileURLWithPath: "gpt2"))
/// let logits = try model.logits([464, 3290, 318])           // [3, vocab], inference
/// let (loss, grads) = try valueAndGradient(of: model.parameters) { p in
///     try model.loss(TokenBatch([464, 3290, 318]), parameters: p)
/// }
/// ```
public struct GPT2Model: CausalLM {
    /// The hyper-parameters.
    public let config: GPT2Config
    /// Every parameter under its checkpoint name; replace tensors with `ParameterSet.set` (shapes are fixed).
    public var parameters: ParameterSet<Float>

    /// A model from a config and parameters, checked strictly: every expected name must be present with its
    /// shape, and no other name may appear.
    ///
    /// - Throws: ``ModelError/invalidConfig(file:reason:)`` for an impossible or unsupported config,
    ///   ``ModelError/checkpointMismatch(file:missing:unexpected:wrongShapes:)`` naming every difference.
    public init(config: GPT2Config, parameters: ParameterSet<Float>) throws {
        try config.validate()
        self.config = config
        self.parameters = try GPT2Model.checkedParameters(parameters, config: config)
    }

    /// A freshly initialised model, as `transformers` initialises one: embeddings, `Conv1D` and `lm_head`
    /// weights from N(0, `initializer_range`²), the two residual projections (`attn.c_proj`, `mlp.c_proj`) from
    /// N(0, (`initializer_range`/√(2·`n_layer`))²), biases 0, layer norms 1 and 0.
    public init(config: GPT2Config, seed: UInt64) throws {
        try config.validate()
        var rng = TensorRNG(seed: seed)
        let std = Float(config.initializerRange)
        let residualStd = std / Float(2 * Swift.max(config.nLayer, 1)).squareRoot()
        var pairs: [(String, Tensor<Float>)] = []
        for (name, shape) in GPT2Model.parameterShapes(config) {
            let t: Tensor<Float>
            let isNorm = name.contains(".ln_")
            if name.hasSuffix(".bias") {
                t = try .zeros(shape)
            } else if isNorm {
                t = try .ones(shape)
            } else if name.hasSuffix("c_proj.weight") {
                t = try .normal(shape, mean: 0, std: residualStd, using: &rng)
            } else {
                t = try .normal(shape, mean: 0, std: std, using: &rng)
            }
            pairs.append((name, t))
        }
        self.config = config
        self.parameters = try ParameterSet(pairs)
    }
}

// MARK: - Parameter names

extension GPT2Model {
    /// The token embedding (also the output projection when the embeddings are tied).
    public static let wteName = "transformer.wte.weight"
    /// The learned position embedding (`n_positions` rows, no offset).
    public static let wpeName = "transformer.wpe.weight"
    /// The untied output projection (`[vocab_size, n_embd]`, `nn.Linear` layout).
    public static let lmHeadName = "lm_head.weight"
    /// The final layer norm's scale and shift.
    public static let finalNormNames = ["transformer.ln_f.weight", "transformer.ln_f.bias"]

    /// The name of a parameter of block `layer`, e.g. `layerName(0, "attn.c_attn.weight")`.
    public static func layerName(_ layer: Int, _ suffix: String) -> String { "transformer.h.\(layer).\(suffix)" }

    /// Every parameter's name and shape in `named_parameters()` order: `wte`, `wpe`, each block (`ln_1`,
    /// `attn.c_attn`, `attn.c_proj`, `ln_2`, `mlp.c_fc`, `mlp.c_proj`), `ln_f`, and `lm_head.weight` only when
    /// the embeddings are not tied. `Conv1D` weights are `[in, out]`, as in the checkpoint.
    public static func parameterShapes(_ config: GPT2Config) -> [(name: String, shape: [Int])] {
        let h = config.nEmbd, f = config.innerDim
        var out: [(String, [Int])] = [(wteName, [config.vocabSize, h]), (wpeName, [config.nPositions, h])]
        for l in 0..<config.nLayer {
            func add(_ suffix: String, _ shape: [Int]) { out.append((layerName(l, suffix), shape)) }
            add("ln_1.weight", [h]); add("ln_1.bias", [h])
            add("attn.c_attn.weight", [h, 3 * h]); add("attn.c_attn.bias", [3 * h])
            add("attn.c_proj.weight", [h, h]); add("attn.c_proj.bias", [h])
            add("ln_2.weight", [h]); add("ln_2.bias", [h])
            add("mlp.c_fc.weight", [h, f]); add("mlp.c_fc.bias", [f])
            add("mlp.c_proj.weight", [f, h]); add("mlp.c_proj.bias", [h])
        }
        out += finalNormNames.map { ($0, [h]) }
        if !config.tieWordEmbeddings { out.append((lmHeadName, [config.vocabSize, h])) }
        return out
    }

    /// The names of every parameter of block `layer`.
    public func layerParameterNames(_ layer: Int) -> [String] {
        let prefix = GPT2Model.layerName(layer, "")
        return parameters.names.filter { $0.hasPrefix(prefix) }
    }

    /// The names of `ln_f`'s parameters.
    public var finalNormParameterNames: [String] { GPT2Model.finalNormNames }

    /// Maps a checkpoint's tensors onto the model's names; the layouts are the checkpoint's own (`Conv1D`
    /// `[in, out]`, fused `c_attn`), so nothing is transposed or split.
    ///
    /// - `GPT2LMHeadModel` checkpoints use the names of ``parameterShapes(_:)``; the original hub checkpoints,
    ///   saved from the bare `GPT2Model`, lack the `transformer.` prefix (`h.0.attn.c_attn.weight`, `wte.weight`).
    /// - Checkpoints written by older `transformers` hold the non-parameter buffers `h.{i}.attn.bias` (the
    ///   causal mask) and `h.{i}.attn.masked_bias` (and `crossattention.bias`): they are dropped.
    /// - With tied embeddings a stored `lm_head.weight` is dropped: the head is the token embedding.
    ///
    /// Every other tensor is passed through, so that strict loading names it as unexpected.
    public static func sanitize<Weight>(weights: [String: Weight], config: GPT2Config) throws -> [String: Weight] {
        let bareRoots = ["wte.", "wpe.", "h.", "ln_f."]
        let hasBareRoot = { (name: String) in bareRoots.contains { name.hasPrefix($0) } }
        let bare = !weights.keys.contains { $0.hasPrefix("transformer.") } && weights.keys.contains(where: hasBareRoot)
        var out: [String: Weight] = [:]
        for (stored, t) in weights {
            let name = bare && hasBareRoot(stored) ? "transformer." + stored : stored
            if isAttentionBuffer(name) { continue }
            if config.tieWordEmbeddings && name == lmHeadName { continue }
            out[name] = t
        }
        return out
    }

    /// `transformer.h.{i}.attn.bias`, `….attn.masked_bias` or `….crossattention.bias`: buffers, not parameters.
    static func isAttentionBuffer(_ name: String) -> Bool {
        let parts = name.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "transformer", parts[1] == "h", Int(parts[2]) != nil else { return false }
        switch (parts[3], parts[4]) {
        case ("attn", "bias"), ("attn", "masked_bias"), ("crossattention", "bias"), ("crossattention", "masked_bias"):
            return true
        default:
            return false
        }
    }
}

// MARK: - Forward

extension GPT2Model {
    /// The output of `ln_f`, `[B, T, n_embd]`.
    ///
    /// Positions count each row's real tokens (those the attention mask keeps, plus the cache's), starting
    /// at 0, so a left-padded row gives the logits it gives alone: `transformers`' forward with the
    /// `position_ids` that `generate()` builds from the mask (`cumsum(mask) − 1`). Called without
    /// `position_ids`, `transformers` numbers positions 0…T−1 whatever the padding; the two agree for
    /// unpadded and right-padded batches. Padded positions get position 0 and attend to nothing real; their
    /// outputs are undefined.
    ///
    /// - Parameters:
    ///   - parameters: the model's parameters by name: `self.parameters.constants` for inference, or the
    ///     variables of `valueAndGradient(of:trainable:_:)` (any scalar type).
    ///   - cache: keys and values of earlier tokens (generation); this call's tokens are appended to it.
    /// - Throws: ``ModelError/invalidTokenID(id:vocabularySize:)`` for an id outside the vocabulary,
    ///   ``ModelError/invalidArgument(op:reason:)`` for an empty batch, a position past `n_positions` or a
    ///   cache of another shape; `AutodiffError.unknownParameter` for a parameter `parameters` lacks.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func hiddenStates<S: TensorScalar>(_ batch: TokenBatch, parameters p: VariableSet<S>,
                                              cache: KVCache<S>? = nil,
                                              options: ForwardOptions = ForwardOptions()) throws -> Variable<S> {
        let c = config
        let op = "GPT2Model.forward"
        guard let activation = c.activation else {
            throw ModelError.invalidConfig(file: "<config>", reason: "activation_function \(c.activationFunction) is not supported")
        }

        // Positions count real tokens only (no offset); padding gets 0.
        let inputs = try ForwardInputs(batch, config: c, cache: cache, op: op, positionKey: "n_positions")
        let (bsz, t, positions) = (inputs.batchSize, inputs.length, inputs.positions)

        // Embeddings (GPT-2's token embedding has no padding_idx: every row gets its gradient).
        let tokens = try Layers.embedding(p[GPT2Model.wteName], ids: batch.ids, shape: [bsz, t])
        let pos = try Layers.embedding(p[GPT2Model.wpeName], ids: positions, shape: [bsz, t])
        var h = try Layers.add(tokens, pos)

        // Blocks.
        let d = c.nEmbd
        let scale = S(1 / Double(c.headDim).squareRoot())
        let epsilon = S(c.layerNormEpsilon)
        for l in 0..<c.nLayer {
            func param(_ suffix: String) throws -> Variable<S> { try p[GPT2Model.layerName(l, suffix)] }
            func conv1D(_ x: Variable<S>, _ name: String, residual: Variable<S>? = nil,
                        activation: Activation? = nil) throws -> Variable<S> {
                try Layers.linear(x, weight: param(name + ".weight"), bias: param(name + ".bias"), residual: residual,
                                  activation: activation, layout: .inOut)
            }
            func norm(_ x: Variable<S>, _ name: String) throws -> Variable<S> {
                try Layers.layerNorm(x, weight: param(name + ".weight"), bias: param(name + ".bias"), epsilon: epsilon)
            }

            // Attention: one fused projection, split into Q, K and V.
            let qkv = try conv1D(try norm(h, "ln_1"), "attn.c_attn")
            let parts = try qkv.split(sizes: [d, d, d], axis: 2)
            let q = parts[0]
            let a = try Layers.selfAttention(q: q, k: parts[1], v: parts[2], heads: c.nHead, scale: scale, layer: l,
                                             cache: cache, inputs: inputs,
                                             detachProbabilities: options.detachAttentionProbabilities)
            h = try conv1D(a, "attn.c_proj", residual: h)

            // Feed-forward.
            let f = try conv1D(try norm(h, "ln_2"), "mlp.c_fc", activation: activation)
            h = try conv1D(f, "mlp.c_proj", residual: h)
        }
        cache?.advance(by: t)
        return try Layers.layerNorm(h, weight: p[GPT2Model.finalNormNames[0]], bias: p[GPT2Model.finalNormNames[1]],
                                    epsilon: epsilon)
    }

    /// The next-token logits `[B, T, vocab_size]`: `ln_f`'s output times the output projection (the token
    /// embedding when tied). See ``hiddenStates(_:parameters:cache:options:)``.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func logits<S: TensorScalar>(_ batch: TokenBatch, parameters p: VariableSet<S>, cache: KVCache<S>?,
                                        options: ForwardOptions) throws -> Variable<S> {
        let h = try hiddenStates(batch, parameters: p, cache: cache, options: options)
        return try Layers.linear(h, weight: p[config.tieWordEmbeddings ? GPT2Model.wteName : GPT2Model.lmHeadName])
    }
}

import Autodiff
import LanguageModel
import Tensor

// The architecture, written once over Variables (see Layers.swift for the ops).
extension LlamaModel {
    /// The decoder's output `[B, T, hidden_size]`, after the final RMS norm.
    ///
    /// Positions count real tokens only, as `generate()` makes `position_ids` from the attention mask (a
    /// left-padded row gets the positions of the unpadded sequence; with a KV cache they continue from the
    /// row's real tokens so far). `positions` overrides them (`[B·T]`, row-major, e.g. `0..<T` in every row
    /// to reproduce `model(input_ids, attention_mask)` called without `position_ids`).
    ///
    /// - Parameters:
    ///   - parameters: the model's parameters by name: `self.parameters.constants` for inference, or the
    ///     variables of `valueAndGradient(of:trainable:_:)` (any scalar type).
    ///   - cache: keys and values of earlier tokens (generation); this call's tokens are appended to it.
    /// - Throws: ``ModelError/invalidTokenID(id:vocabularySize:)`` for an id outside the vocabulary,
    ///   ``ModelError/invalidArgument(op:reason:)`` for an empty batch, a position past
    ///   `max_position_embeddings`, positions of the wrong count or a cache of another shape;
    ///   `AutodiffError.unknownParameter` for a parameter `parameters` lacks.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func hiddenStates<S: TensorScalar>(_ batch: TokenBatch, parameters p: VariableSet<S>,
                                              cache: KVCache<S>? = nil, options: ForwardOptions = ForwardOptions(),
                                              positions explicitPositions: [Int]? = nil) throws -> Variable<S> {
        let c = config
        let op = "LlamaModel.forward"
        let (bsz, t) = (batch.batchSize, batch.length)
        guard bsz > 0 && t > 0 else {
            throw ModelError.invalidArgument(op: op, reason: "the batch is empty (\(bsz) rows of \(t) tokens)")
        }
        for id in batch.ids where id < 0 || id >= c.vocabSize {
            throw ModelError.invalidTokenID(id: id, vocabularySize: c.vocabSize)
        }
        if let cache, cache.batchSize != bsz {
            throw ModelError.invalidArgument(op: op, reason: "the KV cache holds \(cache.batchSize) rows, the batch has \(bsz)")
        }
        if let cache, cache.layers != c.numHiddenLayers || cache.width != c.keyValueWidth {
            throw ModelError.invalidArgument(op: op, reason: "the KV cache was made for another model shape")
        }

        // Positions: real tokens counted per row (padding gets 0; it is never a key and its outputs are unused).
        var positions: [Int]
        if let explicitPositions {
            guard explicitPositions.count == bsz * t, explicitPositions.allSatisfy({ $0 >= 0 }) else {
                throw ModelError.invalidArgument(op: op, reason: "positions must be \(bsz * t) non-negative integers, got \(explicitPositions.count)")
            }
            positions = explicitPositions
        } else {
            positions = [Int](repeating: 0, count: bsz * t)
            for b in 0..<bsz {
                var seen = cache?.realCounts[b] ?? 0
                for i in 0..<t where batch.isReal(b, i) {
                    positions[b * t + i] = seen
                    seen += 1
                }
            }
        }
        let maxPosition = positions.max() ?? 0
        guard maxPosition < c.maxPositionEmbeddings else {
            throw ModelError.invalidArgument(op: op, reason: "the sequence reaches position \(maxPosition) (\(maxPosition + 1) tokens) "
                                           + "but the model has max_position_embeddings \(c.maxPositionEmbeddings)")
        }
        let rope = try RotaryEmbedding<S>(positions: positions, headDim: c.headDim, theta: c.ropeTheta, scaling: c.ropeScaling)
        let past = cache?.length ?? 0
        if let cache {
            try cache.reserve(past + t)
            cache.appendTokens(count: t) { batch.isReal($0, $1) }
        }
        // Keys to drop: padded tokens (this batch's and the cache's), if any.
        let keyMask: [UInt8]?
        if let cache {
            keyMask = cache.hasPadding ? cache.keyMask : nil
        } else if let mask = batch.attentionMask, mask.contains(0) {
            keyMask = mask.map { $0 != 0 ? 1 : 0 }
        } else {
            keyMask = nil
        }

        var h = try Layers.embedding(p[LlamaModel.embedTokensName], ids: batch.ids, shape: [bsz, t], paddingID: c.padTokenID)

        let scale = S(1 / Double(c.headDim).squareRoot())
        let epsilon = S(c.rmsNormEps)
        let activation = c.activation!  // validated
        func param(_ l: Int, _ suffix: String) throws -> Variable<S> { try p[LlamaModel.layerName(l, suffix)] }
        for l in 0..<c.numHiddenLayers {
            func proj(_ x: Variable<S>, _ name: String, bias: Bool, residual: Variable<S>? = nil) throws -> Variable<S> {
                try Layers.linear(x, weight: param(l, name + ".weight"), bias: bias ? param(l, name + ".bias") : nil,
                                  residual: residual)
            }

            // Self-attention block: rotary q and k (the cache stores rotated keys, as transformers' does).
            let x = try Layers.rmsNorm(h, weight: param(l, "input_layernorm.weight"), epsilon: epsilon)
            let q = try Layers.rotary(proj(x, "self_attn.q_proj", bias: c.hasQKVBias), rope)
            var k = try Layers.rotary(proj(x, "self_attn.k_proj", bias: c.hasQKVBias), rope)
            var v = try proj(x, "self_attn.v_proj", bias: c.hasQKVBias)
            var keyCount: Int? = nil
            if let cache {
                cache.store(layer: l, keys: k.value, values: v.value, count: t)
                k = Variable(cache.keys[l])
                v = Variable(cache.values[l])
                keyCount = past + t
            }
            let a = try Layers.attention(q: q, k: k, v: v, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads,
                                         scale: scale, keyMask: keyMask, keyCount: keyCount,
                                         detachProbabilities: options.detachAttentionProbabilities)
            h = try proj(a, "self_attn.o_proj", bias: c.hasOutputBias, residual: h)

            // Gated feed-forward block: down(act(gate·y) ⊙ up·y).
            let y = try Layers.rmsNorm(h, weight: param(l, "post_attention_layernorm.weight"), epsilon: epsilon)
            let gated = try Layers.gatedActivation(gate: proj(y, "mlp.gate_proj", bias: c.mlpBias),
                                                   up: proj(y, "mlp.up_proj", bias: c.mlpBias), activation: activation)
            h = try proj(gated, "mlp.down_proj", bias: c.mlpBias, residual: h)
        }
        cache?.advance(by: t)
        return try Layers.rmsNorm(h, weight: p[LlamaModel.finalNormName], epsilon: epsilon)
    }

    /// The next-token logits `[B, T, vocab_size]`: the hidden states times the output projection (the token
    /// embedding when tied). See ``hiddenStates(_:parameters:cache:options:positions:)``.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func logits<S: TensorScalar>(_ batch: TokenBatch, parameters p: VariableSet<S>, cache: KVCache<S>?,
                                        options: ForwardOptions) throws -> Variable<S> {
        try logits(batch, parameters: p, cache: cache, options: options, positions: nil)
    }

    /// The logits with explicit `positions` (see ``hiddenStates(_:parameters:cache:options:positions:)``).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func logits<S: TensorScalar>(_ batch: TokenBatch, parameters p: VariableSet<S>, cache: KVCache<S>?,
                                        options: ForwardOptions, positions: [Int]?) throws -> Variable<S> {
        let h = try hiddenStates(batch, parameters: p, cache: cache, options: options, positions: positions)
        return try Layers.linear(h, weight: p[config.tieWordEmbeddings ? LlamaModel.embedTokensName : LlamaModel.lmHeadName])
    }
}

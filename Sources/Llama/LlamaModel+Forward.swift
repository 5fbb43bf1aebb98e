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
        let inputs = try ForwardInputs(batch, config: c, cache: cache, op: op, positions: explicitPositions)
        let (bsz, t, positions) = (inputs.batchSize, inputs.length, inputs.positions)
        let rope = try RotaryEmbedding<S>(positions: positions, headDim: c.headDim, theta: c.ropeTheta, scaling: c.ropeScaling)

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
            let k = try Layers.rotary(proj(x, "self_attn.k_proj", bias: c.hasQKVBias), rope)
            let v = try proj(x, "self_attn.v_proj", bias: c.hasQKVBias)
            let a = try Layers.selfAttention(q: q, k: k, v: v, heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads,
                                             scale: scale, layer: l, cache: cache, inputs: inputs,
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

import Autodiff
import LanguageModel
import Tensor

// The architecture, written once over Variables (see Layers.swift for the ops).
extension OPTModel {
    /// The decoder's output `[B, T, word_embed_proj_dim]`: after the last layer, the final layer norm (pre-LN
    /// models) and `project_out` (when `word_embed_proj_dim` ≠ `hidden_size`).
    ///
    /// - Parameters:
    ///   - parameters: the model's parameters by name: `self.parameters.constants` for inference, or the
    ///     variables of `valueAndGradient(of:trainable:_:)` (any scalar type: convert the tensors to Double for
    ///     gradient checks).
    ///   - cache: keys and values of earlier tokens (generation); this call's tokens are appended to it.
    /// - Throws: ``ModelError/invalidTokenID(id:vocabularySize:)`` for an id outside the vocabulary,
    ///   ``ModelError/invalidArgument(op:reason:)`` for an empty batch, a position past
    ///   `max_position_embeddings` or a cache of another batch size; `AutodiffError.unknownParameter` for a
    ///   parameter `parameters` lacks.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func hiddenStates<S: TensorScalar>(_ batch: TokenBatch, parameters p: VariableSet<S>,
                                              cache: KVCache<S>? = nil,
                                              options: ForwardOptions = ForwardOptions()) throws -> Variable<S> {
        let c = config
        let op = "OPTModel.forward"
        // Positions count real tokens only (padding gets −1), offset by 2.
        let inputs = try ForwardInputs(batch, config: c, cache: cache, op: op, paddingPosition: -1)
        let (bsz, t) = (inputs.batchSize, inputs.length)
        let positions = inputs.positions.map { $0 + 2 }

        // Embeddings.
        let tokens = try Layers.embedding(p[OPTModel.embedTokensName], ids: batch.ids, shape: [bsz, t],
                                          paddingID: c.padTokenID)
        let pos = try Layers.embedding(p[OPTModel.embedPositionsName], ids: positions, shape: [bsz, t])
        var h = c.hasEmbeddingProjections
            ? try Layers.linear(tokens, weight: p["model.decoder.project_in.weight"], residual: pos)
            : try Layers.add(tokens, pos)

        // Decoder layers.
        let scale = S(1 / Double(c.headDim).squareRoot())
        let activation = Activation(huggingFaceName: c.activationFunction.rawValue)!
        func param(_ l: Int, _ suffix: String) throws -> Variable<S> { try p[OPTModel.layerName(l, suffix)] }
        func optionalParam(_ l: Int, _ suffix: String, _ present: Bool) throws -> Variable<S>? {
            present ? try param(l, suffix) : nil
        }
        for l in 0..<c.numHiddenLayers {
            let bias = c.enableBias, affine = c.layerNormElementwiseAffine
            func proj(_ x: Variable<S>, _ name: String, residual: Variable<S>? = nil,
                      activation: Activation? = nil) throws -> Variable<S> {
                try Layers.linear(x, weight: param(l, name + ".weight"), bias: optionalParam(l, name + ".bias", bias),
                                  residual: residual, activation: activation)
            }
            func norm(_ x: Variable<S>, _ name: String) throws -> Variable<S> {
                try Layers.layerNorm(x, weight: optionalParam(l, name + ".weight", affine),
                                     bias: optionalParam(l, name + ".bias", affine))
            }

            // Self-attention block.
            let x = c.doLayerNormBefore ? try norm(h, "self_attn_layer_norm") : h
            let q = try proj(x, "self_attn.q_proj")
            let k = try proj(x, "self_attn.k_proj")
            let v = try proj(x, "self_attn.v_proj")
            let a = try Layers.selfAttention(q: q, k: k, v: v, heads: c.numAttentionHeads, scale: scale, layer: l,
                                             cache: cache, inputs: inputs,
                                             detachProbabilities: options.detachAttentionProbabilities)
            h = try proj(a, "self_attn.out_proj", residual: h)
            if !c.doLayerNormBefore { h = try norm(h, "self_attn_layer_norm") }

            // Feed-forward block.
            let y = c.doLayerNormBefore ? try norm(h, "final_layer_norm") : h
            let f = try proj(y, "fc1", activation: activation)
            h = try proj(f, "fc2", residual: h)
            if !c.doLayerNormBefore { h = try norm(h, "final_layer_norm") }
        }
        cache?.advance(by: t)

        if c.hasFinalLayerNorm {
            let affine = c.layerNormElementwiseAffine
            h = try Layers.layerNorm(h, weight: affine ? p["model.decoder.final_layer_norm.weight"] : nil,
                                     bias: affine ? p["model.decoder.final_layer_norm.bias"] : nil)
        }
        if c.hasEmbeddingProjections { h = try Layers.linear(h, weight: p["model.decoder.project_out.weight"]) }
        return h
    }

    /// The next-token logits `[B, T, vocab_size]`: the hidden states times the output projection (the token
    /// embedding when tied). See ``hiddenStates(_:parameters:cache:options:)``.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public func logits<S: TensorScalar>(_ batch: TokenBatch, parameters p: VariableSet<S>, cache: KVCache<S>?,
                                        options: ForwardOptions) throws -> Variable<S> {
        let h = try hiddenStates(batch, parameters: p, cache: cache, options: options)
        return try Layers.linear(h, weight: p[config.tieWordEmbeddings ? OPTModel.embedTokensName : OPTModel.lmHeadName])
    }
}

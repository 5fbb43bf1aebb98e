import LanguageModel
import OPT

extension AuxGraph {
    /// The graph of an OPT decoder (any config: pre-LN or post-LN, with or without `project_in`/`project_out`,
    /// biases and layer-norm affines), named by the checkpoint's parameter names. Every activation becomes an
    /// `.activation` node; the compiler rejects the ones it cannot simulate (SiLU) by name.
    public init(opt c: OPTConfig) throws {
        let D = c.hiddenSize, L = c.numHiddenLayers
        self.init(hiddenWidth: D, heads: c.numAttentionHeads, maxPositions: c.maxPositionEmbeddings, layerCount: L,
                  headWeight: c.tieWordEmbeddings ? OPTModel.embedTokensName : OPTModel.lmHeadName)
        tableShapes[OPTModel.embedTokensName] = [c.vocabSize, c.wordEmbedProjDim]
        tableShapes[OPTModel.embedPositionsName] = [c.maxPositionEmbeddings + 2, D]
        if !c.tieWordEmbeddings { tableShapes[OPTModel.lmHeadName] = [c.vocabSize, c.wordEmbedProjDim] }
        func linear(_ name: String, _ dIn: Int, _ dOut: Int, bias: Bool = c.enableBias) -> AuxLinear {
            AuxLinear(weight: name + ".weight", bias: bias ? name + ".bias" : nil, inputWidth: dIn, outputWidth: dOut)
        }
        func layerNorm(_ prefix: String) -> AuxOp {
            let affine = c.layerNormElementwiseAffine
            return .layerNorm(weight: affine ? prefix + ".weight" : nil, bias: affine ? prefix + ".bias" : nil, epsilon: 1e-5)
        }
        let activation = AuxOp.activation(c.activationFunction.activation)

        var tokens = try append("embed_tokens", .tokenEmbedding(weight: OPTModel.embedTokensName), layer: nil,
                                width: c.wordEmbedProjDim)
        if c.hasEmbeddingProjections {
            tokens = try append("project_in", .linear(linear("model.decoder.project_in", c.wordEmbedProjDim, D, bias: false),
                                                      trainable: false), inputs: [tokens], layer: nil, width: D)
        }
        let positions = try append("embed_positions", .positionEmbedding(weight: OPTModel.embedPositionsName, offset: 2),
                                   layer: nil, width: D)
        var h = try append("embed", .add, inputs: [tokens, positions], layer: nil, width: D)

        for l in 0..<L {
            let p = OPTModel.layerName(l, "")
            let name = "layers.\(l)."
            // Attention block.
            var x = h
            if c.doLayerNormBefore {
                x = try append(name + "self_attn_layer_norm", layerNorm(p + "self_attn_layer_norm"), inputs: [h], layer: l, width: D)
            }
            let a = try append(name + "self_attn", .causalSelfAttention(
                query: linear(p + "self_attn.q_proj", D, D), key: linear(p + "self_attn.k_proj", D, D),
                value: linear(p + "self_attn.v_proj", D, D), heads: c.numAttentionHeads), inputs: [x], layer: l, width: D)
            let o = try append(name + "self_attn.out_proj", .linear(linear(p + "self_attn.out_proj", D, D), trainable: true),
                               inputs: [a], layer: l, width: D)
            h = try append(name + "attn_residual", .add, inputs: [h, o], layer: l, width: D)
            if !c.doLayerNormBefore {
                h = try append(name + "self_attn_layer_norm", layerNorm(p + "self_attn_layer_norm"), inputs: [h], layer: l, width: D)
            }
            // Feed-forward block.
            var y = h
            if c.doLayerNormBefore {
                y = try append(name + "final_layer_norm", layerNorm(p + "final_layer_norm"), inputs: [h], layer: l, width: D)
            }
            let f = try append(name + "fc1", .linear(linear(p + "fc1", D, c.ffnDim), trainable: true), inputs: [y], layer: l,
                               width: c.ffnDim)
            let g = try append(name + "activation", activation, inputs: [f], layer: l, width: c.ffnDim)
            let m = try append(name + "fc2", .linear(linear(p + "fc2", c.ffnDim, D), trainable: true), inputs: [g], layer: l,
                               width: D)
            h = try append(name + "mlp_residual", .add, inputs: [h, m], layer: l, width: D)
            if !c.doLayerNormBefore {
                h = try append(name + "final_layer_norm", layerNorm(p + "final_layer_norm"), inputs: [h], layer: l, width: D)
            }
        }
        if c.hasFinalLayerNorm {
            h = try append("final_layer_norm", layerNorm("model.decoder.final_layer_norm"), inputs: [h], layer: L, width: D)
        }
        if c.hasEmbeddingProjections {
            h = try append("project_out", .linear(linear("model.decoder.project_out", D, c.wordEmbedProjDim, bias: false),
                                                  trainable: false), inputs: [h], layer: L, width: c.wordEmbedProjDim)
        }
        output = h
    }
}

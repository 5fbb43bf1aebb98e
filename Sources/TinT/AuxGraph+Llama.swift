import LanguageModel
import Llama

extension AuxGraph {
    /// The graph of a Llama-family model, named by the checkpoint's parameter names: RMS norms, rotary attention
    /// with grouped-query heads (``AuxOp/attention(_:)``), a gated MLP (`gate_proj`, `up_proj`, a
    /// ``AuxOp/gatedProduct(_:)``, `down_proj`), bias-free maps unless the config adds biases, and a head tied to
    /// `embed_tokens` or an untied `lm_head` (both frozen tables).
    ///
    /// - Throws: `TinTError.unsupportedNode` for an activation the layer library does not know or a sliding window.
    public init(llama c: LlamaConfig) throws {
        let D = c.hiddenSize, L = c.numHiddenLayers, F = c.intermediateSize
        let q = c.numAttentionHeads * c.headDim, kv = c.numKeyValueHeads * c.headDim
        self.init(hiddenWidth: D, heads: c.numAttentionHeads, maxPositions: c.maxPositionEmbeddings, layerCount: L,
                  headWeight: c.tieWordEmbeddings ? LlamaModel.embedTokensName : LlamaModel.lmHeadName)
        tableShapes[LlamaModel.embedTokensName] = [c.vocabSize, D]
        if !c.tieWordEmbeddings { tableShapes[LlamaModel.lmHeadName] = [c.vocabSize, D] }
        guard let activation = c.activation else {
            throw TinTError.unsupportedNode(node: "layers.0.mlp.act", reason: "hidden_act '\(c.hiddenAct)' is unknown")
        }
        if let w = c.slidingWindow {
            throw TinTError.unsupportedNode(node: "layers.0.self_attn", reason: "sliding-window attention (window \(w)) is not supported")
        }
        func linear(_ name: String, _ dIn: Int, _ dOut: Int, bias: Bool) -> AuxLinear {
            AuxLinear(weight: name + ".weight", bias: bias ? name + ".bias" : nil, inputWidth: dIn, outputWidth: dOut)
        }
        let rotary = AuxRotary(headDim: c.headDim, theta: c.ropeTheta, scaling: c.ropeScaling)
        var h = try append("embed_tokens", .tokenEmbedding(weight: LlamaModel.embedTokensName), layer: nil, width: D)
        for l in 0..<L {
            let p = LlamaModel.layerName(l, ""), name = "layers.\(l)."
            let x = try append(name + "input_layernorm", .rmsNorm(weight: p + "input_layernorm.weight", epsilon: c.rmsNormEps),
                               inputs: [h], layer: l, width: D)
            let a = try append(name + "self_attn", .attention(AuxAttention(
                query: linear(p + "self_attn.q_proj", D, q, bias: c.hasQKVBias),
                key: linear(p + "self_attn.k_proj", D, kv, bias: c.hasQKVBias),
                value: linear(p + "self_attn.v_proj", D, kv, bias: c.hasQKVBias),
                heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim, rotary: rotary)),
                inputs: [x], layer: l, width: q)
            let o = try append(name + "self_attn.o_proj", .linear(linear(p + "self_attn.o_proj", q, D, bias: c.hasOutputBias),
                                                                  trainable: true), inputs: [a], layer: l, width: D)
            h = try append(name + "attn_residual", .add, inputs: [h, o], layer: l, width: D)
            let y = try append(name + "post_attention_layernorm",
                               .rmsNorm(weight: p + "post_attention_layernorm.weight", epsilon: c.rmsNormEps),
                               inputs: [h], layer: l, width: D)
            let g = try append(name + "mlp.gate_proj", .linear(linear(p + "mlp.gate_proj", D, F, bias: c.mlpBias), trainable: true),
                               inputs: [y], layer: l, width: F)
            let u = try append(name + "mlp.up_proj", .linear(linear(p + "mlp.up_proj", D, F, bias: c.mlpBias), trainable: true),
                               inputs: [y], layer: l, width: F)
            let m = try append(name + "mlp.act", .gatedProduct(activation), inputs: [g, u], layer: l, width: F)
            let d = try append(name + "mlp.down_proj", .linear(linear(p + "mlp.down_proj", F, D, bias: c.mlpBias), trainable: true),
                               inputs: [m], layer: l, width: D)
            h = try append(name + "mlp_residual", .add, inputs: [h, d], layer: l, width: D)
        }
        output = try append("norm", .rmsNorm(weight: LlamaModel.finalNormName, epsilon: c.rmsNormEps), inputs: [h], layer: L,
                            width: D)
    }
}

extension LlamaConfig: TinTFrontEnd {
    /// ``AuxGraph/init(llama:)``.
    public func auxGraph() throws -> AuxGraph { try AuxGraph(llama: self) }
}

import GPT2
import LanguageModel

extension AuxGraph {
    /// The graph of a GPT-2 model, named by the checkpoint's parameter names and read in its layouts: pre-LN blocks
    /// with biases, learned positions at offset 0, the activation of `activation_function` (`gelu_new`), a head
    /// tied to `wte` unless `tie_word_embeddings` is false. The `Conv1D` maps are `.inOut` (`[in, out]`), and
    /// `attn.c_attn`'s Q, K and V are the column slices `[0, D)`, `[D, 2D)`, `[2D, 3D)` of the one fused
    /// parameter, so TinT's read-back returns `c_attn` with only V's columns moved.
    ///
    /// - Throws: `TinTError.unsupportedNode` for an activation the layer library does not know.
    public init(gpt2 c: GPT2Config) throws {
        let D = c.nEmbd, L = c.nLayer, F = c.innerDim
        self.init(hiddenWidth: D, heads: c.nHead, maxPositions: c.nPositions, layerCount: L,
                  headWeight: c.tieWordEmbeddings ? GPT2Model.wteName : GPT2Model.lmHeadName)
        tableShapes[GPT2Model.wteName] = [c.vocabSize, D]
        tableShapes[GPT2Model.wpeName] = [c.nPositions, D]
        if !c.tieWordEmbeddings { tableShapes[GPT2Model.lmHeadName] = [c.vocabSize, D] }
        guard let activation = c.activation else {
            throw TinTError.unsupportedNode(node: "layers.0.mlp.act", reason: "activation_function '\(c.activationFunction)' is unknown")
        }
        func conv1D(_ name: String, _ dIn: Int, _ dOut: Int, slice: Range<Int>? = nil, stored: Int? = nil) -> AuxLinear {
            AuxLinear(weight: name + ".weight", bias: name + ".bias", inputWidth: dIn, outputWidth: dOut, layout: .inOut,
                      outputSlice: slice, storedOutputWidth: stored)
        }
        func layerNorm(_ prefix: String) -> AuxOp {
            .layerNorm(weight: prefix + ".weight", bias: prefix + ".bias", epsilon: c.layerNormEpsilon)
        }
        let tokens = try append("wte", .tokenEmbedding(weight: GPT2Model.wteName), layer: nil, width: D)
        let positions = try append("wpe", .positionEmbedding(weight: GPT2Model.wpeName, offset: 0), layer: nil, width: D)
        var h = try append("embed", .add, inputs: [tokens, positions], layer: nil, width: D)
        for l in 0..<L {
            let p = GPT2Model.layerName(l, ""), name = "h.\(l)."
            let x = try append(name + "ln_1", layerNorm(p + "ln_1"), inputs: [h], layer: l, width: D)
            let qkv = p + "attn.c_attn"
            let a = try append(name + "attn", .causalSelfAttention(
                query: conv1D(qkv, D, D, slice: 0..<D, stored: 3 * D), key: conv1D(qkv, D, D, slice: D..<(2 * D), stored: 3 * D),
                value: conv1D(qkv, D, D, slice: (2 * D)..<(3 * D), stored: 3 * D), heads: c.nHead), inputs: [x], layer: l, width: D)
            let o = try append(name + "attn.c_proj", .linear(conv1D(p + "attn.c_proj", D, D), trainable: true), inputs: [a],
                               layer: l, width: D)
            h = try append(name + "attn_residual", .add, inputs: [h, o], layer: l, width: D)
            let y = try append(name + "ln_2", layerNorm(p + "ln_2"), inputs: [h], layer: l, width: D)
            let f = try append(name + "mlp.c_fc", .linear(conv1D(p + "mlp.c_fc", D, F), trainable: true), inputs: [y], layer: l,
                               width: F)
            let g = try append(name + "mlp.act", .activation(activation), inputs: [f], layer: l, width: F)
            let m = try append(name + "mlp.c_proj", .linear(conv1D(p + "mlp.c_proj", F, D), trainable: true), inputs: [g],
                               layer: l, width: D)
            h = try append(name + "mlp_residual", .add, inputs: [h, m], layer: l, width: D)
        }
        output = try append("ln_f", layerNorm("transformer.ln_f"), inputs: [h], layer: L, width: D)
    }
}

extension GPT2Config: TinTFrontEnd {
    /// ``AuxGraph/init(gpt2:)``.
    public func auxGraph() throws -> AuxGraph { try AuxGraph(gpt2: self) }
}

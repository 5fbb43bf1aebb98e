import Testing
import Tensor
@testable import Autodiff

/// Random parameters under checkpoint-style names.
func makeParameters(_ specs: [(String, [Int])], seed: UInt64, scale: Double = 0.5) throws -> ParameterSet<Double> {
    try ParameterSet(specs.enumerated().map { i, s in
        (s.0, rand(s.1, seed &+ UInt64(i), -scale, scale))
    })
}

/// A pre-LN decoder block in the OPT layout (self-attention and MLP, each behind a layer norm and a
/// residual), with token and position embeddings, a final layer norm and a tied LM head.
struct TinyDecoder {
    let vocab = 7, d = 8, heads = 2, ffn = 12, t = 5
    var prefix = "model.decoder."

    var specs: [(String, [Int])] {
        var s: [(String, [Int])] = [("embed_tokens.weight", [vocab, d]), ("embed_positions.weight", [t, d])]
        let l = "layers.0."
        for n in ["self_attn_layer_norm", "final_layer_norm"] { s += [(l + n + ".weight", [d]), (l + n + ".bias", [d])] }
        for n in ["q_proj", "k_proj", "v_proj", "out_proj"] { s += [(l + "self_attn." + n + ".weight", [d, d]), (l + "self_attn." + n + ".bias", [d])] }
        s += [(l + "fc1.weight", [ffn, d]), (l + "fc1.bias", [ffn]), (l + "fc2.weight", [d, ffn]), (l + "fc2.bias", [d])]
        s += [("final_layer_norm.weight", [d]), ("final_layer_norm.bias", [d])]
        return s.map { (prefix + $0.0, $0.1) }
    }

    func parameters(seed: UInt64) throws -> ParameterSet<Double> {
        var p = try makeParameters(specs, seed: seed)
        for (name, t) in p where name.hasSuffix("layer_norm.weight") {  // γ near 1, as trained models have
            try p.set(name, try Tensor(shape: t.shape, scalars: t.scalars.map { 1 + $0 }))
        }
        return p
    }

    /// Logits `[t, vocab]` for `tokens`.
    /// With `fixedProbabilities`, the attention uses those probabilities `[heads, t, t]` instead of its own.
    func logits<S: TensorScalar>(_ p: VariableSet<S>, _ tokens: [Int], detachAttention: Bool = false,
                                 fixedProbabilities: Variable<S>? = nil) throws -> Variable<S> {
        func w(_ n: String) throws -> Variable<S> { try p[prefix + n] }
        let l = "layers.0."
        var h = try w("embed_tokens.weight").embedding(tokens, shape: [t]) + w("embed_positions.weight")
        // Attention.
        let a = try h.layerNorm(weight: w(l + "self_attn_layer_norm.weight"), bias: w(l + "self_attn_layer_norm.bias"))
        func proj(_ n: String) throws -> Variable<S> {
            try a.linear(weight: w(l + "self_attn.\(n).weight"), bias: w(l + "self_attn.\(n).bias"))
                .reshaped([t, heads, d / heads]).permuted([1, 0, 2])
        }
        let o: Variable<S>
        if let fixed = fixedProbabilities {
            o = try fixed.matmul(proj("v_proj"))
        } else {
            o = try scaledDotProductAttention(query: proj("q_proj"), key: proj("k_proj"), value: proj("v_proj"),
                                              causal: true, detachProbabilities: detachAttention)
        }
        let merged = try o.permuted([1, 0, 2]).reshaped([t, d])
        h = try h + merged.linear(weight: w(l + "self_attn.out_proj.weight"), bias: w(l + "self_attn.out_proj.bias"))
        // MLP.
        let m = try h.layerNorm(weight: w(l + "final_layer_norm.weight"), bias: w(l + "final_layer_norm.bias"))
        let f = try m.linear(weight: w(l + "fc1.weight"), bias: w(l + "fc1.bias")).gelu()
        h = try h + f.linear(weight: w(l + "fc2.weight"), bias: w(l + "fc2.bias"))
        let out = try h.layerNorm(weight: w("final_layer_norm.weight"), bias: w("final_layer_norm.bias"))
        return try out.matmul(try w("embed_tokens.weight").transposed())  // tied head
    }
}

@Suite struct CompositeTests {
    @Test func twoLayerMLP() throws {
        let params = try makeParameters([("fc1.weight", [6, 4]), ("fc1.bias", [6]), ("fc2.weight", [3, 6]), ("fc2.bias", [3])],
                                        seed: 1, scale: 1)
        let x = Variable(rand([5, 4], 2)), targets = [0, 2, 1, 1, 2]
        let report = try gradientCheck(of: params) { p in
            let h = try x.linear(weight: p["fc1.weight"], bias: p["fc1.bias"]).relu()
            return try crossEntropy(logits: h.linear(weight: p["fc2.weight"], bias: p["fc2.bias"]), targets: targets,
                                    reduction: .sum)
        }
        #expect(report.worstRelativeError <= gradTolerance, "\(report)")
        #expect(report.checkedCount == params.scalarCount)
    }

    @Test func preLNTransformerBlock() throws {
        let model = TinyDecoder()
        let params = try model.parameters(seed: 3)
        let tokens = [1, 4, 4, 0, 6], targets = [4, 4, 0, -100, 2]  // next tokens; one ignored position
        let report = try gradientCheck(of: params) { p in
            try crossEntropy(logits: model.logits(p, tokens), targets: targets, reduction: .sum)
        }
        #expect(report.worstRelativeError <= gradTolerance, "\(report)")
        #expect(report.checkedCount == params.scalarCount)
    }

    @Test func frozenSubsetWithDetachedAttention() throws {
        // TinT's approximate-GD setting: W_Q, W_K, γ and the embeddings frozen, attention probabilities
        // detached. Detaching is not the gradient of the model (q and k still depend on trainable LN biases), but
        // it must equal exactly the gradient of the model whose probabilities are the constants A computed at
        // the current parameters, which finite differences can check.
        let model = TinyDecoder()
        let params = try model.parameters(seed: 4)
        let tokens = [2, 3, 5, 5, 1], targets = [3, 5, 5, 1, 0]
        let frozen: (String) -> Bool = { n in
            n.contains("q_proj") || n.contains("k_proj") || n.hasSuffix("norm.weight") || n.contains("embed")
        }
        let (_, detached) = try valueAndGradient(of: params, trainableWhere: { !frozen($0) }) { p in
            try crossEntropy(logits: model.logits(p, tokens, detachAttention: true), targets: targets, reduction: .sum)
        }
        #expect(detached.names == params.names.filter { !frozen($0) })

        // A at the current parameters: recompute the attention probabilities the block uses.
        let a = try noGrad { () throws -> Variable<Double> in
            let p = params.constants
            let l = model.prefix + "layers.0."
            let h = try p[model.prefix + "embed_tokens.weight"].embedding(tokens, shape: [model.t])
                + p[model.prefix + "embed_positions.weight"]
            let x = try h.layerNorm(weight: p[l + "self_attn_layer_norm.weight"], bias: p[l + "self_attn_layer_norm.bias"])
            func proj(_ n: String) throws -> Variable<Double> {
                try x.linear(weight: p[l + "self_attn.\(n).weight"], bias: p[l + "self_attn.\(n).bias"])
                    .reshaped([model.t, model.heads, model.d / model.heads]).permuted([1, 0, 2])
            }
            let scores = try proj("q_proj").matmul(try proj("k_proj").transposed()) * (1 / Double(model.d / model.heads).squareRoot())
            return try (scores + Variable(try causalMask(queries: model.t, as: Double.self))).softmax()
        }
        let fixedLoss: (VariableSet<Double>) throws -> Variable<Double> = { p in
            try crossEntropy(logits: model.logits(p, tokens, fixedProbabilities: a), targets: targets, reduction: .sum)
        }
        let (_, fixedGrads) = try valueAndGradient(of: params, trainableWhere: { !frozen($0) }, fixedLoss)
        for (name, g) in detached {
            #expect(g.maxAbsDifference(try fixedGrads.tensor(name)) <= 1e-14, "\(name)")
        }
        let report = try gradientCheck(of: params, trainable: Set(detached.names), fixedLoss)
        #expect(report.worstRelativeError <= gradTolerance, "\(report)")
        // And it is not the full gradient: the LN bias feeding q and k differs.
        let (_, full) = try valueAndGradient(of: params, trainableWhere: { !frozen($0) }) { p in
            try crossEntropy(logits: model.logits(p, tokens), targets: targets, reduction: .sum)
        }
        let lnBias = model.prefix + "layers.0.self_attn_layer_norm.bias"
        #expect(try full.tensor(lnBias).maxAbsDifference(try detached.tensor(lnBias)) > 1e-3)
    }
}

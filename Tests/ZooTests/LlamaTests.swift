import Autodiff
import Foundation
import LanguageModel
import Llama
import ModelZoo
import Tensor
import Testing

/// Parity with PyTorch/transformers 5.23 `LlamaForCausalLM` on the committed tiny Llama (GQA 4/2 heads,
/// head_dim 8, SwiGLU, rope θ 500, untied head): logits, loss, every gradient, SGD, dynamic evaluation,
/// padded batches, the half-precision twins and the transformers-4 config form.
@Suite struct LlamaParityTests {
    /// Both config forms (transformers 5 `rope_parameters`, transformers 4 top-level `rope_theta`) give the
    /// recorded logits.
    @Test(arguments: ["tiny-llama", "tiny-llama-v4config"])
    func logitsMatchTransformers(_ directory: String) throws {
        let ref = try LlamaReference(directory, reference: "tiny-llama")
        let logits = try ref.model.logits(TokenBatch(ref.ids))
        let expected = try ref.tensor("logits")
        #expect(logits.shape == expected.shape)
        let err = llamaMaxAbsDiff(logits, expected)
        #expect(err <= 1e-4, "\(directory): max |Δlogit| = \(err)")
    }

    /// The reference ids are the tokenizer's encoding of the reference text with the BOS that
    /// tokenizer_config.json asks for (add_bos_token), and that BOS is the config's bos_token_id.
    @Test func referenceIdsAreTheTokenizersWithBOS() throws {
        let ref = try LlamaReference("tiny-llama")
        let tokenizer = try loadTokenizer(directory: LlamaReference.url("tiny-llama"))
        let text = try ref.json.fixtureKey("text").stringValue!
        #expect(tokenizer.encode(text, addSpecialTokens: true) == ref.ids)
        #expect(ref.ids.first == ref.model.config.bosTokenID && tokenizer.bosTokenID == ref.model.config.bosTokenID)
        #expect(tokenizer.encode(text, addSpecialTokens: false) == Array(ref.ids.dropFirst()))
    }

    @Test func v4ConfigFormIsTheSameModel() throws {
        let v5 = try LlamaReference("tiny-llama"), v4 = try LlamaReference("tiny-llama-v4config", reference: "tiny-llama")
        #expect(v4.model.config == v5.model.config)
        #expect(v4.model.config.ropeTheta == 500 && v4.model.config.ropeType == "default")
        #expect(try v4.model.logits(TokenBatch(v4.ids)) == v5.model.logits(TokenBatch(v5.ids)))
    }

    @Test func lossMatchesTransformers() throws {
        let ref = try LlamaReference("tiny-llama")
        let p = ref.model.parameters.constants
        let mean = try Double(ref.model.loss(TokenBatch(ref.ids), parameters: p).value.item())
        let sum = try Double(ref.model.loss(TokenBatch(ref.ids), parameters: p, reduction: .sum).value.item())
        #expect(abs(mean - ref.lossMean) / ref.lossMean <= 1e-5, "mean loss \(mean) vs \(ref.lossMean)")
        #expect(abs(sum - ref.lossSum) / ref.lossSum <= 1e-5, "summed loss \(sum) vs \(ref.lossSum)")
    }

    /// Every parameter's gradient (Float), relative to the largest entry of the tensor (at least 1e-3 of the
    /// model's largest gradient, so that a tensor of near-zero gradients is not measured against noise).
    @Test func everyGradientMatchesAutograd() throws {
        let ref = try LlamaReference("tiny-llama")
        let gradients = try SafetensorsCheckpoint(file: LlamaReference.url("reference/tiny-llama.gradients.safetensors"))
        let (loss, grads) = try valueAndGradient(of: ref.model.parameters) { p in
            try ref.model.loss(TokenBatch(ref.ids), parameters: p)
        }
        #expect(abs(Double(loss) - ref.lossMean) / ref.lossMean <= 1e-5)
        #expect(Set(gradients.tensorNames) == Set(grads.names))
        #expect(grads.count == ref.model.parameters.count)
        let floor = try grads.names.map { try gradients.tensor(named: $0).scalars.map { abs(Double($0)) }.max() ?? 0 }.max()! * 1e-3
        for (name, g) in grads {
            let expected = try gradients.tensor(named: name)
            let scale = max(expected.scalars.map { abs(Double($0)) }.max() ?? 0, floor)
            let err = llamaMaxAbsDiff(g, expected) / scale
            #expect(err <= 1e-4, "gradient of \(name): relative error \(err)")
        }
    }

    @Test func sgdStepsMatchTorchOptim() throws {
        let ref = try LlamaReference("tiny-llama")
        let sgdInfo = try ref.json.fixtureKey("sgd")
        let lr = Float(try sgdInfo.fixtureKey("lr").fixtureDouble())
        let losses = try sgdInfo.fixtureKey("losses_before_each_step").fixtureDoubles()
        var params = ref.model.parameters
        var sgd = SGD<Float>(learningRate: lr)
        for (step, expected) in losses.enumerated() {
            let (loss, grads) = try valueAndGradient(of: params) { p in try ref.model.loss(TokenBatch(ref.ids), parameters: p) }
            #expect(abs(Double(loss) - expected) / expected <= 1e-5, "loss before step \(step): \(loss) vs \(expected)")
            try sgd.update(&params, along: grads)
        }
        let updated = try LlamaModel(config: ref.model.config, parameters: params)
        let err = llamaMaxAbsDiff(try updated.logits(TokenBatch(ref.ids)), try ref.tensor("sgd_logits"))
        #expect(err <= 1e-4, "max |Δlogit| after \(losses.count) SGD steps = \(err)")
        let after = try Double(updated.loss(TokenBatch(ref.ids), parameters: params.constants).value.item())
        let expectedAfter = try sgdInfo.fixtureKey("loss_after").fixtureDouble()
        #expect(abs(after - expectedAfter) / expectedAfter <= 1e-5)
    }

    /// Plain SGD on every parameter, on the summed loss of the first `split` targets; the eval-part summed loss
    /// before and after, as the fixture recorded them. The shared `dynamicUpdate` does the steps, and
    /// `dynamicEvaluation` reports the same "before" loss.
    @Test func dynamicEvaluationMatchesTransformers() throws {
        let ref = try LlamaReference("tiny-llama")
        let info = try ref.json.fixtureKey("dynamic_eval")
        let split = try info.fixtureKey("split").intValue!, steps = try info.fixtureKey("steps").intValue!
        let lr = Float(try info.fixtureKey("lr").fixtureDouble())
        let batch = TokenBatch(ref.ids)
        func partLoss(_ p: ParameterSet<Float>, train: Bool) throws -> Double {
            try Double(ref.model.loss(batch, parameters: p.constants, reduction: .sum,
                                      includeTarget: { _, t in train ? t <= split : t > split }).value.item())
        }
        let trainBefore = try info.fixtureKey("train_loss_sum_before_each_step").fixtureDoubles()
        #expect(abs(try partLoss(ref.model.parameters, train: true) - trainBefore[0]) <= 1e-5 * trainBefore[0])
        let evalBefore = try info.fixtureKey("eval_loss_sum_before").fixtureDouble()
        let before = try partLoss(ref.model.parameters, train: false)
        #expect(abs(before - evalBefore) <= 1e-5 * evalBefore, "eval loss before \(before) vs \(evalBefore)")

        let all = Set(ref.model.parameters.names)
        let updated = try ref.model.dynamicUpdate(ref.ids, trainCount: split + 1, learningRate: lr, steps: steps, trainable: all)
        let evalAfter = try info.fixtureKey("eval_loss_sum_after").fixtureDouble()
        let trainAfter = try info.fixtureKey("train_loss_sum_after").fixtureDouble()
        let after = try partLoss(updated, train: false)
        #expect(abs(after - evalAfter) <= 1e-5 * evalAfter, "eval loss after \(after) vs \(evalAfter)")
        #expect(abs(try partLoss(updated, train: true) - trainAfter) <= 1e-5 * trainAfter)
        if ref.outputs.tensorNames.contains("dynamic_eval_logits") {
            let err = llamaMaxAbsDiff(try LlamaModel(config: ref.model.config, parameters: updated).logits(batch),
                                      try ref.tensor("dynamic_eval_logits"))
            #expect(err <= 1e-4, "max |Δlogit| after dynamic evaluation = \(err)")
        }

        // The shared protocol over the same split: its "before" is the same eval loss (mean per token).
        let options = DynamicEvaluationOptions(trainFraction: Double(split + 1) / Double(ref.ids.count) + 1e-9,
                                               learningRate: lr, steps: steps, layers: nil, block: ref.ids.count)
        let r = try ref.model.dynamicEvaluation(ids: ref.ids, options: options)
        #expect(r.evalTokens == ref.ids.count - 1 - split)
        #expect(abs(r.evalLossBefore * Double(r.evalTokens) - evalBefore) <= 1e-5 * evalBefore)
        #expect(r.evalLossAfter < r.evalLossBefore)
    }

    /// The half-precision checkpoints load (converted to Float) and give their own references: the fp32
    /// model's weights rounded to fp16/bf16.
    @Test(arguments: ["tiny-llama-f16", "tiny-llama-bf16"])
    func halfPrecisionTwinsMatchTheirReference(_ directory: String) throws {
        let ref = try LlamaReference(directory)
        let fp32 = try LlamaReference("tiny-llama")
        #expect(ref.model.parameters.names == fp32.model.parameters.names)
        let logits = try ref.model.logits(TokenBatch(ref.ids))
        let err = llamaMaxAbsDiff(logits, try ref.tensor("logits"))
        #expect(err <= 1e-4, "\(directory): max |Δlogit| = \(err)")
        let mean = try Double(ref.model.loss(TokenBatch(ref.ids), parameters: ref.model.parameters.constants).value.item())
        #expect(abs(mean - ref.lossMean) / ref.lossMean <= 1e-5)
        // And they are not the fp32 model: rounding the weights moved the logits.
        #expect(llamaMaxAbsDiff(logits, try fp32.model.logits(TokenBatch(ref.ids))) > 1e-6)
    }

    /// Two left-padded rows with the attention mask: positions count real tokens (as `generate()` makes
    /// them), and the real positions' logits are the fixture's; with explicit positions 0..P−1 in every row
    /// they are those of `model(input_ids, attention_mask)` without `position_ids`.
    @Test func paddedBatchMatchesTransformers() throws {
        let ref = try LlamaReference("tiny-llama")
        let info = try ref.json.fixtureKey("padded_batch")
        let rows = try info.fixtureKey("input_ids").arrayValue!.map { try $0.fixtureInts() }
        let mask = try info.fixtureKey("attention_mask").arrayValue!.map { try $0.fixtureInts() }
        let batch = try TokenBatch(rows: rows, attentionMask: mask)
        let (b, t, v) = (rows.count, rows[0].count, ref.model.config.vocabSize)
        #expect(mask.flatMap { $0 }.contains(0))
        func compare(_ got: Tensor<Float>, _ expected: Tensor<Float>, _ label: String) {
            #expect(got.shape == expected.shape)
            let g = got.scalars, e = expected.scalars
            var err = 0.0
            for r in 0..<b { for i in 0..<t where mask[r][i] == 1 {
                for j in 0..<v { err = max(err, abs(Double(g[(r * t + i) * v + j]) - Double(e[(r * t + i) * v + j]))) }
            } }
            #expect(err <= 1e-4, "\(label): max |Δlogit| over real tokens = \(err)")
        }
        compare(try ref.model.logits(batch), try ref.tensor("padded_logits"), "positions from the mask")
        let plain = (0..<b).flatMap { _ in 0..<t }
        let defaultPositions = try noGrad {
            try ref.model.logits(batch, parameters: ref.model.parameters.constants, cache: nil, options: ForwardOptions(),
                                 positions: plain).value
        }
        compare(defaultPositions, try ref.tensor("padded_logits_default_positions"), "positions 0..<P")
        // Each row alone gives its padded row's logits.
        let padded = try ref.model.logits(batch).scalars
        for r in 0..<b {
            let real = zip(rows[r], mask[r]).filter { $0.1 == 1 }.map(\.0)
            let alone = try ref.model.logits(real).scalars
            let offset = t - real.count
            var err = 0.0
            for i in 0..<real.count { for j in 0..<v {
                err = max(err, abs(Double(alone[i * v + j]) - Double(padded[(r * t + offset + i) * v + j])))
            } }
            #expect(err <= 1e-5, "row \(r) alone vs padded: \(err)")
        }
    }
}

/// The model's own behaviour: KV cache, generation, save/load, registry, strict loading, exact gradients in
/// Double with every bias flag.
@Suite struct LlamaModelTests {
    /// Feeding the tokens through a KV cache in pieces (a prompt, then one at a time) gives the logits of one
    /// full forward pass, for one row and for a left-padded batch.
    @Test func kvCacheMatchesTheFullForward() throws {
        let model = try LlamaReference("tiny-llama").model
        let ids = [1, 389, 396, 333, 336, 296, 301, 330, 326, 328]
        let full = try model.logits(TokenBatch(ids)).scalars
        let v = model.config.vocabSize
        let cache: KVCache<Float> = try model.makeCache(batchSize: 1, capacity: 2)  // grows
        var got: [Float] = try model.logits(TokenBatch(Array(ids.prefix(4))), cache: cache).scalars
        for id in ids.dropFirst(4) { got += try model.logits(TokenBatch([id]), cache: cache).scalars }
        #expect(cache.length == ids.count)
        let err = zip(got, full).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
        #expect(got.count == ids.count * v && err <= 1e-5, "cache vs full: \(err)")

        // Left-padded batch: prompt of 5 columns (row 1 has two pads), then 3 steps.
        let rows = [[1, 389, 396, 333, 336, 296, 301, 330], [0, 0, 1, 340, 377, 298, 366, 359]]
        let mask = [[1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1, 1]]
        let fullBatch = try model.logits(try TokenBatch(rows: rows, attentionMask: mask)).scalars
        let bc: KVCache<Float> = try model.makeCache(batchSize: 2)
        var pieces: [[Float]] = [try model.logits(try TokenBatch(rows: rows.map { Array($0.prefix(5)) },
                                                                  attentionMask: mask.map { Array($0.prefix(5)) }), cache: bc).scalars]
        for i in 5..<8 { pieces.append(try model.logits(try TokenBatch(rows: rows.map { [$0[i]] }), cache: bc).scalars) }
        for r in 0..<2 {
            for i in 0..<8 where mask[r][i] == 1 {
                let step = i < 5 ? pieces[0] : pieces[i - 4]
                let (width, col) = i < 5 ? (5, i) : (1, 0)
                for j in 0..<v {
                    let a = step[(r * width + col) * v + j], b = fullBatch[(r * 8 + i) * v + j]
                    #expect(abs(a - b) <= 1e-5, "row \(r) token \(i)")
                    if abs(a - b) > 1e-5 { return }
                }
            }
        }
    }

    @Test func greedyGenerationFollowsTheFullForwardArgmax() throws {
        let model = try LlamaReference("tiny-llama").model
        let prompt = [1, 389, 396, 333]
        let generated = try model.generate(prompt: prompt, maxNewTokens: 10, stopAtEOS: false)
        #expect(generated.count == 10)
        var seq = prompt
        for token in generated {
            let last = try model.logits(seq).selecting(axis: 0, index: seq.count - 1).scalars
            #expect(token == last.indices.max { last[$0] < last[$1] }!)
            seq.append(token)
        }
    }

    @Test func saveLoadRoundTripAndRegistry() throws {
        let dir = try llamaTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for modelType in ["llama", "mistral", "qwen2"] {
            let model = try randomLlama(smallLlamaConfig(modelType: modelType, attentionBias: modelType == "llama",
                                                          mlpBias: modelType == "llama", tied: modelType == "qwen2"), seed: 3)
            try model.save(to: dir)
            let loaded = try LlamaModel.load(directory: dir)
            #expect(loaded.config == model.config, "\(modelType)")
            #expect(loaded.parameters.names == model.parameters.names)
            for (name, t) in model.parameters { #expect(loaded.parameters[name]! == t, "\(modelType): \(name)") }
            let any = try ModelRegistry.zoo.load(directory: dir)
            #expect(any is LlamaModel)
            #expect(try ModelRegistry.zoo.family(modelType: modelType) == LlamaModel.self)
            let ids = [1, 5, 9, 3, 7]
            #expect(try any.logits(TokenBatch(ids)) == model.logits(TokenBatch(ids)))
        }
        #expect(try ModelRegistry.zoo.family(ofConfigAt: LlamaReference.url("tiny-llama")) == LlamaModel.self)
        #expect(try ModelRegistry.zoo.config(at: LlamaReference.url("tiny-llama-v4config")) is LlamaConfig)
    }

    /// Strict loading names every missing, unexpected and wrongly shaped tensor; `rotary_emb.inv_freq`
    /// buffers and a stored tied head are dropped.
    @Test func strictLoadingNamesEveryDifference() throws {
        let config = smallLlamaConfig(tied: true)
        let model = try randomLlama(config, seed: 5)
        var weights = Dictionary(uniqueKeysWithValues: model.parameters.map { ($0.name, $0.tensor) })
        weights["model.layers.0.self_attn.rotary_emb.inv_freq"] = try Tensor<Float>.ones([3])
        weights[LlamaModel.lmHeadName] = weights[LlamaModel.embedTokensName]
        let sanitized = try LlamaModel.sanitize(weights: weights, config: config)
        #expect(Set(sanitized.keys) == Set(model.parameters.names))

        let dir = try llamaTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        let file = dir.appendingPathComponent("model.safetensors")
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        for (name, t) in model.parameters where name != "model.layers.1.mlp.up_proj.weight" {
            let stored = name == "model.layers.0.self_attn.k_proj.weight" ? try Tensor<Float>.zeros([5, 16]) : t
            try writer.add(name == "model.norm.weight" ? "model.norm.wieght" : name, stored, as: .f32)
        }
        try writer.write(to: file)
        do {
            _ = try LlamaModel.load(directory: dir)
            Issue.record("a mismatched checkpoint loaded")
        } catch let ModelError.checkpointMismatch(_, missing, unexpected, wrong) {
            #expect(missing == ["model.layers.1.mlp.up_proj.weight", "model.norm.weight"])
            #expect(unexpected == ["model.norm.wieght"])
            #expect(wrong.map(\.name) == ["model.layers.0.self_attn.k_proj.weight"])
        }
    }

    /// Exact gradients in Double with every flag (attention and MLP biases, Qwen2's q/k/v-only biases, tied
    /// embeddings, GQA, other activations, a padded batch): each parameter's directional derivative by central
    /// differences agrees with the backward pass to 1e-8.
    @Test(arguments: [("llama", true, false, "silu"), ("qwen2", false, true, "gelu"), ("mistral", false, false, "gelu_pytorch_tanh")])
    func doubleGradientsMatchFiniteDifferences(_ modelType: String, _ bias: Bool, _ tied: Bool, _ activation: String) throws {
        let model = try randomLlama(smallLlamaConfig(modelType: modelType, attentionBias: bias, mlpBias: bias, tied: tied,
                                                     activation: activation), seed: 9)
        let params = try ParameterSet(model.parameters.map { ($0.name, try $0.tensor.converted(to: Double.self)) })
        let batch = try TokenBatch(rows: [[1, 5, 9, 3, 7, 2], [0, 0, 1, 8, 4, 6]], attentionMask: [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]])
        func loss(_ p: ParameterSet<Double>) throws -> Double {
            try model.loss(batch, parameters: p.constants).value.item()
        }
        let (_, grads) = try valueAndGradient(of: params) { p in try model.loss(batch, parameters: p) }
        var rng = TensorRNG(seed: 77)
        // The five-point stencil: truncation error O(h⁴) ≈ 1e-16, rounding ≈ 1e-16·|L|/h ≈ 1e-12.
        let h = 1e-4
        for (name, t) in params {
            let direction = try Tensor<Double>.normal(t.shape, mean: 0, std: 1, using: &rng)
            func at(_ step: Double) throws -> Double {
                var moved = params
                try moved.set(name, try t + direction * step)
                return try loss(moved)
            }
            let numeric = (8 * (try at(h) - at(-h)) - (try at(2 * h) - at(-2 * h))) / (12 * h)
            let analytic = zip(grads[name]!.scalars, direction.scalars).reduce(0) { $0 + $1.0 * $1.1 }
            let err = abs(numeric - analytic) / max(abs(numeric), 1e-3)
            #expect(err <= 1e-8, "\(modelType): \(name): analytic \(analytic), numeric \(numeric)")
        }
        #expect(model.parameters.names.contains("model.layers.0.self_attn.q_proj.bias") == (bias || modelType == "qwen2"))
        #expect(model.parameters.names.contains("model.layers.0.self_attn.o_proj.bias") == bias)
        #expect(model.parameters.names.contains(LlamaModel.lmHeadName) == !tied)
    }

    /// With detached attention probabilities the q and k projections get no gradient, the others do.
    @Test func detachedProbabilitiesStopQueryAndKeyGradients() throws {
        let model = try randomLlama(smallLlamaConfig(), seed: 4)
        let (_, g) = try valueAndGradient(of: model.parameters) { p in
            try model.loss(TokenBatch([1, 5, 9, 3, 7]), parameters: p, options: ForwardOptions(detachAttentionProbabilities: true))
        }
        for (name, t) in g {
            let zero = t.scalars.allSatisfy { $0 == 0 }
            let expectZero = name.contains("q_proj") || name.contains("k_proj")
            #expect(zero == expectZero, "\(name)")
        }
    }

    @Test func badInputIsAThrownError() throws {
        let model = try randomLlama(smallLlamaConfig(maxPositions: 8), seed: 1)
        #expect(throws: ModelError.self) { try model.logits([1, 41]) }
        #expect(throws: ModelError.self) { try model.logits(Array(repeating: 1, count: 9)) }
        #expect(throws: ModelError.self) { try model.logits(TokenBatch([]), cache: nil) }
        let wrongCache = try KVCache<Float>(layers: 2, width: 16, batchSize: 1)
        #expect(throws: ModelError.self) { try model.logits(TokenBatch([1, 2]), cache: wrongCache) }
    }
}

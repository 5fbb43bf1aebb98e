import Autodiff
import Foundation
import Testing
import Tensor
@testable import LanguageModel
@testable import OPT

/// Perplexity, generation and dynamic evaluation against direct computations with the forward pass.
@Suite struct OPTEvaluationTests {
    @Test func perplexityIsTheBlockwiseMeanLoss() throws {
        let ref = try ReferenceCase("tiny-opt-pre-ln")
        let one = try ref.model.perplexity(ids: ref.ids, block: 64)
        #expect(one.tokens == ref.ids.count - 1 && one.blocks == 1)
        #expect(abs(one.meanNLL - ref.lossMean) <= 1e-5 * ref.lossMean)
        #expect(abs(one.perplexity - exp(ref.lossMean)) <= 1e-4 * exp(ref.lossMean))

        // Blocks of 16: 38 ids → blocks of 16, 16, 6, each evaluated alone.
        var sum = 0.0, count = 0, calls: [(Int, Int)] = []
        for start in stride(from: 0, to: ref.ids.count, by: 16) {
            let chunk = Array(ref.ids[start..<min(ref.ids.count, start + 16)])
            sum += try Double(ref.model.loss(TokenBatch(chunk), parameters: ref.model.parameters.constants, reduction: .sum).value.item())
            count += chunk.count - 1
        }
        let blocked = try ref.model.perplexity(ids: ref.ids, block: 16) { calls.append(($0, $1)) }
        #expect(blocked.tokens == count && blocked.blocks == 3)
        #expect(abs(blocked.meanNLL - sum / Double(count)) <= 1e-5 * blocked.meanNLL)
        #expect(calls.map(\.0) == [16, 32, 38] && calls.allSatisfy { $0.1 == 38 })
    }

    @Test func greedyGenerationFollowsTheFullForwardArgmax() throws {
        let model = try ReferenceCase("tiny-opt-post-ln").model
        let prompt = [2, 310, 329, 564]
        let generated = try model.generate(prompt: prompt, maxNewTokens: 12, stopAtEOS: false)
        #expect(generated.count == 12)
        var seq = prompt
        for token in generated {
            let z = try model.logits(seq)
            let last = try z.selecting(axis: 0, index: seq.count - 1).scalars
            #expect(token == last.indices.max { last[$0] < last[$1] }!)
            seq.append(token)
        }
        #expect(try model.generate(prompt: prompt, maxNewTokens: 12, sampling: Sampling(temperature: 1, topK: 1),
                                   stopAtEOS: false) == generated)
    }

    @Test func samplingIsSeededAndRespectsTopK() throws {
        let model = try ReferenceCase("tiny-opt-pre-ln").model
        let prompt = [2, 310]
        let s = Sampling(temperature: 1.5, topK: 3, seed: 42)
        let a = try model.generate(prompt: prompt, maxNewTokens: 10, sampling: s, stopAtEOS: false)
        let b = try model.generate(prompt: prompt, maxNewTokens: 10, sampling: s, stopAtEOS: false)
        let c = try model.generate(prompt: prompt, maxNewTokens: 10, sampling: Sampling(temperature: 1.5, topK: 3, seed: 43),
                                   stopAtEOS: false)
        #expect(a == b && a != c)
        var seq = prompt
        for token in a {
            let last = try model.logits(seq).selecting(axis: 0, index: seq.count - 1).scalars
            let top3 = last.indices.sorted { last[$0] > last[$1] }.prefix(3)
            #expect(top3.contains(token))
            seq.append(token)
        }
    }

    @Test func generationStopsAtEOSAndAtTheLastPosition() throws {
        var model = try randomModel(smallConfig(maxPositions: 10), seed: 8)
        let out = try model.generate(prompt: [2, 3, 4], maxNewTokens: 50, stopAtEOS: false)
        #expect(out.count == 7)  // 3 + 7 = max_position_embeddings
        // An untied head whose only non-zero row is </s>'s, aligned with the last hidden state: </s> comes first.
        var c = model.config
        c.tieWordEmbeddings = false
        let h = try noGrad { try model.hiddenStates(TokenBatch([2, 3, 4]), parameters: model.parameters.constants).value }
        let lastHidden = try h.selecting(axis: 0, index: 0).selecting(axis: 0, index: 2).scalars
        var head = try Tensor<Float>.zeros([c.vocabSize, c.wordEmbedProjDim])
        head.withUnsafeMutableBufferPointer { p in
            for j in 0..<c.wordEmbedProjDim { p[2 * c.wordEmbedProjDim + j] = lastHidden[j] > 0 ? 1 : -1 }
        }
        var params = model.parameters
        try params.insert(OPTModel.lmHeadName, head)
        model = try OPTModel(config: c, parameters: params)
        let stopped = try model.generate(prompt: [2, 3, 4], maxNewTokens: 5)
        #expect(stopped == [2])
    }

    @Test func dynamicEvaluationMatchesAManualSGDStep() throws {
        let ref = try ReferenceCase("tiny-opt-pre-ln")
        let model = ref.model
        let ids = Array(ref.ids.prefix(30))
        let lr: Float = 0.05
        let options = DynamicEvaluationOptions(trainFraction: 0.5, learningRate: lr, steps: 2, layers: 1, block: 64)
        let r = try model.dynamicEvaluation(ids: ids, options: options)
        #expect(r.blocks == 1 && r.trainTokens == 14 && r.evalTokens == 15)

        // By hand: train targets are indices 1..<15, eval targets 15..<30.
        let trainable = Set(model.layerParameterNames(1) + model.finalNormParameterNames)
        #expect(try model.dynamicEvaluationParameterNames(layers: 1) == trainable)
        var params = model.parameters
        var sgd = SGD<Float>(learningRate: lr)
        for _ in 0..<2 {
            let (_, g) = try valueAndGradient(of: params, trainable: trainable) { p in
                try model.loss(TokenBatch(ids), parameters: p, reduction: .sum, includeTarget: { _, t in t < 15 })
            }
            try sgd.update(&params, along: g)
        }
        func evalLoss(_ p: ParameterSet<Float>) throws -> Double {
            try Double(model.loss(TokenBatch(ids), parameters: p.constants, includeTarget: { _, t in t >= 15 }).value.item())
        }
        #expect(abs(r.evalLossBefore - (try evalLoss(model.parameters))) <= 1e-5 * r.evalLossBefore)
        #expect(abs(r.evalLossAfter - (try evalLoss(params))) <= 1e-5 * r.evalLossAfter)
        #expect(r.evalLossAfter != r.evalLossBefore)
        // Only the trainable parameters moved.
        for (name, t) in params where !trainable.contains(name) { #expect(t == model.parameters[name]!, "\(name) moved") }

        // η = 0 changes nothing.
        let zero = try model.dynamicEvaluation(ids: ids, options: DynamicEvaluationOptions(learningRate: 0, block: 64))
        #expect(zero.evalLossAfter == zero.evalLossBefore)
    }
}

/// Bad input: every case is a thrown error naming the problem, never a crash.
@Suite struct OPTBadInputTests {
    let model: OPTModel
    init() throws { model = try randomModel(smallConfig(vocab: 37, maxPositions: 8), seed: 9) }

    @Test func idsOutsideTheVocabulary() throws {
        for bad in [37, -1, 1000] {
            #expect(throws: ModelError.invalidTokenID(id: bad, vocabularySize: 37)) { _ = try model.logits([2, bad, 3]) }
        }
        #expect(throws: ModelError.self) { _ = try model.perplexity(ids: [2, 40]) }
        #expect(throws: ModelError.self) { _ = try model.generate(prompt: [2, 99], maxNewTokens: 2) }
    }

    @Test func sequencesLongerThanTheModelsPositions() throws {
        _ = try model.logits(Array(repeating: 3, count: 8))
        #expect(throws: ModelError.self) { _ = try model.logits(Array(repeating: 3, count: 9)) }
        // Padding does not use positions: 8 real tokens after 3 pads still fit.
        let padded = try TokenBatch.padded([Array(repeating: 3, count: 8), [3]], padID: 1)
        _ = try model.logits(padded)
        let cache = try model.makeCache(batchSize: 1, as: Float.self)
        _ = try model.logits(TokenBatch(Array(repeating: 3, count: 6)), cache: cache)
        #expect(throws: ModelError.self) { _ = try model.logits(TokenBatch([3, 3, 3]), cache: cache) }
        #expect(cache.length == 6)  // rejected before anything was stored
        #expect(throws: ModelError.self) { _ = try model.perplexity(ids: [2, 3, 4], block: 9) }
        #expect(throws: ModelError.self) { _ = try model.generate(prompt: Array(repeating: 3, count: 9), maxNewTokens: 1) }
    }

    @Test func malformedBatchesAndArguments() throws {
        #expect(throws: ModelError.self) { _ = try TokenBatch(rows: [[1, 2], [3]]) }
        #expect(throws: ModelError.self) { _ = try TokenBatch(rows: [[1, 2]], attentionMask: [[1]]) }
        #expect(throws: ModelError.self) { _ = try TokenBatch(rows: [[1, 2]], attentionMask: [[1, 2]]) }
        #expect(throws: ModelError.self) { _ = try model.logits(TokenBatch([])) }
        let cache = try model.makeCache(batchSize: 2, as: Float.self)
        #expect(throws: ModelError.self) { _ = try model.logits(TokenBatch([2, 3]), cache: cache) }
        #expect(throws: ModelError.self) { _ = try model.makeCache(batchSize: 0, as: Float.self) }
        #expect(throws: ModelError.self) { _ = try model.perplexity(ids: [2]) }
        #expect(throws: ModelError.self) { _ = try model.generate(prompt: [], maxNewTokens: 1) }
        #expect(throws: ModelError.self) { _ = try model.generate(prompt: [2], maxNewTokens: 1, sampling: Sampling(temperature: -1)) }
        #expect(throws: ModelError.self) { _ = try model.generate(prompt: [2], maxNewTokens: 1, sampling: Sampling(temperature: 1, topK: 0)) }
        let bad = [DynamicEvaluationOptions(trainFraction: 1.5, learningRate: 0.1, block: 8),
                   DynamicEvaluationOptions(learningRate: 0.1, steps: -1, block: 8),
                   DynamicEvaluationOptions(learningRate: 0.1, layers: 3, block: 8),
                   DynamicEvaluationOptions(learningRate: .nan, block: 8),
                   DynamicEvaluationOptions(trainFraction: 1, learningRate: 0.1, block: 8)]  // no eval target
        for o in bad { #expect(throws: ModelError.self) { _ = try model.dynamicEvaluation(ids: [2, 3, 4, 5, 6], options: o) } }
        #expect(throws: AutodiffError.self) {
            _ = try model.logits(TokenBatch([2, 3]), parameters: model.parameters.filter { !$0.contains("fc1") }.constants)
        }
    }

    @Test func strictParametersNameEveryDifference() throws {
        var params = model.parameters.filter { $0 != OPTModel.layerName(0, "fc1.bias") }
        try params.insert("model.decoder.layers.0.extra.weight", try .zeros([2]))
        try params.set(OPTModel.layerName(1, "fc2.weight"), try .zeros([16, 24]))
        var wrong = params.filter { $0 != OPTModel.layerName(1, "fc2.weight") }
        try wrong.insert(OPTModel.layerName(1, "fc2.weight"), try .zeros([24, 16]))
        do {
            _ = try OPTModel(config: model.config, parameters: wrong)
            Issue.record("expected a mismatch")
        } catch let ModelError.checkpointMismatch(_, missing, unexpected, wrongShapes) {
            #expect(missing == [OPTModel.layerName(0, "fc1.bias")])
            #expect(unexpected == ["model.decoder.layers.0.extra.weight"])
            #expect(wrongShapes == [TensorShapeMismatch(name: OPTModel.layerName(1, "fc2.weight"), expected: [16, 24], found: [24, 16])])
        }
    }

    @Test func checkpointsLoadStrictlyWithOrWithoutTheModelPrefix() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        let reloaded = try OPTModel.load(directory: dir)
        #expect(reloaded.parameters.names == model.parameters.names)
        for (name, t) in model.parameters { #expect(reloaded.parameters[name]! == t) }
        #expect(reloaded.config == model.config)

        // Hub layout: no `model.` prefix, and a stored (tied) lm_head.weight, which is ignored.
        var hub = SafetensorsWriter()
        for (name, t) in model.parameters { try hub.add(String(name.dropFirst("model.".count)), t) }
        try hub.add(OPTModel.lmHeadName, try Tensor<Float>.zeros([37, 16]))
        try hub.write(to: dir.appendingPathComponent("model.safetensors"))
        let fromHub = try OPTModel.load(directory: dir)
        #expect(try fromHub.logits([2, 3, 4]) == model.logits([2, 3, 4]))

        // A checkpoint for another shape names every difference.
        var other = model.config
        other.numHiddenLayers = 3
        other.ffnDim = 20
        do {
            _ = try OPTModel(config: other, checkpoint: SafetensorsCheckpoint(directory: dir))
            Issue.record("expected a mismatch")
        } catch let ModelError.checkpointMismatch(_, missing, unexpected, wrongShapes) {
            // Names are the model's (after `sanitize` restores the `model.` prefix the hub file dropped).
            #expect(missing.count == 16 && missing.allSatisfy { $0.hasPrefix("model.decoder.layers.2.") })
            #expect(unexpected.isEmpty)
            #expect(wrongShapes.count == 6)  // fc1.weight, fc1.bias and fc2.weight of both layers (fc2.bias keeps its shape)
        }

        // A config missing a required value or describing an impossible model is rejected before any tensor.
        try Data(#"{"model_type": "opt", "hidden_size": 30, "num_attention_heads": 4}"#.utf8)
            .write(to: dir.appendingPathComponent("config.json"))
        #expect(throws: ModelError.self) { _ = try OPTModel.load(directory: dir) }
        try FileManager.default.removeItem(at: dir.appendingPathComponent("config.json"))
        #expect(throws: ModelError.self) { _ = try OPTModel.load(directory: dir) }
    }
}

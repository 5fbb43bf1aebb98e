import Autodiff
import Foundation
import LanguageModel
import ModelZoo
import Testing
import Tensor
import GPT2

// MARK: - Support

/// The committed GPT-2 fixtures (Tests/ZooTests/Fixtures, written by Scripts/make_zoo_fixtures.py).
enum GPT2Fixtures {
    static let root: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }

    static func json(_ path: String) throws -> JSONValue {
        try JSONParser.parse([UInt8](try Data(contentsOf: url(path))))
    }
}

fileprivate extension JSONValue {
    var number: Double? {
        if case let .number(text) = self { return Double(text) }
        return nil
    }

    var ints: [Int]? { arrayValue?.compactMap(\.intValue) }

    /// The member `key` of an object.
    subscript(_ key: String) -> JSONValue? { objectValue?.first { $0.key == key }?.value }
}

/// One fixture model with the PyTorch reference recorded for it.
struct GPT2Reference {
    let model: GPT2Model
    let json: JSONValue
    let ids: [Int]
    let outputs: SafetensorsFile

    /// `directory`'s model with the reference `reference` (the legacy checkpoint shares tiny-gpt2's).
    init(_ directory: String, reference: String? = nil) throws {
        model = try GPT2Model.load(directory: GPT2Fixtures.url(directory))
        let name = reference ?? directory
        json = try GPT2Fixtures.json("reference/\(name).json")
        ids = json["input_ids"]!.ints!
        outputs = try SafetensorsFile(contentsOf: GPT2Fixtures.url("reference/\(name).outputs.safetensors"))
    }

    var lossMean: Double { json["loss_mean"]!.number! }
    var lossSum: Double { json["loss_sum"]!.number! }
    func output(_ name: String) throws -> Tensor<Float> { try outputs.tensor(named: name) }

    /// (checkpoint directory, reference name).
    static let checkpoints: [(String, String)] = [
        ("tiny-gpt2", "tiny-gpt2"), ("tiny-gpt2-legacy", "tiny-gpt2"),
        ("tiny-gpt2-f16", "tiny-gpt2-f16"), ("tiny-gpt2-bf16", "tiny-gpt2-bf16"),
    ]
}

fileprivate func maxAbsDiff(_ a: Tensor<Float>, _ b: Tensor<Float>) -> Double {
    precondition(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    return zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, Double(abs($1.0 - $1.1))) }
}

fileprivate func maxAbs(_ t: Tensor<Float>) -> Double { t.scalars.reduce(0) { Swift.max($0, Double(abs($1))) } }

fileprivate func temporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("gpt2-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A small random GPT-2 whose biases and layer norms are not at their initial values.
fileprivate func randomGPT2(tied: Bool = true, vocab: Int = 41, embd: Int = 16, heads: Int = 4, layers: Int = 2,
                            inner: Int? = 24, positions: Int = 24, seed: UInt64 = 5) throws -> GPT2Model {
    var c = GPT2Config()
    c.vocabSize = vocab
    c.nEmbd = embd
    c.nHead = heads
    c.nLayer = layers
    c.nInner = inner
    c.nPositions = positions
    c.initializerRange = 0.3
    c.tieWordEmbeddings = tied
    c.bosTokenID = vocab - 1
    c.eosTokenID = vocab - 1
    var model = try GPT2Model(config: c, seed: seed)
    var rng = TensorRNG(seed: seed &+ 99)
    for name in model.parameters.names where name.hasSuffix(".bias") || name.contains(".ln_") {
        let shape = model.parameters[name]!.shape
        let noise = try Tensor<Float>.normal(shape, mean: name.hasSuffix(".weight") ? 1 : 0, std: 0.2, using: &rng)
        try model.parameters.set(name, noise)
    }
    return model
}

// MARK: - Parity with transformers

/// Parity with `transformers` 5.23's `GPT2LMHeadModel` on the committed tiny model (fp32, the legacy
/// checkpoint with its buffers, and the fp16/bf16 twins): logits, loss, every gradient, SGD, dynamic
/// evaluation and a left-padded batch.
@Suite struct GPT2ParityTests {
    @Test(arguments: GPT2Reference.checkpoints)
    func logitsAndLossMatchTransformers(_ directory: String, _ reference: String) throws {
        let ref = try GPT2Reference(directory, reference: reference)
        let logits = try ref.model.logits(TokenBatch(ref.ids))
        let expected = try ref.output("logits")
        #expect(logits.shape == expected.shape)
        let err = maxAbsDiff(logits, expected)
        #expect(err <= 1e-4, "\(directory): max |Δlogit| = \(err)")
        let p = ref.model.parameters.constants
        let mean = try Double(ref.model.loss(TokenBatch(ref.ids), parameters: p).value.item())
        let sum = try Double(ref.model.loss(TokenBatch(ref.ids), parameters: p, reduction: .sum).value.item())
        #expect(abs(mean - ref.lossMean) / ref.lossMean <= 1e-5, "\(directory): mean loss \(mean) vs \(ref.lossMean)")
        #expect(abs(sum - ref.lossSum) / ref.lossSum <= 1e-5, "\(directory): summed loss \(sum) vs \(ref.lossSum)")
        print("GPT-2 parity \(directory): max |Δlogit| \(err), loss rel \(abs(mean - ref.lossMean) / ref.lossMean)")
    }

    /// The legacy checkpoint (with `attn.bias`/`attn.masked_bias` buffers) and the half-precision twins hold
    /// the same parameters as the fp32 one, up to the rounding of their format.
    @Test func checkpointVariantsHoldTheSameParameters() throws {
        let fp32 = try GPT2Model.load(directory: GPT2Fixtures.url("tiny-gpt2"))
        let legacyFile = try SafetensorsCheckpoint(directory: GPT2Fixtures.url("tiny-gpt2-legacy"))
        #expect(legacyFile.tensorNames.contains("transformer.h.0.attn.bias"))
        #expect(legacyFile.tensorNames.contains("transformer.h.1.attn.masked_bias"))
        let legacy = try GPT2Model.load(directory: GPT2Fixtures.url("tiny-gpt2-legacy"))
        #expect(legacy.parameters.names == fp32.parameters.names)
        for (name, t) in fp32.parameters { #expect(legacy.parameters[name]! == t, "\(name)") }
        for (dir, unitRoundoff) in [("tiny-gpt2-f16", 0x1p-11), ("tiny-gpt2-bf16", 0x1p-8)] {
            let other = try GPT2Model.load(directory: GPT2Fixtures.url(dir))
            #expect(other.parameters.names == fp32.parameters.names)
            var changed = false
            for (name, t) in fp32.parameters {
                for (x, y) in zip(t.scalars, other.parameters[name]!.scalars) {
                    if x != y { changed = true }
                    #expect(abs(Double(x) - Double(y)) <= unitRoundoff * abs(Double(x)) + 0x1p-24, "\(dir) \(name): \(x) vs \(y)")
                }
            }
            #expect(changed, "\(dir) is not rounded")
        }
    }

    @Test func everyGradientMatchesAutograd() throws {
        let ref = try GPT2Reference("tiny-gpt2")
        let gradients = try SafetensorsCheckpoint(file: GPT2Fixtures.url("reference/tiny-gpt2.gradients.safetensors"))
        let (loss, grads) = try valueAndGradient(of: ref.model.parameters) { p in
            try ref.model.loss(TokenBatch(ref.ids), parameters: p)
        }
        #expect(abs(Double(loss) - ref.lossMean) / ref.lossMean <= 1e-5)
        #expect(Set(gradients.tensorNames) == Set(grads.names))
        #expect(grads.count == ref.model.parameters.count)
        // The K part of c_attn.bias has an exact gradient of 0 (adding q·b to every score of a row does not
        // change the softmax), so both sides are rounding noise there; every tensor's error is measured against
        // at least 1e-3 of the largest gradient in the model.
        let floor = try grads.names.map { maxAbs(try gradients.tensor(named: $0)) }.max()! * 1e-3
        var worst = 0.0
        for (name, g) in grads {
            let expected = try gradients.tensor(named: name)
            #expect(g.shape == expected.shape, "\(name)")
            let err = maxAbsDiff(g, expected) / max(maxAbs(expected), floor)
            worst = max(worst, err)
            #expect(err <= 1e-4, "gradient of \(name): relative error \(err)")
        }
        print("GPT-2 gradients: worst relative error \(worst)")
    }

    @Test func sgdStepsMatchTorchOptim() throws {
        let ref = try GPT2Reference("tiny-gpt2")
        let sgdJSON = ref.json["sgd"]!
        let lr = Float(sgdJSON["lr"]!.number!), steps = sgdJSON["steps"]!.intValue!
        let losses = sgdJSON["losses_before_each_step"]!.arrayValue!.map { $0.number! }
        var params = ref.model.parameters
        var sgd = SGD<Float>(learningRate: lr)
        for step in 0..<steps {
            let (loss, grads) = try valueAndGradient(of: params) { p in try ref.model.loss(TokenBatch(ref.ids), parameters: p) }
            #expect(abs(Double(loss) - losses[step]) / losses[step] <= 1e-5, "loss before step \(step): \(loss) vs \(losses[step])")
            try sgd.update(&params, along: grads)
        }
        let updated = try GPT2Model(config: ref.model.config, parameters: params)
        let err = maxAbsDiff(try updated.logits(TokenBatch(ref.ids)), try ref.output("sgd_logits"))
        #expect(err <= 1e-4, "max |Δlogit| after \(steps) SGD steps = \(err)")
        let after = try Double(updated.loss(TokenBatch(ref.ids), parameters: params.constants).value.item())
        let expectedAfter = sgdJSON["loss_after"]!.number!
        #expect(abs(after - expectedAfter) / expectedAfter <= 1e-5)
        print("GPT-2 SGD: max |Δlogit| \(err)")
    }

    /// The shared dynamic-evaluation update (summed cross-entropy of the train part, plain SGD) on every
    /// parameter reproduces the reference's losses and logits.
    @Test func dynamicEvaluationMatchesTransformers() throws {
        let ref = try GPT2Reference("tiny-gpt2")
        let d = ref.json["dynamic_eval"]!
        let split = d["split"]!.intValue!, steps = d["steps"]!.intValue!
        let lr = Float(d["lr"]!.number!)
        // Train targets are ids[1...split]: target indices < split + 1.
        let trainCount = split + 1
        let batch = TokenBatch(ref.ids)
        func sums(_ p: ParameterSet<Float>) throws -> (train: Double, eval: Double) {
            let c = p.constants
            let train = try Double(ref.model.loss(batch, parameters: c, reduction: .sum, includeTarget: { _, t in t < trainCount }).value.item())
            let eval = try Double(ref.model.loss(batch, parameters: c, reduction: .sum, includeTarget: { _, t in t >= trainCount }).value.item())
            return (train, eval)
        }
        func close(_ a: Double, _ b: Double, _ label: String) {
            #expect(abs(a - b) / abs(b) <= 1e-5, "\(label): \(a) vs \(b)")
        }
        #expect(batch.nextTokenTargets { _, t in t < trainCount }.filter { $0 >= 0 }.count == d["train_targets"]!.intValue!)
        #expect(batch.nextTokenTargets { _, t in t >= trainCount }.filter { $0 >= 0 }.count == d["eval_targets"]!.intValue!)
        let before = try sums(ref.model.parameters)
        close(before.train, d["train_loss_sum_before_each_step"]!.arrayValue![0].number!, "train sum before")
        close(before.eval, d["eval_loss_sum_before"]!.number!, "eval sum before")
        let updated = try ref.model.dynamicUpdate(ref.ids, trainCount: trainCount, learningRate: lr, steps: steps,
                                                  trainable: Set(ref.model.parameters.names))
        let after = try sums(updated)
        close(after.train, d["train_loss_sum_after"]!.number!, "train sum after")
        close(after.eval, d["eval_loss_sum_after"]!.number!, "eval sum after")
        // The train loss before each step.
        let trainLosses = d["train_loss_sum_before_each_step"]!.arrayValue!.map { $0.number! }
        for (step, expected) in trainLosses.enumerated() where step > 0 {
            let partial = try ref.model.dynamicUpdate(ref.ids, trainCount: trainCount, learningRate: lr, steps: step,
                                                      trainable: Set(ref.model.parameters.names))
            close(try sums(partial).train, expected, "train sum before step \(step)")
        }
        print("GPT-2 dynamic evaluation: eval loss \(after.eval) vs \(d["eval_loss_sum_after"]!.number!)")
        if ref.outputs.tensorNames.contains("dynamic_eval_logits") {
            let model = try GPT2Model(config: ref.model.config, parameters: updated)
            let err = maxAbsDiff(try model.logits(batch), try ref.output("dynamic_eval_logits"))
            #expect(err <= 1e-4, "max |Δlogit| after dynamic evaluation = \(err)")
        }
    }

    /// A left-padded batch gives `transformers`' logits with `generate()`'s position ids, and each row the
    /// logits it gives alone.
    @Test func paddedBatchMatchesTransformers() throws {
        let ref = try GPT2Reference("tiny-gpt2")
        let pb = ref.json["padded_batch"]!
        let rows = pb["input_ids"]!.arrayValue!.map { $0.ints! }
        let mask = pb["attention_mask"]!.arrayValue!.map { $0.ints! }
        let batch = try TokenBatch(rows: rows, attentionMask: mask)
        let logits = try ref.model.logits(batch)
        let expected = try ref.output("padded_logits"), defaultPositions = try ref.output("padded_logits_default_positions")
        #expect(logits.shape == expected.shape)
        let (len, v) = (batch.length, ref.model.config.vocabSize)
        let z = logits.scalars, e = expected.scalars, e0 = defaultPositions.scalars
        var err = 0.0, defaultGap = 0.0
        for b in 0..<rows.count {
            let real = (0..<len).filter { mask[b][$0] != 0 }
            let alone = try ref.model.logits(real.map { rows[b][$0] }).scalars
            for (k, i) in real.enumerated() {
                let base: Int = (b * len + i) * v
                var aloneErr = 0.0
                for j in 0..<v {
                    let x = Double(z[base + j])
                    let ref: Double = Double(e[base + j]), ref0: Double = Double(e0[base + j])
                    let single: Double = Double(alone[k * v + j])
                    err = max(err, abs(x - ref))
                    defaultGap = max(defaultGap, abs(x - ref0))
                    aloneErr = max(aloneErr, abs(x - single))
                }
                #expect(aloneErr <= 1e-4, "row \(b) position \(i) vs the row alone: \(aloneErr)")
            }
        }
        #expect(err <= 1e-4, "padded batch: max |Δlogit| = \(err)")
        // The reference's other reading (positions 0…P−1 whatever the padding) differs on the padded row.
        #expect(defaultGap > 1e-2)
        print("GPT-2 padded batch: max |Δlogit| \(err)")
    }
}

// MARK: - Model behaviour

@Suite struct GPT2ModelTests {
    @Test func registryPicksGPT2() throws {
        let dir = GPT2Fixtures.url("tiny-gpt2")
        let model = try ModelRegistry.zoo.load(directory: dir)
        #expect(model is GPT2Model)
        #expect(try ModelRegistry.zoo.config(at: dir) is GPT2Config)
        #expect(ObjectIdentifier(try ModelRegistry.zoo.family(modelType: "gpt2")) == ObjectIdentifier(GPT2Model.self))
        #expect(ModelRegistry.zoo.modelTypes.contains("gpt2"))
        let fresh = try ModelRegistry.zoo.initialized(config: model.config, seed: 1)
        #expect(fresh is GPT2Model && fresh.parameterCount == model.parameterCount)
    }

    @Test func parameterNamesAndShapesAreTheCheckpoints() throws {
        let model = try GPT2Model.load(directory: GPT2Fixtures.url("tiny-gpt2"))
        let file = try SafetensorsCheckpoint(directory: GPT2Fixtures.url("tiny-gpt2"))
        #expect(Set(file.tensorNames) == Set(model.parameters.names))
        for (name, t) in model.parameters { #expect(try file.info(for: name).shape == t.shape, "\(name)") }
        #expect(model.parameters[GPT2Model.layerName(0, "attn.c_attn.weight")]!.shape == [32, 96])
        #expect(model.parameters[GPT2Model.layerName(1, "mlp.c_proj.weight")]!.shape == [128, 32])
        #expect(model.layerParameterNames(1).count == 12 && model.layerParameterNames(1).allSatisfy { $0.hasPrefix("transformer.h.1.") })
        #expect(model.finalNormParameterNames == ["transformer.ln_f.weight", "transformer.ln_f.bias"])
        #expect(model.config.checkedParameterCount == model.parameterCount)
    }

    @Test func initialisationFollowsTransformers() throws {
        var c = GPT2Config()
        (c.vocabSize, c.nEmbd, c.nHead, c.nLayer, c.nPositions) = (300, 64, 4, 8, 32)
        (c.bosTokenID, c.eosTokenID) = (299, 299)
        let model = try GPT2Model(config: c, seed: 3)
        func std(_ name: String) -> Double {
            let x = model.parameters[name]!.scalars.map(Double.init)
            let m = x.reduce(0, +) / Double(x.count)
            return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count)).squareRoot()
        }
        #expect(abs(std(GPT2Model.wteName) - 0.02) < 0.002)
        #expect(abs(std(GPT2Model.layerName(0, "mlp.c_fc.weight")) - 0.02) < 0.002)
        #expect(abs(std(GPT2Model.layerName(0, "mlp.c_proj.weight")) - 0.02 / 4) < 0.001)  // √(2·8) = 4
        #expect(abs(std(GPT2Model.layerName(3, "attn.c_proj.weight")) - 0.02 / 4) < 0.001)
        #expect(model.parameters[GPT2Model.layerName(0, "ln_1.weight")]!.scalars.allSatisfy { $0 == 1 })
        #expect(model.parameters[GPT2Model.layerName(0, "attn.c_attn.bias")]!.scalars.allSatisfy { $0 == 0 })
        #expect(try GPT2Model(config: c, seed: 3).parameters[GPT2Model.wteName]! == model.parameters[GPT2Model.wteName]!)
    }

    @Test(arguments: [true, false])
    func saveLoadRoundTrip(_ tied: Bool) throws {
        let model = try randomGPT2(tied: tied)
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        let stored = try SafetensorsCheckpoint(directory: dir)
        #expect(stored.tensorNames.contains(GPT2Model.lmHeadName) == !tied)
        #expect(try stored.info(for: GPT2Model.layerName(0, "mlp.c_fc.weight")).shape == [16, 24])  // Conv1D [in, out]
        let reloaded = try GPT2Model.load(directory: dir)
        #expect(reloaded.config == model.config)
        #expect(reloaded.parameters.names == model.parameters.names)
        for (name, t) in model.parameters { #expect(reloaded.parameters[name]! == t, "\(name)") }
        #expect(try reloaded.logits([1, 2, 3]) == model.logits([1, 2, 3]))
        let config = try String(contentsOf: dir.appendingPathComponent("config.json"), encoding: .utf8)
        #expect(config.contains("\"model_type\"") && config.contains("\"gpt2\"") && config.contains("\"n_inner\""))
    }

    /// The original hub layout (bare `GPT2Model` names), the old buffers and a stored tied head load to the
    /// same model; a checkpoint with a missing and an extra tensor names both.
    @Test func sanitizeMapsHubLayoutsAndStrictLoadingNamesDifferences() throws {
        let model = try randomGPT2()
        let c = model.config
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        var hub = SafetensorsWriter()
        for (name, t) in model.parameters { try hub.add(String(name.dropFirst("transformer.".count)), t) }
        for l in 0..<c.nLayer {
            try hub.add("h.\(l).attn.bias", try Tensor<Float>.ones([1, 1, c.nPositions, c.nPositions]))
            try hub.add("h.\(l).attn.masked_bias", Tensor<Float>(scalar: -1e4))
        }
        try hub.add(GPT2Model.lmHeadName, try Tensor<Float>.zeros([c.vocabSize, c.nEmbd]))
        try hub.write(to: dir.appendingPathComponent("model.safetensors"))
        let fromHub = try GPT2Model.load(directory: dir)
        #expect(try fromHub.logits([2, 3, 4]) == model.logits([2, 3, 4]))

        var broken = SafetensorsWriter()
        for (name, t) in model.parameters where name != GPT2Model.layerName(1, "mlp.c_fc.bias") { try broken.add(name, t) }
        try broken.add("transformer.h.0.attn.q_proj.weight", try Tensor<Float>.zeros([16, 16]))
        try broken.write(to: dir.appendingPathComponent("model.safetensors"))
        do {
            _ = try GPT2Model.load(directory: dir)
            Issue.record("expected a mismatch")
        } catch let ModelError.checkpointMismatch(_, missing, unexpected, wrongShapes) {
            #expect(missing == [GPT2Model.layerName(1, "mlp.c_fc.bias")])
            #expect(unexpected == ["transformer.h.0.attn.q_proj.weight"])
            #expect(wrongShapes.isEmpty)
        }
        // A Linear-layout ([out, in]) c_fc is a wrong shape, named.
        var transposed = SafetensorsWriter()
        for (name, t) in model.parameters {
            try transposed.add(name, name == GPT2Model.layerName(0, "mlp.c_fc.weight") ? try t.transposed().contiguous() : t)
        }
        try transposed.write(to: dir.appendingPathComponent("model.safetensors"))
        do {
            _ = try GPT2Model.load(directory: dir)
            Issue.record("expected a mismatch")
        } catch let ModelError.checkpointMismatch(_, missing, unexpected, wrongShapes) {
            #expect(missing.isEmpty && unexpected.isEmpty)
            #expect(wrongShapes == [TensorShapeMismatch(name: GPT2Model.layerName(0, "mlp.c_fc.weight"), expected: [16, 24], found: [24, 16])])
        }
    }

    /// Feeding tokens one at a time through a KV cache gives the full forward's logits, with and without
    /// left padding, and greedy generation follows the full forward's argmax.
    @Test func kvCacheGenerationEqualsFullForward() throws {
        let model = try GPT2Model.load(directory: GPT2Fixtures.url("tiny-gpt2"))
        let seq = [306, 325, 267, 269, 387, 263, 259, 261, 64, 85]
        let full = try model.logits(seq)
        let cache: KVCache<Float> = try model.makeCache(batchSize: 1, capacity: 2)
        var err = 0.0
        let first = try model.logits(TokenBatch(Array(seq.prefix(3))), cache: cache)
        err = max(err, maxAbsDiff(try first.squeezed(0), try full.sliced(axis: 0, 0..<3)))
        for i in 3..<seq.count {
            let step = try model.logits(TokenBatch([seq[i]]), cache: cache).squeezed(0)
            err = max(err, maxAbsDiff(step, try full.sliced(axis: 0, i..<(i + 1))))
        }
        #expect(err <= 1e-5, "cached vs full: \(err)")

        // Two left-padded rows, then two tokens each through the cache.
        let rows = [[306, 325, 267, 269, 387], [263, 259]]
        let next = [[261, 64], [85, 280]]
        let padded = try TokenBatch.padded(rows, padID: 447)
        let batchCache: KVCache<Float> = try model.makeCache(batchSize: 2)
        _ = try model.logits(padded, cache: batchCache)
        var last: Tensor<Float>? = nil
        for k in 0..<2 { last = try model.logits(TokenBatch(rows: [[next[0][k]], [next[1][k]]]), cache: batchCache) }
        for b in 0..<2 {
            let alone = try model.logits(rows[b] + next[b])
            let expected = try alone.sliced(axis: 0, (alone.shape[0] - 1)..<alone.shape[0])
            let got = try last!.selecting(axis: 0, index: b)
            #expect(maxAbsDiff(got, expected) <= 1e-5, "row \(b)")
        }

        let prompt = [306, 325, 267]
        let generated = try model.generate(prompt: prompt, maxNewTokens: 8, stopAtEOS: false)
        #expect(generated.count == 8)
        var s = prompt
        for token in generated {
            let z = try model.logits(s).selecting(axis: 0, index: s.count - 1).scalars
            #expect(token == z.indices.max { z[$0] < z[$1] }!)
            s.append(token)
        }
    }

    /// With the attention probabilities detached, no gradient reaches Q and K: the Q and K columns of
    /// c_attn get none, the V columns do; the forward values are unchanged.
    @Test func detachedAttentionProbabilitiesStopQAndK() throws {
        let model = try randomGPT2()
        let batch = TokenBatch([1, 5, 9, 3, 7])
        let options = ForwardOptions(detachAttentionProbabilities: true)
        let (loss, grads) = try valueAndGradient(of: model.parameters) { p in try model.loss(batch, parameters: p, options: options) }
        let plain = try model.loss(batch, parameters: model.parameters.constants).value.item()
        #expect(abs(loss - plain) <= 1e-6 * abs(plain))
        let d = model.config.nEmbd
        for l in 0..<model.config.nLayer {
            let w = grads[GPT2Model.layerName(l, "attn.c_attn.weight")]!.scalars
            let qk = (0..<d).flatMap { r in (0..<(2 * d)).map { w[r * 3 * d + $0] } }
            let vCols = (0..<d).flatMap { r in ((2 * d)..<(3 * d)).map { w[r * 3 * d + $0] } }
            #expect(qk.allSatisfy { $0 == 0 } && vCols.contains { $0 != 0 }, "layer \(l)")
        }
    }

    /// Gradients in Double match central finite differences, through the Conv1D layout and the fused QKV.
    @Test func doubleGradientsMatchFiniteDifferences() throws {
        let model = try randomGPT2(vocab: 13, embd: 8, heads: 2, layers: 1, inner: 12, positions: 8)
        let params = try ParameterSet(model.parameters.map { ($0.name, $0.tensor.converted(to: Double.self)) })
        let batch = try TokenBatch(rows: [[1, 5, 9, 3], [0, 0, 7, 2]], attentionMask: [[1, 1, 1, 1], [0, 0, 1, 1]])
        func loss(_ p: ParameterSet<Double>) throws -> Double {
            try noGrad { try model.loss(batch, parameters: p.constants).value.item() }
        }
        let (_, grads) = try valueAndGradient(of: params) { p in try model.loss(batch, parameters: p) }
        for name in [GPT2Model.layerName(0, "attn.c_attn.weight"), GPT2Model.layerName(0, "mlp.c_proj.weight"),
                     GPT2Model.wteName, GPT2Model.wpeName, GPT2Model.layerName(0, "ln_1.weight")] {
            let g = grads[name]!.scalars
            let count = params[name]!.count
            for index in stride(from: 0, to: count, by: max(1, count / 7)) {
                var plus = params, minus = params
                var tp = params[name]!, tm = params[name]!
                let h = 1e-5
                tp.withUnsafeMutableBufferPointer { $0[index] += h }
                tm.withUnsafeMutableBufferPointer { $0[index] -= h }
                try plus.set(name, tp)
                try minus.set(name, tm)
                let numeric = (try loss(plus) - loss(minus)) / (2 * h)
                #expect(abs(numeric - g[index]) <= 1e-6 + 1e-5 * abs(numeric), "\(name)[\(index)]: \(g[index]) vs \(numeric)")
            }
        }
    }

    @Test func badInputIsRefused() throws {
        let model = try randomGPT2(positions: 6)
        #expect(throws: ModelError.invalidTokenID(id: 41, vocabularySize: 41)) { _ = try model.logits([1, 41]) }
        #expect(throws: ModelError.self) { _ = try model.logits(Array(repeating: 3, count: 7)) }
        _ = try model.logits(try TokenBatch.padded([Array(repeating: 3, count: 6), [3]], padID: 0))
        let cache: KVCache<Float> = try model.makeCache(batchSize: 1)
        _ = try model.logits(TokenBatch([1, 2, 3, 4, 5]), cache: cache)
        #expect(throws: ModelError.self) { _ = try model.logits(TokenBatch([1, 2]), cache: cache) }
        #expect(cache.length == 5)
        #expect(throws: ModelError.self) { _ = try model.logits(TokenBatch([1]), cache: try model.makeCache(batchSize: 2)) }
        #expect(throws: AutodiffError.self) {
            _ = try model.logits(TokenBatch([2, 3]), parameters: model.parameters.filter { !$0.contains("c_fc") }.constants)
        }
    }
}

// MARK: - The Conv1D layout of Layers.linear

@Suite struct LinearLayoutTests {
    /// `layout: .inOut` with W equals `.outIn` with Wᵀ, in value and in every gradient (with a bias, a residual
    /// and an activation), and its weight gradient has the [in, out] layout.
    @Test(arguments: [false, true])
    func inOutEqualsOutInTransposed(_ withResidual: Bool) throws {
        var rng = TensorRNG(seed: 11)
        let x = try Tensor<Double>.normal([2, 3, 5], mean: 0, std: 1, using: &rng)
        let w = try Tensor<Double>.normal([5, 7], mean: 0, std: 1, using: &rng)
        let b = try Tensor<Double>.normal([7], mean: 0, std: 1, using: &rng)
        let r = try Tensor<Double>.normal([2, 3, 7], mean: 0, std: 1, using: &rng)
        let params = try ParameterSet([("x", x), ("w", w), ("wt", try w.transposed().contiguous()), ("b", b), ("r", r)])
        func run(_ layout: LinearWeightLayout) throws -> (Double, ParameterSet<Double>) {
            try valueAndGradient(of: params) { p in
                let y = try Layers.linear(p["x"], weight: p[layout == .inOut ? "w" : "wt"], bias: p["b"],
                                          residual: withResidual ? p["r"] : nil, activation: .geluTanh, layout: layout)
                return try (y * y).sum()
            }
        }
        let (a, ga) = try run(.inOut), (c, gc) = try run(.outIn)
        #expect(abs(a - c) <= 1e-12 * abs(c))
        #expect(ga["w"]!.shape == [5, 7])
        for (name, expected) in [("x", gc["x"]!), ("b", gc["b"]!), ("w", try gc["wt"]!.transposed().contiguous())] {
            let got = ga[name]!.scalars, want = expected.scalars
            #expect(zip(got, want).allSatisfy { abs($0 - $1) <= 1e-12 * max(1, abs($1)) }, "\(name)")
        }
        if withResidual { #expect(ga["r"]!.scalars == gc["r"]!.scalars) }
        #expect(throws: (any Error).self) { _ = try Layers.linear(Variable(x), weight: Variable(w), layout: .outIn) }
    }
}

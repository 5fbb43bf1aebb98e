import Autodiff
import Foundation
import Testing
import Tensor
@testable import LanguageModel
@testable import OPT
import ModelZoo

/// `Trainer`: the schedule, the deterministic batches, bit-identical resume and atomic checkpoints.
@Suite struct TrainerTests {
    /// A tiny pre-LN model (vocab 61, hidden 12, 2 layers) and a seeded token stream.
    static func setup() throws -> (OPTModel, [Int], TrainingOptions) {
        var config = OPTConfig()
        config.vocabSize = 61
        config.hiddenSize = 12
        config.wordEmbedProjDim = 12
        config.numHiddenLayers = 2
        config.numAttentionHeads = 3
        config.ffnDim = 24
        config.maxPositionEmbeddings = 32
        config.dropout = 0
        let model = try OPTModel(config: config, seed: 11)
        var rng = TensorRNG(seed: 5)
        // A stream with structure to learn: mostly ascending runs.
        var tokens: [Int] = [], t = 4
        for _ in 0..<400 {
            t = rng.nextUnit() < 0.8 ? 4 + (t - 3) % 57 : 4 + Int(rng.next() % 57)
            tokens.append(t)
        }
        var options = TrainingOptions()
        options.steps = 6
        options.batchSize = 3
        options.context = 16
        options.learningRate = 0.01
        options.warmupSteps = 2
        options.gradientClip = 0.5  // small enough to clip, so clipping is exercised
        options.seed = 9
        return (model, tokens, options)
    }

    static func bits(_ p: ParameterSet<Float>) -> [[UInt32]] {
        p.map { (pair: (name: String, tensor: Tensor<Float>)) -> [UInt32] in pair.tensor.scalars.map { x in x.bitPattern } }
    }

    static func momentBits(_ t: Trainer) -> [String: [UInt32]] {
        t.optimizerMoments.mapValues { (m: AdamMoments<Float>) -> [UInt32] in
            let first: [UInt32] = m.first.scalars.map { x in x.bitPattern }
            let second: [UInt32] = m.second.scalars.map { x in x.bitPattern }
            return [UInt32(m.step)] + first + second
        }
    }

    /// The straight run of `options.steps` steps.
    static func straightRun() throws -> Trainer {
        let (model, tokens, options) = try Self.setup()
        var t = try Trainer(model: model, options: options, trainTokens: tokens)
        for _ in 0..<options.steps { try t.trainStep() }
        return t
    }

    @Test func scheduleWarmsUpThenDecays() {
        var o = TrainingOptions()
        o.steps = 11
        o.learningRate = 1
        o.warmupSteps = 2
        o.minLearningRateRatio = 0.1
        #expect(o.learningRate(at: 0) == 0.5 && o.learningRate(at: 1) == 1)
        #expect(abs(o.learningRate(at: 2) - 1) < 1e-12 && abs(o.learningRate(at: 10) - 0.1) < 1e-12)
        #expect(abs(o.learningRate(at: 6) - 0.55) < 1e-12)  // the cosine's midpoint
        o.schedule = .linear
        #expect(abs(o.learningRate(at: 4) - (0.1 + 0.9 * 0.75)) < 1e-12)
        o.schedule = .constant
        #expect(o.learningRate(at: 10) == 1)
    }

    @Test func optionsAreValidated() throws {
        let (model, tokens, options) = try Self.setup()
        for change in [{ (o: inout TrainingOptions) in o.context = 33 }, { $0.context = 1 }, { $0.steps = 0 },
                       { $0.learningRate = -1 }, { $0.beta2 = 1 }, { $0.batchSize = 0 }] {
            var o = options
            change(&o)
            #expect(throws: ModelError.self) { _ = try Trainer(model: model, options: o, trainTokens: tokens) }
        }
        #expect(throws: ModelError.self) { _ = try Trainer(model: model, options: options, trainTokens: [4, 5, 6]) }
        #expect(throws: ModelError.invalidTokenID(id: 61, vocabularySize: 61)) {
            _ = try Trainer(model: model, options: options, trainTokens: tokens + [61])
        }
    }

    @Test func batchesAreDeterministicWindowsOfTheStream() throws {
        let (model, tokens, options) = try Self.setup()
        let t = try Trainer(model: model, options: options, trainTokens: tokens)
        let b = try t.batch(at: 3)
        let again = try t.batch(at: 3), next = try t.batch(at: 4)
        #expect(b == again && b != next)
        #expect(b.batchSize == 3 && b.length == 16)
        let text = tokens.map(String.init).joined(separator: " ")
        for r in 0..<3 {
            let row = Array(b.ids[(r * 16)..<(r * 16 + 16)])
            #expect(row[0] == 2)
            #expect(text.contains(row.dropFirst().map(String.init).joined(separator: " ")))
        }
        var other = options
        other.seed = 10
        let otherBatch = try Trainer(model: model, options: other, trainTokens: tokens).batch(at: 3)
        #expect(otherBatch != b)
    }

    @Test func trainingLowersTheLoss() throws {
        let (model, tokens, baseOptions) = try Self.setup()
        var options = baseOptions
        options.steps = 30
        options.gradientClip = 1
        var t = try Trainer(model: model, options: options, trainTokens: tokens)
        let rows = Trainer.evaluationRows(tokens, context: 16, limit: 8)
        #expect(rows.count == 8 && rows.allSatisfy { $0.count == 16 && $0[0] == 2 })
        let before = try Trainer.meanLoss(t.model, rows: rows, batchSize: 3)
        for _ in 0..<30 { try t.trainStep() }
        let after = try Trainer.meanLoss(t.model, rows: rows, batchSize: 3)
        #expect(after < before - 0.5, "loss \(before) → \(after)")
        #expect(t.history.count == 30 && t.history.map { $0.step } == Array(1...30))
        // meanLoss batches do not change the mean (up to rounding).
        let whole = try Trainer.meanLoss(t.model, rows: rows, batchSize: 8)
        #expect(abs(whole - after) < 1e-5)
    }

    @Test func resumeIsBitIdentical() throws {
        let straight = try Self.straightRun()
        let (model, tokens, options) = try Self.setup()
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var t = try Trainer(model: model, options: options, trainTokens: tokens)
        for _ in 0..<3 { try t.trainStep() }
        t.validations = [ValidationRecord(step: 3, loss: 1.5, rows: 2)]
        let saved = try t.saveCheckpoint(in: dir, tokenizerDirectory: Fixtures.url("tokenizer"))
        let latestSaved = try Trainer.latestCheckpoint(in: dir)
        #expect(latestSaved?.path == saved.path)
        // The checkpoint is a complete Hugging Face directory.
        for file in ["config.json", "model.safetensors", "vocab.json", "merges.txt", "optimizer.safetensors", "trainer_state.json"] {
            #expect(FileManager.default.fileExists(atPath: saved.appendingPathComponent(file).path), "\(file)")
        }
        _ = try BPETokenizer(directory: saved)
        var resumed = try Trainer.resume(from: saved, trainTokens: tokens, registry: .zoo)
        #expect(resumed.step == 3 && resumed.validations == t.validations && resumed.history == t.history)
        while resumed.step < options.steps { try resumed.trainStep() }
        #expect(Self.bits(resumed.model.parameters) == Self.bits(straight.model.parameters))
        #expect(Self.momentBits(resumed) == Self.momentBits(straight))
        #expect(resumed.history == straight.history)
    }

    @Test func resumeRejectsOtherDataOrOptions() throws {
        let (model, tokens, options) = try Self.setup()
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var t = try Trainer(model: model, options: options, trainTokens: tokens)
        try t.trainStep()
        let saved = try t.saveCheckpoint(in: dir, tokenizerDirectory: nil)
        #expect(throws: ModelError.self) { _ = try Trainer.resume(from: saved, trainTokens: Array(tokens.dropLast()), registry: .zoo) }
        var other = options
        other.learningRate = 0.02
        #expect(throws: ModelError.self) { _ = try Trainer.resume(from: saved, trainTokens: tokens, options: other, registry: .zoo) }
        other = options
        other.steps = 9  // a longer run is allowed
        let longer = try Trainer.resume(from: saved, trainTokens: tokens, options: other, registry: .zoo)
        #expect(longer.options.steps == 9)
        try Data("{\"format\": 1, \"step\": 1".utf8).write(to: saved.appendingPathComponent("trainer_state.json"))
        #expect(throws: ModelError.self) { _ = try Trainer.resume(from: saved, trainTokens: tokens, registry: .zoo) }
        try Data("../x\n".utf8).write(to: dir.appendingPathComponent("latest"))
        #expect(throws: ModelError.self) { _ = try Trainer.latestCheckpoint(in: dir) }
    }

    /// A checkpoint write that fails at any point leaves `latest` naming a complete checkpoint, from which
    /// the run still ends bit-identical to the straight one.
    @Test(arguments: CheckpointStage.allCases)
    func interruptedCheckpointLeavesThePreviousOneLoadable(_ stage: CheckpointStage) throws {
        let straight = try Self.straightRun()
        let (model, tokens, options) = try Self.setup()
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        var t = try Trainer(model: model, options: options, trainTokens: tokens)
        for _ in 0..<2 { try t.trainStep() }
        let first = try t.saveCheckpoint(in: dir, tokenizerDirectory: nil)
        try t.trainStep()
        #expect(throws: ModelError.self) {
            _ = try t.saveCheckpoint(in: dir, tokenizerDirectory: nil, keep: 2, failBefore: stage)
        }
        let latest = try #require(try Trainer.latestCheckpoint(in: dir))
        #expect(latest.path == (stage == .cleanup ? dir.appendingPathComponent(Trainer.checkpointName(step: 3)) : first).path)
        var resumed = try Trainer.resume(from: latest, trainTokens: tokens, registry: .zoo)
        while resumed.step < options.steps { try resumed.trainStep() }
        #expect(Self.bits(resumed.model.parameters) == Self.bits(straight.model.parameters))
        // The next write clears the interrupted one's leftovers.
        try resumed.saveCheckpoint(in: dir, tokenizerDirectory: nil)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(!names.contains { $0.hasSuffix(".tmp") }, "\(names)")
        let kept = names.filter { $0.hasPrefix("checkpoint-") }
        #expect(kept.count == 2 && kept.last == Trainer.checkpointName(step: 6), "\(kept)")
    }
}

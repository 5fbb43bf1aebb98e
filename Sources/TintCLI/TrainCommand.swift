import Foundation
import LanguageModel
import OPT
import ModelZoo
import Tensor

// MARK: - train

let trainCommand = Command(
    name: "train",
    summary: "train a causal language model (OPT, GPT-2, Llama) on a text with AdamW (checkpoints in HF layout, resumable)",
    help: """
        usage: tint train --config CONFIG.json --data TRAIN.txt --validation VAL.txt --tokenizer DIR --out DIR
                          [--steps N] [--batch B] [--context T] [--lr η] [--warmup N] [--schedule S]
                          [--min-lr-ratio R] [--weight-decay λ] [--clip C] [--seed S] [--init-seed S]
                          [--eval-every N] [--eval-rows N] [--checkpoint-every N] [--log-every N]
                          [--threads N] [--resume] [--json] [--quiet]

        Trains a causal language model from scratch with AdamW on the text of TRAIN.txt, tokenized with the
        byte-level BPE in DIR. Each batch row is </s> then T−1 consecutive tokens at an offset drawn from
        (seed, step, row), so a run is deterministic and a resumed run continues bit-identically.
        Checkpoints go to OUT/checkpoint-NNNNNNN/ (config.json, model.safetensors, tokenizer files,
        optimizer.safetensors, trainer_state.json), written atomically; OUT/latest names the newest. At the
        end OUT itself holds the final model in Hugging Face layout and training.json (command, losses).

          --config FILE          a Hugging Face config.json of any family (model_type opt, gpt2, llama, …;
                                 vocab_size ≥ the tokenizer's vocabulary)
          --data FILE            UTF-8 training text
          --validation FILE      UTF-8 validation text (loss on consecutive rows of T tokens)
          --tokenizer DIR        vocab.json, merges.txt (and tokenizer_config.json)
          --out DIR              the run directory (must not hold a run unless --resume)
          --steps N              optimizer steps (default 1000)
          --batch B              rows per batch (default 16)
          --context T            tokens per row, ≤ max_position_embeddings (default 128)
          --lr η                 peak learning rate (default 0.001)
          --warmup N             linear warm-up steps (default 100)
          --schedule S           cosine (default), linear or constant decay after warm-up
          --min-lr-ratio R       final learning rate / peak (default 0.1)
          --weight-decay λ       AdamW weight decay (default 0.01)
          --clip C               clip the gradient's global norm to C; 0 = off (default 1.0)
          --seed S               seed of the batch order (default 0)
          --init-seed S          seed of the initial weights (default: --seed)
          --eval-every N         validation loss every N steps (default 100; 0 = only at the end)
          --eval-rows N          rows of the periodic validation (default 32; the final one uses all)
          --checkpoint-every N   checkpoint every N steps (default 200; 0 = only at the end)
          --log-every N          progress line every N steps (default 10)
          --threads N            threads for the kernels (default: all cores)
          --resume               continue the run in --out from its latest checkpoint (same options;
                                 --steps may change)
          --json                 the final summary as JSON on stdout
          --quiet                no progress on stderr
        """,
    run: { args in try runTrain(args) })

/// The `training.json` written next to the final model.
struct TrainingSummary: Codable {
    struct Data: Codable {
        var train: String, trainBytes: Int, trainTokens: Int
        var validation: String, validationTokens: Int, validationRows: Int
        enum CodingKeys: String, CodingKey {
            case train, trainBytes = "train_bytes", trainTokens = "train_tokens", validation
            case validationTokens = "validation_tokens", validationRows = "validation_rows"
        }
    }
    struct Slice: Codable { var rows: Int, context: Int, loss: Double }
    struct Point: Codable {
        var step: Int, trainLoss: Double, validationLoss: Double?
        enum CodingKeys: String, CodingKey { case step, trainLoss = "train_loss", validationLoss = "validation_loss" }
    }
    var command: String
    var seed: UInt64
    var initSeed: UInt64
    var steps: Int
    var options: TrainingOptions
    var parameters: Int
    var data: Data
    var finalTrainLoss: Double
    var validationLoss: Double
    var validationSlice: Slice
    var curve: [Point]
    var seconds: Double
    var threads: Int
    enum CodingKeys: String, CodingKey {
        case command, seed, initSeed = "init_seed", steps, options, parameters, data
        case finalTrainLoss = "final_train_loss", validationLoss = "validation_loss"
        case validationSlice = "validation_slice", curve, seconds, threads
    }
}

/// Rows of the validation slice `training.json` records and the tests recompute.
let validationSliceRows = 8

func readText(_ path: String, option: String) throws -> String {
    try InputText.read(path, option: option)
}

func runTrain(_ args: [String]) throws {
    let o = try ParsedOptions(args, valued: ["--config", "--data", "--validation", "--tokenizer", "--out", "--steps", "--batch",
                                             "--context", "--lr", "--warmup", "--schedule", "--min-lr-ratio", "--weight-decay",
                                             "--clip", "--seed", "--init-seed", "--eval-every", "--eval-rows",
                                             "--checkpoint-every", "--log-every", "--threads"],
                              flags: ["--resume", "--json", "--quiet"])
    Progress.quiet = o.has("--quiet")
    let configPath = try o.required("--config"), dataPath = try o.required("--data")
    let validationPath = try o.required("--validation"), tokenizerPath = try o.required("--tokenizer")
    let out = URL(fileURLWithPath: try o.required("--out"))
    var options = TrainingOptions()
    options.steps = try o.int("--steps", in: 1...100_000_000, default: options.steps)!
    options.batchSize = try o.int("--batch", in: 1...65_536, default: options.batchSize)!
    options.context = try o.int("--context", in: 2...1_000_000, default: options.context)!
    options.learningRate = try o.double("--lr", in: 1e-12...10, default: options.learningRate)!
    options.warmupSteps = try o.int("--warmup", in: 0...100_000_000, default: options.warmupSteps)!
    if let s = o["--schedule"] {
        guard let schedule = LearningRateSchedule(rawValue: s) else {
            throw ArgumentError("--schedule must be one of \(LearningRateSchedule.allCases.map(\.rawValue).joined(separator: ", ")), got '\(s)'")
        }
        options.schedule = schedule
    }
    options.minLearningRateRatio = try o.double("--min-lr-ratio", in: 0...1, default: options.minLearningRateRatio)!
    options.weightDecay = try o.double("--weight-decay", in: 0...10, default: options.weightDecay)!
    options.gradientClip = try o.double("--clip", in: 0...1e6, default: options.gradientClip)!
    options.seed = try o.uint64("--seed", default: 0)
    let initSeed = try o.uint64("--init-seed", default: options.seed)
    let evalEvery = try o.int("--eval-every", in: 0...Int.max, default: 100)!
    let evalRows = try o.int("--eval-rows", in: 1...Int.max, default: 32)!
    let checkpointEvery = try o.int("--checkpoint-every", in: 0...Int.max, default: 200)!
    let logEvery = try o.int("--log-every", in: 1...Int.max, default: 10)!
    if let threads = try o.int("--threads", in: 1...1024) { Threading.maxThreads = threads }

    // Refuse a wrong --out or --resume before the slow part (tokenizing the data).
    try PathChecks.prepareOutputDirectory(out.path, option: "--out")
    let latest = try Trainer.latestCheckpoint(in: out)
    if o.has("--resume") && latest == nil {
        throw CommandError("--resume: \(out.path) holds no checkpoint (no \(Trainer.latestFileName) file)")
    }
    if !o.has("--resume") && latest != nil {
        throw CommandError("--out \(out.path) already holds a run; pass --resume to continue it or choose another directory")
    }

    let configURL = URL(fileURLWithPath: configPath)
    guard FileManager.default.fileExists(atPath: configPath) else { throw CommandError("--config \(configPath): no such file") }
    let config = try ModelRegistry.zoo.config(at: configURL)
    let tokenizerURL = URL(fileURLWithPath: tokenizerPath)
    let tokenizer = try loadTokenizer(directory: tokenizerURL)
    guard tokenizer.vocabularySize <= config.vocabSize else {
        throw CommandError("--config \(configPath): vocab_size \(config.vocabSize) is smaller than the tokenizer's \(tokenizer.vocabularySize) tokens")
    }
    let trainText = try readText(dataPath, option: "--data")
    let validationText = try readText(validationPath, option: "--validation")
    let trainTokens = tokenizer.encode(trainText, addSpecialTokens: false)
    let validationTokens = tokenizer.encode(validationText, addSpecialTokens: false)
    let bos = config.bosTokenID ?? 2
    let allRows = Trainer.evaluationRows(validationTokens, context: options.context, bos: bos)
    guard allRows.count >= 1 else {
        throw CommandError("--validation \(validationPath): \(validationTokens.count) tokens, fewer than one row of \(options.context - 1)")
    }
    let evalSubset = Array(allRows.prefix(evalRows))
    Progress.note("data: \(trainTokens.count) training tokens, \(validationTokens.count) validation tokens (\(allRows.count) rows of \(options.context))")

    var trainer: Trainer
    if let latest {
        trainer = try Trainer.resume(from: latest, trainTokens: trainTokens, options: options, registry: .zoo)
        guard trainer.model.config.isSame(as: config) else {
            throw CommandError("--resume: the checkpoint's config differs from --config \(configPath)")
        }
        guard trainer.step <= options.steps else {
            throw CommandError("--resume: the run in \(out.path) is already at step \(trainer.step), beyond --steps "
                               + "\(options.steps); pass --steps N with N > \(trainer.step) to train further")
        }
        Progress.note("resumed from \(latest.lastPathComponent) at step \(trainer.step)")
    } else {
        trainer = try Trainer(model: try ModelRegistry.zoo.initialized(config: config, seed: initSeed), options: options,
                              trainTokens: trainTokens)
    }
    Progress.note("model: \(type(of: config).modelTypes[0]), \(config.numHiddenLayers) layers, hidden \(config.hiddenSize), "
                  + "vocab \(config.vocabSize): \(trainer.model.parameterCount) parameters; "
                  + "\(options.steps) steps of \(options.batchSize)×\(options.context) tokens, threads \(Threading.maxThreads)")

    let start = Date(), firstStep = trainer.step
    var windowStart = Date(), windowSteps = 0
    while trainer.step < options.steps {
        let r = try trainer.trainStep()
        windowSteps += 1
        if r.step % logEvery == 0 || r.step == options.steps {
            let now = Date()
            let perStep = now.timeIntervalSince(windowStart) / Double(windowSteps)
            let recent = trainer.history.suffix(logEvery).map(\.trainLoss)
            let eta = Int(perStep * Double(options.steps - r.step))
            Progress.note("step \(r.step)/\(options.steps)  loss \(formatted(r.trainLoss)) (mean of last \(recent.count): "
                          + "\(formatted(recent.reduce(0, +) / Double(recent.count))))  lr \(String(format: "%.2e", r.learningRate))  "
                          + "|g| \(formatted(r.gradientNorm, 3))  \(formatted(perStep, 3)) s/step  eta \(eta / 60)m\(String(format: "%02d", eta % 60))s")
            windowStart = now
            windowSteps = 0
        }
        if evalEvery > 0 && r.step % evalEvery == 0 && r.step < options.steps {
            let loss = try Trainer.meanLoss(trainer.model, rows: evalSubset, batchSize: options.batchSize)
            trainer.validations.append(ValidationRecord(step: r.step, loss: loss, rows: evalSubset.count))
            Progress.note("step \(r.step): validation loss \(formatted(loss)) on \(evalSubset.count) rows")
        }
        if checkpointEvery > 0 && r.step % checkpointEvery == 0 && r.step < options.steps {
            let dir = try trainer.saveCheckpoint(in: out, tokenizerDirectory: tokenizerURL)
            Progress.note("checkpoint \(dir.lastPathComponent)")
        }
    }

    // The final evaluation on every validation row, then the final checkpoint and the model in OUT itself.
    let validationLoss = try Trainer.meanLoss(trainer.model, rows: allRows, batchSize: options.batchSize)
    if trainer.validations.last?.step != trainer.step || trainer.validations.last?.rows != allRows.count {
        trainer.validations.append(ValidationRecord(step: trainer.step, loss: validationLoss, rows: allRows.count))
    }
    let sliceRows = Array(allRows.prefix(validationSliceRows))
    let sliceLoss = try Trainer.meanLoss(trainer.model, rows: sliceRows, batchSize: options.batchSize)
    let checkpoint = try trainer.saveCheckpoint(in: out, tokenizerDirectory: tokenizerURL)
    for file in try FileManager.default.contentsOfDirectory(atPath: checkpoint.path)
        where file == "config.json" || file == "model.safetensors" || Trainer.tokenizerFileNames.contains(file) {
        try atomicWrite(out.appendingPathComponent(file), try Data(contentsOf: checkpoint.appendingPathComponent(file)))
    }
    let seconds = Date().timeIntervalSince(start)
    let window = max(evalEvery, logEvery)
    var curve: [TrainingSummary.Point] = []
    for s in stride(from: window, through: trainer.step, by: window) + (trainer.step % window == 0 ? [] : [trainer.step]) {
        let losses = trainer.history[max(0, s - window)..<s].map(\.trainLoss)
        curve.append(.init(step: s, trainLoss: losses.reduce(0, +) / Double(losses.count),
                           validationLoss: trainer.validations.last(where: { $0.step == s })?.loss))
    }
    let last = trainer.history.suffix(50).map(\.trainLoss)
    let summary = TrainingSummary(
        command: (["tint", "train"] + args).map(shellQuoted).joined(separator: " "),
        seed: options.seed, initSeed: initSeed, steps: trainer.step, options: trainer.options,
        parameters: trainer.model.parameterCount,
        data: .init(train: URL(fileURLWithPath: dataPath).lastPathComponent, trainBytes: trainText.utf8.count,
                    trainTokens: trainTokens.count, validation: URL(fileURLWithPath: validationPath).lastPathComponent,
                    validationTokens: validationTokens.count, validationRows: allRows.count),
        finalTrainLoss: last.reduce(0, +) / Double(max(last.count, 1)), validationLoss: validationLoss,
        validationSlice: .init(rows: sliceRows.count, context: options.context, loss: sliceLoss),
        curve: curve, seconds: seconds, threads: Threading.maxThreads)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    try atomicWrite(out.appendingPathComponent("training.json"), try encoder.encode(summary))
    if o.has("--json") {
        try printJSON(summary)
    } else {
        let trained = firstStep == 0 ? "trained \(trainer.step) steps"
            : "resumed at step \(firstStep), trained \(trainer.step - firstStep) more (to step \(trainer.step))"
        try Console.out("\(trained) in \(formatted(seconds, 1)) s: final train loss \(formatted(summary.finalTrainLoss)) "
              + "(mean of the last \(last.count) steps), validation loss \(formatted(validationLoss)) "
              + "(perplexity \(formatted(Foundation.exp(validationLoss), 2))) on \(allRows.count) rows")
        try Console.out("model: \(out.path) (config.json, model.safetensors, tokenizer, training.json)")
    }
}

/// `s` quoted for a POSIX shell when it needs it.
func shellQuoted(_ s: String) -> String {
    let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    return !s.isEmpty && s.allSatisfy(safe.contains) ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

import Autodiff
import Foundation
import Tensor

/// Where a checkpoint write stands; a test hook may fail the write before any of these points.
enum CheckpointStage: String, CaseIterable, Sendable {
    case model, optimizer, state, rename, pointer, cleanup
}

/// What a checkpoint's `trainer_state.json` holds besides the weights and the Adam moments.
struct TrainerState: Codable {
    var format = 1
    var step: Int
    var options: TrainingOptions
    var trainTokens: Int
    var history: [TrainingRecord]
    var validations: [ValidationRecord]
    var dataOrder = "batch rows are a pure function of (seed, step, row): no generator state to save"

    enum CodingKeys: String, CodingKey {
        case format, step, options, trainTokens = "train_tokens", history, validations, dataOrder = "data_order"
    }
}

// Checkpoints: a run directory holds `checkpoint-NNNNNNN/` directories (Hugging Face layout: config.json,
// model.safetensors in f32, the tokenizer files; plus optimizer.safetensors and trainer_state.json) and a
// `latest` file naming the newest. A checkpoint is written into a temporary directory, flushed to disk,
// renamed into place, and only then does `latest` (itself replaced by rename) point at it; so a kill at any
// moment leaves `latest` naming a complete checkpoint.
extension Trainer {
    /// The file naming the newest checkpoint of a run directory.
    public static let latestFileName = "latest"
    static let stateFileName = "trainer_state.json"
    static let optimizerFileName = "optimizer.safetensors"
    /// The tokenizer files copied into each checkpoint when present.
    public static let tokenizerFileNames = ["tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                                           "special_tokens_map.json"]

    /// The name of step `step`'s checkpoint directory.
    public static func checkpointName(step: Int) -> String {
        "checkpoint-" + String(repeating: "0", count: max(0, 7 - String(step).count)) + String(step)
    }

    /// Writes a checkpoint of the current step into `runDirectory` atomically and points `latest` at it;
    /// keeps the `keep` newest checkpoints and removes older ones.
    ///
    /// - Parameter tokenizerDirectory: whose tokenizer files (``tokenizerFileNames``) are copied in, so each
    ///   checkpoint is a complete Hugging Face model directory.
    /// - Returns: the checkpoint's directory.
    @discardableResult
    public func saveCheckpoint(in runDirectory: URL, tokenizerDirectory: URL?, keep: Int = 2) throws -> URL {
        try saveCheckpoint(in: runDirectory, tokenizerDirectory: tokenizerDirectory, keep: keep, failBefore: nil)
    }

    func saveCheckpoint(in runDirectory: URL, tokenizerDirectory: URL?, keep: Int,
                        failBefore: CheckpointStage?) throws -> URL {
        func reach(_ stage: CheckpointStage) throws {
            if stage == failBefore { throw ModelError.io(file: runDirectory.path, reason: "injected failure before \(stage.rawValue)") }
        }
        let fm = FileManager.default
        let name = Trainer.checkpointName(step: step)
        let final = runDirectory.appendingPathComponent(name)
        let temp = runDirectory.appendingPathComponent(".\(name).tmp")
        // Leftovers of interrupted writes.
        for file in (try? fm.contentsOfDirectory(atPath: runDirectory.path)) ?? [] where file.hasPrefix(".") && file.hasSuffix(".tmp") {
            try? fm.removeItem(at: runDirectory.appendingPathComponent(file))
        }
        try createDirectory(temp)

        try reach(.model)
        try model.save(to: temp, dtype: .f32)
        if let tokenizerDirectory {
            for file in Trainer.tokenizerFileNames {
                let src = tokenizerDirectory.appendingPathComponent(file)
                guard fm.fileExists(atPath: src.path) else { continue }
                try writeFile(temp.appendingPathComponent(file), try readFile(src))
            }
        }
        try reach(.optimizer)
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        for (param, m) in optimizer.moments.sorted(by: { $0.key < $1.key }) {
            try writer.add(param + ".exp_avg", m.first, as: .f32)
            try writer.add(param + ".exp_avg_sq", m.second, as: .f32)
            writer.metadata["step." + param] = String(m.step)
        }
        try writer.write(to: temp.appendingPathComponent(Trainer.optimizerFileName))
        try reach(.state)
        let state = TrainerState(step: step, options: options, trainTokens: trainTokens.count, history: history,
                                   validations: validations)
        try writeFile(temp.appendingPathComponent(Trainer.stateFileName), try encodeJSON(state))
        for file in try fm.contentsOfDirectory(atPath: temp.path) { syncFile(temp.appendingPathComponent(file)) }
        syncFile(temp)

        try reach(.rename)
        if fm.fileExists(atPath: final.path) { try? fm.removeItem(at: final) }
        try rename(temp, final)
        syncFile(runDirectory)
        try reach(.pointer)
        try atomicWrite(runDirectory.appendingPathComponent(Trainer.latestFileName), Data((name + "\n").utf8))

        try reach(.cleanup)
        let old = (try? fm.contentsOfDirectory(atPath: runDirectory.path))?
            .filter { $0.hasPrefix("checkpoint-") }.sorted().dropLast(max(keep, 1)) ?? []
        for dir in old where dir != name { try? fm.removeItem(at: runDirectory.appendingPathComponent(dir)) }
        return final
    }

    /// The checkpoint directory `latest` names in `runDirectory`, or `nil` when the run has none.
    public static func latestCheckpoint(in runDirectory: URL) throws -> URL? {
        let pointer = runDirectory.appendingPathComponent(latestFileName)
        guard FileManager.default.fileExists(atPath: pointer.path) else { return nil }
        let name = String(decoding: try readFile(pointer), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard name.hasPrefix("checkpoint-"), !name.contains("/") else {
            throw ModelError.io(file: pointer.path, reason: "does not name a checkpoint directory: '\(name)'")
        }
        return runDirectory.appendingPathComponent(name)
    }

    /// A run restored from a checkpoint directory: weights, Adam moments, step and log.
    ///
    /// - Parameter options: when given, must equal the checkpoint's options except for `steps` (a longer or
    ///   shorter run; the schedule then changes after the resume point).
    /// - Throws: ``ModelError`` for a missing or malformed file, a stream of another length, or other options.
    /// - Parameter registry: the model families the checkpoint's `config.json` may name.
    public static func resume(from checkpoint: URL, trainTokens: [Int], options: TrainingOptions? = nil,
                              registry: ModelRegistry) throws -> Trainer {
        let stateURL = checkpoint.appendingPathComponent(stateFileName)
        let state: TrainerState
        do {
            state = try JSONDecoder().decode(TrainerState.self, from: try readFile(stateURL))
        } catch let e as ModelError { throw e } catch {
            throw ModelError.io(file: stateURL.path, reason: "not a trainer state: \(error)")
        }
        guard state.format == 1, state.step >= 0, state.history.count == state.step else {
            throw ModelError.io(file: stateURL.path, reason: "unsupported or inconsistent trainer state (format \(state.format), step \(state.step), \(state.history.count) records)")
        }
        guard state.trainTokens == trainTokens.count else {
            throw ModelError.invalidArgument(op: "Trainer.resume", reason: "the checkpoint was trained on a stream of \(state.trainTokens) tokens, this one has \(trainTokens.count): not the same data")
        }
        var resolved = state.options
        if let options {
            var a = options, b = state.options
            a.steps = 0; b.steps = 0
            guard a == b else {
                throw ModelError.invalidArgument(op: "Trainer.resume", reason: "the options differ from the checkpoint's (only steps may change): \(options) vs \(state.options)")
            }
            resolved.steps = options.steps
        }
        let model = try registry.load(directory: checkpoint)
        let file = try SafetensorsFile(contentsOf: checkpoint.appendingPathComponent(optimizerFileName))
        var moments: [String: AdamMoments<Float>] = [:]
        for name in model.parameters.names {
            guard let s = file.metadata["step." + name] else { continue }
            guard let stepCount = Int(s) else {
                throw ModelError.malformedSafetensors(file: file.source, tensor: name, offset: nil, reason: "step '\(s)' is not an integer")
            }
            let m = try file.tensor(named: name + ".exp_avg"), v = try file.tensor(named: name + ".exp_avg_sq")
            let shape = try model.parameters.tensor(name).shape
            guard m.shape == shape, v.shape == shape else {
                throw ModelError.checkpointMismatch(file: file.source, missing: [], unexpected: [],
                                                  wrongShapes: [TensorShapeMismatch(name: name + ".exp_avg", expected: shape, found: m.shape)])
            }
            moments[name] = AdamMoments(step: stepCount, first: m, second: v)
        }
        var trainer = try Trainer(model: model, options: resolved, trainTokens: trainTokens, step: state.step,
                                     history: state.history, moments: moments)
        trainer.validations = state.validations
        return trainer
    }
}

// MARK: - File helpers

/// Pretty, key-sorted JSON.
func encodeJSON<T: Encodable>(_ value: T) throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return try encoder.encode(value)
}

func createDirectory(_ url: URL) throws {
    do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
        throw ModelError.io(file: url.path, reason: "cannot create the directory: \(error.localizedDescription)")
    }
}

func writeFile(_ url: URL, _ data: Data) throws {
    do { try data.write(to: url) } catch {
        throw ModelError.io(file: url.path, reason: "cannot be written: \(error.localizedDescription)")
    }
}

func rename(_ from: URL, _ to: URL) throws {
    guard Foundation.rename(from.path, to.path) == 0 else {
        throw ModelError.io(file: to.path, reason: "cannot rename \(from.lastPathComponent) into place (errno \(errno))")
    }
}

/// Flushes a file or directory to disk (best effort: a failure only weakens the guarantee after a power cut).
func syncFile(_ url: URL) {
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else { return }
    _ = fsync(fd)
    close(fd)
}

/// Replaces `url` by `data` atomically: a temporary file beside it, flushed, then renamed over it.
public func atomicWrite(_ url: URL, _ data: Data) throws {
    let temp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp")
    try writeFile(temp, data)
    syncFile(temp)
    try rename(temp, url)
}

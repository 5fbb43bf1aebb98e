import Foundation
import LanguageModel
import OPT
import Testing
@testable import TintCLI

/// `tint train` end to end on a tiny model: outputs, resume through the CLI, and its usage errors.
@Suite(.serialized) struct TrainCommandTests {
    /// A temporary run: a tiny config, a few KB of text, and the demo tokenizer.
    struct Setup {
        let root: URL
        var config: String { root.appendingPathComponent("config.json").path }
        var train: String { root.appendingPathComponent("train.txt").path }
        var validation: String { root.appendingPathComponent("validation.txt").path }
        func out(_ name: String) -> String { root.appendingPathComponent(name).path }

        init() throws {
            root = FileManager.default.temporaryDirectory.appendingPathComponent("tint-train-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
            let config = """
                {"model_type": "opt", "vocab_size": 4096, "hidden_size": 12, "word_embed_proj_dim": 12, "num_hidden_layers": 1,
                 "num_attention_heads": 2, "ffn_dim": 24, "max_position_embeddings": 32, "dropout": 0.0}
                """
            try Data(config.utf8).write(to: root.appendingPathComponent("config.json"))
            let text = Array(try String(contentsOf: DemoResources.validationText, encoding: .utf8).utf8)
            try Data(text[0..<3000]).write(to: root.appendingPathComponent("train.txt"))
            try Data(text[3000..<5000]).write(to: root.appendingPathComponent("validation.txt"))
        }

        func arguments(out: String, steps: Int) -> [String] { Self.arguments(root: root.path, out: out, steps: steps) }

        /// The arguments of a small run on the files a `Setup` at `root` wrote.
        static func arguments(root: String, out: String, steps: Int) -> [String] {
            ["--config", root + "/config.json", "--data", root + "/train.txt", "--validation", root + "/validation.txt",
             "--tokenizer", DemoResources.modelDirectory.path,
             "--out", out, "--steps", "\(steps)", "--batch", "2", "--context", "16", "--lr", "0.01", "--warmup", "0",
             "--schedule", "constant", "--eval-every", "2", "--eval-rows", "2", "--checkpoint-every", "2", "--threads", "1",
             "--quiet"]
        }
    }

    @Test func trainsWritesAModelAndResumesBitIdentically() throws {
        let s = try Setup()
        defer { try? FileManager.default.removeItem(at: s.root) }
        try runTrain(s.arguments(out: s.out("straight"), steps: 4))
        try runTrain(s.arguments(out: s.out("split"), steps: 2))
        try runTrain(s.arguments(out: s.out("split"), steps: 4) + ["--resume"])
        let straight = URL(fileURLWithPath: s.out("straight")), split = URL(fileURLWithPath: s.out("split"))
        for file in ["config.json", "model.safetensors", "vocab.json", "merges.txt", "training.json"] {
            #expect(FileManager.default.fileExists(atPath: straight.appendingPathComponent(file).path), "\(file)")
        }
        let a = try Data(contentsOf: straight.appendingPathComponent("model.safetensors"))
        let b = try Data(contentsOf: split.appendingPathComponent("model.safetensors"))
        #expect(a == b)
        let model = try OPTModel.load(directory: straight)
        let summary = try JSONDecoder().decode(TrainingSummary.self, from: Data(contentsOf: straight.appendingPathComponent("training.json")))
        #expect(summary.steps == 4 && summary.parameters == model.parameterCount && summary.command.hasPrefix("tint train --config"))
        let resumed = try JSONDecoder().decode(TrainingSummary.self, from: Data(contentsOf: split.appendingPathComponent("training.json")))
        #expect(resumed.validationLoss == summary.validationLoss && resumed.finalTrainLoss == summary.finalTrainLoss)
    }

    @Test func refusesBadRuns() throws {
        let s = try Setup()
        defer { try? FileManager.default.removeItem(at: s.root) }
        let out = s.out("run")
        #expect(throws: CommandError.self) { try runTrain(s.arguments(out: out, steps: 2) + ["--resume"]) }
        try runTrain(s.arguments(out: out, steps: 2))
        #expect(throws: CommandError.self) { try runTrain(s.arguments(out: out, steps: 2)) }
        #expect(throws: ModelError.self) {  // other options than the checkpoint's
            try runTrain(s.arguments(out: out, steps: 3).map { $0 == "0.01" ? "0.02" : $0 } + ["--resume"])
        }
        #expect(throws: ArgumentError.self) { try runTrain(s.arguments(out: out, steps: 2) + ["--schedule", "sawtooth"]) }
        #expect(throws: ArgumentError.self) { try runTrain(Array(s.arguments(out: out, steps: 2).dropFirst(2))) }
        #expect(throws: CommandError.self) {
            try runTrain(s.arguments(out: s.out("other"), steps: 2).map { $0 == s.train ? s.root.appendingPathComponent("nope").path : $0 })
        }
        #expect(throws: ModelError.self) {  // a context longer than max_position_embeddings
            try runTrain(s.arguments(out: s.out("other2"), steps: 2).map { $0 == "16" ? "64" : $0 })
        }
    }
}

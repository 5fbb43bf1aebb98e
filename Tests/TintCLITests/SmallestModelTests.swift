import Foundation
import LanguageModel
import OPT
import Testing
import TinT
@testable import TintCLI

/// Issue 18, item 2: every command on the smallest legal models (1 layer, 1 head, 1–3 positions, vocab 1) ends in
/// a result or a typed error, never a trap (a trap here would kill the test process).
@Suite struct SmallestModelTests {
    /// D_aux = 4: S = 4 (K = 1), D_sim = 20 in 5 heads of 4.
    static let tinT = ["--rows-per-prefix", "4", "--sim-heads", "5"]

    @Test(arguments: [2, 3]) func demoRunsOnTwoAndThreePositions(_ positions: Int) throws {
        let dir = try SmallModels.make(vocab: 4096, positions: positions, tokenizer: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try demoCommand.run(["--model", dir.path, "--max-passages", "2", "--validation-passages", "1", "--lr", "1e-3",
                             "--quiet"] + Self.tinT)
        let o = try ParsedOptions(["--model", dir.path, "--max-passages", "2", "--lr", "1e-3", "--quiet"] + Self.tinT,
                                  valued: TinTOptions.valued.union(["--model", "--max-passages"]),
                                  flags: TinTOptions.flags.union(["--quiet"]))
        let r = try Demo.run(o)
        #expect(r.block == positions && r.eval_targets > 0 && r.model_eval_loss.isFinite)
    }

    @Test func vocabularyOfOneWithIDs() throws {
        let dir = try SmallModels.make(vocab: 1, positions: 2)
        defer { try? FileManager.default.removeItem(at: dir) }
        let m = dir.path
        try perplexityCommand.run(["--model", m, "--ids", "0,0,0", "--quiet"])
        try perplexityCommand.run(["--model", m, "--ids", "0,0", "--block", "2", "--json", "--quiet"])
        for method in ["tint", "approx", "exact"] {
            try dynamicEvalCommand.run(["--model", m, "--ids", "0,0,0,0", "--train-fraction", "0.5", "--method", method,
                                        "--lr", "0.1", "--quiet"] + Self.tinT)
        }
        try compareCommand.run(["--model", m, "--ids", "0,0", "--train-fraction", "0.5", "--quiet"] + Self.tinT)
        try paramsCommand.run(["--model", m] + Self.tinT)
        // No tokenizer files: a typed error naming the file, not a crash.
        #expect(throws: ModelError.self) { try generateCommand.run(["--model", m, "--prompt", "x", "--quiet"]) }
        #expect(throws: ModelError.self) { try demoCommand.run(["--model", m, "--quiet"] + Self.tinT) }
    }

    /// One position: no block of two tokens fits, said plainly (it used to read "block must be in 2…1").
    @Test func onePositionIsAClearError() throws {
        let dir = try SmallModels.make(vocab: 1, positions: 1)
        defer { try? FileManager.default.removeItem(at: dir) }
        let expected = "the model has max_position_embeddings 1: a block needs at least 2 positions (a context token and a target)"
        #expect(throws: CommandError.self) { try perplexityCommand.run(["--model", dir.path, "--ids", "0,0", "--quiet"]) }
        do {
            try dynamicEvalCommand.run(["--model", dir.path, "--ids", "0,0", "--train-fraction", "0.5", "--method", "exact",
                                        "--quiet"])
            Issue.record("a 1-position model was accepted")
        } catch let error as CommandError {
            #expect(error.description == expected)
        }
    }

    /// The tokenizer knows 4096 tokens, the config only 300: the message says they disagree.
    @Test func tokenizerLargerThanTheVocabulary() throws {
        let dir = try SmallModels.make(vocab: 300, positions: 16, tokenizer: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let text = FileManager.default.temporaryDirectory.appendingPathComponent("tint-text-\(UUID().uuidString).txt")
        try Data("In the beginning God created the heaven and the earth.".utf8).write(to: text)
        defer { try? FileManager.default.removeItem(at: text) }
        for run in [{ try perplexityCommand.run(["--model", dir.path, "--file", text.path, "--quiet"]) },
                    { try generateCommand.run(["--model", dir.path, "--prompt", "In the beginning", "--quiet"]) }] {
            do {
                try run()
                Issue.record("ids beyond vocab_size were accepted")
            } catch let error as CommandError {
                #expect(error.description.contains("the tokenizer and config.json disagree")
                        && error.description.contains("vocab_size is 300"), "\(error)")
            }
        }
    }
}

import Foundation
import LanguageModel
import OPT
import Testing
@testable import TintCLI

/// The shipped demo model and its tokenizer (Sources/TintCLI/DemoModel, DemoData; Docs/DATA.md).
@Suite struct DemoModelTests {
    static func validationText() throws -> String {
        try String(contentsOf: DemoResources.validationText, encoding: .utf8)
    }

    /// The checkpoint loads strictly and reproduces the validation-slice loss `training.json` records.
    @Test func shippedCheckpointMatchesItsRecordedValidationLoss() throws {
        let dir = DemoResources.modelDirectory
        let model = try OPTModel.load(directory: dir)
        let summary = try JSONDecoder().decode(TrainingSummary.self,
                                               from: Data(contentsOf: dir.appendingPathComponent("training.json")))
        #expect(model.config.numHiddenLayers == 4 && model.config.hiddenSize == 96 && model.config.vocabSize == 4096)
        #expect(summary.parameters == model.parameterCount && summary.steps == summary.options.steps)
        let tokenizer = try BPETokenizer(directory: dir)
        let tokens = tokenizer.encode(try Self.validationText(), addBOS: false)
        #expect(tokens.count == summary.data.validationTokens)
        let slice = summary.validationSlice
        let rows = Trainer.evaluationRows(tokens, context: slice.context, limit: slice.rows)
        #expect(rows.count == slice.rows)
        let loss = try Trainer.meanLoss(model, rows: rows, batchSize: slice.rows)
        #expect(abs(loss - slice.loss) <= 1e-4 * slice.loss, "recomputed \(loss), recorded \(slice.loss)")
        // A trained model, not a random one (ln 4096 ≈ 8.3).
        #expect(summary.validationLoss < 5)
    }

    /// The TinT rules the demo model's shape must satisfy (S = 3, H_sim = 12).
    @Test func demoModelFitsTinT() throws {
        let c = try OPTConfig(contentsOf: DemoResources.modelDirectory.appendingPathComponent("config.json"))
        let d = c.hiddenSize, dSim = 4 * d, hAux = c.numAttentionHeads
        #expect(d % 3 == 0 && d % (dSim / 12) == 0 && (dSim / 12) % (d / hAux) == 0 && hAux <= 12 && c.ffnDim % d == 0)
        #expect(c.doLayerNormBefore && c.tieWordEmbeddings && c.activationFunction == .relu)
    }

    /// Our tokenizer gives the ids `tokenizers` 0.23.3 gave (Scripts/train_tokenizer.py) and round-trips.
    @Test func tokenizerMatchesTokenizersOnTheCommittedSample() throws {
        struct Sample: Decodable { struct Case: Decodable { let text: String, ids: [Int] }; let cases: [Case] }
        let url = try #require(Bundle.module.url(forResource: "Data/tokenizer_sample", withExtension: "json"))
        let sample = try JSONDecoder().decode(Sample.self, from: Data(contentsOf: url))
        let tokenizer = try BPETokenizer(directory: DemoResources.modelDirectory)
        #expect(tokenizer.vocabularySize == 4096 && sample.cases.count > 5)
        for c in sample.cases {
            #expect(tokenizer.encode(c.text) == c.ids, "\(c.text.prefix(40))")
            #expect(try tokenizer.decode(Array(c.ids.dropFirst())) == c.text)
        }
    }

    @Test func tokenizerRoundTripsTheValidationText() throws {
        let text = try Self.validationText()
        let tokenizer = try BPETokenizer(directory: DemoResources.modelDirectory)
        let ids = tokenizer.encode(text)
        #expect(ids.first == 2 && ids.count > 40_000)
        #expect(try tokenizer.decode(ids, skipSpecialTokens: true) == text)
    }

    @Test func heldOutSplitIsShippedAndDisjoint() throws {
        let test = try String(contentsOf: DemoResources.testText, encoding: .utf8)
        let validation = Set(try Self.validationText().components(separatedBy: "\n\n"))
        let chapters = test.components(separatedBy: "\n\n")
        #expect(chapters.count == 59 && validation.count == 60)
        #expect(chapters.allSatisfy { !validation.contains($0) })
    }
}

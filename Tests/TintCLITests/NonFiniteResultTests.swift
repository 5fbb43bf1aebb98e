import Foundation
import OPT
import Tensor
import Testing
import TinT
@testable import TintCLI

/// Issue 18, item 6: a NaN or infinity in a loss, logits or an updated weight is an error (exit status 1) that says
/// where it appeared — method, block, step, tensor — in text and JSON runs alike; `demo` refuses a train fraction
/// that leaves nothing to evaluate.
@Suite struct NonFiniteResultTests {
    /// The issue's reproduction: the demo model, η = 10⁶, 5 steps, on the first 64 tokens of its test text.
    @Test(arguments: ["tint", "exact"]) func divergingUpdateIsAnErrorNamingWhere(_ method: String) throws {
        let text = FileManager.default.temporaryDirectory.appendingPathComponent("tint-text-\(UUID().uuidString).txt")
        try Data(try Data(contentsOf: DemoResources.testText).prefix(300)).write(to: text)
        defer { try? FileManager.default.removeItem(at: text) }
        let base = ["--model", DemoResources.modelDirectory.path, "--file", text.path, "--train-fraction", "0.5",
                    "--block", "64", "--lr", "1e6", "--steps", "5", "--quiet"]
        for json in [[], ["--json"]] {
            do {
                try dynamicEvalCommand.run(base + ["--method", method] + json)
                Issue.record("\(method): a diverged update printed a result")
            } catch let error as CommandError {
                let m = error.description
                #expect(m.contains("method \(method)") && m.contains("block 1 of ") && m.contains("step "), "\(m)")
            }
        }
    }

    /// The library reports the first non-finite tensor after the step that produced it.
    @Test func oracleNamesTheStepAndTensor() throws {
        let model = try OPTModel.load(directory: URL(fileURLWithPath: DescentCommandTests.preLN))
        var config = TinTConfig(rowsPerPrefix: 4, simHeads: 20,
                                learningRate: 1e30, steps: 3)
        config.steps = 3
        do {
            _ = try exactGradientDescent(model: model, ids: [2, 5, 9, 100, 2, 5, 9, 100], trainMask: (0..<8).map { $0 < 4 },
                                         config: config)
            Issue.record("η = 1e30 did not diverge")
        } catch TinTError.nonFiniteValue(_, let step, let tensor, _, _) {
            #expect(step >= 1 && step <= 3 && !tensor.isEmpty)
        }
    }

    /// Weights that are finite but huge pass the load check; the outputs overflow and the error names the
    /// largest weight (it used to print nan with status 0, or die in the JSON encoder).
    @Test func hugeWeightsAreReportedNotPrintedAsNaN() throws {
        let dir = try SmallModels.make(vocab: 8, positions: 8) { p in
            try p.update("model.decoder.layers.0.fc2.bias") { b in b = try Tensor(shape: b.shape, repeating: 3e38) }
        }
        defer { try? FileManager.default.removeItem(at: dir) }
        for json in [[], ["--json"]] {
            do {
                try perplexityCommand.run(["--model", dir.path, "--ids", "0,1,2,3", "--quiet"] + json)
                Issue.record("perplexity printed a non-finite result")
            } catch let error as CommandError {
                #expect(error.description.contains("model.decoder.layers.0.fc2.bias"), "\(error)")
            }
        }
        #expect(throws: (any Error).self) {
            try dynamicEvalCommand.run(["--model", dir.path, "--ids", "0,1,2,3", "--train-fraction", "0.5", "--method",
                                        "exact", "--quiet"])
        }
    }

    @Test func demoRefusesATrainFractionWithoutEvalTargets() throws {
        #expect(throws: ArgumentError.self) { try demoCommand.run(["--train-fraction", "1", "--quiet"]) }
    }

    /// Undefined numbers in JSON (the cosine of two zero changes) are explicit nulls, never a dropped key.
    @Test func jsonKeepsUndefinedNumbersAsNull() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        struct Row: Encodable { let a: JSONNumber, b: JSONNumber }
        let text = String(decoding: try encoder.encode(Row(a: JSONNumber(value: .nan), b: JSONNumber(value: 1.5))), as: UTF8.self)
        #expect(text == #"{"a":null,"b":1.5}"#)
    }
}

import Foundation
import Testing
import Tensor
@testable import LanguageModel
@testable import OPT

/// The forward/backward reference fixtures are consistent with the checkpoints, the tokenizer and
/// themselves (the model tests that use them live with the model).
@Suite struct ReferenceFixtureTests {
    @Test(arguments: ["tiny-opt-pre-ln", "tiny-opt-post-ln"])
    func referenceOutputsMatchCheckpointAndTokenizer(_ model: String) throws {
        let reference = try Fixtures.json("reference/\(model).json")
        let ids = reference["input_ids"]!.intArray!
        let text = reference["text"]!.stringValue!
        let tokenizer = try BPETokenizer(directory: Fixtures.url(model))
        #expect(tokenizer.encode(text) == ids)

        let config = try OPTConfig(contentsOf: Fixtures.url(model))
        let outputs = try SafetensorsFile(contentsOf: Fixtures.url("reference/\(model).outputs.safetensors"))
        #expect(outputs.metadata["text"] == text)
        let logits = try outputs.tensor(named: "logits")
        #expect(logits.shape == [1, ids.count, config.vocabSize])
        #expect(try outputs.tensor(named: "sgd_logits").shape == logits.shape)

        // The recorded losses are the cross-entropy of the recorded logits (computed here in Double).
        let v = config.vocabSize
        let l = logits.scalars
        var sum = 0.0
        for t in 0..<(ids.count - 1) {
            let row = l[(t * v)..<((t + 1) * v)].map(Double.init)
            let m = row.max()!
            let logSumExp = m + log(row.reduce(0) { $0 + exp($1 - m) })
            sum += logSumExp - row[ids[t + 1]]
        }
        #expect(abs(sum - reference["loss_sum"]!.doubleValue!) < 1e-3)
        #expect(abs(sum / Double(ids.count - 1) - reference["loss_mean"]!.doubleValue!) < 1e-5)
        let sgd = reference["sgd"]!
        #expect(sgd["steps"]!.intValue == 3)
        #expect(sgd["losses_before_each_step"]!.arrayValue!.first!.doubleValue!.distance(to: reference["loss_mean"]!.doubleValue!).magnitude < 1e-5)
        #expect(sgd["loss_after"]!.doubleValue! < reference["loss_mean"]!.doubleValue!)

        // One gradient per parameter, with the parameter's shape.
        let gradients = try SafetensorsCheckpoint(file: Fixtures.url("reference/\(model).gradients.safetensors"))
        try gradients.checkStrict(expected: config.checkpointShapes)
        let g = try gradients.tensor(named: "model.decoder.layers.1.fc2.bias").scalars
        #expect(g.contains { $0 != 0 })
    }
}

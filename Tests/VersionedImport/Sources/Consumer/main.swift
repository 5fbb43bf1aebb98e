// The worked example of Docs/USAGE.md, built and run by CI from a versioned checkout (no target flags):
// an OPT model, its TinT, one internal SGD step, and the comparison with the approximate-GD oracle and exact GD.
import Foundation
import LanguageModel
import ICL
import ModelZoo
import OPT
import Tensor
import TinT

// 1. An auxiliary model. `OPTModel.load(directory:)` reads a Hugging Face directory; here a small random one.
var shape = OPTConfig()
shape.vocabSize = 128; shape.hiddenSize = 48; shape.numHiddenLayers = 2; shape.ffnDim = 96
shape.numAttentionHeads = 3; shape.maxPositionEmbeddings = 64; shape.wordEmbedProjDim = 48
let model = try OPTModel(config: shape, seed: 1)

// Any family loads through the zoo's registry, chosen by config.json's model_type.
let directory = FileManager.default.temporaryDirectory.appendingPathComponent("consumer-\(getpid())")
try model.save(to: directory)
let loaded: any CausalLM = try ModelRegistry.zoo.load(directory: directory)
let reloaded = try loaded.logits([2, 5, 9]), original = try model.logits([2, 5, 9])
precondition(reloaded == original, "a saved model loads back to the same logits")
try? FileManager.default.removeItem(at: directory)

// 2. The TinT configuration: the paper's defaults (S = 3, H_sim = 12, N = 1000, tanh gates), one step.
var config = TinTConfig()
config.learningRate = 0.01

// 3. Compile and count.
let tint = try TinTSimulator(model: model, config: config)
print(tint.parameterReport)

// 4. One TinT forward pass: the first half of the sequence trains, the second half is evaluated.
let ids = (0..<32).map { 4 + ($0 * 37) % 120 }
let mask = (0..<32).map { $0 < 16 }
let byTinT = try tint.run(ids: ids, trainMask: mask, readBack: true)

// 5. The same step computed directly with Autodiff: TinT's rule, and exact gradient descent.
let approx = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
let exact = try exactGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
let positions = evalTargetPositions(trainMask: mask)
let before = try evalPartLoss(logits: byTinT.logitsBefore, ids: ids, trainMask: mask).mean
for (name, outcome) in [("TinT", byTinT), ("approx GD", approx), ("exact GD", exact)] {
    let after = try evalPartLoss(logits: outcome.logitsAfter, ids: ids, trainMask: mask).mean
    print("\(name): eval loss \(before) → \(after)")
}
let vsApprox = try logitChangeRelativeError(before: approx.logitsBefore, byTinT.logitsAfter, reference: approx.logitsAfter,
                                            positions: positions)
let cosine = try logitChangeCosine(before: exact.logitsBefore, byTinT.logitsAfter, exact.logitsAfter, positions: positions)
print("TinT vs approx GD: relative error of the logit change \(vsApprox); cos(ΔTinT, Δexact) = \(cosine)")
precondition(vsApprox < 5e-3, "TinT must reproduce its approximate-GD rule")

// 6. In-context learning: a task in the format of Docs/DATA.md, scored under TinT's update (ICL's products link).
let examples = [ICLExample(text: "fine", label: 1), ICLExample(text: "awful", label: 0)]
let task = try ICLTask(file: ICLTaskFile(data: Data(#"{"name": "t", "template": "{text} It was {answer}", "labels": [{"name": "neg", "words": "bad"}, {"name": "pos", "words": "good"}]}"#.utf8), file: "task.json"),
                       train: examples, validation: examples, test: examples)
print("ICL task \(task.name): \(task.labels.count) labels; methods \(ICLMethod.allCases.map(\.rawValue))")
print("versioned import OK")

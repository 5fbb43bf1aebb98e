import Autodiff
import Foundation
import Tensor
@testable import LanguageModel
@testable import OPT

/// One tiny fixture model with the PyTorch reference recorded for it (Scripts/make_fixtures.py).
struct ReferenceCase {
    let name: String
    let model: OPTModel
    let ids: [Int]
    let lossMean: Double
    let lossSum: Double
    let sgdLearningRate: Float
    let sgdSteps: Int
    let sgdLosses: [Double]
    let sgdLossAfter: Double
    let logits: Tensor<Float>
    let sgdLogits: Tensor<Float>
    let gradients: SafetensorsCheckpoint

    init(_ name: String) throws {
        self.name = name
        model = try OPTModel.load(directory: Fixtures.url(name))
        let ref = try Fixtures.json("reference/\(name).json")
        ids = ref["input_ids"]!.intArray!
        lossMean = ref["loss_mean"]!.doubleValue!
        lossSum = ref["loss_sum"]!.doubleValue!
        let sgd = ref["sgd"]!
        sgdLearningRate = Float(sgd["lr"]!.doubleValue!)
        sgdSteps = sgd["steps"]!.intValue!
        sgdLosses = sgd["losses_before_each_step"]!.arrayValue!.map { $0.doubleValue! }
        sgdLossAfter = sgd["loss_after"]!.doubleValue!
        let outputs = try SafetensorsFile(contentsOf: Fixtures.url("reference/\(name).outputs.safetensors"))
        logits = try outputs.tensor(named: "logits")
        sgdLogits = try outputs.tensor(named: "sgd_logits")
        gradients = try SafetensorsCheckpoint(file: Fixtures.url("reference/\(name).gradients.safetensors"))
    }

    static let names = ["tiny-opt-pre-ln", "tiny-opt-post-ln"]
}

/// max |a − b| over all elements (shapes must agree).
func maxAbsDiff<S: TensorScalar>(_ a: Tensor<S>, _ b: Tensor<S>) -> Double {
    precondition(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    return zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, Double(abs($1.0 - $1.1))) }
}

/// max |a − b| / max |b|: the error relative to the reference's scale (elementwise relative error is
/// meaningless for entries near zero).
func relativeError<S: TensorScalar>(_ a: Tensor<S>, _ reference: Tensor<S>) -> Double {
    let scale = reference.scalars.reduce(0) { Swift.max($0, Double(abs($1))) }
    return maxAbsDiff(a, reference) / Swift.max(scale, 1e-30)
}

/// A model's parameters converted to Double (for gradient checks and Double forwards).
func doubleParameters(_ model: OPTModel) throws -> ParameterSet<Double> {
    try ParameterSet(model.parameters.map { ($0.name, $0.tensor.converted(to: Double.self)) })
}

/// A small random OPT config for tests that need no reference.
func smallConfig(preLN: Bool = true, projection: Bool = false, vocab: Int = 37, hidden: Int = 16, heads: Int = 4,
                 layers: Int = 2, ffn: Int = 24, maxPositions: Int = 40,
                 activation: OPTActivation = .relu) -> OPTConfig {
    var c = OPTConfig()
    c.vocabSize = vocab
    c.hiddenSize = hidden
    c.numAttentionHeads = heads
    c.numHiddenLayers = layers
    c.ffnDim = ffn
    c.maxPositionEmbeddings = maxPositions
    c.doLayerNormBefore = preLN
    c.wordEmbedProjDim = projection ? hidden / 2 : hidden
    c.activationFunction = activation
    c.initStd = 0.3
    return c
}

/// A random model whose biases and layer norms are not at their trivial initial values.
func randomModel(_ config: OPTConfig, seed: UInt64) throws -> OPTModel {
    var model = try OPTModel(config: config, seed: seed)
    var rng = TensorRNG(seed: seed &+ 1000)
    for name in model.parameters.names where name.hasSuffix(".bias") || name.hasSuffix("layer_norm.weight") {
        let shape = model.parameters[name]!.shape
        let noise = try Tensor<Float>.normal(shape, mean: 0, std: 0.2, using: &rng)
        let base: Float = name.hasSuffix(".weight") ? 1 : 0
        try model.parameters.set(name, try Tensor(shape: shape, scalars: noise.scalars.map { $0 + base }))
    }
    return model
}

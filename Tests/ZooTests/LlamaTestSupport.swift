import Autodiff
import Foundation
import LanguageModel
import Llama
import Tensor

/// The committed Llama fixtures (Tests/ZooTests/Fixtures, written by Scripts/make_zoo_fixtures.py) and the
/// PyTorch reference recorded for one of them.
struct LlamaReference {
    static let root: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!
    static func url(_ path: String) -> URL { root.appendingPathComponent(path) }
    static func json(_ path: String) throws -> JSONValue {
        try JSONParser.parse([UInt8](try Data(contentsOf: url(path))))
    }

    let name: String
    let model: LlamaModel
    let json: JSONValue
    let ids: [Int]
    let lossMean: Double
    let lossSum: Double
    let outputs: SafetensorsFile

    /// `directory` holds the model; `reference` names its reference files (the v4-config directory shares
    /// tiny-llama's).
    init(_ directory: String, reference: String? = nil) throws {
        name = directory
        model = try LlamaModel.load(directory: LlamaReference.url(directory))
        let refName = reference ?? directory
        json = try LlamaReference.json("reference/\(refName).json")
        ids = try json.fixtureKey("input_ids").fixtureInts()
        lossMean = try json.fixtureKey("loss_mean").fixtureDouble()
        lossSum = try json.fixtureKey("loss_sum").fixtureDouble()
        outputs = try SafetensorsFile(contentsOf: LlamaReference.url("reference/\(refName).outputs.safetensors"))
    }

    func tensor(_ name: String) throws -> Tensor<Float> { try outputs.tensor(named: name) }
}

struct FixtureFormatError: Error, CustomStringConvertible {
    var description: String
}

extension JSONValue {
    func fixtureKey(_ key: String) throws -> JSONValue {
        guard let v = objectValue?.first(where: { $0.key == key })?.value else { throw FixtureFormatError(description: "fixture JSON lacks \(key)") }
        return v
    }

    func fixtureDouble() throws -> Double {
        guard case let .number(text) = self, let d = Double(text) else { throw FixtureFormatError(description: "not a number: \(brief)") }
        return d
    }

    func fixtureInts() throws -> [Int] {
        guard let a = arrayValue else { throw FixtureFormatError(description: "not an array: \(brief)") }
        return try a.map { v in
            guard let i = v.intValue else { throw FixtureFormatError(description: "not an integer: \(v.brief)") }
            return i
        }
    }

    func fixtureDoubles() throws -> [Double] {
        guard let a = arrayValue else { throw FixtureFormatError(description: "not an array: \(brief)") }
        return try a.map { try $0.fixtureDouble() }
    }
}

/// max |a − b| over all elements (shapes must agree).
func llamaMaxAbsDiff<S: TensorScalar>(_ a: Tensor<S>, _ b: Tensor<S>) -> Double {
    precondition(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    return zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, abs(Double($1.0) - Double($1.1))) }
}

/// A small Llama-family config for tests that need no reference.
func smallLlamaConfig(modelType: String = "llama", vocab: Int = 41, hidden: Int = 16, heads: Int = 4, kvHeads: Int = 2,
                      headDim: Int = 6, layers: Int = 2, intermediate: Int = 20, maxPositions: Int = 32,
                      attentionBias: Bool = false, mlpBias: Bool = false, tied: Bool = false,
                      activation: String = "silu") -> LlamaConfig {
    var c = LlamaConfig(modelType: modelType)
    c.vocabSize = vocab
    c.hiddenSize = hidden
    c.numAttentionHeads = heads
    c.numKeyValueHeads = kvHeads
    c.headDim = headDim
    c.numHiddenLayers = layers
    c.intermediateSize = intermediate
    c.maxPositionEmbeddings = maxPositions
    c.attentionBias = attentionBias
    c.mlpBias = mlpBias
    c.tieWordEmbeddings = tied
    c.hiddenAct = activation
    c.ropeTheta = 100
    c.rmsNormEps = 1e-5
    c.initializerRange = 0.3
    c.bosTokenID = 1
    c.eosTokenID = 2
    c.slidingWindow = nil
    return c
}

/// A random model whose biases and norms are not at their trivial initial values.
func randomLlama(_ config: LlamaConfig, seed: UInt64) throws -> LlamaModel {
    var model = try LlamaModel(config: config, seed: seed)
    var rng = TensorRNG(seed: seed &+ 1000)
    for name in model.parameters.names where name.hasSuffix(".bias") || name.hasSuffix("norm.weight") {
        let shape = model.parameters[name]!.shape
        let noise = try Tensor<Float>.normal(shape, mean: 0, std: 0.2, using: &rng)
        let base: Float = name.hasSuffix(".weight") ? 1 : 0
        try model.parameters.set(name, try Tensor(shape: shape, scalars: noise.scalars.map { $0 + base }))
    }
    return model
}

/// A fresh temporary directory, removed by the caller.
func llamaTemporaryDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("llama-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

import Foundation
import GPT2
import LanguageModel
import Llama
import ModelZoo
import OPT
import Tensor
import Testing

/// Loading only some parameters of a checkpoint (`CausalLM.parameters(named:…)`, `ModelRegistry.loadParameters`), as
/// a pipeline stage does: the same tensors as the full load, bit for bit, through the same name mapping and checks,
/// without converting the tensors not asked for.
@Suite struct PartialLoadTests {
    /// A model of each family, tied and untied, with every tensor random (so a tensor under the wrong name shows).
    static func models() throws -> [any CausalLM] {
        var opt = OPTConfig()
        (opt.vocabSize, opt.hiddenSize, opt.numAttentionHeads, opt.numHiddenLayers, opt.ffnDim, opt.maxPositionEmbeddings) = (37, 16, 4, 2, 24, 40)
        var gpt2 = GPT2Config()
        (gpt2.vocabSize, gpt2.nEmbd, gpt2.nHead, gpt2.nLayer, gpt2.nInner, gpt2.nPositions) = (41, 16, 4, 2, 24, 24)
        (gpt2.bosTokenID, gpt2.eosTokenID) = (40, 40)
        var models: [any CausalLM] = []
        for tied in [true, false] {
            opt.tieWordEmbeddings = tied
            gpt2.tieWordEmbeddings = tied
            models += [try OPTModel(config: opt, seed: 1), try GPT2Model(config: gpt2, seed: 2),
                       try LlamaModel(config: smallLlamaConfig(tied: tied), seed: 3)]
        }
        return try models.map { try randomized($0) }
    }

    static func randomized<M: CausalLM>(_ model: M) throws -> M {
        var m = model
        var rng = TensorRNG(seed: 77)
        for name in m.parameters.names {
            try m.parameters.set(name, try Tensor<Float>.normal(m.parameters[name]!.shape, std: 0.3, using: &rng))
        }
        return m
    }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("partial-load-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func bits(_ t: Tensor<Float>) -> [UInt32] { t.scalars.map(\.bitPattern) }

    /// Subsets of `model`'s names: each name alone, a layer with the embeddings (a first stage), the last layer with
    /// the final norm (a last stage), none, all.
    static func subsets(_ model: any CausalLM) -> [[String]] {
        let names = model.parameters.names
        let last = model.config.numHiddenLayers - 1
        return names.map { [$0] } + [model.layerParameterNames(0) + [names[0]],
                                     model.layerParameterNames(last) + model.finalNormParameterNames, [], names]
    }

    /// Every subset loads exactly the full load's tensors, in `parameterShapes` order, for F32, F16 and BF16 files.
    @Test(arguments: [SafetensorsDType.f32, .f16, .bf16])
    func partialLoadEqualsFullLoadBitForBit(_ dtype: SafetensorsDType) throws {
        for (i, model) in try Self.models().enumerated() {
            let dir = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            try model.save(to: dir, dtype: dtype)
            let full = try ModelRegistry.zoo.load(directory: dir)
            let what = "\(type(of: model)) tied \(i < 3) \(dtype)"
            if dtype == .f32 { #expect(full.parameters.names.allSatisfy { Self.bits(full.parameters[$0]!) == Self.bits(model.parameters[$0]!) }) }
            for subset in Self.subsets(model) {
                let (config, partial) = try ModelRegistry.zoo.loadParameters(named: subset, directory: dir)
                #expect(config.isSame(as: model.config), "\(what)")
                #expect(partial.names == full.parameters.names.filter(Set(subset).contains), "\(what): \(subset)")
                for (name, t) in partial {
                    #expect(t.shape == full.parameters[name]!.shape && Self.bits(t) == Self.bits(full.parameters[name]!), "\(what): \(name)")
                }
            }
        }
    }

    /// The committed half-precision fixtures (tied GPT-2 in F16, Llama in BF16) load partially as in full.
    @Test(arguments: ["tiny-gpt2-f16", "tiny-llama-bf16"])
    func halfPrecisionFixturesLoadPartially(_ fixture: String) throws {
        let dir = LlamaReference.url(fixture)
        let full = try ModelRegistry.zoo.load(directory: dir)
        let subset = full.layerParameterNames(1) + [full.parameters.names[0]]
        let partial = try ModelRegistry.zoo.loadParameters(named: subset, directory: dir).parameters
        #expect(partial.count == subset.count)
        for (name, t) in partial { #expect(Self.bits(t) == Self.bits(full.parameters[name]!), "\(name)") }
    }

    /// With tied embeddings the head is not a parameter: asking for `lm_head.weight` is an unknown name, and a stored
    /// head is dropped by the mapping without being read (here it holds NaN, which a read would report).
    @Test func tiedHeadIsNotAParameterAndAStoredOneIsNotRead() throws {
        let model = try Self.models()[0] as! OPTModel
        #expect(model.config.tieWordEmbeddings)
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        var writer = SafetensorsWriter()
        for (name, t) in model.parameters { try writer.add(name, t) }
        try writer.add(OPTModel.lmHeadName, try Tensor<Float>(shape: [model.config.vocabSize, model.config.hiddenSize], repeating: .nan))
        try writer.write(to: dir.appendingPathComponent(SafetensorsCheckpoint.singleFileName))
        let embedding = "model.decoder.embed_tokens.weight"
        let p = try OPTModel.loadParameters(named: [embedding], directory: dir).parameters
        #expect(Self.bits(p[embedding]!) == Self.bits(model.parameters[embedding]!))
        #expect(try OPTModel.load(directory: dir).parameters.names == model.parameters.names)
        #expect(throws: ModelError.unknownParameters(modelType: "opt", names: [OPTModel.lmHeadName])) {
            try OPTModel.loadParameters(named: [embedding, OPTModel.lmHeadName], directory: dir)
        }
    }

    /// Only the tensors asked for are converted: a NaN in another tensor passes a partial load with `checkFinite` and
    /// fails the full one, naming it; a NaN in a requested tensor fails the partial load too.
    @Test func onlyRequestedTensorsAreReadAndChecked() throws {
        let model = try Self.models()[2] as! LlamaModel
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let poisoned = LlamaModel.layerName(1, "mlp.up_proj.weight")
        var writer = SafetensorsWriter()
        for (name, t) in model.parameters {
            try writer.add(name, name == poisoned ? try Tensor<Float>(shape: t.shape, repeating: .nan) : t)
        }
        try model.save(to: dir)
        try writer.write(to: dir.appendingPathComponent(SafetensorsCheckpoint.singleFileName))
        let layer0 = model.layerParameterNames(0)
        #expect(try LlamaModel.loadParameters(named: layer0, directory: dir).parameters.count == layer0.count)
        let file = dir.appendingPathComponent(SafetensorsCheckpoint.singleFileName).path
        #expect(throws: ModelError.nonFiniteValue(file: file, tensor: poisoned, index: [0, 0], value: "nan")) {
            try LlamaModel.load(directory: dir)
        }
        #expect(throws: ModelError.nonFiniteValue(file: file, tensor: poisoned, index: [0, 0], value: "nan")) {
            try LlamaModel.loadParameters(named: [poisoned], directory: dir)
        }
        #expect(try LlamaModel.loadParameters(named: [poisoned], directory: dir, checkFinite: false).parameters.count == 1)
    }

    /// A name the family does not have is refused by name before anything is read; the message says what and which.
    @Test func unknownNamesAreRefusedByName() throws {
        let model = try Self.models()[1] as! GPT2Model
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        let error = #expect(throws: ModelError.self) {
            try ModelRegistry.zoo.loadParameters(named: ["transformer.wte.weight", "transformer.h.9.ln_1.weight", "nope"], directory: dir)
        }
        #expect(error == .unknownParameters(modelType: "gpt2", names: ["nope", "transformer.h.9.ln_1.weight"]))
        #expect(error?.description == "a gpt2 model with this config has no parameters 'nope', 'transformer.h.9.ln_1.weight' "
                + "(its names are those of parameterShapes)")
    }

    /// A checkpoint missing a tensor, or holding one of the wrong shape, is the full load's mismatch error naming it,
    /// whether or not that tensor was asked for (a partial load accepts exactly the checkpoints the full load does).
    @Test func missingAndMisshapenTensorsAreNamed() throws {
        let model = try Self.models()[3] as! OPTModel
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        let gone = OPTModel.layerName(1, "fc2.bias"), bent = OPTModel.layerName(0, "fc1.weight")
        var writer = SafetensorsWriter()
        for (name, t) in model.parameters where name != gone {
            try writer.add(name, name == bent ? try t.transposed().contiguous() : t)
        }
        try writer.write(to: dir.appendingPathComponent(SafetensorsCheckpoint.singleFileName))
        let expected = ModelError.checkpointMismatch(
            file: dir.appendingPathComponent(SafetensorsCheckpoint.singleFileName).path, missing: [gone], unexpected: [],
            wrongShapes: [TensorShapeMismatch(name: bent, expected: [24, 16], found: [16, 24])])
        for subset in [[gone], [bent], [OPTModel.layerName(0, "fc2.bias")]] {
            #expect(throws: expected) { try OPTModel.loadParameters(named: subset, directory: dir) }
        }
        #expect(throws: expected) { try OPTModel.load(directory: dir) }
    }

    /// A sharded checkpoint in the bare hub layout (GPT-2 without `transformer.`, with the old attention buffers):
    /// the mapping renames and drops as in the full load; each stage-like subset reads only from its shards.
    @Test func shardedHubLayoutMapsAsTheFullLoad() throws {
        let model = try Self.models()[4] as! GPT2Model
        let dir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir)
        try FileManager.default.removeItem(at: dir.appendingPathComponent(SafetensorsCheckpoint.singleFileName))
        var shards = [SafetensorsWriter(), SafetensorsWriter()]
        var weightMap: [String] = []
        for (i, (name, t)) in model.parameters.enumerated() {
            let stored = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
            let shard = i < model.parameters.count / 2 ? 0 : 1
            try shards[shard].add(stored, t)
            weightMap.append("\"\(stored)\": \"s\(shard).safetensors\"")
        }
        for l in 0..<model.config.nLayer {
            try shards[1].add("h.\(l).attn.bias", try Tensor<Float>.ones([1, 1, model.config.nPositions, model.config.nPositions]))
            weightMap.append("\"h.\(l).attn.bias\": \"s1.safetensors\"")
        }
        for (i, shard) in shards.enumerated() { try shard.write(to: dir.appendingPathComponent("s\(i).safetensors")) }
        try Data("{\"weight_map\": {\(weightMap.joined(separator: ", "))}}".utf8)
            .write(to: dir.appendingPathComponent(SafetensorsIndex.fileName))
        let full = try GPT2Model.load(directory: dir)
        #expect(full.parameters.names == model.parameters.names)
        for subset in Self.subsets(model) {
            let partial = try GPT2Model.loadParameters(named: subset, directory: dir).parameters
            #expect(partial.count == subset.count)
            for (name, t) in partial { #expect(Self.bits(t) == Self.bits(model.parameters[name]!), "\(name)") }
        }
    }

    /// The memory check of a partial load counts only the tensors asked for.
    @Test func memoryIsCheckedForTheRequestedTensorsOnly() throws {
        let checkpoint = try SafetensorsCheckpoint(directory: LlamaReference.url("tiny-llama-bf16"))
        let some = Array(checkpoint.tensorNames.prefix(3))
        let needed = try some.reduce(0) { $0 + 4 * (try checkpoint.info(for: $1).count) }
        #expect(checkpoint.floatBytes(of: some) == needed && needed < checkpoint.floatBytes)
        try checkpoint.requireMemoryForFloatWeights(of: some, available: needed)
        #expect(throws: ModelError.insufficientMemory(file: checkpoint.source, needed: needed, available: needed - 1)) {
            try checkpoint.requireMemoryForFloatWeights(of: some, available: needed - 1)
        }
    }
}

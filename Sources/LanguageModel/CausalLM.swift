import Autodiff
import Foundation
import Tensor

/// Options of a forward pass that change what is differentiated, not what is computed.
public struct ForwardOptions: Sendable, Equatable {
    /// Stop the gradient at the attention probabilities, so that only the value path is differentiated
    /// (∇v = Aᵀ∇o; no gradient reaches the queries and keys). The forward values are unchanged. This is the
    /// rule TinT's attention backward simulates.
    public var detachAttentionProbabilities: Bool

    public init(detachAttentionProbabilities: Bool = false) {
        self.detachAttentionProbabilities = detachAttentionProbabilities
    }
}

/// A causal language model of one family (OPT, GPT-2, Llama…) with the semantics of its Hugging Face
/// `transformers` modeling file.
///
/// A family is one type conforming to this protocol plus one line in a ``ModelRegistry``. It states its
/// config, its parameters' names and shapes (the names of its `transformers` checkpoints), how checkpoint
/// layouts map onto them (``sanitize(weights:config:)``) and its forward pass, written once over
/// `Variable`s with the shared layer library (``Layers``). Everything else — loading and saving, inference,
/// loss, perplexity, generation, dynamic evaluation, training — is shared and works on `any CausalLM`.
///
/// The forward pass takes its parameters as an argument: the model's own as constants (or inside `noGrad`)
/// for fast inference, or the gradient-tracking variables of `valueAndGradient(of:trainable:_:)` for exact
/// gradients, in Float or Double.
public protocol CausalLM: Sendable {
    associatedtype Config: CausalLMConfig

    /// The hyper-parameters.
    var config: Config { get }
    /// Every parameter under its checkpoint name; replace tensors with `ParameterSet.set` (shapes are fixed).
    var parameters: ParameterSet<Float> { get set }

    /// A model from a config and parameters, checked strictly: every expected name must be present with its
    /// shape, and no other name may appear.
    init(config: Config, parameters: ParameterSet<Float>) throws
    /// A freshly initialised model, as `transformers` initialises one, deterministic in `seed`.
    init(config: Config, seed: UInt64) throws

    /// Every parameter's name and shape, in `named_parameters()` order.
    static func parameterShapes(_ config: Config) -> [(name: String, shape: [Int])]

    /// Maps a checkpoint's tensors (by stored name) onto the model's names: drops buffers and a stored tied head,
    /// renames prefixes. Tensors the model does not know are passed through, so that strict loading reports them
    /// as unexpected.
    ///
    /// Generic in the value so that loading maps the names before reading any tensor (it passes each stored name
    /// as its own value): a load converts only the tensors it keeps, and a partial load
    /// (``parameters(named:config:checkpoint:checkFinite:)``) reads only those asked for. A mapping therefore
    /// renames and drops but cannot change a layout; every family here keeps its checkpoints' layouts.
    static func sanitize<Weight>(weights: [String: Weight], config: Config) throws -> [String: Weight]

    /// The next-token logits `[B, T, vocab_size]`.
    ///
    /// - Parameters:
    ///   - parameters: the model's parameters by name, constants or tracked variables, Float or Double.
    ///   - cache: keys and values of earlier tokens (generation); this call's tokens are appended to it.
    func logits<S: TensorScalar>(_ batch: TokenBatch, parameters: VariableSet<S>, cache: KVCache<S>?,
                                 options: ForwardOptions) throws -> Variable<S>

    /// The names of every parameter of decoder layer `layer`.
    func layerParameterNames(_ layer: Int) -> [String]
    /// The names of the final norm's parameters (empty when the model has none).
    var finalNormParameterNames: [String] { get }
}

// MARK: - Loading and saving

extension CausalLM {
    /// The `model_type` this family writes.
    public static var modelType: String { Config.modelTypes[0] }

    /// Builds the model from a checkpoint: the tensors are mapped with ``sanitize(weights:config:)``, checked
    /// strictly against ``parameterShapes(_:)`` and converted to Float (fp32, fp16 and bf16 are read; tensors the
    /// mapping drops are not). With `checkFinite` (the default) a NaN or an infinity is a
    /// ``ModelError/nonFiniteValue(file:tensor:index:value:)`` naming the file, the tensor and the element.
    ///
    /// - Throws: ``ModelError/checkpointMismatch(file:missing:unexpected:wrongShapes:)`` naming every missing,
    ///   unexpected or wrongly shaped tensor; ``ModelError/insufficientMemory(file:needed:available:)`` before
    ///   allocating anything when the Float weights would not fit the memory available.
    public init(config: Config, checkpoint: SafetensorsCheckpoint, checkFinite: Bool = true) throws {
        try self.init(config: config, parameters: try Self.checkpointParameters(config: config, checkpoint: checkpoint,
                                                                               only: nil, checkFinite: checkFinite))
    }

    /// Reads only the parameters `names` (canonical names, as in ``parameterShapes(_:)``) from `checkpoint`: the
    /// checkpoint is mapped and checked exactly as by ``init(config:checkpoint:checkFinite:)`` — every tensor's
    /// name and shape, from the headers, so a checkpoint the full load refuses is refused here too — but only the
    /// tensors named are converted (and, with `checkFinite`, checked for NaN and infinities); the others' bytes are
    /// never touched. Returns them in ``parameterShapes(_:)`` order. This is how a pipeline stage loads its slice
    /// of a checkpoint (Docs/DISTRIBUTED.md).
    ///
    /// - Throws: ``ModelError/unknownParameters(modelType:names:)`` for names this family's config does not have;
    ///   otherwise what ``init(config:checkpoint:checkFinite:)`` throws, the memory check counting only the
    ///   tensors named.
    public static func parameters(named names: some Sequence<String>, config: Config, checkpoint: SafetensorsCheckpoint,
                                  checkFinite: Bool = true) throws -> ParameterSet<Float> {
        try checkpointParameters(config: config, checkpoint: checkpoint, only: Set(names), checkFinite: checkFinite)
    }

    /// The one path from a checkpoint to parameters, for full (`only` nil) and partial loads. Names are mapped
    /// and checked before any tensor is read: ``sanitize(weights:config:)`` maps each stored name to itself, so
    /// the result says which stored tensor becomes which parameter, and shapes come from the headers.
    static func checkpointParameters(config: Config, checkpoint: SafetensorsCheckpoint, only requested: Set<String>?,
                                     checkFinite: Bool) throws -> ParameterSet<Float> {
        try config.validate(source: "<config>")
        let expected = Self.parameterShapes(config)
        let known = Set(expected.map(\.name))
        if let unknown = requested?.filter({ !known.contains($0) }), !unknown.isEmpty {
            throw ModelError.unknownParameters(modelType: Self.modelType, names: unknown.sorted(by: utf8Less))
        }
        let storedName = try Self.sanitize(weights: Dictionary(uniqueKeysWithValues: checkpoint.tensorNames.map { ($0, $0) }),
                                           config: config)
        var missing: [String] = [], wrong: [TensorShapeMismatch] = []
        for (name, shape) in expected {
            guard let stored = storedName[name] else { missing.append(name); continue }
            let found = try checkpoint.info(for: stored).shape
            if found != shape { wrong.append(TensorShapeMismatch(name: name, expected: shape, found: found)) }
        }
        let unexpected = storedName.keys.filter { !known.contains($0) }
        guard missing.isEmpty && unexpected.isEmpty && wrong.isEmpty else {
            throw ModelError.checkpointMismatch(file: checkpoint.source, missing: missing.sorted(by: utf8Less),
                                                unexpected: unexpected.sorted(by: utf8Less),
                                                wrongShapes: wrong.sorted { utf8Less($0.name, $1.name) })
        }
        let kept = expected.map(\.name).filter { requested?.contains($0) ?? true }
        // Refuse before allocating: a failed allocation aborts the process.
        try checkpoint.requireMemoryForFloatWeights(of: kept.map { storedName[$0]! })
        return try ParameterSet(kept.map { name in
            let stored = storedName[name]!
            let t = try checkpoint.tensor(named: stored)
            if checkFinite { try LanguageModel.checkFinite(t, name: stored, file: try checkpoint.file(containing: stored).source) }
            return (name, t)
        })
    }

    /// Loads a Hugging Face model directory of this family: `config.json` and `model.safetensors` (or a
    /// sharded `model.safetensors.index.json` with its shards). To load a directory of any family, use
    /// ``ModelRegistry/load(directory:checkFinite:)``.
    public static func load(directory: URL, checkFinite: Bool = true) throws -> Self {
        let (config, parameters) = try directoryParameters(directory, only: nil, checkFinite: checkFinite)
        return try Self(config: config, parameters: parameters)
    }

    /// Loads a model directory's config and only the parameters `names` (see
    /// ``parameters(named:config:checkpoint:checkFinite:)``); ``ModelRegistry/loadParameters(named:directory:checkFinite:)``
    /// does this for a directory of any family.
    public static func loadParameters(named names: some Sequence<String>, directory: URL,
                                      checkFinite: Bool = true) throws -> (config: Config, parameters: ParameterSet<Float>) {
        try directoryParameters(directory, only: Set(names), checkFinite: checkFinite)
    }

    /// A directory's config and its checkpoint's parameters (`only` nil: all of them).
    static func directoryParameters(_ directory: URL, only: Set<String>?,
                                    checkFinite: Bool) throws -> (config: Config, parameters: ParameterSet<Float>) {
        let config = try Config(contentsOf: directory.appendingPathComponent(Config.fileName))
        return (config, try checkpointParameters(config: config, checkpoint: try SafetensorsCheckpoint(directory: directory),
                                                 only: only, checkFinite: checkFinite))
    }

    /// Writes `config.json` and `model.safetensors` (tensors stored as `dtype`) into `directory`, creating
    /// it if needed; the result loads with ``load(directory:checkFinite:)`` and with `transformers`.
    public func save(to directory: URL, dtype: SafetensorsDType = .f32) throws {
        try createDirectory(directory)
        let configURL = directory.appendingPathComponent(Config.fileName)
        let configData: Data
        do {
            configData = try encodeJSON(config)
        } catch {
            throw ModelError.io(file: configURL.path, reason: "cannot be encoded: \(error.localizedDescription)")
        }
        var writer = SafetensorsWriter(metadata: ["format": "pt"])
        for (name, t) in parameters { try writer.add(name, t, as: dtype) }
        // Each file is replaced atomically (temporary file + rename): the weights first, then the config.
        try writer.write(to: directory.appendingPathComponent(SafetensorsCheckpoint.singleFileName))
        try writeAtomically(configData, to: configURL)
    }

    /// Throws ``ModelError/nonFiniteValue(file:tensor:index:value:)`` for the first parameter (in
    /// `named_parameters()` order) that holds a NaN or an infinity, naming it and the element.
    public func validateFinite() throws {
        for (name, t) in parameters { try checkFinite(t, name: name, file: "<parameters>") }
    }

    /// The number of parameters (scalars).
    public var parameterCount: Int { parameters.scalarCount }

    /// Checks `parameters` against the family's names and shapes, strictly; returns them in canonical order.
    public static func checkedParameters(_ parameters: ParameterSet<Float>, config: Config) throws -> ParameterSet<Float> {
        let expected = parameterShapes(config)
        var missing: [String] = [], wrong: [TensorShapeMismatch] = []
        for (name, shape) in expected {
            guard let t = parameters[name] else { missing.append(name); continue }
            if t.shape != shape { wrong.append(TensorShapeMismatch(name: name, expected: shape, found: t.shape)) }
        }
        let known = Set(expected.map(\.name))
        let unexpected = parameters.names.filter { !known.contains($0) }
        guard missing.isEmpty && unexpected.isEmpty && wrong.isEmpty else {
            throw ModelError.checkpointMismatch(file: "<parameters>", missing: missing.sorted(by: utf8Less),
                                                unexpected: unexpected.sorted(by: utf8Less),
                                                wrongShapes: wrong.sorted { utf8Less($0.name, $1.name) })
        }
        return try ParameterSet(expected.map { ($0.name, parameters[$0.name]!) })
    }
}

// MARK: - Inference and loss

extension CausalLM {
    /// Logits with default options and no cache (see ``logits(_:parameters:cache:options:)``).
    public func logits<S: TensorScalar>(_ batch: TokenBatch, parameters p: VariableSet<S>) throws -> Variable<S> {
        try logits(batch, parameters: p, cache: nil, options: ForwardOptions())
    }

    /// Logits `[B, T, vocab_size]` with the model's own parameters, recording nothing.
    public func logits(_ batch: TokenBatch, cache: KVCache<Float>? = nil) throws -> Tensor<Float> {
        try noGrad { try logits(batch, parameters: parameters.constants, cache: cache, options: ForwardOptions()).value }
    }

    /// Logits `[T, vocab_size]` of one unpadded sequence.
    public func logits(_ ids: [Int]) throws -> Tensor<Float> {
        try logits(TokenBatch(ids)).squeezed(0)
    }

    /// The causal-LM cross-entropy of `batch`: each position predicts the next token of its row.
    ///
    /// A target counts when it and the position predicting it are real tokens and `includeTarget(row, index)`
    /// (asked for the target's index, 1..<length) allows it; the mean divides by the number counted (the loss
    /// of `transformers`' `…ForCausalLM(labels: input_ids)` for an unpadded batch).
    public func loss<S: TensorScalar>(_ batch: TokenBatch, parameters p: VariableSet<S>,
                                      reduction: LossReduction = .mean,
                                      includeTarget: ((_ row: Int, _ index: Int) -> Bool)? = nil,
                                      options: ForwardOptions = ForwardOptions()) throws -> Variable<S> {
        let z = try logits(batch, parameters: p, cache: nil, options: options)
        return try Layers.crossEntropy(z, targets: batch.nextTokenTargets(include: includeTarget),
                                       mean: reduction == .mean).loss
    }

    /// An empty KV cache for `batchSize` rows of this model, `capacity` tokens reserved up front.
    public func makeCache<S: TensorScalar>(batchSize: Int, capacity: Int = 64, as: S.Type = S.self) throws -> KVCache<S> {
        try KVCache<S>(layers: config.numHiddenLayers, width: config.keyValueWidth, batchSize: batchSize, capacity: capacity)
    }
}

// MARK: - Registry

/// The families a program can load, keyed by `config.json`'s `model_type`.
///
/// `ModelRegistry.zoo` (module `ModelZoo`) lists every family of this package; a program with a family of
/// its own makes a registry that adds it.
public struct ModelRegistry: Sendable {
    /// The registered families, in the order they were given.
    public let families: [any CausalLM.Type]

    public init(_ families: [any CausalLM.Type]) { self.families = families }

    /// Every `model_type` the registry reads.
    public var modelTypes: [String] { families.flatMap { $0.configModelTypes } }

    /// The family whose config reads `modelType`.
    ///
    /// - Throws: ``ModelError/invalidConfig(file:reason:)`` naming the type and listing the supported ones.
    public func family(modelType: String, source: String = "<config>") throws -> any CausalLM.Type {
        guard let f = families.first(where: { $0.configModelTypes.contains(modelType) }) else {
            throw ModelError.invalidConfig(file: source, reason: "model_type \(quoted(modelType)) is not supported "
                                           + "(supported: \(modelTypes.joined(separator: ", ")))")
        }
        return f
    }

    /// The family of the config at `url` (a `config.json` or a model directory), from its `model_type`.
    public func family(ofConfigAt url: URL) throws -> any CausalLM.Type {
        let fileURL = configFileURL(url)
        let data = try readFile(fileURL)
        let root: JSONValue
        do { root = try JSONParser.parse([UInt8](data)) } catch let e as JSONParseError {
            throw ModelError.invalidConfig(file: fileURL.path, reason: "invalid JSON: \(e.description)")
        }
        guard let members = root.objectValue else {
            throw ModelError.invalidConfig(file: fileURL.path, reason: "the config is \(root.kind), not a JSON object")
        }
        guard let value = members.first(where: { $0.0 == "model_type" })?.1 else {
            throw ModelError.invalidConfig(file: fileURL.path, reason: "missing key model_type "
                                           + "(supported: \(modelTypes.joined(separator: ", ")))")
        }
        guard let type = value.stringValue else {
            throw ModelError.invalidConfig(file: fileURL.path, reason: "model_type must be a string, not \(value.brief)")
        }
        return try family(modelType: type, source: fileURL.path)
    }

    /// Loads a Hugging Face model directory of any registered family, chosen by its `config.json`'s
    /// `model_type`.
    public func load(directory: URL, checkFinite: Bool = true) throws -> any CausalLM {
        try family(ofConfigAt: directory).load(directory: directory, checkFinite: checkFinite)
    }

    /// Loads the config of a model directory of any registered family and only the parameters `names`, converting
    /// no other tensor: how a pipeline stage loads its slice of a checkpoint. See
    /// ``CausalLM/parameters(named:config:checkpoint:checkFinite:)`` for the checks and errors.
    public func loadParameters(named names: some Sequence<String>, directory: URL,
                               checkFinite: Bool = true) throws -> (config: any CausalLMConfig, parameters: ParameterSet<Float>) {
        try family(ofConfigAt: directory).erasedDirectoryParameters(directory, only: Set(names), checkFinite: checkFinite)
    }

    /// Decodes and validates the config at `url` (a `config.json` or a model directory) with the family its
    /// `model_type` names.
    public func config(at url: URL) throws -> any CausalLMConfig {
        try family(ofConfigAt: url).decodeConfig(at: url)
    }

    /// A freshly initialised model of the family `config` belongs to (for training from scratch).
    public func initialized(config: any CausalLMConfig, seed: UInt64) throws -> any CausalLM {
        guard let f = families.first(where: { $0.accepts(config) }) else {
            throw ModelError.invalidArgument(op: "ModelRegistry", reason: "no registered family has the config type \(type(of: config))")
        }
        return try f.initialized(config: config, seed: seed)
    }
}

extension CausalLM {
    static var configModelTypes: [String] { Config.modelTypes }

    static func decodeConfig(at url: URL) throws -> any CausalLMConfig { try Config(contentsOf: url) }

    static func erasedDirectoryParameters(_ directory: URL, only: Set<String>?,
                                          checkFinite: Bool) throws -> (config: any CausalLMConfig, parameters: ParameterSet<Float>) {
        let (config, parameters) = try directoryParameters(directory, only: only, checkFinite: checkFinite)
        return (config, parameters)
    }

    static func accepts(_ config: any CausalLMConfig) -> Bool { config is Config }

    static func initialized(config: any CausalLMConfig, seed: UInt64) throws -> any CausalLM {
        try Self(config: config as! Config, seed: seed)
    }
}

extension CausalLMConfig {
    /// Whether `other` is the same configuration (same type and the same encoded keys).
    public func isSame(as other: any CausalLMConfig) -> Bool {
        guard type(of: self) == type(of: other) else { return false }
        return (try? encodeJSON(self)) == (try? encodeJSON(other))
    }
}

import Foundation

// The config side of a family, apart from the model (nothing here imports Autodiff, so that the config
// parsers can be compiled alone, e.g. into the Config fuzz target).

/// A family's `config.json`: Hugging Face's snake_case keys, decoded strictly and validated.
///
/// What the shared code (evaluation, training, generation, KV cache, the command line) needs to know of any
/// model is here; everything else is the family's own.
public protocol CausalLMConfig: Codable, Sendable {
    /// The `model_type` values this configuration reads (the first is the one it writes).
    static var modelTypes: [String] { get }
    /// Decodes and validates config JSON; `source` names it in error messages.
    ///
    /// - Throws: ``ModelError/invalidConfig(file:reason:)`` naming the key that is wrong or unsupported.
    init(data: Data, source: String) throws
    /// Throws ``ModelError/invalidConfig(file:reason:)`` when the hyper-parameters describe no valid model.
    func validate(source: String) throws

    /// Rows of the token embedding and of the output projection.
    var vocabSize: Int { get }
    /// Width of the residual stream.
    var hiddenSize: Int { get }
    /// Number of decoder layers.
    var numHiddenLayers: Int { get }
    /// Number of attention (query) heads per layer.
    var numAttentionHeads: Int { get }
    /// The longest sequence the model takes.
    var maxPositionEmbeddings: Int { get }
    /// Width of the keys (and of the values) a KV cache stores per token and layer: key-value heads × head width.
    var keyValueWidth: Int { get }
    /// The beginning-of-sequence token, if any.
    var bosTokenID: Int? { get }
    /// The end-of-sequence token, if any (the first one when the config lists several).
    var eosTokenID: Int? { get }
}

extension CausalLMConfig {
    /// The config file's standard name in a model directory.
    public static var fileName: String { "config.json" }

    /// Decodes and validates a `config.json` (or a model directory holding one).
    public init(contentsOf url: URL) throws {
        let fileURL = configFileURL(url)
        try self.init(data: try readFile(fileURL), source: fileURL.path)
    }
}

/// `url` itself, or `url/config.json` when `url` is a directory.
func configFileURL(_ url: URL) -> URL {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
        ? url.appendingPathComponent("config.json") : url
}

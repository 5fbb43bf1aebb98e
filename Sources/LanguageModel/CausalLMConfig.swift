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

/// Decodes and validates config JSON as every family does: the strict parser first (it rejects duplicate keys,
/// reports byte offsets, and lets `typeProblem` name a key of the wrong JSON type more clearly than
/// `JSONDecoder` would), then the family's `Decodable` init, then `validate`.
///
/// - Throws: ``ModelError/invalidConfig(file:reason:)`` naming the source and what is wrong.
package func decodeConfig<C: CausalLMConfig>(_ type: C.Type, data: Data, source: String,
                                             typeProblem: (JSONValue) -> String?) throws -> C {
    let config: C
    do {
        let root = try JSONParser.parse([UInt8](data))
        if let problem = typeProblem(root) { throw ModelError.invalidConfig(file: source, reason: problem) }
        config = try JSONDecoder().decode(C.self, from: data)
    } catch let e as JSONParseError {
        throw ModelError.invalidConfig(file: source, reason: "invalid JSON: \(e.description)")
    } catch let e as DecodingError {
        throw ModelError.invalidConfig(file: source, reason: describe(e))
    }
    try config.validate(source: source)
    return config
}

/// The product of `factors`, or nil when it overflows `Int` (configs are outside input: a parameter count is
/// computed this way before anything is allocated).
package func checkedProduct(_ factors: Int...) -> Int? {
    var r = 1
    for x in factors {
        let (v, overflow) = r.multipliedReportingOverflow(by: x)
        if overflow { return nil }
        r = v
    }
    return r
}

/// The sum of `terms`, or nil when a term is nil or the sum overflows `Int`.
package func checkedSum(_ terms: Int?...) -> Int? {
    var r = 0
    for x in terms {
        guard let x else { return nil }
        let (v, overflow) = r.addingReportingOverflow(x)
        if overflow { return nil }
        r = v
    }
    return r
}

/// The JSON type each known key of a config must have, so that a wrong type is named by key ("n_layer must be
/// an integer, not "2"") before `JSONDecoder` runs. Keys not listed are not checked here.
package struct ConfigKeyTypes: Sendable {
    package var integers: Set<String> = []
    /// An integer or null.
    package var optionalIntegers: Set<String> = []
    /// An integer, a list of integers or null (`eos_token_id`).
    package var integerLists: Set<String> = ["eos_token_id"]
    package var booleans: Set<String> = []
    package var numbers: Set<String> = []
    package var strings: Set<String> = []
    /// A string or null.
    package var optionalStrings: Set<String> = []
    /// Further keys with a check of their own: the problem with the value, described, or nil.
    package var custom: [String: @Sendable (_ key: String, _ value: JSONValue) -> String?] = [:]

    package init(integers: Set<String> = [], optionalIntegers: Set<String> = [], booleans: Set<String> = [],
                 numbers: Set<String> = [], strings: Set<String> = [], optionalStrings: Set<String> = [],
                 custom: [String: @Sendable (String, JSONValue) -> String?] = [:]) {
        self.integers = integers
        self.optionalIntegers = optionalIntegers
        self.booleans = booleans
        self.numbers = numbers
        self.strings = strings
        self.optionalStrings = optionalStrings
        self.custom = custom
    }

    /// The first key of `root` whose value has the wrong type, described; nil when all are right.
    package func problem(in root: JSONValue) -> String? {
        guard let members = root.objectValue else { return "the config is \(root.kind), not a JSON object" }
        for (key, value) in members {
            let ok: Bool, expected: String
            if integers.contains(key) {
                (ok, expected) = (value.intValue != nil, "an integer")
            } else if optionalIntegers.contains(key) {
                (ok, expected) = (value.intValue != nil || value.isNull, "an integer or null")
            } else if integerLists.contains(key) {
                let list = value.arrayValue.map { $0.allSatisfy { $0.intValue != nil } } ?? false
                (ok, expected) = (value.intValue != nil || value.isNull || list, "an integer, a list of integers or null")
            } else if booleans.contains(key) {
                (ok, expected) = (value.isBool, "true or false")
            } else if numbers.contains(key) {
                (ok, expected) = (value.isNumber, "a number")
            } else if strings.contains(key) {
                (ok, expected) = (value.stringValue != nil, "a string")
            } else if optionalStrings.contains(key) {
                (ok, expected) = (value.stringValue != nil || value.isNull, "a string or null")
            } else if let check = custom[key] {
                if let problem = check(key, value) { return problem }
                continue
            } else {
                continue
            }
            if !ok { return "\(key) must be \(expected), not \(value.brief)" }
        }
        return nil
    }
}

/// The size limits every family's config is held to (configs are outside input).
package enum ConfigLimits {
    /// The largest accepted dimension (a vocabulary, a width, a head count, a position count): 2³¹ − 1.
    package static let maxDimension = Int(Int32.max)
    /// The largest accepted layer count (the largest released models have about a hundred).
    package static let maxLayers = 10_000

    /// Throws ``ModelError/invalidConfig(file:reason:)`` naming the first key out of range: a dimension that is
    /// not positive or beyond ``maxDimension``, a negative layer count or one beyond ``maxLayers``, or a model
    /// whose parameters could not even be counted in an `Int` (`parameterCount` nil), so nothing is allocated
    /// and no per-layer table is built for such a config. `parameterCount` is evaluated only after the
    /// dimensions passed (the family's count may assume them in range).
    package static func check(dimensions: [(key: String, value: Int)], layersKey: String, layers: Int,
                              parameterCount: @autoclosure () -> Int?, source: String) throws {
        func fail(_ reason: String) -> ModelError { .invalidConfig(file: source, reason: reason) }
        for (key, v) in dimensions where v <= 0 { throw fail("\(key) must be positive, got \(v)") }
        for (key, v) in dimensions where v > maxDimension { throw fail("\(key) \(v) exceeds the limit of \(maxDimension)") }
        guard layers >= 0 else { throw fail("\(layersKey) must not be negative, got \(layers)") }
        guard layers <= maxLayers else { throw fail("\(layersKey) \(layers) exceeds the limit of \(maxLayers)") }
        guard parameterCount() != nil else { throw fail("the model would have more than \(Int.max) parameters") }
    }
}

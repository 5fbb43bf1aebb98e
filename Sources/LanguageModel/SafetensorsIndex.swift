import Foundation

/// The `model.safetensors.index.json` of a sharded Hugging Face checkpoint: which shard file holds each
/// tensor.
public struct SafetensorsIndex: Sendable {
    /// The index's standard file name.
    public static let fileName = "model.safetensors.index.json"

    /// The index's path, or a label; used in error messages.
    public let source: String
    /// Tensor name → shard file name (relative to the index's directory).
    public let weightMap: [String: String]
    /// The index's `metadata.total_size`, when present.
    public let totalSize: Int?

    /// The distinct shard file names in byte order.
    public var shardNames: [String] { Set(weightMap.values).sorted(by: utf8Less) }

    /// Reads and validates the index at `url`.
    public init(contentsOf url: URL) throws {
        self = try SafetensorsIndex(data: try readFile(url), source: url.path)
    }

    /// Parses index JSON; `source` names it in error messages.
    ///
    /// Shard names must be plain file names: a path separator or `..` would let an index reach files
    /// outside its directory.
    public init(data: Data, source: String = "<memory>") throws {
        func fail(_ reason: String) -> ModelError { .invalidIndex(file: source, reason: reason) }
        let root: JSONValue
        do {
            root = try JSONParser.parse([UInt8](data))
        } catch let e as JSONParseError {
            throw fail("invalid JSON: \(e.description)")
        }
        guard root.objectValue != nil else { throw fail("the index is \(root.kind), not a JSON object") }
        guard let mapValue = root["weight_map"] else { throw fail("no \"weight_map\"") }
        guard let map = mapValue.objectValue else { throw fail("\"weight_map\" is \(mapValue.kind), not an object") }
        var weightMap: [String: String] = [:]
        for (name, value) in map {
            guard let shard = value.stringValue else {
                throw fail("the shard of tensor \(quoted(name)) is \(value.kind), not a file name")
            }
            guard !shard.isEmpty, shard != ".", shard != "..", !shard.contains("/"), !shard.contains("\\") else {
                throw fail("tensor \(quoted(name)) names shard \(quoted(shard)), which is not a plain file name")
            }
            weightMap[name] = shard
        }
        self.source = source
        self.weightMap = weightMap
        self.totalSize = root["metadata"]?["total_size"]?.intValue
    }
}

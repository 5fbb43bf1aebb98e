import Foundation
import Tensor

/// The tensors of a checkpoint stored as one safetensors file or as shards listed by
/// `model.safetensors.index.json`, with strict loading against the shapes a model expects.
///
/// Every shard is opened (memory-mapped) and validated up front; tensors are converted when asked for.
/// Errors about a tensor's bytes name the shard that holds it.
public struct SafetensorsCheckpoint: Sendable {
    /// The standard file name of an unsharded checkpoint.
    public static let singleFileName = "model.safetensors"

    /// The file, index or label the checkpoint was opened from; used in error messages.
    public let source: String
    /// The files holding the tensors (one for an unsharded checkpoint).
    public let files: [SafetensorsFile]
    /// Tensor name → position in `files`.
    let location: [String: Int]

    /// Opens one safetensors file.
    public init(file url: URL) throws {
        let file = try SafetensorsFile(contentsOf: url)
        try self.init(files: [file], source: file.source)
    }

    /// Opens a sharded checkpoint from its index, checking that the index and the shards agree: every
    /// listed tensor is in its shard, and every shard tensor is listed for that shard.
    public init(index url: URL) throws {
        let index = try SafetensorsIndex(contentsOf: url)
        let directory = url.deletingLastPathComponent()
        let shardNames = index.shardNames
        var files: [SafetensorsFile] = []
        for name in shardNames {
            files.append(try SafetensorsFile(contentsOf: directory.appendingPathComponent(name)))
        }
        var problems: [String] = []
        for (name, shard) in index.weightMap.sorted(by: { utf8Less($0.key, $1.key) }) {
            let file = files[shardNames.firstIndex(of: shard)!]
            if file.tensorInfos[name] == nil {
                problems.append("the index puts tensor \(quoted(name)) in shard \(quoted(shard)), which does not hold it")
            }
        }
        for (shard, file) in zip(shardNames, files) {
            for name in file.tensorNames where index.weightMap[name] != shard {
                if let listed = index.weightMap[name] {
                    problems.append("shard \(quoted(shard)) holds tensor \(quoted(name)), which the index puts in \(quoted(listed))")
                } else {
                    problems.append("shard \(quoted(shard)) holds tensor \(quoted(name)), which the index does not list")
                }
            }
        }
        if !problems.isEmpty {
            let shown = problems.prefix(20).joined(separator: "; ")
            let more = problems.count > 20 ? "; and \(problems.count - 20) more" : ""
            throw ModelError.invalidIndex(file: index.source, reason: shown + more)
        }
        try self.init(files: files, source: index.source)
    }

    /// Opens the checkpoint in a Hugging Face model directory: `model.safetensors` if present, otherwise
    /// `model.safetensors.index.json` and its shards.
    public init(directory url: URL) throws {
        let single = url.appendingPathComponent(SafetensorsCheckpoint.singleFileName)
        let index = url.appendingPathComponent(SafetensorsIndex.fileName)
        let fm = FileManager.default
        if fm.fileExists(atPath: single.path) {
            try self.init(file: single)
        } else if fm.fileExists(atPath: index.path) {
            try self.init(index: index)
        } else {
            var reason = "holds neither \(SafetensorsCheckpoint.singleFileName) nor \(SafetensorsIndex.fileName)"
            if fm.fileExists(atPath: url.appendingPathComponent("pytorch_model.bin").path) {
                reason += " (pytorch_model.bin is a pickle and is not read; convert it to safetensors)"
            }
            throw ModelError.io(file: url.path, reason: reason)
        }
    }

    /// Combines already opened files; a tensor name may appear in only one of them.
    public init(files: [SafetensorsFile], source: String) throws {
        var location: [String: Int] = [:]
        for (i, file) in files.enumerated() {
            for name in file.tensorNames {
                if let j = location[name] {
                    throw ModelError.invalidIndex(file: source, reason: "tensor \(quoted(name)) is in both "
                                                + "\(quoted(files[j].source)) and \(quoted(file.source))")
                }
                location[name] = i
            }
        }
        self.source = source
        self.files = files
        self.location = location
    }

    /// Every tensor name in byte order.
    public var tensorNames: [String] { location.keys.sorted(by: utf8Less) }

    /// The file that holds tensor `name`.
    public func file(containing name: String) throws -> SafetensorsFile {
        guard let i = location[name] else { throw ModelError.tensorNotFound(file: source, tensor: name) }
        return files[i]
    }

    /// The dtype, shape and byte range of tensor `name`.
    public func info(for name: String) throws -> SafetensorsTensorInfo {
        try file(containing: name).info(for: name)
    }

    /// Tensor `name` converted to `Float`.
    public func tensor(named name: String) throws -> Tensor<Float> {
        try file(containing: name).tensor(named: name)
    }

    /// Tensor `name` converted to `S`.
    public func tensor<S: TensorScalar>(named name: String, as type: S.Type) throws -> Tensor<S> {
        try file(containing: name).tensor(named: name, as: type)
    }

    /// Checks the checkpoint against the tensors a model expects (name → shape), reporting every
    /// difference in one ``ModelError/checkpointMismatch(file:missing:unexpected:wrongShapes:)``: expected
    /// names that are absent (except those in `optional`, such as a tied output projection), names the
    /// model does not expect, and shapes that differ. Each list is sorted.
    public func checkStrict(expected: [String: [Int]], optional: Set<String> = []) throws {
        var missing: [String] = []
        var unexpected: [String] = []
        var wrongShapes: [TensorShapeMismatch] = []
        for (name, shape) in expected {
            guard let i = location[name] else {
                if !optional.contains(name) { missing.append(name) }
                continue
            }
            let found = files[i].tensorInfos[name]!.shape
            if found != shape { wrongShapes.append(TensorShapeMismatch(name: name, expected: shape, found: found)) }
        }
        for name in location.keys where expected[name] == nil { unexpected.append(name) }
        guard missing.isEmpty && unexpected.isEmpty && wrongShapes.isEmpty else {
            throw ModelError.checkpointMismatch(file: source, missing: missing.sorted(by: utf8Less),
                                              unexpected: unexpected.sorted(by: utf8Less),
                                              wrongShapes: wrongShapes.sorted { utf8Less($0.name, $1.name) })
        }
    }

    /// Checks the checkpoint strictly (see ``checkStrict(expected:optional:)``) and converts every
    /// tensor to `Float`.
    public func loadStrict(expected: [String: [Int]], optional: Set<String> = []) throws -> [String: Tensor<Float>] {
        try checkStrict(expected: expected, optional: optional)
        var out: [String: Tensor<Float>] = [:]
        for name in location.keys { out[name] = try tensor(named: name) }
        return out
    }
}

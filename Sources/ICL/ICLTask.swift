import Foundation
import LanguageModel

/// A classification task for in-context learning: a directory holding `task.json` (``ICLTaskFile``) and
/// the splits `train.jsonl`, `validation.jsonl` and `test.jsonl` (one ``ICLExample`` per line). The format
/// is in Docs/DATA.md; `Scripts/prepare_icl_tasks.py` makes six such tasks.
public struct ICLTask: Equatable, Sendable {
    /// The task's description: name, template, separator and labels.
    public var file: ICLTaskFile
    /// Where demonstrations are drawn from.
    public var train: [ICLExample]
    /// For choosing hyperparameters.
    public var validation: [ICLExample]
    /// The reported split.
    public var test: [ICLExample]

    /// The task's name.
    public var name: String { file.name }
    /// The prompt template.
    public var template: ICLTemplate { file.template }
    /// The classes, in label-index order.
    public var labels: [ICLLabel] { file.labels }

    /// A task from its parts. Throws ``ICLTaskError/invalidArgument(op:reason:)`` when a split is empty, a
    /// text is empty or a label is out of range.
    public init(file: ICLTaskFile, train: [ICLExample], validation: [ICLExample], test: [ICLExample]) throws {
        for (split, examples) in [(ICLSplit.train, train), (.validation, validation), (.test, test)] {
            guard !examples.isEmpty else {
                throw ICLTaskError.invalidArgument(op: "ICLTask", reason: "the \(split.rawValue) split is empty")
            }
            if let i = examples.firstIndex(where: { $0.text.isEmpty || !(0..<file.labels.count).contains($0.label) }) {
                throw ICLTaskError.invalidArgument(op: "ICLTask", reason: "\(split.rawValue) example \(i) has an empty text "
                    + "or a label outside 0..<\(file.labels.count)")
            }
        }
        self.file = file
        self.train = train
        self.validation = validation
        self.test = test
    }

    /// Loads and validates a task directory. Throws ``ICLTaskError``: `io` for a missing or oversized file,
    /// `invalidTask` for `task.json`, `invalidExample` (with the line) and `invalidSplit` for the splits.
    public init(directory: URL, limits: ICLLimits = .default) throws {
        let taskURL = directory.appendingPathComponent("task.json")
        let file = try ICLTaskFile(data: try Self.read(taskURL, limit: limits.maxTaskFileBytes), file: taskURL.path,
                                   limits: limits)
        var splits: [ICLSplit: [ICLExample]] = [:]
        for split in ICLSplit.allCases {
            let url = directory.appendingPathComponent(split.fileName)
            splits[split] = try ICLExample.parseJSONLines(try Self.read(url, limit: limits.maxSplitFileBytes),
                                                          file: url.path, labelCount: file.labels.count, limits: limits)
        }
        try self.init(file: file, train: splits[.train]!, validation: splits[.validation]!, test: splits[.test]!)
    }

    /// The examples of `split`.
    public func examples(_ split: ICLSplit) -> [ICLExample] {
        switch split {
        case .train: train
        case .validation: validation
        case .test: test
        }
    }

    /// The bytes of a regular file no larger than `limit`, checked before reading.
    static func read(_ given: URL, limit: Int) throws -> Data {
        let url = given.resolvingSymlinksInPath()
        let attributes: [FileAttributeKey: Any]
        do { attributes = try FileManager.default.attributesOfItem(atPath: url.path) } catch {
            throw ICLTaskError.io(file: given.path, reason: "no such file (a task directory holds task.json, "
                + ICLSplit.allCases.map(\.fileName).joined(separator: ", ") + ")")
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else {
            throw ICLTaskError.io(file: url.path, reason: "not a regular file")
        }
        let size = (attributes[.size] as? NSNumber)?.intValue ?? 0
        guard size <= limit else { throw ICLTaskError.io(file: url.path, reason: "\(size) bytes exceeds the limit of \(limit)") }
        // Foundation's reader leaks its 4 KiB read buffer on an empty file (LeakSanitizer, swift 6.3); nothing to read.
        if size == 0 { return Data() }
        do { return try Data(contentsOf: url) } catch {
            throw ICLTaskError.io(file: url.path, reason: "cannot be read: \(error.localizedDescription)")
        }
    }
}

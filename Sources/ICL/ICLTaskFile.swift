import Foundation
import LanguageModel

/// What `task.json` holds: everything of a task except its examples.
///
/// Keys: `name` (non-empty string), `template` (see ``ICLTemplate``), `labels` (an array of at least two
/// objects `{"name": …, "words": …}`, names and words non-empty and distinct), and optionally `description`
/// (string) and `separator` (string between demonstrations, default `"\n\n"`). Any other key is refused.
public struct ICLTaskFile: Equatable, Sendable {
    /// The task's name (`mr`, `bbc-news`).
    public var name: String
    /// A one-line description, empty when the file has none.
    public var description: String
    /// The prompt template.
    public var template: ICLTemplate
    /// What goes between two demonstrations, and between the last one and the query.
    public var separator: String
    /// The classes, in label-index order.
    public var labels: [ICLLabel]

    /// The separator when `task.json` names none: a blank line, as the authors' prompts use.
    public static let defaultSeparator = "\n\n"

    /// A task description from its parts (the template already parsed).
    public init(name: String, description: String = "", template: ICLTemplate,
                separator: String = ICLTaskFile.defaultSeparator, labels: [ICLLabel]) {
        self.name = name
        self.description = description
        self.template = template
        self.separator = separator
        self.labels = labels
    }

    /// Parses the bytes of a `task.json`; `file` names it in errors. Throws ``ICLTaskError/invalidTask(file:key:reason:)``.
    public init(data: Data, file: String, limits: ICLLimits = .default) throws {
        func fail(_ key: String?, _ reason: String) -> ICLTaskError { .invalidTask(file: file, key: key, reason: reason) }
        guard data.count <= limits.maxTaskFileBytes else {
            throw fail(nil, "\(data.count) bytes exceeds the limit of \(limits.maxTaskFileBytes)")
        }
        let root: JSONValue
        do { root = try JSONParser.parse([UInt8](data)) } catch let e as JSONParseError {
            throw fail(nil, e.description)
        }
        guard let members = root.objectValue else { throw fail(nil, "the top level is \(root.kind), not an object") }
        let known = ["name", "description", "template", "separator", "labels"]
        if let unknown = members.first(where: { !known.contains($0.key) }) {
            throw fail(unknown.key, "unknown key (known: \(known.joined(separator: ", ")))")
        }
        func member(_ key: String) -> JSONValue? { members.first(where: { $0.key == key })?.value }
        func string(_ key: String, required: Bool, nonEmpty: Bool) throws -> String? {
            guard let value = member(key) else {
                if required { throw fail(key, "missing") }
                return nil
            }
            guard let s = value.stringValue else { throw fail(key, "is \(value.kind), not a string") }
            if nonEmpty && s.isEmpty { throw fail(key, "is empty") }
            return s
        }
        name = try string("name", required: true, nonEmpty: true)!
        description = try string("description", required: false, nonEmpty: false) ?? ""
        template = try ICLTemplate(try string("template", required: true, nonEmpty: true)!, file: file)
        separator = try string("separator", required: false, nonEmpty: false) ?? Self.defaultSeparator
        guard let labelsValue = member("labels") else { throw fail("labels", "missing") }
        guard let items = labelsValue.arrayValue else { throw fail("labels", "is \(labelsValue.kind), not an array") }
        guard items.count >= 2 else { throw fail("labels", "has \(items.count) label(s); a task needs at least 2") }
        guard items.count <= limits.maxLabels else {
            throw fail("labels", "has \(items.count) labels, more than the limit of \(limits.maxLabels)")
        }
        var labels: [ICLLabel] = []
        for (i, item) in items.enumerated() {
            let path = "labels[\(i)]"
            guard let fields = item.objectValue else { throw fail(path, "is \(item.kind), not an object") }
            if let unknown = fields.first(where: { $0.key != "name" && $0.key != "words" }) {
                throw fail("\(path).\(unknown.key)", "unknown key (known: name, words)")
            }
            var values: [String: String] = [:]
            for key in ["name", "words"] {
                guard let value = fields.first(where: { $0.key == key })?.value else { throw fail("\(path).\(key)", "missing") }
                guard let s = value.stringValue else { throw fail("\(path).\(key)", "is \(value.kind), not a string") }
                guard !s.allSatisfy(\.isWhitespace) else { throw fail("\(path).\(key)", "is empty or only whitespace") }
                values[key] = s
            }
            let label = ICLLabel(name: values["name"]!, words: values["words"]!)
            if let j = labels.firstIndex(where: { $0.name == label.name }) {
                throw fail("\(path).name", "\(quoted(label.name)) is also the name of labels[\(j)]")
            }
            if let j = labels.firstIndex(where: { $0.words == label.words }) {
                throw fail("\(path).words", "\(quoted(label.words)) are also the words of labels[\(j)]")
            }
            labels.append(label)
        }
        self.labels = labels
    }
}

import Foundation
import LanguageModel

extension ICLExample {
    /// Parses a split: JSON Lines, one object `{"text": …, "label": …}` per line, exactly those two keys, `text`
    /// a non-empty string and `label` an integer in `0..<labelCount`. Lines end with `\n` (a `\r` before it is
    /// allowed); the last line may lack it; blank lines are refused. `file` names the split in errors.
    ///
    /// Throws ``ICLTaskError/invalidExample(file:line:key:reason:)`` for the first bad line (invalid UTF-8 and
    /// bad JSON included) and ``ICLTaskError/invalidSplit(file:reason:)`` for an empty split or one over the
    /// limits.
    public static func parseJSONLines(_ data: Data, file: String, labelCount: Int,
                                      limits: ICLLimits = .default) throws -> [ICLExample] {
        guard data.count <= limits.maxSplitFileBytes else {
            throw ICLTaskError.invalidSplit(file: file, reason: "\(data.count) bytes exceeds the limit of \(limits.maxSplitFileBytes)")
        }
        let bytes = [UInt8](data)
        var examples: [ICLExample] = []
        var start = 0
        var line = 0
        while start < bytes.count {
            line += 1
            let end = bytes[start...].firstIndex(of: 0x0A) ?? bytes.count
            defer { start = end + 1 }
            guard examples.count < limits.maxExamples else {
                throw ICLTaskError.invalidSplit(file: file, reason: "more than \(limits.maxExamples) examples (the limit)")
            }
            guard end - start <= limits.maxLineBytes else {
                throw ICLTaskError.invalidExample(file: file, line: line, key: nil,
                                                  reason: "\(end - start) bytes exceeds the line limit of \(limits.maxLineBytes)")
            }
            examples.append(try parseLine(bytes[start..<end], file: file, line: line, labelCount: labelCount))
        }
        guard !examples.isEmpty else { throw ICLTaskError.invalidSplit(file: file, reason: "no examples") }
        return examples
    }

    /// One line of a split (without its `\n`).
    static func parseLine(_ bytes: ArraySlice<UInt8>, file: String, line: Int, labelCount: Int) throws -> ICLExample {
        func fail(_ key: String?, _ reason: String) -> ICLTaskError {
            .invalidExample(file: file, line: line, key: key, reason: reason)
        }
        guard bytes.contains(where: { $0 != 0x0D && $0 != 0x20 && $0 != 0x09 }) else { throw fail(nil, "blank line") }
        let value: JSONValue
        do { value = try JSONParser.parse(Array(bytes)) } catch let e as JSONParseError { throw fail(nil, e.description) }
        guard let members = value.objectValue else { throw fail(nil, "is \(value.kind), not an object") }
        if let unknown = members.first(where: { $0.key != "text" && $0.key != "label" }) {
            throw fail(unknown.key, "unknown key (known: text, label)")
        }
        guard let textValue = members.first(where: { $0.key == "text" })?.value else { throw fail("text", "missing") }
        guard let text = textValue.stringValue else { throw fail("text", "is \(textValue.kind), not a string") }
        guard !text.isEmpty else { throw fail("text", "is empty") }
        guard let labelValue = members.first(where: { $0.key == "label" })?.value else { throw fail("label", "missing") }
        guard let label = labelValue.intValue else {
            throw fail("label", "is \(labelValue.brief), not an integer label index")
        }
        guard (0..<labelCount).contains(label) else {
            throw fail("label", "\(label) is out of range: the task has \(labelCount) labels (0…\(labelCount - 1))")
        }
        return ICLExample(text: text, label: label)
    }
}

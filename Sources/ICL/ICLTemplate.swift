import LanguageModel

/// A prompt template with two placeholders, `{text}` (the example's text) and `{answer}` (the label
/// words), in that order, e.g. the authors' SST-2 template `{text} It was {answer}`.
///
/// `{answer}` is the answer position. The whitespace right before it belongs to the answer (``answerLead``),
/// as it does to a word token of GPT-2-style BPE: a query's prompt ends at `It was` and each candidate is
/// ` great`, ` terrible`. Text after `{answer}` (``suffix``) closes demonstrations only. No other `{` or `}`
/// may appear.
public struct ICLTemplate: Equatable, Hashable, Sendable {
    /// Text before `{text}`.
    public var prefix: String
    /// Text between `{text}` and `{answer}`, without its trailing whitespace.
    public var middle: String
    /// The whitespace between ``middle`` and `{answer}`: rendered in front of the label words.
    public var answerLead: String
    /// Text after `{answer}`, rendered after a demonstration's label words.
    public var suffix: String

    /// The template as written in `task.json`.
    public var source: String { prefix + "{text}" + middle + answerLead + "{answer}" + suffix }

    /// Parses a template string; throws ``ICLTaskError/invalidTask(file:key:reason:)`` naming `file` and
    /// the key `template` when the placeholders are missing, repeated, out of order or a brace is stray.
    public init(_ template: String, file: String = "<template>") throws {
        func fail(_ reason: String) -> ICLTaskError { .invalidTask(file: file, key: "template", reason: reason) }
        var pieces: [String] = []  // literal text around the placeholders
        var placeholders: [String] = []
        var current = ""
        var rest = Substring(template)
        while let brace = rest.firstIndex(where: { $0 == "{" || $0 == "}" }) {
            current += rest[..<brace]
            let tail = rest[brace...]
            if tail.hasPrefix("{text}") || tail.hasPrefix("{answer}") {
                let name = tail.hasPrefix("{text}") ? "text" : "answer"
                placeholders.append(name)
                pieces.append(current)
                current = ""
                rest = tail.dropFirst(name.count + 2)
            } else {
                throw fail("a stray \(quoted(String(tail.first!))) (the only placeholders are {text} and {answer})")
            }
        }
        current += rest
        pieces.append(current)
        guard placeholders == ["text", "answer"] else {
            throw fail("needs exactly one {text} followed by exactly one {answer}, found "
                + (placeholders.isEmpty ? "no placeholder" : placeholders.map { "{\($0)}" }.joined(separator: ", ")))
        }
        prefix = pieces[0]
        let between = pieces[1]
        let kept = between.unicodeScalars.reversed().drop(while: { $0.properties.isWhitespace }).count
        middle = String(String.UnicodeScalarView(between.unicodeScalars.prefix(kept)))
        answerLead = String(String.UnicodeScalarView(between.unicodeScalars.dropFirst(kept)))
        suffix = pieces[2]
    }

    /// The template filled in: `text` and `answer` (the label words) in place of the placeholders.
    public func render(text: String, answer: String) -> String {
        prefix + text + middle + answerLead + answer + suffix
    }

    /// The template up to the answer position, for a query: ends with ``middle``, without ``answerLead``.
    public func renderQuery(text: String) -> String {
        prefix + text + middle
    }
}

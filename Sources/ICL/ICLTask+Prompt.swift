import LanguageModel

/// A rendered prompt: the context up to the query's answer position, and each label's candidate answer.
public struct ICLPrompt: Equatable, Sendable {
    /// The demonstrations (each with its answer), separated by the task's separator, then the query up to the
    /// answer position (without the template's ``ICLTemplate/answerLead``).
    public var context: String
    /// For each label, what follows the context when the model gives that label: the template's
    /// ``ICLTemplate/answerLead`` and the label words.
    public var candidates: [String]
}

extension ICLTask {
    /// One demonstration: the template filled with `example`'s text and its label's words.
    /// Throws ``ICLTaskError/invalidArgument(op:reason:)`` when the label is out of range.
    public func demonstration(_ example: ICLExample) throws -> String {
        try checkLabel(example.label, op: "ICLTask.demonstration")
        return template.render(text: example.text, answer: labels[example.label].words)
    }

    /// The prompt for `query` after `demonstrations` (k = `demonstrations.count`, 0 for zero-shot): the
    /// demonstrations joined by the separator, the separator again, then the query up to the answer position.
    public func prompt(demonstrations: [ICLExample], query: String) throws -> ICLPrompt {
        let shown = try demonstrations.map(demonstration)
        let context = shown.map { $0 + file.separator }.joined() + template.renderQuery(text: query)
        return ICLPrompt(context: context, candidates: labels.map { template.answerLead + $0.words })
    }

    func checkLabel(_ label: Int, op: String) throws {
        guard labels.indices.contains(label) else {
            throw ICLTaskError.invalidArgument(op: op, reason: "label \(label) is out of range: the task has "
                + "\(labels.count) labels")
        }
    }
}

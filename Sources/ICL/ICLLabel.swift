/// One class of a task: its name and the words the model is asked to produce for it.
public struct ICLLabel: Equatable, Hashable, Sendable {
    /// The class name (`positive`, `sports`): for reports only, never shown to the model.
    public var name: String
    /// The label words put at the answer position, one or more tokens (`great`, `Science and technology`).
    /// Whitespace before the answer comes from the template (see ``ICLTemplate/answerLead``).
    public var words: String

    /// A label named `name` verbalised as `words`.
    public init(name: String, words: String) {
        self.name = name
        self.words = words
    }
}

/// One labelled example of a task: a line `{"text": …, "label": …}` of a split.
public struct ICLExample: Equatable, Hashable, Sendable {
    /// The input text (non-empty).
    public var text: String
    /// The index of the example's label in the task's ``ICLTask/labels``.
    public var label: Int

    /// An example of label index `label`.
    public init(text: String, label: Int) {
        self.text = text
        self.label = label
    }
}

/// The three splits of a task directory, each a JSON Lines file `<name>.jsonl`.
public enum ICLSplit: String, CaseIterable, Sendable {
    /// Where demonstrations are drawn from (and the only split a model may be trained on).
    case train
    /// Where hyperparameters (the inner learning rate) are chosen.
    case validation
    /// The reported split, used for nothing else.
    case test

    /// The split's file name, `train.jsonl` and so on.
    public var fileName: String { rawValue + ".jsonl" }
}

import LanguageModel

/// Every error the ICL task layer throws: reading a task directory, its `task.json` and its JSON Lines
/// splits, and rendering or tokenizing prompts.
///
/// Each case names the file it concerns; an example's error also names its 1-based line, and both name the
/// key (`labels[1].words`, `label`) when one key is at fault.
public enum ICLTaskError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A file or directory could not be read (missing, not a regular file, too large, unreadable).
    case io(file: String, reason: String)
    /// `task.json` is malformed: not JSON, a missing, unknown or mistyped key, or an impossible value.
    case invalidTask(file: String, key: String?, reason: String)
    /// One line of a split (`train.jsonl`, …) is malformed. `line` is 1-based.
    case invalidExample(file: String, line: Int, key: String?, reason: String)
    /// A split as a whole is unusable (no examples, too many lines).
    case invalidSplit(file: String, reason: String)
    /// A bad argument to a rendering or tokenizing function (a label out of range, an empty token sequence).
    case invalidArgument(op: String, reason: String)

    /// One line naming the file (line, key) and the problem; control characters from files are escaped.
    public var description: String {
        let text: String
        switch self {
        case let .io(file, reason):
            text = "\(file): \(reason)"
        case let .invalidTask(file, key, reason):
            text = "\(file): invalid task: " + (key.map { "key \($0): " } ?? "") + reason
        case let .invalidExample(file, line, key, reason):
            text = "\(file):\(line): invalid example: " + (key.map { "key \($0): " } ?? "") + reason
        case let .invalidSplit(file, reason):
            text = "\(file): invalid split: \(reason)"
        case let .invalidArgument(op, reason):
            text = "\(op): \(reason)"
        }
        return escapingControlCharacters(text)
    }
}

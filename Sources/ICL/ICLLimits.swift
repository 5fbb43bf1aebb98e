/// Size limits for reading a task directory: anything larger is refused with ``ICLTaskError`` before it is
/// read or allocated, so a corrupt or hostile file cannot exhaust memory.
public struct ICLLimits: Equatable, Sendable {
    /// The largest `task.json`, in bytes.
    public var maxTaskFileBytes: Int
    /// The largest split file (`train.jsonl`, …), in bytes.
    public var maxSplitFileBytes: Int
    /// The longest line of a split, in bytes (the text of one example and its JSON around it).
    public var maxLineBytes: Int
    /// The most examples one split may hold.
    public var maxExamples: Int
    /// The most labels a task may have.
    public var maxLabels: Int

    /// Limits for a task; the defaults are far above any classification benchmark.
    public init(maxTaskFileBytes: Int = 1 << 20, maxSplitFileBytes: Int = 1 << 30, maxLineBytes: Int = 1 << 20,
                maxExamples: Int = 10_000_000, maxLabels: Int = 1_000) {
        self.maxTaskFileBytes = maxTaskFileBytes
        self.maxSplitFileBytes = maxSplitFileBytes
        self.maxLineBytes = maxLineBytes
        self.maxExamples = maxExamples
        self.maxLabels = maxLabels
    }

    /// The default limits: 1 MiB `task.json`, 1 GiB splits, 1 MiB lines, 10 M examples, 1,000 labels.
    public static let `default` = ICLLimits()
}

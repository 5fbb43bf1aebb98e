/// A prompt as token ids, with where each part lies: what an ICL method needs to mask the loss to the label
/// words (`label-only`), to give each demonstration its own attention block and positions (`single-ft`), and
/// to score each label at the answer position.
///
/// The pieces — each demonstration's text part, its answer, its suffix, the separators, the query — are
/// tokenized one by one and concatenated, so every range is exact. For byte-level BPE that splits before
/// a space (GPT-2, OPT, Llama 3), this equals tokenizing the whole prompt whenever the pieces meet at word
/// boundaries, as the templates' answers do.
public struct ICLEncodedPrompt: Equatable, Sendable {
    /// The context: the optional BOS, the demonstrations with their separators, then the query up to the answer.
    public var ids: [Int]
    /// Each demonstration's tokens in ``ids`` (its separator excluded).
    public var demonstrations: [Range<Int>]
    /// Each demonstration's answer tokens (its label words) in ``ids``.
    public var demonstrationAnswers: [Range<Int>]
    /// The query's tokens in ``ids`` (they run to the end).
    public var query: Range<Int>
    /// For each label, the token ids that follow ``ids`` when the model gives that label.
    public var candidates: [[Int]]

    /// A prompt from its parts (normally made by ``ICLTask/encodedPrompt(demonstrations:query:tokenizer:addSpecialTokens:)``).
    public init(ids: [Int], demonstrations: [Range<Int>], demonstrationAnswers: [Range<Int>], query: Range<Int>,
                candidates: [[Int]]) {
        self.ids = ids
        self.demonstrations = demonstrations
        self.demonstrationAnswers = demonstrationAnswers
        self.query = query
        self.candidates = candidates
    }
}

import LanguageModel

extension ICLTask {
    /// Each label's answer as token ids: the template's ``ICLTemplate/answerLead`` and the label words,
    /// tokenized without special tokens — what the model must produce at the answer position.
    ///
    /// Throws ``ICLTaskError/invalidArgument(op:reason:)`` when a label tokenizes to nothing or two labels to
    /// the same ids (the prediction could not tell them apart).
    public func labelTokens(tokenizer: any Tokenizer) throws -> [[Int]] {
        let sequences = labels.map { tokenizer.encode(template.answerLead + $0.words, addSpecialTokens: false) }
        for (i, ids) in sequences.enumerated() {
            guard !ids.isEmpty else {
                throw ICLTaskError.invalidArgument(op: "ICLTask.labelTokens", reason: "label \(i) "
                    + "(\(quoted(labels[i].name))) tokenizes to no token")
            }
            if let j = sequences[..<i].firstIndex(of: ids) {
                throw ICLTaskError.invalidArgument(op: "ICLTask.labelTokens", reason: "labels \(j) and \(i) "
                    + "(\(quoted(labels[j].name)), \(quoted(labels[i].name))) tokenize to the same ids \(ids)")
            }
        }
        return sequences
    }

    /// The prompt for `query` after `demonstrations`, tokenized piece by piece (``ICLEncodedPrompt``); with
    /// `addSpecialTokens`, the tokenizer's BOS (if it has one) starts the context.
    public func encodedPrompt(demonstrations: [ICLExample], query: String, tokenizer: any Tokenizer,
                              addSpecialTokens: Bool = true) throws -> ICLEncodedPrompt {
        let candidates = try labelTokens(tokenizer: tokenizer)
        func encode(_ text: String) -> [Int] { text.isEmpty ? [] : tokenizer.encode(text, addSpecialTokens: false) }
        var ids: [Int] = addSpecialTokens ? tokenizer.bosTokenID.map { [$0] } ?? [] : []
        var spans: [Range<Int>] = []
        var answers: [Range<Int>] = []
        let separator = encode(file.separator)
        for example in demonstrations {
            try checkLabel(example.label, op: "ICLTask.encodedPrompt")
            let start = ids.count
            ids += encode(template.renderQuery(text: example.text))
            let answerStart = ids.count
            ids += candidates[example.label]
            answers.append(answerStart..<ids.count)
            ids += encode(template.suffix)
            spans.append(start..<ids.count)
            ids += separator
        }
        let queryStart = ids.count
        ids += encode(template.renderQuery(text: query))
        return ICLEncodedPrompt(ids: ids, demonstrations: spans, demonstrationAnswers: answers,
                                query: queryStart..<ids.count, candidates: candidates)
    }
}

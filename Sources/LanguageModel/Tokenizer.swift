import Foundation

/// A text ↔ token-id codec: what the command line needs of any model's tokenizer.
///
/// ``BPETokenizer`` (GPT-2/OPT `vocab.json` + `merges.txt`) and ``JSONTokenizer`` (a Hugging Face
/// `tokenizer.json`) conform; ``loadTokenizer(directory:)`` picks one for a model directory.
public protocol Tokenizer: AnyObject, Sendable {
    /// The number of distinct tokens (model vocabulary and added tokens).
    var vocabularySize: Int { get }
    /// The beginning-of-sequence token's id, if the tokenizer has one.
    var bosTokenID: Int? { get }
    /// The end-of-sequence token's id, if the tokenizer has one.
    var eosTokenID: Int? { get }
    /// The padding token's id, if the tokenizer has one.
    var padTokenID: Int? { get }
    /// The ids of `text`; with `addSpecialTokens`, the tokens the model expects around a sequence (a BOS).
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int]
    /// The text of `ids`, leaving out special tokens when `skipSpecialTokens`. Throws
    /// ``ModelError/invalidTokenID(id:vocabularySize:)`` for an id with no token.
    func decode(_ ids: [Int], skipSpecialTokens: Bool) throws -> String
}

extension BPETokenizer: Tokenizer {
    /// ``encode(_:addBOS:)`` under the ``Tokenizer`` name.
    public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
        encode(text, addBOS: addSpecialTokens)
    }
}

/// The tokenizer of a model directory: `tokenizer.json` when there is one (with `tokenizer_config.json`'s
/// special tokens and BOS/EOS flags), else `vocab.json` + `merges.txt` (with `tokenizer_config.json` and
/// `special_tokens_map.json`). Throws ``ModelError/invalidTokenizer(file:reason:)`` for a file it cannot
/// read exactly, including any `tokenizer.json` component tint does not implement.
public func loadTokenizer(directory: URL) throws -> any Tokenizer {
    let json = directory.appendingPathComponent("tokenizer.json")
    if FileManager.default.fileExists(atPath: json.path) {
        return try JSONTokenizer(directory: directory)
    }
    let vocab = directory.appendingPathComponent("vocab.json")
    guard FileManager.default.fileExists(atPath: vocab.path) else {
        throw ModelError.invalidTokenizer(file: directory.path,
                                          reason: "the directory has neither tokenizer.json nor vocab.json and merges.txt")
    }
    return try BPETokenizer(directory: directory)
}

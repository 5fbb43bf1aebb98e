import Foundation

/// A tokenizer read from a Hugging Face `tokenizer.json` (the `tokenizers` library's format), giving the
/// ids `tokenizers` gives: GPT-2/OPT and Llama-3 byte-level BPE, and Llama-2/Mistral SentencePiece-style
/// BPE (`▁` normalizer or Metaspace, `byte_fallback`).
///
/// Encoding follows `tokenizers`: added tokens are split out first (those marked `normalized` are looked
/// for again after normalization), then each remaining part is normalized, pre-tokenized and encoded by
/// the BPE model; the post-processor's template (or `tokenizer_config.json`'s `add_bos_token` /
/// `add_eos_token`) adds special tokens. Decoding runs the decoder chain. Every component of the file is
/// either implemented exactly or refused by name with its JSON path (Docs/USAGE.md lists them).
///
/// Instances are immutable apart from an internal cache and safe to share between threads.
public final class JSONTokenizer: Tokenizer, @unchecked Sendable {
    /// Where the tokenizer came from, for messages.
    public let source: String
    public let vocabularySize: Int
    public let bosTokenID: Int?
    public let eosTokenID: Int?
    public let padTokenID: Int?
    /// Ids that ``decode(_:skipSpecialTokens:)`` can skip: the added tokens marked `special`.
    public let specialTokenIDs: Set<Int>

    let model: TokenizerBPEModel
    let normalizer: TokenNormalizer?
    let preTokenizer: TokenPreTokenizer?
    let decoder: TokenDecoder?
    let postProcessor: TokenPostProcessor
    /// Added tokens matched in the raw text, and those (`normalized: true`) matched after normalization.
    let rawAddedTokens: AddedTokenTrie
    let normalizedAddedTokens: AddedTokenTrie
    let tokens: [Int: [Unicode.Scalar]]   // id → token, added tokens included

    /// Reads `tokenizer.json` in `directory`, and `tokenizer_config.json` when present.
    public convenience init(directory: URL) throws {
        let file = directory.appendingPathComponent("tokenizer.json")
        let config = directory.appendingPathComponent("tokenizer_config.json")
        let configData = FileManager.default.fileExists(atPath: config.path) ? try readFile(config) : nil
        try self.init(json: try readFile(file), source: file.path, config: configData, configSource: config.path)
    }

    /// A tokenizer from the bytes of a `tokenizer.json` (`source` names it in errors) and optionally of a
    /// `tokenizer_config.json`.
    public init(json: Data, source: String, config: Data? = nil, configSource: String = "tokenizer_config.json") throws {
        let spec = TokenizerSpec(file: source)
        let root = try BPETokenizer.parseJSON(json, source: source)
        guard root.objectValue != nil else { throw spec.fail("the top level", "expected an object, found \(root.kind)") }
        guard let modelJSON = root["model"] else { throw spec.fail("model", "missing") }
        let model = try TokenizerBPEModel.parse(modelJSON, spec)
        let normalizer = try TokenNormalizer.parse(root["normalizer"] ?? .null, "normalizer", spec)
        let preTokenizer = try TokenPreTokenizer.parse(root["pre_tokenizer"] ?? .null, "pre_tokenizer", spec)
        var postProcessor = try TokenPostProcessor.parse(root["post_processor"] ?? .null, "post_processor", spec)
        let decoder = try TokenDecoder.parse(root["decoder"] ?? .null, "decoder", spec)
        // `truncation` and `padding` are ignored, as `transformers` ignores them: they are per-call
        // settings there, and tint windows sequences itself.

        var tokens: [Int: [Unicode.Scalar]] = [:]
        for (t, id) in model.vocabulary { tokens[id] = Array(t.unicodeScalars) }
        var added: [AddedToken] = []
        func addToken(_ content: String, id: Int, special: Bool, normalized: Bool, lstrip: Bool, rstrip: Bool,
                      path: String, fail: (String, String) -> ModelError) throws {
            if let existing = model.vocabulary[content], existing != id {
                throw fail(path, "added token \(quoted(content)) has id \(id) but the model's vocabulary gives it \(existing)")
            }
            if let other = tokens[id], other != Array(content.unicodeScalars) {
                throw fail(path, "added token \(quoted(content)) has id \(id), which is \(quoted(String(String.UnicodeScalarView(other))))'s")
            }
            tokens[id] = Array(content.unicodeScalars)
            added.append(AddedToken(content: content, id: id, special: special, normalized: normalized,
                                    lstrip: lstrip, rstrip: rstrip))
        }
        for (i, entry) in (root["added_tokens"]?.arrayValue ?? []).enumerated() {
            let path = "added_tokens[\(i)]"
            let content = try spec.string(entry, "content", path)
            let id = try spec.int(entry, "id", path, range: 0...(1 << 24 - 1))
            if try spec.bool(entry, "single_word", path, default: false) {
                throw spec.fail("\(path).single_word", "added token \(quoted(content)) has single_word true, which tint does not implement")
            }
            let special = try spec.bool(entry, "special", path, default: false)
            try addToken(content, id: id, special: special,
                         normalized: try spec.bool(entry, "normalized", path, default: !special),
                         lstrip: try spec.bool(entry, "lstrip", path, default: false),
                         rstrip: try spec.bool(entry, "rstrip", path, default: false), path: path, fail: spec.fail)
        }

        // tokenizer_config.json: special tokens by role, further added tokens, and the BOS/EOS flags.
        var roles: [String: String] = [:]
        if let config {
            let c = TokenizerSpec(file: configSource)
            let cj = try BPETokenizer.parseJSON(config, source: configSource)
            guard cj.objectValue != nil else { throw c.fail("the top level", "expected an object, found \(cj.kind)") }
            for role in ["bos_token", "eos_token", "pad_token", "unk_token"] {
                guard let v = cj[role], !v.isNull else { continue }
                guard let s = v.stringValue ?? v["content"]?.stringValue else {
                    throw c.fail(role, "expected a string or an object with a string \"content\", found \(v.kind)")
                }
                roles[role] = s
            }
            for (key, entry) in cj["added_tokens_decoder"]?.objectValue ?? [] {
                let path = "added_tokens_decoder[\(quoted(key))]"
                guard let id = Int(key), id >= 0, id < 1 << 24 else { throw c.fail(path, "the key is not a token id") }
                let content = try c.string(entry, "content", path)
                if tokens[id] == Array(content.unicodeScalars) && added.contains(where: { $0.id == id }) { continue }
                if try c.bool(entry, "single_word", path, default: false) {
                    throw c.fail("\(path).single_word", "added token \(quoted(content)) has single_word true, which tint does not implement")
                }
                let special = try c.bool(entry, "special", path, default: false)
                try addToken(content, id: id, special: special,
                             normalized: try c.bool(entry, "normalized", path, default: !special),
                             lstrip: try c.bool(entry, "lstrip", path, default: false),
                             rstrip: try c.bool(entry, "rstrip", path, default: false), path: path, fail: c.fail)
            }
            // `transformers`' Llama/Gemma fast tokenizers rebuild the post-processor from these flags;
            // a flag that is absent leaves the file's template as it is.
            for (flag, role) in [("add_bos_token", "bos_token"), ("add_eos_token", "eos_token")] {
                guard let v = cj[flag], !v.isNull else { continue }
                guard case let .bool(on) = v else { throw c.fail(flag, "expected a boolean, found \(v.kind)") }
                var ids: [Int] = []
                if on {
                    guard let name = roles[role], let id = Self.id(of: name, model: model, added: added) else {
                        throw c.fail(flag, "is true but \(role) is not a token of the tokenizer")
                    }
                    ids = [id]
                }
                if role == "bos_token" { postProcessor.prefix = ids } else { postProcessor.suffix = ids }
            }
        }

        // Encoding must only make ids that decode: a template naming an unknown id is refused here.
        for id in postProcessor.prefix + postProcessor.suffix where tokens[id] == nil {
            throw spec.fail("post_processor", "adds id \(id), which is not a token of the tokenizer")
        }

        var raw = AddedTokenTrie(), normalizedTrie = AddedTokenTrie()
        for t in added {
            // Without a normalizer a `normalized` token is matched in the raw text all the same.
            if t.normalized, let normalizer {
                let normalized = normalizer.apply(t.content)
                normalizedTrie.insert(normalized, id: t.id, lstrip: t.lstrip, rstrip: t.rstrip)
                // `tokenizers` gives such a token its normalized spelling, which the decoder then sees
                // (Llama's "ab" decodes through "▁ab").
                tokens[t.id] = Array(normalized.unicodeScalars)
            } else {
                raw.insert(t.content, id: t.id, lstrip: t.lstrip, rstrip: t.rstrip)
            }
        }
        self.source = source
        self.model = model
        self.normalizer = normalizer
        self.preTokenizer = preTokenizer
        self.decoder = decoder
        self.postProcessor = postProcessor
        self.rawAddedTokens = raw
        self.normalizedAddedTokens = normalizedTrie
        self.tokens = tokens
        self.vocabularySize = tokens.count
        self.specialTokenIDs = Set(added.filter(\.special).map(\.id))
        func roleID(_ role: String) -> Int? { roles[role].flatMap { Self.id(of: $0, model: model, added: added) } }
        // Without a config, the template's first token is taken as the BOS.
        self.bosTokenID = roleID("bos_token") ?? (config == nil ? postProcessor.prefix.first : nil)
        self.eosTokenID = roleID("eos_token")
        self.padTokenID = roleID("pad_token")
    }

    /// An entry of `added_tokens` (or of the config's `added_tokens_decoder`).
    struct AddedToken {
        var content: String
        var id: Int
        var special: Bool
        var normalized: Bool
        var lstrip: Bool
        var rstrip: Bool
    }

    private static func id(of content: String, model: TokenizerBPEModel, added: [AddedToken]) -> Int? {
        added.last(where: { $0.content == content })?.id ?? model.vocabulary[content]
    }

    /// The token with `id`, if there is one.
    public func token(of id: Int) -> String? {
        tokens[id].map { String(String.UnicodeScalarView($0)) }
    }

    /// The ids of `text`; with `addSpecialTokens`, inside the post-processor's special tokens.
    public func encode(_ text: String, addSpecialTokens: Bool = true) -> [Int] {
        let scalars = Array(text.unicodeScalars)
        var ids: [Int] = []
        if addSpecialTokens { ids += postProcessor.prefix }
        rawAddedTokens.split(scalars, in: 0..<scalars.count) { range, added in
            if let added { ids.append(added); return }
            var part = Array(scalars[range])
            normalizer?.apply(&part)
            normalizedAddedTokens.split(part, in: 0..<part.count) { sub, added in
                if let added { ids.append(added); return }
                // Only the part at offset 0 of the original text begins it (Metaspace's "first").
                var pieces = [PreToken(scalars: Array(part[sub]), atStart: range.lowerBound == 0 && sub.lowerBound == 0)]
                preTokenizer?.apply(&pieces)
                for p in pieces { model.tokenize(p.scalars, into: &ids) }
            }
        }
        if addSpecialTokens { ids += postProcessor.suffix }
        return ids
    }

    /// The text of `ids` through the decoder chain (tokens joined by spaces when the file has no
    /// decoder, as in `tokenizers`). Throws ``ModelError/invalidTokenID(id:vocabularySize:)`` for an id
    /// with no token.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) throws -> String {
        var parts: [[Unicode.Scalar]] = []
        parts.reserveCapacity(ids.count)
        for id in ids {
            guard let t = tokens[id] else { throw ModelError.invalidTokenID(id: id, vocabularySize: vocabularySize) }
            if skipSpecialTokens && specialTokenIDs.contains(id) { continue }
            parts.append(t)
        }
        var out = String.UnicodeScalarView()
        if let decoder {
            for p in decoder.apply(parts) { out.append(contentsOf: p) }
        } else {
            for (i, p) in parts.enumerated() {
                if i > 0 { out.append(" ") }
                out.append(contentsOf: p)
            }
        }
        return String(out)
    }
}

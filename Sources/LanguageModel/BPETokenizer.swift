import Foundation

/// A byte-level BPE tokenizer as GPT-2 and OPT use, read from `vocab.json` and `merges.txt`.
///
/// Encoding splits the text on special tokens (OPT: `</s>` and `<pad>`), splits the rest with GPT-2's
/// pre-tokenisation pattern over Unicode scalars, spells each piece's UTF-8 bytes in GPT-2's byte-level
/// alphabet and applies the merges lowest rank first. Like `transformers`' tokenizer for OPT, it
/// prepends `</s>` (OPT's beginning-of-sequence token) unless told not to. Decoding turns tokens back
/// into bytes; invalid UTF-8 becomes U+FFFD, as Python's `errors="replace"` does. Any string survives
/// `decode(encode(text, addBOS: false))` unchanged.
///
/// Loading checks the files thoroughly (every byte and every merge result must be in the vocabulary), so
/// encoding never fails. Instances are immutable apart from an internal cache and safe to share
/// between threads.
public final class BPETokenizer: @unchecked Sendable {
    /// The special tokens of a tokenizer: split out of the text before BPE, optionally skipped by decode.
    public struct SpecialTokens: Equatable, Sendable {
        /// The beginning-of-sequence token, prepended by ``BPETokenizer/encode(_:addBOS:)``.
        public var bos: String?
        /// The end-of-sequence token.
        public var eos: String?
        /// The unknown token.
        public var unk: String?
        /// The padding token.
        public var pad: String?
        /// Further tokens to split out of the text (the `added_tokens` of a tokenizer config).
        public var additional: [String]

        /// Special tokens by role; nil for a role the tokenizer lacks.
        public init(bos: String?, eos: String?, unk: String?, pad: String?, additional: [String] = []) {
            self.bos = bos
            self.eos = eos
            self.unk = unk
            self.pad = pad
            self.additional = additional
        }

        /// OPT's: `</s>` begins and ends sequences and stands for unknown tokens; `<pad>` pads.
        public static let opt = SpecialTokens(bos: "</s>", eos: "</s>", unk: "</s>", pad: "<pad>")

        var all: [String] { [bos, eos, unk, pad].compactMap { $0 } + additional }
    }

    /// A merge's rank (lower merges first) and the id of the token it makes.
    struct Merge {
        var rank: Int32
        var result: Int32
    }

    /// Where the tokenizer came from (a directory or file path), for messages.
    public let source: String
    /// Token → id.
    public let vocabulary: [String: Int]
    /// The special tokens in use (only those present in the vocabulary).
    public let specialTokens: SpecialTokens
    /// The id of the beginning-of-sequence token, prepended by ``encode(_:addBOS:)``.
    public let bosTokenID: Int?
    /// The id of the end-of-sequence token.
    public let eosTokenID: Int?
    /// The id of the padding token.
    public let padTokenID: Int?
    /// The id of the unknown token.
    public let unknownTokenID: Int?
    /// Ids that ``decode(_:skipSpecialTokens:)`` can skip.
    public let specialTokenIDs: Set<Int>

    let tokens: [String?]          // id → token (nil for unused ids)
    let tokenBytes: [[UInt8]]      // id → the bytes it decodes to
    let byteTokenIDs: [Int32]      // byte → id of its one-byte token
    let merges: [UInt64: Merge]    // (left id << 32 | right id) → merge
    let specials: AddedTokenTrie   // the longest special token at a position wins, as in `tokenizers`
    let cache = BPECache()

    /// A tokenizer from a vocabulary and merge list (in rank order). `source` names them in errors.
    public init(vocabulary: [String: Int], merges: [(String, String)], specialTokens: SpecialTokens = .opt,
                source: String = "<memory>") throws {
        func fail(_ reason: String) -> ModelError { .invalidTokenizer(file: source, reason: reason) }
        guard !vocabulary.isEmpty else { throw fail("the vocabulary is empty") }
        var maxID = 0
        for (token, id) in vocabulary {
            guard id >= 0 && id < 1 << 22 else { throw fail("token \(quoted(token)) has id \(id), outside 0..<\(1 << 22)") }
            maxID = max(maxID, id)
        }
        var tokens = [String?](repeating: nil, count: maxID + 1)
        for (token, id) in vocabulary.sorted(by: { utf8Less($0.key, $1.key) }) {
            if let other = tokens[id] { throw fail("tokens \(quoted(other)) and \(quoted(token)) share id \(id)") }
            tokens[id] = token
        }

        var byteTokenIDs: [Int32] = []
        for b in 0...255 {
            let symbol = String(ByteLevel.scalarForByte[b])
            guard let id = vocabulary[symbol] else {
                throw fail("the vocabulary lacks the byte-level token \(quoted(symbol)) for byte \(b), so some text could not be encoded")
            }
            byteTokenIDs.append(Int32(id))
        }

        let mergeTable = try buildMergeTable(merges, vocabulary: vocabulary, fail: fail)

        var present = specialTokens
        for keyPath in [\SpecialTokens.bos, \.eos, \.unk, \.pad] {
            if let t = present[keyPath: keyPath], vocabulary[t] == nil { present[keyPath: keyPath] = nil }
        }
        present.additional = specialTokens.additional.filter { vocabulary[$0] != nil }
        let specialIDs = Set(present.all).filter { !$0.isEmpty }.map { ($0, vocabulary[$0]!) }

        var tokenBytes = [[UInt8]](repeating: [], count: maxID + 1)
        let specialSet = Set(present.all)
        for (id, token) in tokens.enumerated() {
            guard let token else { continue }
            // Special tokens decode to their text; others through the byte map (any scalar outside it
            // stands for its own UTF-8).
            if specialSet.contains(token) {
                tokenBytes[id] = Array(token.utf8)
            } else if let bytes = ByteLevel.decode(token) {
                tokenBytes[id] = bytes
            } else {
                tokenBytes[id] = Array(token.utf8)
            }
        }

        self.source = source
        self.vocabulary = vocabulary
        self.specialTokens = present
        self.bosTokenID = present.bos.flatMap { vocabulary[$0] }
        self.eosTokenID = present.eos.flatMap { vocabulary[$0] }
        self.padTokenID = present.pad.flatMap { vocabulary[$0] }
        self.unknownTokenID = present.unk.flatMap { vocabulary[$0] }
        self.specialTokenIDs = Set(specialIDs.map(\.1))
        self.tokens = tokens
        self.tokenBytes = tokenBytes
        self.byteTokenIDs = byteTokenIDs
        self.merges = mergeTable
        self.specials = AddedTokenTrie(specialIDs)
    }

    /// The number of tokens in the vocabulary.
    public var vocabularySize: Int { vocabulary.count }

    /// The id of `token`, if it is in the vocabulary.
    public func id(of token: String) -> Int? { vocabulary[token] }

    /// The token with `id` (in its byte-level spelling), if there is one.
    public func token(of id: Int) -> String? {
        id >= 0 && id < tokens.count ? tokens[id] : nil
    }

    // MARK: Encoding

    /// The token ids of `text`, after OPT's beginning-of-sequence token `</s>` when `addBOS` is true
    /// (and the vocabulary has one).
    public func encode(_ text: String, addBOS: Bool = true) -> [Int] {
        var ids: [Int] = []
        if addBOS, let bos = bosTokenID { ids.append(bos) }
        let scalars = Array(text.unicodeScalars)
        var bytes: [UInt8] = []
        specials.split(scalars, in: 0..<scalars.count) { part, special in
            if let special { ids.append(special); return }
            GPT2PreTokenizer.split(scalars, in: part) { range in
                bytes.removeAll(keepingCapacity: true)
                for s in scalars[range] { UTF8.encode(s) { bytes.append($0) } }
                ids.append(contentsOf: encodePiece(bytes))
            }
        }
        return ids
    }

    /// The byte-level spellings of the tokens of `text` (without a BOS), e.g. `["He", "llo", "Ġworld"]`.
    public func tokenize(_ text: String) -> [String] {
        encode(text, addBOS: false).map { tokens[$0]! }
    }

    /// The ids of one pre-token's bytes.
    func encodePiece(_ bytes: [UInt8]) -> [Int] {
        if let hit = cache.lookup(bytes) { return hit }
        let ids = applyMerges(bytes.map { byteTokenIDs[Int($0)] }, merges).map { Int($0) }
        cache.store(bytes, ids)
        return ids
    }

    // MARK: Decoding

    /// The text of `ids`. Invalid UTF-8 (for example a multi-byte character cut between tokens at the end)
    /// becomes U+FFFD. Throws ``ModelError/invalidTokenID(id:vocabularySize:)`` for an id with no token.
    public func decode(_ ids: [Int], skipSpecialTokens: Bool = false) throws -> String {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0 && id < tokens.count && tokens[id] != nil else {
                throw ModelError.invalidTokenID(id: id, vocabularySize: vocabularySize)
            }
            if skipSpecialTokens && specialTokenIDs.contains(id) { continue }
            bytes.append(contentsOf: tokenBytes[id])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// A bounded, thread-safe map from a pre-token's bytes to its ids.
final class BPECache: @unchecked Sendable {
    static let capacity = 1 << 16
    private var entries: [[UInt8]: [Int]] = [:]
    private let lock = NSLock()

    func lookup(_ key: [UInt8]) -> [Int]? {
        lock.lock()
        defer { lock.unlock() }
        return entries[key]
    }

    func store(_ key: [UInt8], _ ids: [Int]) {
        lock.lock()
        defer { lock.unlock() }
        if entries.count >= BPECache.capacity { entries.removeAll(keepingCapacity: true) }
        entries[key] = ids
    }
}

// MARK: - Loading

extension BPETokenizer {
    /// Reads `vocab.json` and `merges.txt`.
    public convenience init(vocabularyFile: URL, mergesFile: URL, specialTokens: SpecialTokens = .opt) throws {
        let vocabulary = try BPETokenizer.readVocabulary(vocabularyFile)
        let merges = try BPETokenizer.readMerges(mergesFile)
        try self.init(vocabulary: vocabulary, merges: merges, specialTokens: specialTokens,
                      source: vocabularyFile.deletingLastPathComponent().path)
    }

    /// Reads a Hugging Face tokenizer directory: `vocab.json`, `merges.txt`, and the special tokens from
    /// `tokenizer_config.json` and `special_tokens_map.json` when present (OPT's otherwise).
    public convenience init(directory: URL) throws {
        var special = SpecialTokens.opt
        var vocabulary = try BPETokenizer.readVocabulary(directory.appendingPathComponent("vocab.json"))
        for name in ["tokenizer_config.json", "special_tokens_map.json"] {
            let url = directory.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            try BPETokenizer.readSpecialTokens(url, into: &special, vocabulary: &vocabulary)
        }
        let merges = try BPETokenizer.readMerges(directory.appendingPathComponent("merges.txt"))
        try self.init(vocabulary: vocabulary, merges: merges, specialTokens: special, source: directory.path)
    }

    static func parseJSON(_ data: Data, source: String) throws -> JSONValue {
        do {
            return try JSONParser.parse([UInt8](data))
        } catch let e as JSONParseError {
            throw ModelError.invalidTokenizer(file: source, reason: "invalid JSON: \(e.description)")
        }
    }

    static func readVocabulary(_ url: URL) throws -> [String: Int] {
        try parseVocabulary(try readFile(url), source: url.path)
    }

    /// The token → id map of `vocab.json` bytes; `source` names them in errors.
    static func parseVocabulary(_ data: Data, source: String) throws -> [String: Int] {
        let json = try parseJSON(data, source: source)
        guard let members = json.objectValue else {
            throw ModelError.invalidTokenizer(file: source, reason: "the vocabulary is \(json.kind), not an object")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(members.count)
        for (token, value) in members {
            guard let id = value.intValue, id >= 0 else {
                throw ModelError.invalidTokenizer(file: source, reason: "token \(quoted(token)) has id \(value.intValue.map(String.init) ?? value.kind), not a non-negative integer")
            }
            // JSON keys are distinct byte strings, but Swift's String keys compare by canonical equivalence: two
            // tokens such as "é" (U+00E9) and "e\u{301}" would silently become one. Say so instead.
            if let other = vocabulary[token] {
                throw ModelError.invalidTokenizer(file: source, reason: "tokens \(quoted(token)) (id \(id)) and the token "
                    + "of id \(other) are different bytes but canonically equivalent Unicode, which this tokenizer "
                    + "cannot tell apart")
            }
            vocabulary[token] = id
        }
        return vocabulary
    }

    static func readMerges(_ url: URL) throws -> [(String, String)] {
        try parseMerges(try readFile(url), source: url.path)
    }

    /// The merges of `merges.txt` bytes in rank order; `source` names them in errors.
    static func parseMerges(_ data: Data, source: String) throws -> [(String, String)] {
        guard let text = validUTF8String(data) else {
            throw ModelError.invalidTokenizer(file: source, reason: "the merges file is not valid UTF-8")
        }
        // Lines split on the newline scalar: as Characters, "\r\n" would be one unit.
        var merges: [(String, String)] = []
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        for (number, rawLine) in lines.enumerated() {
            var line = rawLine
            if line.last == "\r" { line = line.dropLast() }
            let lineText = String(String.UnicodeScalarView(line))
            if line.isEmpty || (number == 0 && lineText.hasPrefix("#version")) { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ModelError.invalidTokenizer(file: source, reason: "line \(number + 1) is not two tokens separated by one space: \(quoted(lineText))")
            }
            merges.append((String(String.UnicodeScalarView(parts[0])), String(String.UnicodeScalarView(parts[1]))))
        }
        return merges
    }

    /// Reads `bos_token`, `eos_token`, `unk_token`, `pad_token` (a string or `{"content": …}`) and the
    /// `added_tokens_decoder` of a tokenizer config; added tokens missing from the vocabulary join it.
    static func readSpecialTokens(_ url: URL, into special: inout SpecialTokens,
                                  vocabulary: inout [String: Int]) throws {
        try parseSpecialTokens(try readFile(url), source: url.path, into: &special, vocabulary: &vocabulary)
    }

    /// ``readSpecialTokens(_:into:vocabulary:)`` on the bytes of a tokenizer config.
    static func parseSpecialTokens(_ data: Data, source: String, into special: inout SpecialTokens,
                                   vocabulary: inout [String: Int]) throws {
        let json = try parseJSON(data, source: source)
        func fail(_ reason: String) -> ModelError { .invalidTokenizer(file: source, reason: reason) }
        guard json.objectValue != nil else { throw fail("the file is \(json.kind), not an object") }
        func content(_ key: String) throws -> String?? {
            guard let v = json[key] else { return .none }  // absent: keep the current value
            switch v {
            case .null: return .some(nil)
            case .string(let s): return .some(s)
            default:
                guard let s = v["content"]?.stringValue else { throw fail("\(key) is \(v.kind) without a string \"content\"") }
                return .some(s)
            }
        }
        if let v = try content("bos_token") { special.bos = v }
        if let v = try content("eos_token") { special.eos = v }
        if let v = try content("unk_token") { special.unk = v }
        if let v = try content("pad_token") { special.pad = v }
        if let added = json["added_tokens_decoder"]?.objectValue {
            for (key, entry) in added {
                guard let id = Int(key), id >= 0, let text = entry["content"]?.stringValue else {
                    throw fail("added_tokens_decoder entry \(quoted(key)) needs an integer id and a string \"content\"")
                }
                if let existing = vocabulary[text], existing != id {
                    throw fail("added token \(quoted(text)) has id \(id) but the vocabulary gives it \(existing)")
                }
                vocabulary[text] = id
                if !special.additional.contains(text) { special.additional.append(text) }
            }
        }
    }
}

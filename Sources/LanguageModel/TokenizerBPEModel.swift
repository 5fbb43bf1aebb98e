/// The `BPE` model of a `tokenizer.json`: a vocabulary and merges over the pre-tokenizer's pieces, with
/// `tokenizers`' handling of characters outside the vocabulary (`byte_fallback` to `<0xNN>` tokens, else
/// the `unk_token`, fused when `fuse_unk`, else dropped) and of `ignore_merges` (a piece that is itself
/// in the vocabulary is one token). The merge loop is ``applyMerges(_:_:)``, shared with ``BPETokenizer``.
struct TokenizerBPEModel: @unchecked Sendable {
    let vocabulary: [String: Int]
    let merges: [UInt64: BPETokenizer.Merge]
    /// Single-scalar tokens, so a piece's initial symbols need no string building.
    let scalarIDs: [Unicode.Scalar: Int32]
    let unknownID: Int32?
    let fuseUnknown: Bool
    /// Byte → id of `<0xNN>` when `byte_fallback` is on and the vocabulary has all 256 byte tokens.
    let byteIDs: [Int32]?
    let ignoreMerges: Bool
    let cache = BPECache()

    static func parse(_ v: JSONValue, _ spec: TokenizerSpec) throws -> TokenizerBPEModel {
        let path = "model"
        guard v.objectValue != nil else { throw spec.fail(path, "expected an object, found \(v.kind)") }
        // Files from old versions of `tokenizers` leave out the type of a BPE model.
        let type = v["type"]?.stringValue ?? (v["merges"] != nil ? "BPE" : "")
        guard type == "BPE" else {
            throw spec.unsupported(path, "model", type, supported: ["BPE"])
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let s = try spec.optionalString(v, key, path), !s.isEmpty {
                throw spec.fail("\(path).\(key)", "a non-empty \(key) (\(quoted(s))) is not supported by tint")
            }
        }
        if let d = v["dropout"], !d.isNull, !(d.isNumber && Double(d.brief) == 0) {
            throw spec.fail("\(path).dropout", "BPE dropout \(d.brief) is not supported by tint (encoding must be deterministic)")
        }
        guard let members = v["vocab"]?.objectValue else {
            throw spec.fail("\(path).vocab", "expected an object of token → id, found \(v["vocab"]?.kind ?? "nothing")")
        }
        var vocabulary: [String: Int] = [:]
        vocabulary.reserveCapacity(members.count)
        var scalarIDs: [Unicode.Scalar: Int32] = [:]
        var owner: [Int: String] = [:]
        for (token, value) in members {
            guard let id = value.intValue, id >= 0, id < 1 << 24 else {
                throw spec.fail("\(path).vocab[\(quoted(token))]", "expected an id in 0..<\(1 << 24), found \(value.brief)")
            }
            if let other = owner[id] { throw spec.fail("\(path).vocab", "tokens \(quoted(other)) and \(quoted(token)) share id \(id)") }
            owner[id] = token
            vocabulary[token] = id
            if token.unicodeScalars.count == 1 { scalarIDs[token.unicodeScalars.first!] = Int32(id) }
        }
        var merges: [(String, String)] = []
        for (i, m) in try spec.array(v, "merges", path).enumerated() {
            if let s = m.stringValue {
                // The "a b" form: the first space separates the two tokens.
                guard let space = s.firstIndex(of: " ") else {
                    throw spec.fail("\(path).merges[\(i)]", "\(quoted(s)) is not two tokens separated by a space")
                }
                merges.append((String(s[..<space]), String(s[s.index(after: space)...])))
            } else if let pair = m.arrayValue, pair.count == 2, let a = pair[0].stringValue, let b = pair[1].stringValue {
                merges.append((a, b))
            } else {
                throw spec.fail("\(path).merges[\(i)]", "expected \"a b\" or [\"a\", \"b\"], found \(m.brief)")
            }
        }
        let table = try buildMergeTable(merges, vocabulary: vocabulary) { spec.fail("\(path).merges", $0) }
        var unknownID: Int32?
        if let unk = try spec.optionalString(v, "unk_token", path) {
            guard let id = vocabulary[unk] else {
                throw spec.fail("\(path).unk_token", "\(quoted(unk)) is not in the vocabulary")
            }
            unknownID = Int32(id)
        }
        var byteIDs: [Int32]?
        if try spec.bool(v, "byte_fallback", path, default: false) {
            var ids: [Int32] = []
            for b in 0..<256 {
                guard let id = vocabulary[byteToken(UInt8(b))] else { break }
                ids.append(Int32(id))
            }
            // `tokenizers` falls back to bytes only when every byte of the character has a token; with
            // all 256 present that is always, and with some missing a per-character check is needed,
            // which tint does not do: refuse rather than approximate.
            guard ids.count == 256 || ids.isEmpty else {
                throw spec.fail("\(path).byte_fallback", "byte_fallback is on but the vocabulary has only some of the 256 <0xNN> tokens")
            }
            byteIDs = ids.isEmpty ? nil : ids
        }
        return TokenizerBPEModel(vocabulary: vocabulary, merges: table, scalarIDs: scalarIDs, unknownID: unknownID,
                                 fuseUnknown: try spec.bool(v, "fuse_unk", path, default: false), byteIDs: byteIDs,
                                 ignoreMerges: try spec.bool(v, "ignore_merges", path, default: false))
    }

    /// `<0x0A>`: the spelling of byte-fallback tokens.
    static func byteToken(_ b: UInt8) -> String {
        let hex = String(b, radix: 16, uppercase: true)
        return "<0x" + (b < 16 ? "0" : "") + hex + ">"
    }

    /// Appends the ids of one pre-tokenized piece to `ids`.
    func tokenize(_ piece: [Unicode.Scalar], into ids: inout [Int]) {
        guard !piece.isEmpty else { return }
        var key: [UInt8] = []
        key.reserveCapacity(piece.count)
        for s in piece { UTF8.encode(s) { key.append($0) } }
        if let hit = cache.lookup(key) { ids += hit; return }
        var out: [Int] = []
        if ignoreMerges, piece.count > 1, let id = vocabulary[String(decoding: key, as: UTF8.self)] {
            out = [id]
        } else {
            out = applyMerges(initialSymbols(piece), merges).map { Int($0) }
        }
        // Long pieces (a paragraph with no pre-tokenizer) are rarely seen twice and would fill the cache.
        if piece.count <= 256 { cache.store(key, out) }
        ids += out
    }

    /// A piece's symbols before merging, following `tokenizers`' `BPE::merge_word` step for step (including
    /// where a pending unknown token lands relative to byte-fallback tokens).
    func initialSymbols(_ piece: [Unicode.Scalar]) -> [Int32] {
        var symbols: [Int32] = []
        symbols.reserveCapacity(piece.count)
        var pendingUnknown = false
        for s in piece {
            if let id = scalarIDs[s] {
                if pendingUnknown, let unk = unknownID { symbols.append(unk); pendingUnknown = false }
                symbols.append(id)
                continue
            }
            if let byteIDs {
                UTF8.encode(s) { symbols.append(byteIDs[Int($0)]) }
                continue
            }
            guard let unk = unknownID else { continue }  // no unk_token: `tokenizers` drops the character
            if pendingUnknown && !fuseUnknown { symbols.append(unk) }
            pendingUnknown = true
        }
        if pendingUnknown, let unk = unknownID { symbols.append(unk) }
        return symbols
    }
}

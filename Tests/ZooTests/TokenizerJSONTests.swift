import Foundation
@testable import LanguageModel
import Testing

/// `tokenizer.json` loading (JSONTokenizer) against the encodings of Hugging Face `tokenizers` 0.23.3 in
/// Tests/ZooTests/Fixtures/reference/tokenizer_cases.*.json (Scripts/make_zoo_fixtures.py), the refusal of
/// components tint does not implement, and the `vocab.json` path of ``loadTokenizer(directory:)``.
@Suite struct TokenizerJSONTests {
    static let root: URL = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!

    /// The four tokenizer.json fixtures: reference name → directory.
    static let fixtures = [("gpt2", "tiny-gpt2"), ("llama", "tiny-llama"), ("llama-metaspace", "tiny-llama-metaspace"),
                           ("llama3-style", "tokenizers/llama3-style")]

    static func reference(_ name: String) throws -> JSONValue {
        let url = root.appendingPathComponent("reference/tokenizer_cases.\(name).json")
        return try JSONParser.parse([UInt8](try Data(contentsOf: url)))
    }

    static func ints(_ v: JSONValue?) -> [Int] { v!.arrayValue!.map { $0.intValue! } }

    /// Exact equality of Unicode scalars (Swift's `==` on strings is canonical equivalence, which would
    /// hide a normalization difference).
    static func same(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }

    @Test(arguments: fixtures)
    func idsAndDecodesMatchTokenizers(_ name: String, _ directory: String) throws {
        let tokenizer = try loadTokenizer(directory: Self.root.appendingPathComponent(directory))
        #expect(tokenizer is JSONTokenizer)
        let ref = try Self.reference(name)
        #expect(tokenizer.vocabularySize == ref["vocab_size"]!.intValue!)
        let cases = ref["cases"]!.arrayValue!
        #expect(cases.count > 100)
        for c in cases {
            let text = c["text"]!.stringValue!
            let ids = Self.ints(c["ids"]), plain = Self.ints(c["ids_no_special"])
            #expect(tokenizer.encode(text, addSpecialTokens: true) == ids, "\(name) \(text.debugDescription)")
            #expect(tokenizer.encode(text, addSpecialTokens: false) == plain, "\(name) \(text.debugDescription)")
            let decoded = try tokenizer.decode(ids, skipSpecialTokens: false)
            let decodedPlain = try tokenizer.decode(plain, skipSpecialTokens: false)
            let skipped = try tokenizer.decode(ids, skipSpecialTokens: true)
            #expect(Self.same(decoded, c["decoded"]!.stringValue!), "\(name) \(text.debugDescription) → \(decoded.debugDescription)")
            #expect(Self.same(decodedPlain, c["decoded_no_special"]!.stringValue!), "\(name) \(text.debugDescription)")
            #expect(Self.same(skipped, c["decoded_skip_special"]!.stringValue!), "\(name) \(text.debugDescription)")
        }
        for c in ref["invalid_utf8_decodes"]!.arrayValue! {
            let decoded = try tokenizer.decode(Self.ints(c["ids"]), skipSpecialTokens: false)
            #expect(Self.same(decoded, c["decoded"]!.stringValue!), "\(name) \(Self.ints(c["ids"]))")
        }
        let json = try #require(tokenizer as? JSONTokenizer)
        for (token, id) in ref["special_tokens"]!.objectValue! {
            #expect(json.token(of: id.intValue!) == token)
            #expect(json.specialTokenIDs.contains(id.intValue!))
        }
        #expect(throws: ModelError.self) { try tokenizer.decode([tokenizer.vocabularySize + 5], skipSpecialTokens: false) }
    }

    @Test func specialTokenIDsComeFromTheConfig() throws {
        let llama = try loadTokenizer(directory: Self.root.appendingPathComponent("tiny-llama"))
        #expect(llama.bosTokenID == 1 && llama.eosTokenID == 2 && llama.padTokenID == nil)
        let gpt2 = try loadTokenizer(directory: Self.root.appendingPathComponent("tiny-gpt2"))
        #expect(gpt2.bosTokenID == 447 && gpt2.eosTokenID == 447)
    }

    // MARK: Components the four fixtures do not use

    /// `object` with the member at the dotted `path` set to `value`.
    static func setting(_ object: [String: Any], _ path: [String], _ value: Any) -> [String: Any] {
        var o = object
        if path.count == 1 {
            o[path[0]] = value
        } else {
            o[path[0]] = setting(o[path[0]] as! [String: Any], Array(path.dropFirst()), value)
        }
        return o
    }

    /// Each variant of Scripts/make_tokenizer_variants.py (a fixture with members replaced: Digits, every
    /// Split behavior, Metaspace schemes and decoder, NFKC/NFD, Roberta, unk handling, no decoder, normalized
    /// added tokens, lstrip/rstrip added tokens, …) encodes and decodes as `tokenizers` does.
    @Test func variantsMatchTokenizers() throws {
        let url = Self.root.appendingPathComponent("reference/tokenizer_variants.json")
        let doc = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let variants = doc["variants"] as! [[String: Any]]
        #expect(variants.count >= 25)
        for v in variants {
            let name = v["name"] as! String
            let base = Self.root.appendingPathComponent(v["base"] as! String).appendingPathComponent("tokenizer.json")
            var object = try JSONSerialization.jsonObject(with: Data(contentsOf: base)) as! [String: Any]
            for (path, value) in v["set"] as! [String: Any] {
                object = Self.setting(object, path.split(separator: ".").map(String.init), value)
            }
            object["added_tokens"] = (object["added_tokens"] as! [Any]) + (v["append_added_tokens"] as! [Any])
            let tokenizer = try JSONTokenizer(json: try JSONSerialization.data(withJSONObject: object), source: name)
            for c in v["cases"] as! [[String: Any]] {
                let text = c["text"] as! String
                let ids = c["ids"] as! [Int]
                #expect(tokenizer.encode(text, addSpecialTokens: true) == ids, "\(name) \(text.debugDescription)")
                #expect(tokenizer.encode(text, addSpecialTokens: false) == c["ids_no_special"] as! [Int], "\(name) \(text.debugDescription)")
                #expect(Self.same(try tokenizer.decode(ids, skipSpecialTokens: false), c["decoded"] as! String), "\(name) \(text.debugDescription)")
                #expect(Self.same(try tokenizer.decode(ids, skipSpecialTokens: true), c["decoded_skip_special"] as! String), "\(name) \(text.debugDescription)")
            }
        }
    }

    // MARK: tokenizer_config.json's add_bos_token / add_eos_token

    static func llamaFiles() throws -> (json: Data, config: [String: Any]) {
        let dir = root.appendingPathComponent("tiny-llama")
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("tokenizer_config.json")))
        return (try Data(contentsOf: dir.appendingPathComponent("tokenizer.json")), config as! [String: Any])
    }

    @Test func addBOSAndEOSFlagsDriveTheTemplate() throws {
        let (json, config) = try Self.llamaFiles()
        let plain = try JSONTokenizer(json: json, source: "t").encode("Hello world", addSpecialTokens: false)
        #expect(!plain.isEmpty)
        func encode(bos: Bool?, eos: Bool?) throws -> [Int] {
            var c = config
            c["add_bos_token"] = bos
            c["add_eos_token"] = eos
            let data = try JSONSerialization.data(withJSONObject: c)
            return try JSONTokenizer(json: json, source: "t", config: data).encode("Hello world", addSpecialTokens: true)
        }
        #expect(try encode(bos: true, eos: false) == [1] + plain)
        #expect(try encode(bos: true, eos: true) == [1] + plain + [2])
        #expect(try encode(bos: false, eos: true) == plain + [2])
        #expect(try encode(bos: false, eos: false) == plain)
        // Absent flags leave the file's template (which adds <s>).
        #expect(try encode(bos: nil, eos: nil) == [1] + plain)
    }

    // MARK: Refusals

    /// The tiny-llama tokenizer.json with `edit` applied to its top-level object.
    static func edited(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        var object = try JSONSerialization.jsonObject(with: try llamaFiles().json) as! [String: Any]
        edit(&object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    /// The message of the error loading `data` throws, which must be a ModelError.invalidTokenizer.
    static func refusal(_ data: Data) -> String {
        do {
            _ = try JSONTokenizer(json: data, source: "edited.json")
            return "(loaded)"
        } catch let error as ModelError {
            guard case .invalidTokenizer = error else { return "wrong case: \(error)" }
            return "\(error)"
        } catch {
            return "wrong error type: \(error)"
        }
    }

    static let refusals: [(name: String, path: String, edit: @Sendable (inout [String: Any]) -> Void)] = [
        ("'BertNormalizer'", "normalizer", { $0["normalizer"] = ["type": "BertNormalizer", "lowercase": true] }),
        ("'Lowercase'", "normalizer.normalizers[1]", {
            $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "NFC"], ["type": "Lowercase"]]]
        }),
        ("'Whitespace'", "pre_tokenizer", { $0["pre_tokenizer"] = ["type": "Whitespace"] }),
        ("'WordPiece'", "model", { m in
            var model = m["model"] as! [String: Any]; model["type"] = "WordPiece"; m["model"] = model
        }),
        ("'Unigram'", "model", { m in
            var model = m["model"] as! [String: Any]; model["type"] = "Unigram"; m["model"] = model
        }),
        ("'CTC'", "decoder.decoders[0]", { $0["decoder"] = ["type": "Sequence", "decoders": [["type": "CTC"]]] }),
        ("'WordPiece'", "decoder", { $0["decoder"] = ["type": "WordPiece", "prefix": "##"] }),
        ("'SomethingNew'", "post_processor", { $0["post_processor"] = ["type": "SomethingNew"] }),
        ("'\\p{Han}+'", "pre_tokenizer.pattern.Regex", {
            $0["pre_tokenizer"] = ["type": "Split", "pattern": ["Regex": "\\p{Han}+"], "behavior": "Isolated", "invert": false]
        }),
        ("'Mangled'", "pre_tokenizer.behavior", {
            $0["pre_tokenizer"] = ["type": "Split", "pattern": ["String": " "], "behavior": "Mangled", "invert": false]
        }),
        ("' {2,}'", "normalizer.pattern.Regex", {
            $0["normalizer"] = ["type": "Replace", "pattern": ["Regex": " {2,}"], "content": " "]
        }),
        ("'##'", "model.continuing_subword_prefix", { m in
            var model = m["model"] as! [String: Any]; model["continuing_subword_prefix"] = "##"; m["model"] = model
        }),
        ("single_word", "added_tokens[1].single_word", { m in
            var added = m["added_tokens"] as! [[String: Any]]; added[1]["single_word"] = true; m["added_tokens"] = added
        }),
        ("dropout", "model.dropout", { m in
            var model = m["model"] as! [String: Any]; model["dropout"] = 0.1; m["model"] = model
        }),
        ("'sometimes'", "pre_tokenizer.prepend_scheme", {
            $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "▁", "prepend_scheme": "sometimes", "split": false]
        }),
    ]

    @Test(arguments: 0..<refusals.count)
    func unsupportedComponentsAreRefusedByName(_ index: Int) throws {
        let r = Self.refusals[index]
        let message = Self.refusal(try Self.edited(r.edit))
        #expect(message.contains(r.name) && message.contains(r.path) && message.contains("edited.json"), "\(message)")
    }

    @Test func theUneditedFileLoads() throws {
        // The refusal tests edit this file; unedited, it must load (else they would pass for any reason).
        #expect(Self.refusal(try Self.edited { _ in }) == "(loaded)")
    }

    @Test func malformedJSONNamesTheByteOffset() throws {
        let json = try Self.llamaFiles().json
        let message = Self.refusal(json.prefix(200))
        #expect(message.contains("invalid JSON") && message.contains("at byte"), "\(message)")
        #expect(Self.refusal(Data("[1, 2]".utf8)).contains("expected an object"))
        let badMerge = Self.refusal(try Self.edited { m in
            var model = m["model"] as! [String: Any]; model["merges"] = ["▁ t", "nospace"]; m["model"] = model
        })
        #expect(badMerge.contains("model.merges[1]"), "\(badMerge)")
    }

    // MARK: Added tokens

    @Test func addedTokensSplitLeftmostLongest() throws {
        // Two added tokens, one a prefix of the other, not in the model vocabulary.
        let data = try Self.edited { m in
            var added = m["added_tokens"] as! [[String: Any]]
            added.append(["id": 900, "content": "ab", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false])
            added.append(["id": 901, "content": "abc", "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": false])
            m["added_tokens"] = added
        }
        let t = try JSONTokenizer(json: data, source: "t")
        let ids = t.encode("xabcab", addSpecialTokens: false)
        #expect(Array(ids.suffix(2)) == [901, 900])
        #expect(!ids.dropLast(2).contains(900) && !ids.dropLast(2).contains(901))
        // Non-special added tokens are not skipped.
        #expect(try t.decode([901, 900], skipSpecialTokens: true) == "abcab")
    }

    // MARK: vocab.json + merges.txt

    @Test func vocabJSONDirectoriesStillLoad() throws {
        // A directory without tokenizer.json takes the vocab.json path, and agrees with tokenizer.json.
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("tint-vocab-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let gpt2 = Self.root.appendingPathComponent("tiny-gpt2")
        for f in ["vocab.json", "merges.txt", "tokenizer_config.json"] {
            try FileManager.default.copyItem(at: gpt2.appendingPathComponent(f), to: tmp.appendingPathComponent(f))
        }
        let legacy = try loadTokenizer(directory: tmp)
        #expect(legacy is BPETokenizer)
        let json = try loadTokenizer(directory: gpt2)
        for c in try Self.reference("gpt2")["cases"]!.arrayValue! {
            let text = c["text"]!.stringValue!
            #expect(legacy.encode(text, addSpecialTokens: false) == json.encode(text, addSpecialTokens: false), "\(text.debugDescription)")
        }
        #expect(throws: ModelError.self) { try loadTokenizer(directory: tmp.appendingPathComponent("missing")) }
    }
}

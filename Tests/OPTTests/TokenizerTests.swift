import Dispatch
import Foundation
import Testing
import Tensor
@testable import LanguageModel
@testable import OPT

@Suite struct TokenizerTests {
    static let tokenizer: BPETokenizer = try! BPETokenizer(directory: Fixtures.url("tokenizer"))

    struct Case {
        var text: String
        var ids: [Int]
        var tokens: [String]
        var decodedWithBOS: String
        var decodedSkippingSpecial: String
    }

    static let cases: [Case] = {
        let json = try! Fixtures.json("tokenizer_cases.json")
        return json["cases"]!.arrayValue!.map { c in
            Case(text: c["text"]!.stringValue!, ids: c["ids"]!.intArray!,
                 tokens: c["tokens"]!.arrayValue!.map { $0.stringValue! },
                 decodedWithBOS: c["decoded_with_bos"]!.stringValue!,
                 decodedSkippingSpecial: c["decoded_skipping_special"]!.stringValue!)
        }
    }()

    /// Exact equality of Unicode scalars (Swift's `==` on strings is canonical equivalence).
    func sameScalars(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }

    @Test func loadsOPTSpecialTokens() throws {
        let t = TokenizerTests.tokenizer
        #expect(t.vocabularySize == 632)
        #expect(t.bosTokenID == 2 && t.eosTokenID == 2 && t.unknownTokenID == 2 && t.padTokenID == 1)
        #expect(t.specialTokenIDs == [1, 2])
        #expect(t.id(of: "<s>") == 0 && t.id(of: "<unk>") == 3 && t.token(of: 2) == "</s>")
        #expect(t.token(of: 632) == nil && t.token(of: -1) == nil)
        // Every model directory carries the same tokenizer.
        for dir in ["tiny-opt-pre-ln", "tiny-opt-post-ln", "tiny-opt-pre-ln-fp16"] {
            let other = try BPETokenizer(directory: Fixtures.url(dir))
            #expect(other.vocabulary == t.vocabulary)
            #expect(other.encode("The lamp had to be trimmed.") == t.encode("The lamp had to be trimmed."))
        }
    }

    @Test func encodingsMatchHuggingFace() throws {
        let t = TokenizerTests.tokenizer
        #expect(TokenizerTests.cases.count >= 80)
        for c in TokenizerTests.cases {
            #expect(t.encode(c.text) == c.ids, "\(c.text.debugDescription)")
            #expect(t.encode(c.text, addBOS: false) == Array(c.ids.dropFirst()), "\(c.text.debugDescription)")
            #expect(t.tokenize(c.text) == Array(c.tokens.dropFirst()), "\(c.text.debugDescription)")
        }
    }

    @Test func decodingsMatchHuggingFace() throws {
        let t = TokenizerTests.tokenizer
        for c in TokenizerTests.cases {
            #expect(sameScalars(try t.decode(c.ids), c.decodedWithBOS), "\(c.text.debugDescription)")
            #expect(sameScalars(try t.decode(c.ids, skipSpecialTokens: true), c.decodedSkippingSpecial),
                    "\(c.text.debugDescription)")
            #expect(sameScalars(try t.decode(t.encode(c.text, addBOS: false)), c.text), "\(c.text.debugDescription)")
        }
    }

    @Test func invalidUTF8DecodesLikePythonReplace() throws {
        let json = try Fixtures.json("tokenizer_cases.json")
        let decodes = json["invalid_utf8_decodes"]!.arrayValue!
        #expect(decodes.count >= 10)
        for d in decodes {
            let got = try TokenizerTests.tokenizer.decode(d["ids"]!.intArray!)
            let expected = d["decoded"]!.stringValue!
            #expect(sameScalars(got, expected), "\(d["bytes"]!.intArray!): \(got.debugDescription) vs \(expected.debugDescription)")
        }
    }

    @Test func decodeRejectsUnknownIDs() {
        let t = TokenizerTests.tokenizer
        #expect(throws: ModelError.invalidTokenID(id: 632, vocabularySize: 632)) { try t.decode([5, 632]) }
        #expect(throws: ModelError.invalidTokenID(id: -1, vocabularySize: 632)) { try t.decode([-1]) }
    }

    @Test func randomStringsRoundTrip() throws {
        let pool: [Unicode.Scalar] = Array("abcXYZ019 '\t\n\r.,!?-_/\\\"<>s".unicodeScalars)
            + ["\u{e9}", "\u{301}", "\u{308}", "\u{a0}", "\u{3000}", "\u{2028}", "\u{85}", "\u{200b}", "\u{1c}",
               "\u{4e2d}", "\u{6587}", "\u{1f44d}", "\u{1f3fd}", "\u{200d}", "\u{fe0f}", "\u{0}", "\u{7f}", "\u{ff}",
               "\u{3a9}", "\u{416}", "\u{e2a}", "\u{e31}", "\u{2167}", "\u{bd}", "\u{663}", "\u{fffd}", "\u{10ffff}"]
        let specials = ["</s>", "<pad>", "'s", "'ll", "  "]
        var rng = TensorRNG(seed: 11)
        let t = TokenizerTests.tokenizer
        for _ in 0..<400 {
            var s = String.UnicodeScalarView()
            for _ in 0..<Int(rng.next() % 40) {
                if rng.next() % 10 == 0 {
                    s.append(contentsOf: specials[Int(rng.next() % UInt64(specials.count))].unicodeScalars)
                } else {
                    s.append(pool[Int(rng.next() % UInt64(pool.count))])
                }
            }
            let text = String(s)
            let ids = t.encode(text, addBOS: false)
            #expect(sameScalars(try t.decode(ids), text), "\(text.debugDescription)")
            #expect(t.encode(text) == [2] + ids)
        }
    }

    /// Results written from several threads, each index by one thread.
    final class Results: @unchecked Sendable {
        var ids: [[Int]]
        init(count: Int) { ids = Array(repeating: [], count: count) }
    }

    @Test func encodingIsThreadSafe() throws {
        let t = try BPETokenizer(directory: Fixtures.url("tokenizer"))
        let texts = TokenizerTests.cases.map(\.text)
        let expected = texts.map { TokenizerTests.tokenizer.encode($0) }
        let n = texts.count * 4
        let results = Results(count: n)
        results.ids.withUnsafeMutableBufferPointer { buffer in
            let out = UncheckedBuffer(buffer: buffer)
            DispatchQueue.concurrentPerform(iterations: n) { i in
                out.buffer[i] = t.encode(texts[i % texts.count])
            }
        }
        for i in 0..<n { #expect(results.ids[i] == expected[i % texts.count]) }
    }

    struct UncheckedBuffer: @unchecked Sendable {
        var buffer: UnsafeMutableBufferPointer<[Int]>
    }

    // MARK: Pre-tokenisation

    func pieces(_ text: String) -> [String] {
        let scalars = Array(text.unicodeScalars)
        var out: [String] = []
        GPT2PreTokenizer.split(scalars, in: 0..<scalars.count) { r in
            out.append(String(String.UnicodeScalarView(scalars[r])))
        }
        return out
    }

    @Test func preTokenizerFollowsTheGPT2Pattern() {
        let cases: [(String, [String])] = [
            ("Hello  world", ["Hello", " ", " world"]),
            ("a\n\nb", ["a", "\n", "\n", "b"]),
            ("a   ", ["a", "   "]),
            ("x \t y", ["x", " \t", " y"]),
            ("don't I'M", ["don", "'t", " I", "'", "M"]),
            ("he'll they've we're I'd", ["he", "'ll", " they", "'ve", " we", "'re", " I", "'d"]),
            (" 's", [" '", "s"]),
            ("!'s", ["!'", "s"]),
            ("abc123 456!!x", ["abc", "123", " 456", "!!", "x"]),
            ("e\u{301}t\u{e9}", ["e", "\u{301}", "t\u{e9}"]),  // a combining mark is not a letter
            ("\u{2167}\u{bd}x\u{b2}", ["\u{2167}\u{bd}", "x", "\u{b2}"]),  // Nl and No are numbers
            ("a\u{a0}b", ["a", "\u{a0}", "b"]),  // NBSP is \s but not the optional prefix
            ("a\u{1c}b", ["a", "\u{1c}", "b"]),  // U+001C is not White_Space
            ("", []),
            ("  ", ["  "]),
        ]
        for (text, expected) in cases {
            let got = pieces(text)
            #expect(got.count == expected.count && zip(got, expected).allSatisfy(sameScalars), "\(text.debugDescription): \(got)")
        }
    }

    @Test func byteLevelMapIsGPT2s() {
        #expect(ByteLevel.scalarForByte[0x20] == "\u{120}")  // Ġ
        #expect(ByteLevel.scalarForByte[0x0A] == "\u{10a}")  // Ċ
        #expect(ByteLevel.scalarForByte[0x41] == "A")
        #expect(ByteLevel.scalarForByte[0xAD] == "\u{143}")
        #expect(Set(ByteLevel.scalarForByte).count == 256)
        for b in 0...255 { #expect(ByteLevel.byte(for: ByteLevel.scalarForByte[b]) == UInt8(b)) }
        #expect(ByteLevel.decode("A\u{4e2d}") == nil)
        #expect(ByteLevel.encode(Array("é ".utf8)) == "\u{c3}\u{a9}\u{120}")
    }

    // MARK: Loading errors

    func byteVocabulary() -> [String: Int] {
        var v: [String: Int] = [:]
        for (b, s) in ByteLevel.scalarForByte.enumerated() { v[String(s)] = b }
        return v
    }

    @Test func tokenizerFromMemoryMergesLowestRankFirst() throws {
        var v = byteVocabulary()
        v["ab"] = 256; v["bc"] = 257; v["abc"] = 258; v["</s>"] = 259
        let t = try BPETokenizer(vocabulary: v, merges: [("b", "c"), ("a", "b"), ("a", "bc")])
        #expect(t.tokenize("abc") == ["abc"])  // b c first, then a bc
        #expect(t.tokenize("abab") == ["ab", "ab"])
        #expect(t.encode("ab") == [259, 256])
        #expect(t.padTokenID == nil)  // <pad> is not in this vocabulary
        let noBOS = try BPETokenizer(vocabulary: v, merges: [], specialTokens: .init(bos: nil, eos: nil, unk: nil, pad: nil))
        #expect(noBOS.encode("ab") == [97, 98])
        #expect(noBOS.tokenize("</s>") == ["<", "/", "s", ">"])  // not special there
    }

    func expectLoadError(_ vocabulary: [String: Int], _ merges: [(String, String)], _ fragment: String,
                         sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try BPETokenizer(vocabulary: vocabulary, merges: merges, source: "tok")
            Issue.record("accepted", sourceLocation: sourceLocation)
        } catch let ModelError.invalidTokenizer(file, reason) {
            #expect(file == "tok", sourceLocation: sourceLocation)
            #expect(reason.contains(fragment), "\(reason)", sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func inconsistentVocabulariesAreRejected() {
        expectLoadError([:], [], "empty")
        var v = byteVocabulary()
        v.removeValue(forKey: "\u{120}")
        expectLoadError(v, [], "lacks the byte-level token 'Ġ' for byte 32")
        v = byteVocabulary()
        expectLoadError(v, [("a", "b")], "makes 'ab', which is not in the vocabulary")
        expectLoadError(v, [("a", "zz")], "merge 1 ('a' 'zz') uses a token that is not in the vocabulary")
        v["dup"] = 5
        expectLoadError(v, [], "share id 5")
        v = byteVocabulary()
        v["neg"] = -3
        expectLoadError(v, [], "has id -3")
    }

    @Test func malformedFilesAreNamed() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vocab = dir.appendingPathComponent("vocab.json"), merges = dir.appendingPathComponent("merges.txt")
        let good = try Data(contentsOf: Fixtures.url("tokenizer/vocab.json"))
        try good.write(to: vocab)
        try Data("#version: 0.2\nĠ t\nbad line here\n".utf8).write(to: merges)
        #expect(throws: ModelError.invalidTokenizer(file: merges.path, reason: "line 3 is not two tokens separated by one space: 'bad line here'")) {
            try BPETokenizer(vocabularyFile: vocab, mergesFile: merges)
        }
        try Data([0x61, 0x20, 0xFF]).write(to: merges)
        #expect(throws: ModelError.invalidTokenizer(file: merges.path, reason: "the merges file is not valid UTF-8")) {
            try BPETokenizer(vocabularyFile: vocab, mergesFile: merges)
        }
        try Data("Ġ t\r\nh e\r\n".utf8).write(to: merges)  // CRLF and no version line are fine
        #expect(try BPETokenizer(vocabularyFile: vocab, mergesFile: merges).tokenize(" the") == ["Ġt", "he"])
        try Data("[1]".utf8).write(to: vocab)
        #expect(throws: ModelError.invalidTokenizer(file: vocab.path, reason: "the vocabulary is an array, not an object")) {
            try BPETokenizer(vocabularyFile: vocab, mergesFile: merges)
        }
        try Data(#"{"a": 1.5}"#.utf8).write(to: vocab)
        #expect(throws: ModelError.invalidTokenizer(file: vocab.path, reason: "token 'a' has id a number, not a non-negative integer")) {
            try BPETokenizer(vocabularyFile: vocab, mergesFile: merges)
        }
        try Data(#"{"a": 1, "a": 2}"#.utf8).write(to: vocab)
        let error = #expect(throws: ModelError.self) { try BPETokenizer(vocabularyFile: vocab, mergesFile: merges) }
        #expect(error?.description.contains("duplicate key 'a'") == true)
        #expect(throws: ModelError.io(file: dir.appendingPathComponent("nope/vocab.json").path, reason: "no such file")) {
            try BPETokenizer(directory: dir.appendingPathComponent("nope"))
        }
    }

    @Test func tokenizerConfigSetsSpecialTokens() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for name in ["vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: Fixtures.url("tokenizer/\(name)"), to: dir.appendingPathComponent(name))
        }
        try Data(#"{"bos_token": {"content": "<s>"}, "pad_token": null, "added_tokens_decoder": {"632": {"content": "<|x|>", "special": true}}}"#.utf8)
            .write(to: dir.appendingPathComponent("tokenizer_config.json"))
        let t = try BPETokenizer(directory: dir)
        #expect(t.bosTokenID == 0 && t.eosTokenID == 2 && t.padTokenID == nil && t.vocabularySize == 633)
        #expect(t.encode("a<|x|>b") == [0, t.id(of: "a")!, 632, t.id(of: "b")!])
        #expect(try t.decode([632, 2], skipSpecialTokens: true) == "")
        try Data(#"{"bos_token": 5}"#.utf8).write(to: dir.appendingPathComponent("special_tokens_map.json"))
        let error = #expect(throws: ModelError.self) { try BPETokenizer(directory: dir) }
        #expect(error?.description.contains("bos_token is a number without a string \"content\"") == true)
    }
}

@Suite struct BPEMergeTests {
    /// GPT-2's encoder.py loop: merge every occurrence of the lowest-ranked pair, repeat.
    func gpt2Merges(_ symbols: [Int32], _ merges: [UInt64: BPETokenizer.Merge]) -> [Int32] {
        var parts = symbols
        while parts.count > 1 {
            var best: BPETokenizer.Merge?
            var pair: (Int32, Int32) = (0, 0)
            for k in 0..<(parts.count - 1) {
                if let m = merges[UInt64(UInt32(parts[k])) << 32 | UInt64(UInt32(parts[k + 1]))], m.rank < best?.rank ?? .max {
                    best = m
                    pair = (parts[k], parts[k + 1])
                }
            }
            guard let best else { break }
            var merged: [Int32] = []
            var k = 0
            while k < parts.count {
                if k + 1 < parts.count && (parts[k], parts[k + 1]) == pair { merged.append(best.result); k += 2 } else { merged.append(parts[k]); k += 1 }
            }
            parts = merged
        }
        return parts
    }

    @Test func heapMergesEqualGPT2sLoop() {
        let t = TokenizerTests.tokenizer
        var rng = TensorRNG(seed: 21)
        let corpusWords = ["the", "keeper", "lighthouse", "ledger", "counted", "waves", "ships", "ing", "tion", "aaaa", "eeee"]
        for _ in 0..<2000 {
            var bytes: [UInt8] = []
            for _ in 0..<(1 + rng.next() % 6) {
                if rng.next() % 3 == 0 {
                    bytes.append(UInt8(truncatingIfNeeded: rng.next()))
                } else {
                    bytes += Array(corpusWords[Int(rng.next() % UInt64(corpusWords.count))].utf8)
                }
            }
            let symbols = bytes.map { t.byteTokenIDs[Int($0)] }
            #expect(applyMerges(symbols, t.merges) == gpt2Merges(symbols, t.merges), "\(bytes)")
        }
    }

    @Test func longPiecesRoundTrip() throws {
        let t = TokenizerTests.tokenizer
        let cjk = String(repeating: "灯台の光は一晩中消えなかった", count: 700)  // one 9800-scalar piece
        let ids = t.encode(cjk, addBOS: false)
        #expect(try t.decode(ids) == cjk)
        let run = String(repeating: "the", count: 5000)
        #expect(try t.decode(t.encode(run, addBOS: false)) == run)
    }

    @Test func heapPopsInRankThenPositionOrder() {
        var heap = MergeHeap()
        var rng = TensorRNG(seed: 2)
        var all: [MergeHeap.Entry] = []
        for _ in 0..<500 {
            let e = MergeHeap.Entry(rank: Int32(rng.next() % 50), position: Int32(rng.next() % 50), result: 0)
            all.append(e)
            heap.push(e)
        }
        var popped: [(Int32, Int32)] = []
        while let e = heap.pop() { popped.append((e.rank, e.position)) }
        let expected = all.map { ($0.rank, $0.position) }.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        #expect(popped.count == expected.count && zip(popped, expected).allSatisfy { $0 == $1 })
    }
}

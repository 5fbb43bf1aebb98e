import Foundation
import Testing
@testable import LanguageModel

/// Issue 18, item 11: special tokens are split out with a trie (longest match), with the same result as trying
/// every token at every position, and many added tokens no longer multiply the cost of encoding.
@Suite struct SpecialTokenMatchTests {
    /// The reference: every token at every position, longest first, smaller id on a tie.
    static func naiveLongest(_ tokens: [(scalars: [Unicode.Scalar], id: Int)], _ text: [Unicode.Scalar], at i: Int)
        -> (id: Int, length: Int)? {
        var best: (id: Int, length: Int)? = nil
        for (t, id) in tokens where !t.isEmpty && text.count - i >= t.count && text[i..<(i + t.count)].elementsEqual(t) {
            if best == nil || t.count > best!.length || (t.count == best!.length && id < best!.id) { best = (id, t.count) }
        }
        return best
    }

    @Test func trieMatchesTheNaiveLongestMatch() {
        var rng = SystemRandomNumberGenerator()
        let alphabet: [Unicode.Scalar] = ["<", ">", "a", "b", "/", "é", "\u{301}"]
        for _ in 0..<50 {
            let tokens: [(scalars: [Unicode.Scalar], id: Int)] = (0..<Int.random(in: 0...12, using: &rng)).map { id in
                ((0..<Int.random(in: 0...4, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }, id)
            }
            let trie = SpecialTokenTrie(tokens)
            let text = (0..<40).map { _ in alphabet.randomElement(using: &rng)! }
            for i in text.indices {
                let a = trie.longestMatch(text, at: i), b = Self.naiveLongest(tokens, text, at: i)
                #expect(a?.id == b?.id && a?.length == b?.length, "\(tokens) at \(i) of \(text)")
            }
        }
    }

    /// A tokenizer with 20 000 added tokens encodes 200 000 characters of text full of '<' and finds the tokens.
    @Test func manyAddedTokensEncode() throws {
        var vocabulary: [String: Int] = [:]
        for b in 0...255 { vocabulary[String(ByteLevel.scalarForByte[b])] = b }
        let added = (0..<20_000).map { "<extra_\($0)>" }
        for (k, t) in added.enumerated() { vocabulary[t] = 256 + k }
        let tokenizer = try BPETokenizer(vocabulary: vocabulary, merges: [],
                                         specialTokens: .init(bos: nil, eos: nil, unk: nil, pad: nil, additional: added))
        let unit = "<extra_19999><extra_1x <<"
        let text = String(repeating: unit, count: 200_000 / unit.count)
        let ids = tokenizer.encode(text, addBOS: false)
        #expect(ids.filter { $0 == 256 + 19_999 }.count == 200_000 / unit.count)
        #expect(!ids.contains(256 + 1))  // "<extra_1x" is not "<extra_1>"
    }
}

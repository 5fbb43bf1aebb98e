import Foundation
import Testing
@testable import LanguageModel

/// Issue 18, item 11: special tokens are split out with a trie (`AddedTokenTrie`), so many added tokens no longer
/// multiply the cost of encoding (20 000 tokens × 200 000 characters took 9.4 s with the per-token scan).
@Suite struct SpecialTokenMatchTests {
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

import Foundation
import Testing
@testable import LanguageModel

/// Issue 18, item 11: JSON keys are compared byte for byte, as Python's `json` and `tokenizers` do. Keys that are
/// canonically equivalent Unicode but different bytes ("é" as U+00E9 and as e + U+0301) are two keys.
@Suite struct CanonicalKeyTests {
    @Test func canonicallyEqualKeysAreDistinct() throws {
        let text = "{\"\u{E9}\": 1, \"e\u{301}\": 2}"
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(value.objectValue?.count == 2)
        #expect(value["\u{E9}"]?.intValue == 1 && value["e\u{301}"]?.intValue == 2)
        // Byte-identical keys are still duplicates.
        #expect(throws: JSONParseError.self) { _ = try JSONParser.parse(Array("{\"a\": 1, \"a\": 2}".utf8)) }
    }

    /// A vocabulary cannot hold both (its keys are Swift strings): a clear error instead of one silently replacing
    /// the other.
    @Test func vocabularyWithCanonicallyEqualTokensIsAClearError() throws {
        let data = Data("{\"\u{E9}\": 1, \"e\u{301}\": 2}".utf8)
        do {
            _ = try BPETokenizer.parseVocabulary(data, source: "vocab.json")
            Issue.record("the second token silently replaced the first")
        } catch let ModelError.invalidTokenizer(_, reason) {
            #expect(reason.contains("canonically equivalent"))
        }
    }
}

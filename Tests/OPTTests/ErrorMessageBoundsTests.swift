import Testing
@testable import LanguageModel

/// Issue 18, items 7 and 8: error messages list at most 20 names per kind with a count of the rest, and names from
/// files cannot carry terminal control sequences.
@Suite struct ErrorMessageBoundsTests {
    @Test func mismatchListsAreBounded() {
        let missing = (0..<100_000).map { "model.decoder.layers.\($0).fc1.weight" }
        let unexpected = (0..<25).map { "extra.\($0)" }
        let wrong = (0..<30).map { TensorShapeMismatch(name: "w\($0)", expected: [2], found: [3]) }
        let m = ModelError.checkpointMismatch(file: "m.safetensors", missing: missing, unexpected: unexpected,
                                              wrongShapes: wrong).description
        #expect(m.utf8.count < 4_000, "\(m.utf8.count) bytes")
        #expect(m.contains("100000 missing: ") && m.contains(" and 99980 more"))
        #expect(m.contains("25 unexpected: ") && m.contains(" and 5 more"))
        #expect(m.contains("30 with the wrong shape: ") && m.contains(" and 10 more"))
        #expect(!m.contains("layers.20.fc1"))
    }

    @Test func namesFromFilesAreEscaped() {
        let m = ModelError.tensorNotFound(file: "m.safetensors", tensor: "a\u{1B}[2J\nfake: ok").description
        #expect(!m.contains("\u{1B}") && !m.contains("\n"))
        #expect(m.contains("a\\u{1B}[2J\\u{A}fake: ok"))
        let t = ModelError.invalidTokenizer(file: "vocab.json", reason: "token \(quoted("\u{9B}31m")) is bad").description
        #expect(t.contains("\\u{9B}31m") && !t.contains("\u{9B}"))
    }
}

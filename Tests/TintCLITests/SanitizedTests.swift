import Testing
@testable import TintCLI

/// Issue 18, item 8: names from files cannot put escape sequences or fake lines on the terminal.
@Suite struct SanitizedTests {
    @Test func controlCharactersAreEscaped() {
        #expect(Sanitized.text("a\u{1B}[2Jb") == "a\\u{1B}[2Jb")
        #expect(Sanitized.text("x\ntint: ok") == "x\\u{A}tint: ok")
        #expect(Sanitized.text("\u{9B}31m\u{202E}txt") == "\\u{9B}31m\\u{202E}txt")
        #expect(Sanitized.text("Ġthe café ✓") == "Ġthe café ✓")
    }

    /// Generated text keeps its lines and tabs on a terminal but loses its escape sequences; to a file it is as is.
    @Test func generatedTextOnATerminal() {
        #expect(Sanitized.terminalText("a\u{1B}]0;title\u{7}\nb\tc", isTerminal: true) == "a\\u{1B}]0;title\\u{7}\nb\tc")
        #expect(Sanitized.terminalText("a\u{1B}[31m", isTerminal: false) == "a\u{1B}[31m")
    }
}

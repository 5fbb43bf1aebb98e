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
}

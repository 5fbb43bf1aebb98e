// Text that came from files (tensor names, tokens, JSON keys, paths) reaches the terminal inside error messages.
// Printed raw, a crafted file could send escape sequences (recolour, retitle, clear the screen) or put fake lines
// ("tint: done, 0 errors") on the user's terminal. `ModelError` escapes its own messages; every other message
// (TinT's, Foundation's, the command's own with user paths) passes through here before it is printed.
import Foundation
import LanguageModel

/// Escaping of control characters in text bound for a terminal.
enum Sanitized {
    /// `s` with every control character — C0 (newline and tab included), DEL, C1 — and every bidirectional
    /// override or isolate written as a Swift escape such as `\u{1B}`, so the message stays one visible line.
    static func text(_ s: String) -> String { escapingControlCharacters(s) }

    /// Generated text for stdout: when stdout is a terminal, tokens from the vocabulary file could carry escape
    /// sequences, so every control character except newline and tab is escaped; to a file or pipe the text is
    /// written as generated.
    static func terminalText(_ s: String, isTerminal: Bool = stdoutIsTerminal) -> String {
        guard isTerminal else { return s }
        return s.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map { escapingControlCharacters(String($0)) }
                .joined(separator: "\t") }
            .joined(separator: "\n")
    }

    static let stdoutIsTerminal = isatty(1) != 0
}

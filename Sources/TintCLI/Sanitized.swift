// Text that came from files (tensor names, tokens, JSON keys, paths) reaches the terminal inside error messages.
// Printed raw, a crafted file could send escape sequences (recolour, retitle, clear the screen) or put fake lines
// ("tint: done, 0 errors") on the user's terminal. `ModelError` escapes its own messages; every other message
// (TinT's, Foundation's, the command's own with user paths) passes through here before it is printed.
import LanguageModel

/// Escaping of control characters in text bound for a terminal.
enum Sanitized {
    /// `s` with every control character — C0 (newline and tab included), DEL, C1 — and every bidirectional
    /// override or isolate written as a Swift escape such as `\u{1B}`, so the message stays one visible line.
    static func text(_ s: String) -> String { escapingControlCharacters(s) }
}

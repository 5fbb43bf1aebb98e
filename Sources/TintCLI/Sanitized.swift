// Text that came from files (tensor names, tokens, JSON keys, paths) reaches the terminal inside error messages.
// Printed raw, a crafted file could send escape sequences (recolour, retitle, clear the screen) or put fake lines
// ("tint: done, 0 errors") on the user's terminal. Every library error message is passed through here first.

/// Escaping of control characters in text bound for a terminal.
enum Sanitized {
    /// `s` with every control character — C0 (newline and tab included), DEL, C1 — and every bidirectional
    /// override or isolate written as a Swift escape such as `\u{1B}`, so the message stays one visible line.
    static func text(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: needsEscape) else { return s }
        var out = ""
        out.unicodeScalars.reserveCapacity(s.unicodeScalars.count)
        for u in s.unicodeScalars {
            if needsEscape(u) {
                out += "\\u{" + String(u.value, radix: 16, uppercase: true) + "}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    static func needsEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F: return true               // C0 (incl. ESC, CR, LF), DEL, C1 (incl. CSI)
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true  // bidi marks, overrides, isolates
        case 0x2028, 0x2029: return true                          // line and paragraph separators
        default: return false
        }
    }
}

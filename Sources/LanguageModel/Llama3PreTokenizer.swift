/// Llama-3's pre-tokenisation: the regular expression
///
///     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
///
/// matched by hand over Unicode scalars with the character classes of ``GPT2PreTokenizer`` (general
/// categories L* and N*, `White_Space`). The alternatives are tried in order at each position, as the
/// regex engine does; every scalar falls in some alternative, so the pieces tile the text.
enum Llama3PreTokenizer {
    /// The pattern exactly as Llama-3's `tokenizer.json` spells it (JSON-unescaped).
    static let pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    @inline(__always) static func isCRLF(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" }

    /// A scalar that `(?i:s)` etc. match: the ASCII letter either case (and U+017F ſ, which case-folds to s).
    @inline(__always) static func folds(_ s: Unicode.Scalar, to lower: Unicode.Scalar) -> Bool {
        s == lower || s.value == lower.value - 32 || (lower == "s" && s == "\u{17F}")
    }

    /// The length of the contraction `(?i:'s|'t|'re|'ve|'m|'ll|'d)` at `i`, or 0.
    static func contraction(_ x: [Unicode.Scalar], _ i: Int, _ n: Int) -> Int {
        guard x[i] == "'", i + 1 < n else { return 0 }
        let a = x[i + 1]
        if folds(a, to: "s") || folds(a, to: "t") || folds(a, to: "m") || folds(a, to: "d") { return 2 }
        guard i + 2 < n else { return 0 }
        let b = x[i + 2]
        if (folds(a, to: "r") && folds(b, to: "e")) || (folds(a, to: "v") && folds(b, to: "e"))
            || (folds(a, to: "l") && folds(b, to: "l")) { return 3 }
        return 0
    }

    /// Calls `body` with the range of each piece of `x[range]`, in order; the pieces tile the range.
    static func split(_ x: [Unicode.Scalar], in range: Range<Int>, _ body: (Range<Int>) -> Void) {
        let n = range.upperBound
        var i = range.lowerBound
        func cls(_ j: Int) -> GPT2PreTokenizer.Class { GPT2PreTokenizer.classOf(x[j]) }
        while i < n {
            let c = x[i]
            let k = contraction(x, i, n)
            if k > 0 { body(i..<(i + k)); i += k; continue }
            let ci = cls(i)
            // [^\r\n\p{L}\p{N}]?\p{L}+
            var letters = -1
            if ci == .letter { letters = i }
            else if ci != .number && !isCRLF(c) && i + 1 < n && cls(i + 1) == .letter { letters = i + 1 }
            if letters >= 0 {
                var j = letters + 1
                while j < n && cls(j) == .letter { j += 1 }
                body(i..<j); i = j; continue
            }
            // \p{N}{1,3}
            if ci == .number {
                var j = i + 1
                while j < n && j < i + 3 && cls(j) == .number { j += 1 }
                body(i..<j); i = j; continue
            }
            // ` ?[^\s\p{L}\p{N}]+[\r\n]*`
            var p = i
            if c == " " && i + 1 < n && cls(i + 1) == .other { p = i + 1 }
            if cls(p) == .other {
                var j = p + 1
                while j < n && cls(j) == .other { j += 1 }
                while j < n && isCRLF(x[j]) { j += 1 }
                body(i..<j); i = j; continue
            }
            // Whitespace from here on: the run is x[i..<j].
            var j = i + 1
            while j < n && cls(j) == .whitespace { j += 1 }
            // \s*[\r\n]+ : backtracking \s* ends the match just after the run's last \r or \n.
            var last = j - 1
            while last >= i && !isCRLF(x[last]) { last -= 1 }
            if last >= i { body(i..<(last + 1)); i = last + 1; continue }
            // \s+(?!\S) leaves the run's last whitespace for the next piece when a non-space follows;
            // \s+ takes a lone whitespace before a non-space.
            let end = (j < n && j - i >= 2) ? j - 1 : j
            body(i..<end); i = end
        }
    }
}

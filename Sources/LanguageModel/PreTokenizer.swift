/// GPT-2's pre-tokenisation: the regular expression
///
///     's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
///
/// matched by hand over Unicode scalars, with the semantics of Python's `regex` module (which GPT-2 and
/// `transformers` use): `\p{L}` and `\p{N}` are general categories L* and N*, `\s` is the Unicode
/// `White_Space` property, and the optional prefix is the space U+0020 only. Working on scalars rather
/// than `Character`s matters: a combining mark is its own piece (category M, so neither letter nor
/// number), where a grapheme cluster would glue it to its base.
enum GPT2PreTokenizer {
    /// The pattern as GPT-2's `tokenizer.json` spells it in a `Split` pre-tokenizer (JSON-unescaped).
    static let pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#

    enum Class: UInt8 {
        case letter, number, whitespace, other
    }

    static let asciiClasses: [Class] = (0..<128).map { classify(Unicode.Scalar(UInt8($0))) }

    static func classify(_ s: Unicode.Scalar) -> Class {
        let p = s.properties
        if p.isWhitespace { return .whitespace }
        switch p.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }

    @inline(__always)
    static func classOf(_ s: Unicode.Scalar) -> Class {
        s.value < 128 ? asciiClasses[Int(s.value)] : classify(s)
    }

    /// Calls `body` with the range of each piece of `scalars[range]`, in order; the pieces tile the range.
    static func split(_ scalars: [Unicode.Scalar], in range: Range<Int>, _ body: (Range<Int>) -> Void) {
        let n = range.upperBound
        var i = range.lowerBound
        let space: Unicode.Scalar = " ", apostrophe: Unicode.Scalar = "'"
        while i < n {
            let c = scalars[i]
            // 's 't 're 've 'm 'll 'd (case-sensitive)
            if c == apostrophe, i + 1 < n {
                let a = scalars[i + 1]
                if a == "s" || a == "t" || a == "m" || a == "d" {
                    body(i..<(i + 2)); i += 2; continue
                }
                if i + 2 < n {
                    let b = scalars[i + 2]
                    if (a == "r" && b == "e") || (a == "v" && b == "e") || (a == "l" && b == "l") {
                        body(i..<(i + 3)); i += 3; continue
                    }
                }
            }
            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: a run of one class, optionally after one space.
            var start = i
            var cls = classOf(c)
            if c == space, i + 1 < n {
                let next = classOf(scalars[i + 1])
                if next != .whitespace { start = i + 1; cls = next }
            }
            if cls != .whitespace {
                var j = start + 1
                while j < n && classOf(scalars[j]) == cls { j += 1 }
                body(i..<j); i = j; continue
            }
            // `\s+(?!\S)` keeps the run's last whitespace for the next piece when a non-space follows;
            // `\s+` takes a lone whitespace before a non-space.
            var j = i + 1
            while j < n && classOf(scalars[j]) == .whitespace { j += 1 }
            let end = (j < n && j - i >= 2) ? j - 1 : j
            body(i..<end); i = end
        }
    }
}

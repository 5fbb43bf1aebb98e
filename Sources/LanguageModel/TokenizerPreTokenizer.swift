/// A piece of text on its way to the model: its scalars, and whether it begins the original text
/// (Metaspace's `prepend_scheme: "first"` prepends only there).
struct PreToken {
    var scalars: [Unicode.Scalar]
    var atStart: Bool
}

/// Metaspace's `prepend_scheme`.
enum PrependScheme: String {
    case always, first, never
}

/// What `Split` does with a match: `tokenizers`' `SplitDelimiterBehavior`.
enum SplitBehavior: String {
    case removed = "Removed", isolated = "Isolated", mergedWithPrevious = "MergedWithPrevious"
    case mergedWithNext = "MergedWithNext", contiguous = "Contiguous"
}

/// What a split looks for.
enum SplitPattern {
    /// A literal string.
    case literal([Unicode.Scalar])
    /// GPT-2's regex (``GPT2PreTokenizer``).
    case gpt2
    /// Llama-3's regex (``Llama3PreTokenizer``).
    case llama3
    /// Each scalar satisfying a predicate is one match (Metaspace's replacement, Digits).
    case scalar((Unicode.Scalar) -> Bool)

    /// The regexes tint implements, by their exact text.
    static func regex(_ r: String) -> SplitPattern? {
        if r == GPT2PreTokenizer.pattern { return .gpt2 }
        if r == Llama3PreTokenizer.pattern { return .llama3 }
        if let literal = regexLiteral(r) { return .literal(literal) }
        return nil
    }

    /// The parts of `x`, tiling it, each marked as a match or not (`tokenizers`' `find_matches`).
    func parts(_ x: [Unicode.Scalar]) -> [(range: Range<Int>, isMatch: Bool)] {
        var out: [(range: Range<Int>, isMatch: Bool)] = []
        var previous = 0
        func match(_ r: Range<Int>) {
            if previous < r.lowerBound { out.append((previous..<r.lowerBound, false)) }
            out.append((r, true))
            previous = r.upperBound
        }
        switch self {
        case .literal(let p):
            for s in literalMatches(p, in: x) { match(s..<(s + p.count)) }
        case .gpt2:
            GPT2PreTokenizer.split(x, in: 0..<x.count, match)
        case .llama3:
            Llama3PreTokenizer.split(x, in: 0..<x.count, match)
        case .scalar(let isMatch):
            for (i, s) in x.enumerated() where isMatch(s) { match(i..<(i + 1)) }
        }
        if previous < x.count { out.append((previous..<x.count, false)) }
        return out
    }
}

/// A `tokenizer.json` pre-tokenizer: splits normalized text into the pieces the model encodes one by one.
///
/// Implemented: `ByteLevel`, `Split` (a string, or the GPT-2 or Llama-3 regex), `Metaspace`, `Digits` and
/// `Sequence`; anything else is refused by name when the file is read.
indirect enum TokenPreTokenizer {
    case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
    case split(SplitPattern, SplitBehavior, invert: Bool)
    case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme, split: Bool)
    case digits(individual: Bool)
    case sequence([TokenPreTokenizer])

    static let supported = ["ByteLevel", "Split", "Metaspace", "Digits", "Sequence"]

    /// The pre-tokenizer described by `v` (nil for JSON null), found at `path`.
    static func parse(_ v: JSONValue, _ path: String, _ spec: TokenizerSpec) throws -> TokenPreTokenizer? {
        if v.isNull { return nil }
        let type = try spec.type(v, path)
        switch type {
        case "ByteLevel":
            return .byteLevel(addPrefixSpace: try spec.bool(v, "add_prefix_space", path, default: true),
                              useRegex: try spec.bool(v, "use_regex", path, default: true))
        case "Split":
            guard let p = v["pattern"], p.objectValue?.count == 1 else {
                throw spec.fail("\(path).pattern", "expected {\"String\": …} or {\"Regex\": …}")
            }
            let pattern: SplitPattern
            if let s = p["String"]?.stringValue {
                pattern = .literal(Array(s.unicodeScalars))
            } else if let r = p["Regex"]?.stringValue {
                guard let known = SplitPattern.regex(r) else {
                    throw spec.fail("\(path).pattern.Regex", "regular expression \(quoted(r)) is not supported by tint (supported: GPT-2's and Llama-3's split patterns, and literals)")
                }
                pattern = known
            } else {
                throw spec.fail("\(path).pattern", "expected {\"String\": …} or {\"Regex\": …}")
            }
            let b = try spec.string(v, "behavior", path)
            guard let behavior = SplitBehavior(rawValue: b) else {
                throw spec.fail("\(path).behavior", "split behavior \(quoted(b)) is not supported (supported: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous)")
            }
            return .split(pattern, behavior, invert: try spec.bool(v, "invert", path, default: false))
        case "Metaspace":
            let replacement = try spec.scalar(v, "replacement", path)
            let scheme: PrependScheme
            if let s = try spec.optionalString(v, "prepend_scheme", path) {
                guard let known = PrependScheme(rawValue: s) else {
                    throw spec.fail("\(path).prepend_scheme", "prepend scheme \(quoted(s)) is not supported (supported: always, first, never)")
                }
                scheme = known
            } else {
                // Files older than prepend_scheme say add_prefix_space.
                scheme = try spec.bool(v, "add_prefix_space", path, default: true) ? .always : .never
            }
            return .metaspace(replacement: replacement, prepend: scheme, split: try spec.bool(v, "split", path, default: true))
        case "Digits":
            return .digits(individual: try spec.bool(v, "individual_digits", path, default: false))
        case "Sequence":
            let items = try spec.array(v, "pretokenizers", path)
            return .sequence(try items.enumerated().map { i, item in
                guard let p = try parse(item, "\(path).pretokenizers[\(i)]", spec) else {
                    throw spec.fail("\(path).pretokenizers[\(i)]", "expected a pre-tokenizer, found null")
                }
                return p
            })
        default:
            throw spec.unsupported(path, "pre-tokenizer", type, supported: supported)
        }
    }

    /// Splits (and for ByteLevel, respells) every piece in place.
    func apply(_ pieces: inout [PreToken]) {
        switch self {
        case let .byteLevel(addPrefixSpace, useRegex):
            var out: [PreToken] = []
            for var piece in pieces {
                if addPrefixSpace && piece.scalars.first != " " { piece.scalars.insert(" ", at: 0) }
                let parts = useRegex ? Self.split(piece, .gpt2, .isolated, invert: false) : [piece]
                for var part in parts {
                    // The byte-level alphabet: each UTF-8 byte becomes one printable scalar.
                    var spelled: [Unicode.Scalar] = []
                    spelled.reserveCapacity(part.scalars.count)
                    for s in part.scalars { UTF8.encode(s) { spelled.append(ByteLevel.scalarForByte[Int($0)]) } }
                    part.scalars = spelled
                    out.append(part)
                }
            }
            pieces = out
        case let .split(pattern, behavior, invert):
            pieces = pieces.flatMap { Self.split($0, pattern, behavior, invert: invert) }
        case let .metaspace(replacement, scheme, split):
            var out: [PreToken] = []
            for var piece in pieces {
                piece.scalars = piece.scalars.map { $0 == " " ? replacement : $0 }
                let prepend = scheme == .always || (scheme == .first && piece.atStart)
                if prepend && piece.scalars.first != replacement { piece.scalars.insert(replacement, at: 0) }
                if split {
                    out += Self.split(piece, .scalar { $0 == replacement }, .mergedWithNext, invert: false)
                } else {
                    out.append(piece)
                }
            }
            pieces = out
        case .digits(let individual):
            let numeric = SplitPattern.scalar { GPT2PreTokenizer.classOf($0) == .number }
            pieces = pieces.flatMap { Self.split($0, numeric, individual ? .isolated : .contiguous, invert: false) }
        case .sequence(let items):
            for p in items { p.apply(&pieces) }
        }
    }

    /// `piece` split at the matches of `pattern` as `behavior` says (`tokenizers`' `NormalizedString::split`);
    /// empty pieces are dropped.
    static func split(_ piece: PreToken, _ pattern: SplitPattern, _ behavior: SplitBehavior, invert: Bool) -> [PreToken] {
        var parts = pattern.parts(piece.scalars)
        if invert { parts = parts.map { ($0.range, !$0.isMatch) } }
        var kept: [(range: Range<Int>, remove: Bool)] = []
        var previousMatch = false
        switch behavior {
        case .isolated:
            kept = parts.map { ($0.range, false) }
        case .removed:
            kept = parts.map { ($0.range, $0.isMatch) }
        case .contiguous:
            for (r, isMatch) in parts {
                if isMatch == previousMatch, let last = kept.last {
                    kept[kept.count - 1].range = last.range.lowerBound..<r.upperBound
                } else {
                    kept.append((r, false))
                }
                previousMatch = isMatch
            }
        case .mergedWithPrevious:
            for (r, isMatch) in parts {
                if isMatch && !previousMatch, let last = kept.last {
                    kept[kept.count - 1].range = last.range.lowerBound..<r.upperBound
                } else {
                    kept.append((r, false))
                }
                previousMatch = isMatch
            }
        case .mergedWithNext:
            for (r, isMatch) in parts.reversed() {
                if isMatch && !previousMatch, let last = kept.last {
                    kept[kept.count - 1].range = r.lowerBound..<last.range.upperBound
                } else {
                    kept.append((r, false))
                }
                previousMatch = isMatch
            }
            kept.reverse()
        }
        return kept.compactMap { r, remove in
            guard !remove && !r.isEmpty else { return nil }
            return PreToken(scalars: Array(piece.scalars[r]), atStart: piece.atStart && r.lowerBound == 0)
        }
    }
}

/// A `tokenizer.json` decoder: turns the tokens of some ids back into text, as a chain of steps over the
/// list of token strings (`tokenizers`' `decode_chain`), whose results are finally concatenated.
///
/// Implemented: `ByteLevel`, `Replace` (a string pattern), `ByteFallback`, `Fuse`, `Strip`, `Metaspace`
/// and `Sequence`; anything else is refused by name when the file is read.
indirect enum TokenDecoder {
    case byteLevel
    case replace(pattern: [Unicode.Scalar], content: [Unicode.Scalar])
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case metaspace(replacement: Unicode.Scalar, prepend: PrependScheme)
    case sequence([TokenDecoder])

    static let supported = ["ByteLevel", "Replace", "ByteFallback", "Fuse", "Strip", "Metaspace", "Sequence"]

    /// The decoder described by `v` (nil for JSON null), found at `path`.
    static func parse(_ v: JSONValue, _ path: String, _ spec: TokenizerSpec) throws -> TokenDecoder? {
        if v.isNull { return nil }
        let type = try spec.type(v, path)
        switch type {
        case "ByteLevel": return .byteLevel
        case "Replace":
            return .replace(pattern: try spec.literalPattern(v, "pattern", path),
                            content: Array(try spec.string(v, "content", path).unicodeScalars))
        case "ByteFallback": return .byteFallback
        case "Fuse": return .fuse
        case "Strip":
            return .strip(content: try spec.scalar(v, "content", path),
                          start: try spec.int(v, "start", path, range: 0...1 << 20),
                          stop: try spec.int(v, "stop", path, range: 0...1 << 20))
        case "Metaspace":
            let replacement = try spec.scalar(v, "replacement", path)
            var scheme = PrependScheme.always
            if let s = try spec.optionalString(v, "prepend_scheme", path) {
                guard let known = PrependScheme(rawValue: s) else {
                    throw spec.fail("\(path).prepend_scheme", "prepend scheme \(quoted(s)) is not supported (supported: always, first, never)")
                }
                scheme = known
            } else if !(try spec.bool(v, "add_prefix_space", path, default: true)) {
                scheme = .never
            }
            return .metaspace(replacement: replacement, prepend: scheme)
        case "Sequence":
            let items = try spec.array(v, "decoders", path)
            return .sequence(try items.enumerated().map { i, item in
                guard let d = try parse(item, "\(path).decoders[\(i)]", spec) else {
                    throw spec.fail("\(path).decoders[\(i)]", "expected a decoder, found null")
                }
                return d
            })
        default:
            throw spec.unsupported(path, "decoder", type, supported: supported)
        }
    }

    /// One step of the chain over the token strings.
    func apply(_ tokens: [[Unicode.Scalar]]) -> [[Unicode.Scalar]] {
        switch self {
        case .byteLevel:
            // Every scalar of the byte-level alphabet is its byte; a token with any other scalar is its own
            // UTF-8 (so added tokens survive). Invalid UTF-8 becomes U+FFFD, as `from_utf8_lossy` does.
            var bytes: [UInt8] = []
            for t in tokens {
                if let b = ByteLevel.decode(scalars: t) { bytes += b } else { for s in t { UTF8.encode(s) { bytes.append($0) } } }
            }
            return [Array(String(decoding: bytes, as: UTF8.self).unicodeScalars)]
        case let .replace(pattern, content):
            return tokens.map { replaceLiteral(pattern, with: content, in: $0) }
        case .byteFallback:
            var out: [[Unicode.Scalar]] = []
            var pending: [UInt8] = []
            func flush() {
                guard !pending.isEmpty else { return }
                if let s = validUTF8String(pending) {
                    out.append(Array(s.unicodeScalars))
                } else {
                    // `tokenizers` writes one U+FFFD per byte of an invalid run.
                    out += Array(repeating: ["\u{FFFD}"], count: pending.count)
                }
                pending.removeAll()
            }
            for t in tokens {
                if let b = Self.fallbackByte(t) { pending.append(b) } else { flush(); out.append(t) }
            }
            flush()
            return out
        case .fuse:
            return [tokens.flatMap { $0 }]
        case let .strip(content, start, stop):
            return tokens.map { t in
                var lo = 0, hi = t.count
                while lo < min(start, t.count) && t[lo] == content { lo += 1 }
                var cut = 0
                while cut < stop && hi > lo && t[hi - 1] == content { hi -= 1; cut += 1 }
                return Array(t[lo..<hi])
            }
        case let .metaspace(replacement, scheme):
            // As `tokenizers`: in the first token every replacement character is dropped (unless the
            // scheme is never); elsewhere each becomes a space.
            return tokens.enumerated().map { i, t in
                t.compactMap { s in s == replacement ? (i == 0 && scheme != .never ? nil : " ") : s }
            }
        case .sequence(let items):
            var t = tokens
            for d in items { t = d.apply(t) }
            return t
        }
    }

    /// The byte of a `<0xNN>` token: six scalars, parsed as Rust's `u8::from_str_radix(_, 16)` does
    /// (either case, and a leading `+` with one digit), else nil.
    static func fallbackByte(_ t: [Unicode.Scalar]) -> UInt8? {
        guard t.count == 6, t[0] == "<", t[1] == "0", t[2] == "x", t[5] == ">" else { return nil }
        let digits = t[3] == "+" ? [t[4]] : [t[3], t[4]]
        var v: UInt8 = 0
        for d in digits {
            guard d.isASCII, let h = UInt8(String(d), radix: 16) else { return nil }
            v = v &* 16 &+ h
        }
        return v
    }
}

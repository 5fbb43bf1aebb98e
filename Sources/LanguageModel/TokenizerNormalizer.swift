import Foundation

/// A `tokenizer.json` normalizer: rewrites the text between added tokens before pre-tokenisation.
///
/// Implemented: `Prepend`, `Replace` (a string pattern), `NFC`, `NFD`, `NFKC`, `NFKD` and `Sequence` of
/// these; anything else is refused by name when the file is read.
indirect enum TokenNormalizer {
    case prepend([Unicode.Scalar])
    case replace(pattern: [Unicode.Scalar], content: [Unicode.Scalar])
    case nfc, nfd, nfkc, nfkd
    case sequence([TokenNormalizer])

    static let supported = ["Prepend", "Replace", "NFC", "NFD", "NFKC", "NFKD", "Sequence"]

    /// The normalizer described by `v` (nil for JSON null), found at `path`.
    static func parse(_ v: JSONValue, _ path: String, _ spec: TokenizerSpec) throws -> TokenNormalizer? {
        if v.isNull { return nil }
        let type = try spec.type(v, path)
        switch type {
        case "Prepend":
            return .prepend(Array(try spec.string(v, "prepend", path).unicodeScalars))
        case "Replace":
            return .replace(pattern: try spec.literalPattern(v, "pattern", path),
                            content: Array(try spec.string(v, "content", path).unicodeScalars))
        case "NFC": return .nfc
        case "NFD": return .nfd
        case "NFKC": return .nfkc
        case "NFKD": return .nfkd
        case "Sequence":
            let items = try spec.array(v, "normalizers", path)
            return .sequence(try items.enumerated().map { i, item in
                guard let n = try parse(item, "\(path).normalizers[\(i)]", spec) else {
                    throw spec.fail("\(path).normalizers[\(i)]", "expected a normalizer, found null")
                }
                return n
            })
        default:
            throw spec.unsupported(path, "normalizer", type, supported: supported)
        }
    }

    /// Normalizes `text` in place.
    func apply(_ text: inout [Unicode.Scalar]) {
        switch self {
        case .prepend(let p):
            // `tokenizers` prepends only to non-empty text.
            if !text.isEmpty { text.insert(contentsOf: p, at: 0) }
        case let .replace(pattern, content):
            text = replaceLiteral(pattern, with: content, in: text)
        case .nfc: text = Self.scalars(Self.string(text).precomposedStringWithCanonicalMapping)
        case .nfd: text = Self.scalars(Self.string(text).decomposedStringWithCanonicalMapping)
        case .nfkc: text = Self.scalars(Self.string(text).precomposedStringWithCompatibilityMapping)
        case .nfkd: text = Self.scalars(Self.string(text).decomposedStringWithCompatibilityMapping)
        case .sequence(let items):
            for n in items { n.apply(&text) }
        }
    }

    /// The normalized form of a whole string (for added tokens marked `normalized`).
    func apply(_ s: String) -> String {
        var scalars = Self.scalars(s)
        apply(&scalars)
        return Self.string(scalars)
    }

    private static func string(_ s: [Unicode.Scalar]) -> String {
        var v = String.UnicodeScalarView()
        v.append(contentsOf: s)
        return String(v)
    }

    private static func scalars(_ s: String) -> [Unicode.Scalar] { Array(s.unicodeScalars) }
}

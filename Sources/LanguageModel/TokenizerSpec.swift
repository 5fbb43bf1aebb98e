/// Reading one `tokenizer.json`: typed access to its members with the JSON path of each in errors.
///
/// Every message names the file and the path (`pre_tokenizer.pretokenizers[0].pattern`), so a refused
/// component or a malformed field can be found in a file of megabytes.
struct TokenizerSpec {
    /// The file, for ``ModelError/invalidTokenizer(file:reason:)``.
    let file: String

    func fail(_ path: String, _ reason: String) -> ModelError {
        .invalidTokenizer(file: file, reason: "\(path): \(reason)")
    }

    /// The error for a component type tint does not implement: named with its path, never approximated.
    func unsupported(_ path: String, _ kind: String, _ type: String, supported: [String]) -> ModelError {
        fail(path, "\(kind) type \(quoted(type)) is not supported by tint (supported: \(supported.joined(separator: ", ")))")
    }

    /// The `"type"` member of a component object.
    func type(_ v: JSONValue, _ path: String) throws -> String {
        guard v.objectValue != nil else { throw fail(path, "expected an object, found \(v.kind)") }
        guard let t = v["type"]?.stringValue else { throw fail(path, "a component needs a string \"type\"") }
        return t
    }

    func string(_ v: JSONValue, _ key: String, _ path: String) throws -> String {
        guard let s = v[key]?.stringValue else {
            throw fail("\(path).\(key)", "expected a string, found \(v[key]?.kind ?? "nothing")")
        }
        return s
    }

    /// A string member that may be absent or null.
    func optionalString(_ v: JSONValue, _ key: String, _ path: String) throws -> String? {
        guard let m = v[key], !m.isNull else { return nil }
        guard let s = m.stringValue else { throw fail("\(path).\(key)", "expected a string or null, found \(m.kind)") }
        return s
    }

    /// A boolean member; `defaultValue` when absent (nil: required).
    func bool(_ v: JSONValue, _ key: String, _ path: String, default defaultValue: Bool? = nil) throws -> Bool {
        guard let m = v[key], !(m.isNull && defaultValue != nil) else {
            if let defaultValue { return defaultValue }
            throw fail("\(path).\(key)", "missing boolean")
        }
        guard case let .bool(b) = m else { throw fail("\(path).\(key)", "expected a boolean, found \(m.kind)") }
        return b
    }

    func int(_ v: JSONValue, _ key: String, _ path: String, range: ClosedRange<Int>) throws -> Int {
        guard let m = v[key], let i = m.intValue, range.contains(i) else {
            throw fail("\(path).\(key)", "expected an integer in \(range.lowerBound)...\(range.upperBound), found \(v[key]?.brief ?? "nothing")")
        }
        return i
    }

    func array(_ v: JSONValue, _ key: String, _ path: String) throws -> [JSONValue] {
        guard let a = v[key]?.arrayValue else {
            throw fail("\(path).\(key)", "expected an array, found \(v[key]?.kind ?? "nothing")")
        }
        return a
    }

    /// One Unicode scalar (Metaspace's replacement, Strip's content).
    func scalar(_ v: JSONValue, _ key: String, _ path: String) throws -> Unicode.Scalar {
        let s = try string(v, key, path)
        guard s.unicodeScalars.count == 1 else { throw fail("\(path).\(key)", "expected one character, found \(quoted(s))") }
        return s.unicodeScalars.first!
    }

    /// A `{"String": …}` pattern, or a `{"Regex": …}` pattern without regex syntax (a literal), as scalars.
    /// Any other regex is refused here; only `Split` recognises the regexes it implements.
    func literalPattern(_ v: JSONValue, _ key: String, _ path: String) throws -> [Unicode.Scalar] {
        guard let p = v[key], p.objectValue?.count == 1 else {
            throw fail("\(path).\(key)", "expected {\"String\": …} or {\"Regex\": …}")
        }
        if let s = p["String"]?.stringValue { return Array(s.unicodeScalars) }
        if let r = p["Regex"]?.stringValue {
            if let literal = regexLiteral(r) { return literal }
            throw fail("\(path).\(key).Regex", "regular expression \(quoted(r)) is not supported here (only a String pattern or a regex without special characters)")
        }
        throw fail("\(path).\(key)", "expected {\"String\": …} or {\"Regex\": …}")
    }
}

/// The text a regex matches when it is a plain literal (no metacharacters), else nil.
func regexLiteral(_ r: String) -> [Unicode.Scalar]? {
    let meta = Set("\\^$.|?*+()[]{}".unicodeScalars)
    return r.unicodeScalars.contains(where: meta.contains) ? nil : Array(r.unicodeScalars)
}

/// The start of each non-overlapping occurrence of `pattern` in `text`, leftmost first (a regex of the
/// escaped literal, as `tokenizers` matches a string pattern). An empty pattern occurs nowhere.
func literalMatches(_ pattern: [Unicode.Scalar], in text: [Unicode.Scalar]) -> [Int] {
    guard !pattern.isEmpty, text.count >= pattern.count else { return [] }
    var starts: [Int] = []
    var i = 0
    let first = pattern[0]
    while i + pattern.count <= text.count {
        if text[i] == first && text[i..<(i + pattern.count)].elementsEqual(pattern) {
            starts.append(i)
            i += pattern.count
        } else {
            i += 1
        }
    }
    return starts
}

/// `text` with each occurrence of `pattern` replaced by `content`.
func replaceLiteral(_ pattern: [Unicode.Scalar], with content: [Unicode.Scalar], in text: [Unicode.Scalar]) -> [Unicode.Scalar] {
    let starts = literalMatches(pattern, in: text)
    guard !starts.isEmpty else { return text }
    var out: [Unicode.Scalar] = []
    out.reserveCapacity(text.count + starts.count * max(0, content.count - pattern.count))
    var i = 0
    for s in starts {
        out.append(contentsOf: text[i..<s])
        out.append(contentsOf: content)
        i = s + pattern.count
    }
    out.append(contentsOf: text[i...])
    return out
}

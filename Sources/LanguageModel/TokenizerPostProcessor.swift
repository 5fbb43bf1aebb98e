/// What a `tokenizer.json` post-processor adds around a single sequence's ids when special tokens are
/// wanted: fixed ids before and after.
///
/// Implemented: `TemplateProcessing` (a `single` template of special tokens and `$A`), `ByteLevel` (no
/// change to ids), `RobertaProcessing` and `BertProcessing` (`cls … sep`), and `Sequence` of these;
/// anything else is refused by name when the file is read. Pair templates are not used by tint.
struct TokenPostProcessor: Equatable {
    var prefix: [Int] = []
    var suffix: [Int] = []

    static let supported = ["TemplateProcessing", "ByteLevel", "RobertaProcessing", "BertProcessing", "Sequence"]

    /// The post-processor described by `v` (none for JSON null), found at `path`.
    static func parse(_ v: JSONValue, _ path: String, _ spec: TokenizerSpec) throws -> TokenPostProcessor {
        if v.isNull { return TokenPostProcessor() }
        let type = try spec.type(v, path)
        switch type {
        case "ByteLevel":
            return TokenPostProcessor()
        case "RobertaProcessing", "BertProcessing":
            func pair(_ key: String) throws -> Int {
                guard let a = v[key]?.arrayValue, a.count == 2, a[0].stringValue != nil, let id = a[1].intValue, id >= 0 else {
                    throw spec.fail("\(path).\(key)", "expected [token, id]")
                }
                return id
            }
            return TokenPostProcessor(prefix: [try pair("cls")], suffix: [try pair("sep")])
        case "TemplateProcessing":
            var specials: [String: [Int]] = [:]
            guard let table = v["special_tokens"]?.objectValue else {
                throw spec.fail("\(path).special_tokens", "expected an object")
            }
            for (name, entry) in table {
                guard let ids = entry["ids"]?.arrayValue?.compactMap({ $0.intValue }), ids.allSatisfy({ $0 >= 0 }),
                      ids.count == entry["ids"]?.arrayValue?.count else {
                    throw spec.fail("\(path).special_tokens[\(quoted(name))].ids", "expected an array of ids")
                }
                specials[name] = ids
            }
            var result = TokenPostProcessor()
            var sawSequence = false
            for (i, item) in try spec.array(v, "single", path).enumerated() {
                let itemPath = "\(path).single[\(i)]"
                if let s = item["SpecialToken"], let name = s["id"]?.stringValue {
                    guard let ids = specials[name] else {
                        throw spec.fail(itemPath, "special token \(quoted(name)) is not in special_tokens")
                    }
                    if sawSequence { result.suffix += ids } else { result.prefix += ids }
                } else if let s = item["Sequence"], let name = s["id"]?.stringValue {
                    guard name == "A", !sawSequence else {
                        throw spec.fail(itemPath, "a single template must hold the sequence $A exactly once, found $\(name)")
                    }
                    sawSequence = true
                } else {
                    throw spec.fail(itemPath, "expected {\"SpecialToken\": …} or {\"Sequence\": …}")
                }
            }
            guard sawSequence else { throw spec.fail("\(path).single", "the template has no $A") }
            return result
        case "Sequence":
            var result = TokenPostProcessor()
            for (i, item) in try spec.array(v, "processors", path).enumerated() {
                // Each processor wraps the output of the ones before it.
                let p = try parse(item, "\(path).processors[\(i)]", spec)
                result = TokenPostProcessor(prefix: p.prefix + result.prefix, suffix: result.suffix + p.suffix)
            }
            return result
        default:
            throw spec.unsupported(path, "post-processor", type, supported: supported)
        }
    }
}

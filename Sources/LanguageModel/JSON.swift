/// A parsed JSON value. Numbers keep their text so integers are read exactly (no trip through Double);
/// objects keep their members in file order.
package enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// A short name of the value's kind for messages.
    package var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// The value itself for scalars (strings shortened), its kind otherwise; for messages.
    package var brief: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return String(b)
        case .number(let text): return text
        case .string(let s): return s.count > 40 ? quoted(String(s.prefix(40)) + "…") : quoted(s)
        case .array, .object: return kind
        }
    }

    package var isNull: Bool { if case .null = self { true } else { false } }
    package var isBool: Bool { if case .bool = self { true } else { false } }
    package var isNumber: Bool { if case .number = self { true } else { false } }

    /// The value as an `Int` when it is an integer literal (no fraction or exponent) that fits.
    package var intValue: Int? {
        guard case let .number(text) = self else { return nil }
        return Int(text)
    }

    package var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    package var arrayValue: [JSONValue]? {
        if case let .array(a) = self { return a }
        return nil
    }

    package var objectValue: [(key: String, value: JSONValue)]? {
        if case let .object(o) = self { return o }
        return nil
    }

    /// The member named `key` of an object (objects never hold duplicate keys once parsed).
    subscript(key: String) -> JSONValue? {
        guard case let .object(members) = self else { return nil }
        return members.first(where: { $0.key.utf8.elementsEqual(key.utf8) })?.value
    }
}

/// Why a JSON text could not be parsed, and where (a byte offset into the text).
package struct JSONParseError: Error, Sendable {
    package var offset: Int
    package var reason: String

    package var description: String { "\(reason) at byte \(offset) of the JSON text" }
}

/// A strict JSON (RFC 8259) parser over UTF-8 bytes: rejects duplicate object keys, invalid UTF-8, lone
/// surrogate escapes, control characters in strings, trailing garbage and nesting deeper than `maxDepth`.
package struct JSONParser {
    static let maxDepth = 256

    /// Parses one JSON value that fills `bytes` (surrounding whitespace allowed).
    package static func parse(_ bytes: UnsafeRawBufferPointer) throws -> JSONValue {  // throws JSONParseError
        var parser = JSONParser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        guard parser.i == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    /// Parses one JSON value from a byte array.
    package static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBytes { try parse($0) }
    }

    let bytes: UnsafeRawBufferPointer
    var i = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    func error(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(offset: offset ?? i, reason: reason)
    }

    var atEnd: Bool { i >= bytes.count }
    var current: UInt8 { bytes[i] }

    mutating func skipWhitespace() {
        while i < bytes.count {
            switch bytes[i] {
            case 0x20, 0x09, 0x0A, 0x0D: i += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard !atEnd else { throw error("unexpected end of JSON text") }
        switch current {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character \(describeByte(current))")
        }
    }

    mutating func expectLiteral(_ word: StaticString) throws {
        let start = i
        let n = word.utf8CodeUnitCount
        guard bytes.count - i >= n else { throw error("invalid literal", at: start) }
        for k in 0..<n where bytes[i + k] != word.utf8Start[k] {
            throw error("invalid literal", at: start)
        }
        i += n
    }

    mutating func parseObject(depth: Int) throws -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("JSON nested deeper than \(JSONParser.maxDepth) levels") }
        i += 1  // {
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<[UInt8]>()
        skipWhitespace()
        if !atEnd && current == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of JSON text inside an object") }
            guard current == UInt8(ascii: "\"") else { throw error("expected a string key in an object") }
            let keyOffset = i
            let key = try parseString()
            // Byte-exact, as Python's json and `tokenizers` compare keys: Swift's String equality is canonical
            // equivalence, which would call "é" (U+00E9) and "e\u{301}" the same key.
            guard seen.insert(Array(key.utf8)).inserted else { throw error("duplicate key \(quoted(key))", at: keyOffset) }
            skipWhitespace()
            guard !atEnd && current == UInt8(ascii: ":") else { throw error("expected ':' after an object key") }
            i += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of JSON text inside an object") }
            if current == UInt8(ascii: ",") { i += 1; continue }
            if current == UInt8(ascii: "}") { i += 1; return .object(members) }
            throw error("expected ',' or '}' in an object")
        }
    }

    mutating func parseArray(depth: Int) throws -> JSONValue {
        guard depth <= JSONParser.maxDepth else { throw error("JSON nested deeper than \(JSONParser.maxDepth) levels") }
        i += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if !atEnd && current == UInt8(ascii: "]") { i += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard !atEnd else { throw error("unexpected end of JSON text inside an array") }
            if current == UInt8(ascii: ",") { i += 1; continue }
            if current == UInt8(ascii: "]") { i += 1; return .array(elements) }
            throw error("expected ',' or ']' in an array")
        }
    }

    mutating func parseNumber() throws -> String {
        let start = i
        func digits(_ p: inout JSONParser) -> Int {
            let s = p.i
            while !p.atEnd && p.current >= UInt8(ascii: "0") && p.current <= UInt8(ascii: "9") { p.i += 1 }
            return p.i - s
        }
        if current == UInt8(ascii: "-") { i += 1 }
        guard !atEnd else { throw error("invalid number", at: start) }
        if current == UInt8(ascii: "0") {
            i += 1
        } else if digits(&self) == 0 {
            throw error("invalid number", at: start)
        }
        if !atEnd && current == UInt8(ascii: ".") {
            i += 1
            guard digits(&self) > 0 else { throw error("invalid number", at: start) }
        }
        if !atEnd && (current == UInt8(ascii: "e") || current == UInt8(ascii: "E")) {
            i += 1
            if !atEnd && (current == UInt8(ascii: "+") || current == UInt8(ascii: "-")) { i += 1 }
            guard digits(&self) > 0 else { throw error("invalid number", at: start) }
        }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    }

    mutating func parseString() throws -> String {
        let start = i
        i += 1  // opening quote
        var out: [UInt8] = []
        var runStart = i
        while true {
            guard !atEnd else { throw error("unterminated string", at: start) }
            let c = current
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: bytes[runStart..<i])
                i += 1
                break
            }
            if c < 0x20 { throw error("control character \(describeByte(c)) in a string") }
            if c != UInt8(ascii: "\\") { i += 1; continue }
            out.append(contentsOf: bytes[runStart..<i])
            i += 1
            guard !atEnd else { throw error("unterminated string", at: start) }
            let e = current
            i += 1
            switch e {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                let escapeStart = i - 2
                var scalar = UInt32(try parseHex4())
                if (0xD800...0xDBFF).contains(scalar) {
                    guard bytes.count - i >= 6, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                        throw error("lone surrogate escape", at: escapeStart)
                    }
                    i += 2
                    let low = UInt32(try parseHex4())
                    guard (0xDC00...0xDFFF).contains(low) else { throw error("lone surrogate escape", at: escapeStart) }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw error("lone surrogate escape", at: escapeStart)
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
            default:
                throw error("invalid escape \\\(describeByte(e))", at: i - 2)
            }
            runStart = i
        }
        guard let s = validUTF8String(out) else { throw error("invalid UTF-8 in a string", at: start) }
        return s
    }

    mutating func parseHex4() throws -> UInt16 {
        guard bytes.count - i >= 4 else { throw error("truncated \\u escape") }
        var v: UInt16 = 0
        for _ in 0..<4 {
            let c = current
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: throw error("invalid hex digit in a \\u escape")
            }
            v = v << 4 | UInt16(d)
            i += 1
        }
        return v
    }
}

/// The string for `bytes` when they are valid UTF-8, else nil.
func validUTF8String<C: Collection>(_ bytes: C) -> String? where C.Element == UInt8 {
    let s = String(decoding: bytes, as: UTF8.self)
    // Decoding replaces each invalid sequence with U+FFFD, so valid input is exactly the input that
    // comes back unchanged.
    return s.utf8.elementsEqual(bytes) ? s : nil
}

/// A byte as a printable character or hex, for messages.
func describeByte(_ b: UInt8) -> String {
    (0x21...0x7E).contains(b) ? "'\(Character(Unicode.Scalar(b)))'" : "0x" + String(b, radix: 16, uppercase: true)
}

/// Appends `s` as a JSON string literal, escaping as serde_json (and so the safetensors library) does.
func appendJSONString(_ s: String, to out: inout [UInt8]) {
    let hex = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for b in s.utf8 {
        switch b {
        case 0x22: out += [0x5C, 0x22]
        case 0x5C: out += [0x5C, 0x5C]
        case 0x08: out += [0x5C, UInt8(ascii: "b")]
        case 0x0C: out += [0x5C, UInt8(ascii: "f")]
        case 0x0A: out += [0x5C, UInt8(ascii: "n")]
        case 0x0D: out += [0x5C, UInt8(ascii: "r")]
        case 0x09: out += [0x5C, UInt8(ascii: "t")]
        case 0..<0x20: out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(b >> 4)], hex[Int(b & 15)]]
        default: out.append(b)
        }
    }
    out.append(UInt8(ascii: "\""))
}

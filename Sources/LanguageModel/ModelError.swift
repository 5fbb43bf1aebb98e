/// Every error the language-model layer throws: checkpoints, configs, tokenizers and model inputs.
///
/// Each case names the file it concerns (a path, or a label such as `<memory>` for bytes that came from
/// no file) and says what was wrong; safetensors errors also name the tensor and the byte offset when
/// those are known.
public enum ModelError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A file could not be read or written.
    case io(file: String, reason: String)
    /// A safetensors file breaks the format. `offset` is an absolute byte offset in the file.
    case malformedSafetensors(file: String, tensor: String?, offset: Int?, reason: String)
    /// A tensor's dtype cannot be converted to the requested element type.
    case unsupportedDType(file: String, tensor: String, dtype: String)
    /// A tensor was requested that the checkpoint does not hold.
    case tensorNotFound(file: String, tensor: String)
    /// Strict loading found tensors that are missing, unexpected or of the wrong shape (each list sorted).
    case checkpointMismatch(file: String, missing: [String], unexpected: [String],
                            wrongShapes: [TensorShapeMismatch])
    /// A partial load asked for parameters (`names`, sorted) that a model of type `modelType` with this config does
    /// not have (a head tied to the embeddings is not a parameter of its own).
    case unknownParameters(modelType: String, names: [String])
    /// A sharded checkpoint's `model.safetensors.index.json` is malformed or disagrees with its shards.
    case invalidIndex(file: String, reason: String)
    /// A `config.json` is malformed or describes an impossible model.
    case invalidConfig(file: String, reason: String)
    /// `vocab.json`, `merges.txt` or a tokenizer config is malformed or inconsistent.
    case invalidTokenizer(file: String, reason: String)
    /// A token id outside the vocabulary was given to the tokenizer.
    case invalidTokenID(id: Int, vocabularySize: Int)
    /// A tensor holds a NaN or an infinity. `index` is the element's position (one entry per axis) and
    /// `value` its text (`nan`, `inf` or `-inf`).
    case nonFiniteValue(file: String, tensor: String, index: [Int], value: String)
    /// Any other bad argument to a model or I/O function.
    case invalidArgument(op: String, reason: String)
    /// Step `step` of a dynamic update (SGD on a text's train part) made weight `tensor` hold `value` (NaN or ±inf)
    /// at `index`: the learning rate is too large for these weights.
    case nonFiniteUpdate(op: String, step: Int, tensor: String, index: [Int], value: Double)
    /// Loading the checkpoint `file` needs `needed` bytes for its Float weights but only `available` are free.
    case insufficientMemory(file: String, needed: Int, available: Int)

    /// One line naming the file (and tensor, offset) and the problem. Control characters from names, tokens or paths
    /// are escaped (`\u{1B}`), so the line is what a terminal shows.
    public var description: String { escapingControlCharacters(unescapedDescription) }

    private var unescapedDescription: String {
        switch self {
        case let .io(file, reason):
            return "\(file): \(reason)"
        case let .malformedSafetensors(file, tensor, offset, reason):
            var s = "\(file): malformed safetensors file: "
            if let tensor { s += "tensor \(quoted(tensor)): " }
            s += reason
            if let offset { s += " (at byte \(offset) of the file)" }
            return s
        case let .unsupportedDType(file, tensor, dtype):
            return "\(file): tensor \(quoted(tensor)) has dtype \(dtype), which cannot be converted to a float tensor"
        case let .tensorNotFound(file, tensor):
            return "\(file): no tensor named \(quoted(tensor))"
        case let .checkpointMismatch(file, missing, unexpected, wrongShapes):
            // A config with 10 000 layers against a 2-layer file misses ~160 000 names: list the first few of each.
            var parts: [String] = []
            if !missing.isEmpty {
                parts.append("\(missing.count) missing: " + bounded(missing.map(quoted)))
            }
            if !unexpected.isEmpty {
                parts.append("\(unexpected.count) unexpected: " + bounded(unexpected.map(quoted)))
            }
            if !wrongShapes.isEmpty {
                parts.append("\(wrongShapes.count) with the wrong shape: " + bounded(wrongShapes.map(\.description)))
            }
            return "\(file): checkpoint does not match the model: " + parts.joined(separator: "; ")
        case let .unknownParameters(modelType, names):
            return "a \(modelType) model with this config has no parameter\(names.count == 1 ? "" : "s") "
                + bounded(names.map(quoted)) + " (its names are those of parameterShapes)"
        case let .invalidIndex(file, reason):
            return "\(file): invalid sharded-checkpoint index: \(reason)"
        case let .invalidConfig(file, reason):
            return "\(file): invalid config: \(reason)"
        case let .invalidTokenizer(file, reason):
            return "\(file): invalid tokenizer: \(reason)"
        case let .invalidTokenID(id, vocabularySize):
            return "token id \(id) is not in the vocabulary (\(vocabularySize) tokens)"
        case let .nonFiniteValue(file, tensor, index, value):
            return "\(file): tensor \(quoted(tensor)) holds \(value) at \(formatShape(index)): the weights are corrupt "
                + "or come from a diverged run"
        case let .invalidArgument(op, reason):
            return "\(op): \(reason)"
        case let .nonFiniteUpdate(op, step, tensor, index, value):
            return "\(op): step \(step) made \(quoted(tensor)) hold \(value.isNaN ? "nan" : "\(value)") at "
                + "\(formatShape(index)): the update diverged (lower the learning rate)"
        case let .insufficientMemory(file, needed, available):
            func gb(_ n: Int) -> String { String(format: "%.2f GB", Double(n) / 1e9) }
            return "\(file): loading needs \(gb(needed)) for the Float weights but only \(gb(available)) of memory is "
                + "available: free memory, or use a machine (or container limit) with more"
        }
    }
}

/// A tensor whose shape in a checkpoint differs from the shape the model expects.
public struct TensorShapeMismatch: Equatable, Sendable, CustomStringConvertible {
    /// The tensor's name in the checkpoint.
    public var name: String
    /// The shape the model expects.
    public var expected: [Int]
    /// The shape stored in the checkpoint.
    public var found: [Int]

    /// A mismatch of tensor `name`.
    public init(name: String, expected: [Int], found: [Int]) {
        self.name = name
        self.expected = expected
        self.found = found
    }

    /// `'name' expected [a, b], found [c, d]`.
    public var description: String {
        "\(quoted(name)) expected \(formatShape(expected)), found \(formatShape(found))"
    }
}

/// A name in single quotes for messages (names may contain spaces or be empty).
package func quoted(_ s: String) -> String { "'\(escapingControlCharacters(s))'" }

/// The most items an error message lists; the rest are counted.
package let listedItemsLimit = 20

/// The first ``listedItemsLimit`` of `items`, comma-separated, then "and N more" for the rest.
package func bounded(_ items: [String]) -> String {
    let shown = items.prefix(listedItemsLimit).joined(separator: ", ")
    return items.count > listedItemsLimit ? shown + " and \(items.count - listedItemsLimit) more" : shown
}

/// `s` with every control character — C0 (newline and tab included), DEL, C1 — and every bidirectional override,
/// isolate or line separator written as a Swift escape such as `\u{1B}`. Names and tokens come from files; printed
/// raw, a crafted file could send terminal escape sequences or put fake lines under the user's eyes.
package func escapingControlCharacters(_ s: String) -> String {
    func needsEscape(_ u: Unicode.Scalar) -> Bool {
        switch u.value {
        case 0x00...0x1F, 0x7F...0x9F: return true                          // C0 (ESC, CR, LF…), DEL, C1 (CSI…)
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true   // bidi marks, overrides, isolates
        case 0x2028, 0x2029: return true                                     // line and paragraph separators
        default: return false
        }
    }
    guard s.unicodeScalars.contains(where: needsEscape) else { return s }
    var out = String.UnicodeScalarView()
    for u in s.unicodeScalars {
        if needsEscape(u) { out.append(contentsOf: "\\u{\(String(u.value, radix: 16, uppercase: true))}".unicodeScalars) } else {
            out.append(u)
        }
    }
    return String(out)
}

/// `[2, 3]`-style shape text for messages.
package func formatShape(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}

/// Orders strings by their UTF-8 bytes: the order of safetensors' own writer and independent of
/// Unicode canonical equivalence, so sorted error lists are stable.
package func utf8Less(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
}

/// A decoding error as one line: what was wrong and at which key path.
package func describe(_ error: DecodingError) -> String {
    func path(_ keys: [any CodingKey]) -> String {
        keys.isEmpty ? "the top level" : keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
    switch error {
    case let .typeMismatch(type, ctx):
        return "\(path(ctx.codingPath)) has the wrong type (expected \(type)): \(ctx.debugDescription)"
    case let .valueNotFound(type, ctx):
        return "\(path(ctx.codingPath)) is null (expected \(type))"
    case let .keyNotFound(key, ctx):
        return "missing key \(key.stringValue) in \(path(ctx.codingPath))"
    case let .dataCorrupted(ctx):
        return "\(path(ctx.codingPath)): \(ctx.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

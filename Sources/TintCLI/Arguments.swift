// Hand-written command-line parsing for `tint` (no package dependencies). Pure functions of the argument
// list, kept apart from the commands so they can be tested and fuzzed on their own.

/// A usage error: the message names the option and what was wrong. `tint` prints it with the command's
/// usage line and exits with status 2.
struct ArgumentError: Error, Equatable, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The options of one subcommand invocation: `--name value`, `--name=value` and `--flag`.
struct ParsedOptions: Equatable {
    private(set) var values: [String: String] = [:]
    private(set) var flags: Set<String> = []

    /// Parses `args` against the options a subcommand knows. Every option may appear once; anything that is
    /// not a known option (including positional words) is an error.
    init(_ args: [String], valued: Set<String>, flags knownFlags: Set<String>) throws {
        var i = 0
        while i < args.count {
            let arg = args[i]
            var name = arg, inline: String? = nil
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq])
                inline = String(arg[arg.index(after: eq)...])
            }
            if valued.contains(name) {
                guard values[name] == nil else { throw ArgumentError("\(name) is given more than once") }
                if let inline {
                    values[name] = inline
                    i += 1
                } else {
                    guard i + 1 < args.count else { throw ArgumentError("\(name) needs a value") }
                    values[name] = args[i + 1]
                    i += 2
                }
            } else if knownFlags.contains(name) {
                guard inline == nil else { throw ArgumentError("\(name) takes no value") }
                guard !flags.contains(name) else { throw ArgumentError("\(name) is given more than once") }
                flags.insert(name)
                i += 1
            } else if arg.hasPrefix("-") {
                throw ArgumentError("unknown option \(name)")
            } else {
                throw ArgumentError("unexpected argument '\(arg)'")
            }
        }
    }

    func has(_ flag: String) -> Bool { flags.contains(flag) }
    subscript(_ name: String) -> String? { values[name] }

    /// The value of a required option.
    func required(_ name: String) throws -> String {
        guard let v = values[name] else { throw ArgumentError("\(name) is required") }
        return v
    }

    /// Exactly one of two alternative options.
    func oneOf(_ a: String, _ b: String) throws -> (name: String, value: String) {
        switch (values[a], values[b]) {
        case let (x?, nil): return (a, x)
        case let (nil, y?): return (b, y)
        case (.some, .some): throw ArgumentError("give either \(a) or \(b), not both")
        case (nil, nil): throw ArgumentError("one of \(a) or \(b) is required")
        }
    }

    /// An integer option within `range` (or `fallback` when absent).
    func int(_ name: String, in range: ClosedRange<Int>, default fallback: Int? = nil) throws -> Int? {
        guard let v = values[name] else { return fallback }
        guard let x = Int(v), range.contains(x) else {
            throw ArgumentError("\(name) needs an integer in \(describe(range)), got '\(v)'")
        }
        return x
    }

    /// A finite number option within `range` (or `fallback` when absent).
    func double(_ name: String, in range: ClosedRange<Double>, default fallback: Double? = nil) throws -> Double? {
        guard let v = values[name] else { return fallback }
        guard let x = Double(v), x.isFinite, range.contains(x) else {
            throw ArgumentError("\(name) needs a number in [\(range.lowerBound), \(range.upperBound)], got '\(v)'")
        }
        return x
    }

    /// An unsigned 64-bit option (seeds).
    func uint64(_ name: String, default fallback: UInt64) throws -> UInt64 {
        guard let v = values[name] else { return fallback }
        guard let x = UInt64(v) else { throw ArgumentError("\(name) needs a non-negative integer, got '\(v)'") }
        return x
    }

    private func describe(_ r: ClosedRange<Int>) -> String {
        r.upperBound == Int.max ? "\(r.lowerBound)…" : "\(r.lowerBound)…\(r.upperBound)"
    }
}

/// Token ids written as `2,31414,232` (spaces allowed after commas; at least one id; each ≥ 0).
func parseIDList(_ text: String, option: String = "--ids") throws -> [Int] {
    let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        .map { $0.trimmedSpaces() }
    guard !text.trimmedSpaces().isEmpty else { throw ArgumentError("\(option) needs at least one id") }
    return try parts.map { p in
        guard let id = Int(p), id >= 0 else {
            throw ArgumentError("\(option) needs comma-separated non-negative integers, got '\(p)'")
        }
        return id
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs.
    func trimmedSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}

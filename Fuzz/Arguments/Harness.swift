// libFuzzer target: `tint` argument parsing (Sources/TintCLI/Arguments.swift). The input is an argument list
// separated by NUL bytes, parsed against the options of `tint eval`-like commands; every typed accessor is
// then called, and the whole input is also parsed as an `--ids` list.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let buffer = UnsafeBufferPointer(start: data, count: size)
    let args = buffer.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    let valued: Set = ["--model", "--ids", "--file", "--block", "--steps", "--lr", "--seed", "--out", "--layers"]
    let flags: Set = ["--json", "--verbose", "--no-check"]
    if let ids = try? parseIDList(String(decoding: buffer, as: UTF8.self)) {
        precondition(!ids.isEmpty && ids.allSatisfy { $0 >= 0 }, "parseIDList accepted a bad list")
    }
    guard let o = try? ParsedOptions(args, valued: valued, flags: flags) else { return 0 }
    _ = o.has("--json")
    _ = try? o.required("--model")
    _ = try? o.oneOf("--file", "--ids")
    if let b = try? o.int("--block", in: 2...2048, default: 64) { precondition((2...2048).contains(b), "int range") }
    _ = try? o.int("--steps", in: 0...Int.max)
    if let lr = try? o.double("--lr", in: 0...10) { precondition(lr.isFinite && lr >= 0 && lr <= 10, "double range") }
    _ = try? o.uint64("--seed", default: 0)
    if let v = o["--ids"] { _ = try? parseIDList(v) }
    if let v = o["--layers"] { _ = try? parseIDList(v, option: "--layers") }
    return 0
}

import Testing
@testable import TintCLI

/// The hand-written option parser of `tint` (Sources/TintCLI/Arguments.swift).
@Suite struct ArgumentsTests {
    let valued: Set<String> = ["--model", "--ids", "--file", "--block", "--lr"]
    let flags: Set<String> = ["--json", "--quiet"]

    @Test func parsesValuesFlagsAndInlineValues() throws {
        let o = try ParsedOptions(["--model", "dir", "--ids=2,3", "--json", "--block", "512"], valued: valued, flags: flags)
        #expect(o["--model"] == "dir" && o["--ids"] == "2,3" && o["--block"] == "512")
        #expect(o.has("--json") && !o.has("--quiet"))
        #expect(try o.int("--block", in: 2...1024) == 512)
        #expect(try o.oneOf("--file", "--ids").name == "--ids")
        // A value may itself start with a dash (a negative learning rate, a text).
        #expect(try ParsedOptions(["--lr", "-0.5"], valued: valued, flags: flags).double("--lr", in: -1...1) == -0.5)
    }

    @Test(arguments: [
        (["--model"], "--model needs a value"),
        (["--bogus"], "unknown option --bogus"),
        (["stray"], "unexpected argument 'stray'"),
        (["--json", "--json"], "--json is given more than once"),
        (["--model", "a", "--model", "b"], "--model is given more than once"),
        (["--json=1"], "--json takes no value"),
    ])
    func rejectsMalformedArguments(_ args: [String], _ message: String) {
        #expect(throws: ArgumentError(message)) { _ = try ParsedOptions(args, valued: valued, flags: flags) }
    }

    @Test func validatesTypedValues() throws {
        let o = try ParsedOptions(["--block", "1", "--lr", "inf", "--ids", "2,,3"], valued: valued, flags: flags)
        #expect(throws: ArgumentError.self) { _ = try o.int("--block", in: 2...Int.max) }
        #expect(throws: ArgumentError.self) { _ = try o.double("--lr", in: -1e6...1e6) }
        #expect(throws: ArgumentError.self) { _ = try o.required("--model") }
        #expect(throws: ArgumentError("one of --file or --model is required")) { _ = try o.oneOf("--file", "--model") }
        #expect(throws: ArgumentError.self) { _ = try parseIDList(o["--ids"]!) }
        #expect(try parseIDList("2, 31414 ,232") == [2, 31414, 232])
        for bad in ["", " ", "-1", "2,x", "1.5", "99999999999999999999"] {
            #expect(throws: ArgumentError.self) { _ = try parseIDList(bad) }
        }
        let both = try ParsedOptions(["--file", "a", "--ids", "2"], valued: valued, flags: flags)
        #expect(throws: ArgumentError("give either --file or --ids, not both")) { _ = try both.oneOf("--file", "--ids") }
    }

    /// Random argument lists never crash the parser: each either parses or throws an ArgumentError.
    @Test func randomArgumentListsNeverCrash() {
        let words = ["--model", "--ids", "--json", "--quiet", "--block", "x", "", "=", "--=", "--model=", "-", "--", "2,3", "--lr=-1"]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for _ in 0..<2000 {
            var args: [String] = []
            state = state &* 6364136223846793005 &+ 1442695040888963407
            for i in 0..<Int(state >> 61) {
                args.append(words[Int((state >> UInt64(8 + 4 * i)) % UInt64(words.count))])
            }
            do { _ = try ParsedOptions(args, valued: valued, flags: flags) } catch is ArgumentError {} catch {
                Issue.record("unexpected error \(error) for \(args)")
            }
        }
    }
}

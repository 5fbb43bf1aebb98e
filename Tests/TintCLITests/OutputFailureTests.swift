import Foundation
import Testing
@testable import TintCLI

/// Issue 18, item 1: with stderr closed or full and stdout on a full device, every command ends with an exit status
/// (never a signal); a result that cannot be written is exit status 1, a lost progress line is not an error.
@Suite(.serialized) struct OutputFailureTests {
    static let preLN = DescentCommandTests.preLN
    static let tinyTinT = ["--rows-per-prefix", "4", "--sim-heads", "20"]

    /// One invocation of every subcommand (and of help), each small enough to take well under a second.
    static func invocations(trainRoot: String) -> [[String]] {
        [
            ["--help"],
            ["params", "--shape", "opt-125m", "--json"],
            ["perplexity", "--model", preLN, "--ids", "2,5,9,100"],
            ["generate", "--model", preLN, "--prompt", "Hello", "--max-tokens", "3"],
            ["dynamic-eval", "--model", preLN, "--ids", "2,5,9,100,2,5,9,100", "--train-fraction", "0.5", "--method",
             "approx", "--lr", "0.01"] + tinyTinT,
            ["compare", "--model", preLN, "--ids", "2,5,9,100,2,5,9,100", "--train-fraction", "0.5", "--lr", "0.01"] + tinyTinT,
            ["demo", "--max-passages", "1", "--validation-passages", "1", "--lr", "1e-4", "--block", "16"],
            ["train"] + TrainCommandTests.Setup.arguments(root: trainRoot, out: trainRoot + "/run-\(UUID().uuidString)", steps: 2)
                .filter { $0 != "--quiet" },
        ]
    }

    @Test func fullStdoutAndClosedStderrIsExitStatusOne() throws {
        let s = try TrainCommandTests.Setup()
        defer { try? FileManager.default.removeItem(at: s.root) }
        for args in Self.invocations(trainRoot: s.root.path) {
            guard let r = try TintProcess.run(args, redirections: "2>&- >/dev/full") else {
                Issue.record("the tint executable was not found next to the test bundle")
                return
            }
            #expect(r.exited, "\(args[0]) was killed by a signal")
            #expect(r.status == 1, "\(args[0]): status \(r.status), expected 1 for a result that could not be written")
        }
    }

    @Test func closedOrFullStderrIsNotFatal() throws {
        let s = try TrainCommandTests.Setup()
        defer { try? FileManager.default.removeItem(at: s.root) }
        for redirection in ["2>&-", "2>/dev/full"] {
            for args in Self.invocations(trainRoot: s.root.path) {
                guard let r = try TintProcess.run(args, redirections: redirection) else {
                    Issue.record("the tint executable was not found next to the test bundle")
                    return
                }
                #expect(r.exited && r.status == 0, "\(args[0]) with \(redirection): status \(r.status)")
                #expect(!r.stdout.isEmpty, "\(args[0]) with \(redirection) wrote no result")
            }
        }
    }

    /// With stderr closed, the next file tint opens must not become descriptor 2: progress notes would be written
    /// into it. The run's checkpoint must be exactly what a run with stderr open writes.
    @Test func closedStderrDoesNotLandInFiles() throws {
        let s = try TrainCommandTests.Setup()
        defer { try? FileManager.default.removeItem(at: s.root) }
        let open = s.out("open"), closed = s.out("closed")
        for (out, redirection) in [(open, ">/dev/null"), (closed, "2>&- >/dev/null")] {
            let args = ["train"] + TrainCommandTests.Setup.arguments(root: s.root.path, out: out, steps: 2)
                .filter { $0 != "--quiet" }
            guard let r = try TintProcess.run(args, redirections: redirection) else { return }
            #expect(r.exited && r.status == 0)
        }
        let a = try Data(contentsOf: URL(fileURLWithPath: open).appendingPathComponent("model.safetensors"))
        let b = try Data(contentsOf: URL(fileURLWithPath: closed).appendingPathComponent("model.safetensors"))
        #expect(a == b)
    }

    /// A reader that went away (`| head`): the write fails with EPIPE instead of killing the process with SIGPIPE
    /// (tint ignores it, as `Console.prepare` does here), and tint exits quietly with status 1.
    @Test func closedPipeIsABrokenPipeError() throws {
        signal(SIGPIPE, SIG_IGN)
        var ends: [Int32] = [0, 0]
        try #require(pipe(&ends) == 0)
        close(ends[0])
        defer { close(ends[1]) }
        let code = Console.write("result", to: ends[1])
        #expect(code == EPIPE)
        #expect(OutputError(stream: "stdout", code: code).isBrokenPipe)
    }

    /// The writer itself: a full device is an `OutputError` with ENOSPC.
    @Test func writerReportsTheErrno() throws {
        let fd = open("/dev/full", O_WRONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        #expect(Console.write("x", to: fd) == ENOSPC)
        #expect(Console.write("", to: fd) == 0)
        let null = open("/dev/null", O_RDONLY)
        defer { close(null) }
        #expect(Console.write("x", to: null) == EBADF)
    }
}

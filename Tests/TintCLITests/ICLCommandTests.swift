import Foundation
import Testing
@testable import TintCLI

/// `tint icl` through the command's own functions, on the zoo's tiny Llama and a committed fixture task.
@Suite struct ICLCommandTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let llama = root.appendingPathComponent("ZooTests/Fixtures/tiny-llama").path
    static let task = root.appendingPathComponent("ICLTests/Fixtures/tiny-sentiment").path

    /// Every method side by side with an η grid, and one method with the context loss and calibration, end to end.
    @Test func runsEveryMethod() throws {
        try iclCommand.run(["--model", Self.llama, "--task", Self.task, "--shots", "2", "--seeds", "2", "--compare",
                            "--max-examples", "2", "--validation-examples", "1", "--lr-grid", "1e-3,1e-2", "--quiet"])
        try iclCommand.run(["--model", Self.llama, "--task", Self.task, "--method", "tint", "--loss", "context", "--calibrate",
                            "--seeds", "1", "--max-examples", "2", "--json", "--quiet"])
        try iclCommand.run(["--model", Self.llama, "--task", Self.task, "--shots", "2", "--single-ft", "--compare", "--seeds", "1",
                            "--max-examples", "2", "--quiet"])
    }

    /// Contradictory or malformed options are usage errors naming the option.
    @Test func badOptionsAreNamed() throws {
        let base = ["--model", Self.llama, "--task", Self.task, "--quiet"]
        for (extra, word) in [(["--method", "icl", "--compare"], "--compare"), (["--method", "sgd"], "--method"),
                              (["--method", "exact", "--lr", "0.1", "--lr-grid", "0.1"], "--lr-grid"),
                              (["--method", "exact", "--loss", "labels"], "--loss"), (["--compare", "--lr-grid", "1,x"], "--lr-grid"),
                              (["--compare", "--shots", "-1"], "--shots")] {
            #expect { try iclCommand.run(base + extra) } throws: { error in
                (error as? ArgumentError)?.description.contains(word) ?? false
            }
        }
        #expect(try parseLearningRates(" 1e-3, 0.01") == [1e-3, 0.01])
        for bad in ["", "1,,2", "inf", "nan"] { #expect(throws: ArgumentError.self) { try parseLearningRates(bad) } }
    }
}

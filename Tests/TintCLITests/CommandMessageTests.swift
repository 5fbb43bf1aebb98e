import Foundation
import Testing
@testable import TintCLI

/// Issue 18, items 9 and 10: errors say what really went wrong and name the option.
@Suite struct CommandMessageTests {
    @Test func modelThatIsAFileIsNotADirectory() throws {
        #expect(throws: CommandError("--model /dev/null: not a directory (expected \(modelDirectoryContents))")) {
            try perplexityCommand.run(["--model", "/dev/null", "--ids", "2,3", "--quiet"])
        }
        #expect(throws: CommandError("--model /nonexistent: no such directory (expected \(modelDirectoryContents))")) {
            try perplexityCommand.run(["--model", "/nonexistent", "--ids", "2,3", "--quiet"])
        }
        #expect(throws: CommandError("--model /dev/null: not a directory (expected a directory with config.json)")) {
            try paramsCommand.run(["--model", "/dev/null"])
        }
    }

    @Test func outThatIsAFileIsNamed() throws {
        let s = try TrainCommandTests.Setup()
        defer { try? FileManager.default.removeItem(at: s.root) }
        #expect(throws: CommandError("--out \(s.config): exists and is not a directory")) {
            try runTrain(s.arguments(out: s.config, steps: 2))
        }
        // A parent that is a file: the system's reason, never an NSError dump.
        do {
            try runTrain(s.arguments(out: s.config + "/run", steps: 2))
            Issue.record("--out under a file was accepted")
        } catch let error as CommandError {
            #expect(error.description.hasPrefix("--out \(s.config)/run: cannot create the directory: "), "\(error)")
            #expect(!error.description.contains("NSCocoaErrorDomain") && !error.description.contains("Error Domain"), "\(error)")
        }
    }

    @Test func resumePastTheRequestedStepsSaysSo() throws {
        let s = try TrainCommandTests.Setup()
        defer { try? FileManager.default.removeItem(at: s.root) }
        try runTrain(s.arguments(out: s.out("run"), steps: 4))
        do {
            try runTrain(s.arguments(out: s.out("run"), steps: 2) + ["--resume"])
            Issue.record("--resume with fewer steps than the run has was accepted")
        } catch let error as CommandError {
            #expect(error.description.contains("already at step 4, beyond --steps 2"), "\(error)")
        }
    }
}

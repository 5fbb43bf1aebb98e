import Foundation
import Testing
@testable import TintCLI

/// Killing `tint train` (SIGKILL, as a crash or an OOM kill would) at arbitrary moments, most of them inside a
/// checkpoint write (a checkpoint every step), never leaves a checkpoint `--resume` cannot use, and the resumed run
/// ends bit-identical to an uninterrupted one.
@Suite(.serialized) struct TrainKillTests {
    /// The `tint` executable next to the test bundle (SwiftPM builds every product before running the tests).
    static var tintBinary: URL? {
        let candidates = [URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
                          Bundle.main.bundleURL, Bundle.main.bundleURL.deletingLastPathComponent()]
        return candidates.map { $0.appendingPathComponent("tint") }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }

    @Test func killedRunResumesBitIdentically() throws {
        guard let tint = Self.tintBinary else {
            Issue.record("the tint executable was not found next to the test bundle (\(CommandLine.arguments[0]))")
            return
        }
        let s = try TrainCommandTests.Setup()
        defer { try? FileManager.default.removeItem(at: s.root) }
        let steps = 24
        func arguments(_ out: String) -> [String] {
            s.arguments(out: out, steps: steps).replacingCheckpointEvery(with: "1")
        }
        try runTrain(arguments(s.out("straight")))
        let expected = try Data(contentsOf: URL(fileURLWithPath: s.out("straight")).appendingPathComponent("model.safetensors"))

        var killed = 0
        for (trial, delay) in [0.0, 0.003, 0.011, 0.029].enumerated() {
            let out = s.out("killed-\(trial)")
            let process = Process()
            process.executableURL = tint
            process.arguments = ["train"] + arguments(out)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            // Kill once the first checkpoint exists, after a short delay that lands somewhere in a later step.
            let latest = URL(fileURLWithPath: out).appendingPathComponent("latest").path
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: latest) && process.isRunning && Date() < deadline { usleep(200) }
            usleep(useconds_t(delay * 1_000_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason == .exit {
                // It finished before the kill: its result must simply be right.
                #expect(try Data(contentsOf: URL(fileURLWithPath: out).appendingPathComponent("model.safetensors")) == expected)
                continue
            }
            killed += 1
            try runTrain(arguments(out) + ["--resume"])
            let resumed = try Data(contentsOf: URL(fileURLWithPath: out).appendingPathComponent("model.safetensors"))
            #expect(resumed == expected, "trial \(trial): resumed run differs from the uninterrupted one")
        }
        #expect(killed > 0, "no trial was killed before it finished")
    }
}

extension Array where Element == String {
    /// The same arguments with `--checkpoint-every` set to `value`.
    fileprivate func replacingCheckpointEvery(with value: String) -> [String] {
        var out = self
        if let i = out.firstIndex(of: "--checkpoint-every"), i + 1 < out.count { out[i + 1] = value }
        return out
    }
}

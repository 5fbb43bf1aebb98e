import Foundation
import Autodiff
import OPT
import Tensor
@testable import TintCLI

/// Model directories made on the fly for the CLI tests: the smallest legal OPTs and doctored ones.
enum SmallModels {
    /// A directory holding an OPT of the given shape (random weights), with the demo model's tokenizer files when
    /// `tokenizer` (then `vocab` must be at least 4096 to agree with it). `edit` may change the weights.
    static func make(vocab: Int = 1, positions: Int = 2, hidden: Int = 4, heads: Int = 1, layers: Int = 1, ffn: Int = 4,
                     tokenizer: Bool = false, edit: ((inout ParameterSet<Float>) throws -> Void)? = nil) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tint-small-\(UUID().uuidString)")
        var c = OPTConfig()
        c.vocabSize = vocab
        c.maxPositionEmbeddings = positions
        c.hiddenSize = hidden
        c.wordEmbedProjDim = hidden
        c.numAttentionHeads = heads
        c.numHiddenLayers = layers
        c.ffnDim = ffn
        // Special ids must lie inside the vocabulary: 0 for every one in a 1-token model.
        if vocab <= 2 {
            c.bosTokenID = 0
            c.eosTokenID = 0
            c.padTokenID = 0
        }
        var model = try OPTModel(config: c, seed: 1)
        if let edit { try edit(&model.parameters) }
        try model.save(to: dir)
        if tokenizer {
            for file in ["vocab.json", "merges.txt", "tokenizer_config.json"] {
                try FileManager.default.copyItem(at: DemoResources.modelDirectory.appendingPathComponent(file),
                                                 to: dir.appendingPathComponent(file))
            }
        }
        return dir
    }
}

/// Runs the built `tint` as a subprocess through `/bin/sh`, so a test can close or redirect its descriptors.
enum TintProcess {
    struct Result {
        let status: Int32
        /// False when a signal ended it (a trap is SIGILL or SIGTRAP).
        let exited: Bool
        let stdout: String, stderr: String
    }

    /// `tint ARGS REDIRECTIONS`: `redirections` is shell syntax such as `2>&- >/dev/full`; `stdin` is piped in.
    static func run(_ args: [String], redirections: String = "", stdin: String? = nil) throws -> Result? {
        guard let tint = TrainKillTests.tintBinary else { return nil }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "exec \"$0\" \"$@\" \(redirections)", tint.path] + args
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try input.fileHandleForWriting.close()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, exited: process.terminationReason == .exit,
                      stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }
}

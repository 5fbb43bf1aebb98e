import Foundation
import ICL
import LanguageModel
import Testing

/// A committed fixture task directory (Tests/ICLTests/Fixtures/NAME).
func fixtureTask(_ name: String) -> URL {
    Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(name)
}

/// The shipped demo model's byte-level BPE (Sources/TintCLI/DemoModel): a real GPT-2-style tokenizer.
func demoTokenizer() throws -> BPETokenizer {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    return try BPETokenizer(directory: root.appendingPathComponent("Sources/TintCLI/DemoModel"))
}

/// A fresh temporary task directory holding `files` (name → bytes); removed by the caller.
func taskDirectory(_ files: [String: [UInt8]]) throws -> URL {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("icl-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    for (name, bytes) in files { try Data(bytes).write(to: dir.appendingPathComponent(name)) }
    return dir
}

/// A valid two-label task's files, for tests to break one at a time.
func validFiles() -> [String: [UInt8]] {
    let task = #"{"name": "t", "template": "{text} It was {answer}", "labels": [{"name": "neg", "words": "bad"}, {"name": "pos", "words": "good"}]}"#
    let split = "{\"text\": \"fine\", \"label\": 1}\n{\"text\": \"awful\", \"label\": 0}\n"
    return ["task.json": Array(task.utf8), "train.jsonl": Array(split.utf8), "validation.jsonl": Array(split.utf8),
            "test.jsonl": Array(split.utf8)]
}

/// The ICLTaskError loading `files` throws (recording an issue when it throws something else or nothing).
func loadError(_ files: [String: [UInt8]], limits: ICLLimits = .default,
               sourceLocation: SourceLocation = #_sourceLocation) throws -> ICLTaskError? {
    let dir = try taskDirectory(files)
    defer { try? FileManager.default.removeItem(at: dir) }
    do {
        _ = try ICLTask(directory: dir, limits: limits)
        Issue.record("no error was thrown", sourceLocation: sourceLocation)
    } catch let e as ICLTaskError {
        return e
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
    return nil
}

/// A tokenizer for error cases: one token per Unicode scalar, or the same `constant` ids for any text.
final class StubTokenizer: Tokenizer, @unchecked Sendable {
    let constant: [Int]?
    init(constant: [Int]? = nil) { self.constant = constant }
    var vocabularySize: Int { 0x110000 }
    var bosTokenID: Int? { nil }
    var eosTokenID: Int? { nil }
    var padTokenID: Int? { nil }
    func encode(_ text: String, addSpecialTokens: Bool) -> [Int] { constant ?? text.unicodeScalars.map { Int($0.value) } }
    func decode(_ ids: [Int], skipSpecialTokens: Bool) throws -> String {
        String(String.UnicodeScalarView(ids.compactMap { Unicode.Scalar(UInt32($0)) }))
    }
}

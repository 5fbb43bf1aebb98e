import Foundation
import ICL
import Testing

/// The tasks `Scripts/prepare_icl_tasks.py` makes in `.data/icl` (gitignored): they load with the strict loader
/// and their prompts render. Runs only where the script has been run; CI's fresh clone skips it.
@Suite struct ICLPreparedTasksTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".data/icl")
    static let names = ["mr", "product-reviews", "nyt-editorials", "bbc-news", "amazon-food", "fortunes"]

    @Test(.enabled(if: FileManager.default.fileExists(atPath: directory.appendingPathComponent("mr/task.json").path)))
    func preparedTasksLoad() throws {
        let tokenizer = try demoTokenizer()
        for name in Self.names {
            let task = try ICLTask(directory: Self.directory.appendingPathComponent(name))
            #expect(task.name == name)
            #expect(task.test.count >= 200 && task.validation.count >= 100 && task.train.count > 1000)
            // Balanced test split.
            let counts = task.labels.indices.map { l in task.test.filter { $0.label == l }.count }
            #expect(Set(counts).count == 1, "\(name): \(counts)")
            let encoded = try task.encodedPrompt(demonstrations: Array(task.train.prefix(32)), query: task.test[0].text,
                                                 tokenizer: tokenizer)
            #expect(encoded.demonstrations.count == 32 && encoded.ids.count < 4096)
        }
    }
}

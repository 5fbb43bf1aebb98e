import Foundation
import Testing
@testable import LanguageModel
@testable import OPT

/// Issue 18, item 4: a checkpoint whose Float weights do not fit the available memory is refused before anything
/// is allocated, with an error saying how much is needed.
@Suite struct MemoryCheckTests {
    @Test func floatBytesCountEveryTensorAsFloat() throws {
        for dir in ["tiny-opt-pre-ln", "tiny-opt-pre-ln-fp16"] {
            let checkpoint = try SafetensorsCheckpoint(directory: Fixtures.url(dir))
            var expected = 0
            for name in checkpoint.tensorNames { expected += 4 * (try checkpoint.file(containing: name).info(for: name).count) }
            #expect(checkpoint.floatBytes == expected && expected > 0, "\(dir)")
        }
    }

    @Test func tooLittleMemoryIsAnErrorNamingTheSize() throws {
        let checkpoint = try SafetensorsCheckpoint(directory: Fixtures.url("tiny-opt-pre-ln"))
        let needed = checkpoint.floatBytes
        try checkpoint.requireMemoryForFloatWeights(available: needed)
        do {
            try checkpoint.requireMemoryForFloatWeights(available: needed - 1)
            Issue.record("a checkpoint larger than the memory passed")
        } catch let ModelError.insufficientMemory(file, n, available) {
            #expect(n == needed && available == needed - 1 && file == checkpoint.source)
            #expect(ModelError.insufficientMemory(file: "m", needed: 3_000_000_000, available: 1_000_000_000).description
                    == "m: loading needs 3.00 GB for the Float weights but only 1.00 GB of memory is available: free "
                    + "memory, or use a machine (or container limit) with more")
        }
    }

    @Test func theSystemReportsAvailableMemory() throws {
        #if os(Linux)
        let available = try #require(availableMemoryBytes())
        #expect(available > 0)
        #endif
    }
}

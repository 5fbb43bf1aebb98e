import Testing
import OPT
import Tensor
@testable import TinT

/// The executor's workspace (``TensorWorkspace``): a run keeps the row buffers it freed for the next run, a second
/// run of the same length reuses them and gives bit-identical results, and a run of another length starts afresh.
/// A random one-layer OPT of width 64 with T = 256: D_sim 320, so a row tensor (320 KiB) passes through the workspace.
@Suite struct ExecutorWorkspaceTests {
    @Test func runsReuseTheBuffersOfThePreviousRun() throws {
        var c = OPTConfig()
        c.hiddenSize = 64; c.wordEmbedProjDim = 64; c.ffnDim = 128; c.numAttentionHeads = 4; c.vocabSize = 96
        c.maxPositionEmbeddings = 256; c.numHiddenLayers = 1
        let model = try OPTModel(config: c, seed: 3)
        let config = TinTConfig(rowsPerPrefix: 4, simHeads: 10, learningRate: 0.01)
        let program = try TinTCompiler.compile(try AuxGraph(opt: model.config), config: config)
        let executor = try TinTExecutor(program: program, parameters: model.parameters)
        let T = 256
        #expect(program.spec.simWidth * 220 * 4 >= 1 << 18)  // the shorter run's rows too
        let ids = fixtureIDs(T, vocabulary: c.vocabSize, seed: 8), mask = (0..<T).map { $0 < T / 2 }
        #expect(executor.retainedBufferBytes == 0)
        let first = try executor.run(ids: ids, trainMask: mask)
        let kept = executor.retainedBufferBytes
        #expect(kept > 0)
        let second = try executor.run(ids: ids, trainMask: mask)
        #expect(second.logitsBefore.scalars == first.logitsBefore.scalars)
        #expect(second.logitsAfter.scalars == first.logitsAfter.scalars)
        #expect(executor.retainedBufferBytes == kept)  // the same buffers, handed back
        let shorter = Array(ids.prefix(220)), shorterMask = Array(mask.prefix(220))
        _ = try executor.run(ids: shorter, trainMask: shorterMask)
        #expect(executor.retainedBufferBytes < kept)  // the longer run's buffers were dropped, not added to
        executor.releaseRetainedBuffers()
        #expect(executor.retainedBufferBytes == 0)
    }
}

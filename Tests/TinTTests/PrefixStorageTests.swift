import Testing
import OPT
import Tensor
@testable import TinT

/// Half-precision prefix storage (``PrefixStorage``) against fp32 storage on the tiny OPT fixtures, exact options
/// and hard gates (so fp32 TinT equals approximate GD to ~1e-6 and what is left is the storage's rounding):
/// the logits before the step (the weights rounded once) and the logit change against the approximate-GD oracle
/// (the Descent's update rounded into the format as well). Tolerances (relative, ‖·‖₂): f16 2e-3 before, 5e-3
/// change; bf16 2e-2 before, 5e-2 change.
@Suite struct PrefixStorageTests {
    @Test(arguments: TinTExecutorTests.models) func halfStorageAgainstFloat32(name: String) throws {
        let model = try fixtureModel(name)
        let T = 24, trainCount = 12
        let config = fixtureConfig(model, learningRate: 0.002, exact: true)
        let program = try TinTCompiler.compile(try AuxGraph(opt: model.config), config: config)
        let ids = fixtureIDs(T, vocabulary: model.config.vocabSize, seed: 5)
        let mask = (0..<T).map { $0 < trainCount }
        let oracle = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
        let oracleChange = try oracle.logitsAfter - oracle.logitsBefore
        let native = try TinTExecutor(program: program, parameters: model.parameters)
        let fp32 = try native.run(ids: ids, trainMask: mask)
        // Measured: f16 6.8–8.0e-4 before, 1.3–2.3e-3 change; bf16 5.7–6.6e-3 before, 1.5e-2 change (fp32: 0.9–1.4e-6).
        for (storage, before, change) in [(PrefixStorage.float16, 2e-3, 5e-3), (.bfloat16, 2e-2, 5e-2)] {
            let executor = try TinTExecutor(program: program, parameters: model.parameters, prefixStorage: storage)
            #expect(executor.prefixBytes * 2 == native.prefixBytes)
            let out = try executor.run(ids: ids, trainMask: mask)
            let beforeError = relativeError(out.logitsBefore, fp32.logitsBefore)
            let changeError = relativeError(try out.logitsAfter - out.logitsBefore, oracleChange)
            #expect(beforeError <= before, "\(name) \(storage): logits before the step, relative error \(beforeError)")
            #expect(changeError <= change, "\(name) \(storage): logit change vs the oracle, relative error \(changeError)")
        }
    }
}

import Testing
import LanguageModel
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

    /// The conversions split over threads: every element of a several-chunk array (a tail included) equals its
    /// own conversion, both ways and in both formats.
    @Test func conversionsSplitOverThreadsMatchElementwise() {
        let n = 3 * halfConversionGrain + 5
        var state: UInt32 = 0x9E3779B9
        let x: [Float] = (0..<n).map { _ in
            state ^= state << 13; state ^= state >> 17; state ^= state << 5
            return Float(bitPattern: state & 0xBFFF_FFFF)  // exponents up to 2^0: finite, many subnormal in f16
        }
        for bfloat in [false, true] {
            let bits = x.withUnsafeBufferPointer { narrowToHalf($0, bfloat: bfloat) }
            let expected = x.map { bfloat ? HalfPrecision.bfloat16(from: $0) : HalfPrecision.half(from: $0) }
            #expect(zip(bits, expected).count(where: { $0 != $1 }) == 0, "narrowing, bfloat \(bfloat)")
            var back = [Float](repeating: .nan, count: n)
            bits.withUnsafeBufferPointer { b in back.withUnsafeMutableBufferPointer { widenFromHalf(b, into: $0.baseAddress!, bfloat: bfloat) } }
            let widened = bits.map { bfloat ? HalfPrecision.float(fromBFloat16: $0) : HalfPrecision.float(fromHalf: $0) }
            #expect(zip(back, widened).count(where: { $0.bitPattern != $1.bitPattern }) == 0, "widening, bfloat \(bfloat)")
        }
    }
}

import Testing
import Tensor
@testable import TinT

/// `TinTFlopCounter` (the FLOPs `Bench tint` reports) against what the product kernels actually executed in the
/// same run (`ProductTally`: every `gemm`, cross-head mix and bias-head product records its own work), and its glue
/// against the closed form: the tied head's logits and each loss gradient are one `2·T·V·D` product apiece, so a run
/// of `s` steps adds `(1 + 2s)` of them.
@Suite struct FlopCounterTests {
    func check<S: TensorScalar>(_: S.Type, fixture name: String, steps: Int, simulatedLayers: Int?, exact: Bool,
                                singleFT: Bool = false) throws {
        let (graph, parameters, vocabulary) = try DoubleOracleTests().fixture(name)
        var c = try TinTDefaults(graph: graph).config
        c.learningRate = 0.002
        c.steps = steps
        c.simulatedLayers = simulatedLayers
        if exact { c.layerNormBackward = .exact; c.activationBackward = .exact; c.gates = .hard }
        let program = try TinTCompiler.compile(graph, config: c, scalar: S.self)
        let executor = try TinTExecutor(program: program, parameters: parameters.converted(to: S.self))
        let T = 24
        let ids = fixtureIDs(T, vocabulary: vocabulary, seed: 5)
        let mask = (0..<T).map { $0 < 14 }
        let starts: [Int]? = singleFT ? (0..<T).map { $0 < 10 ? 0 : 10 } : nil
        let counter = TinTFlopCounter()
        let (_, executed) = try ProductTally.measure {
            try executor.run(ids: ids, trainMask: mask, countsTarget: { _ in true }, segmentStarts: starts, flops: counter)
        }
        let label = "\(name) \(S.self) steps \(steps) n_sim \(String(describing: simulatedLayers)) exact \(exact) single-ft \(singleFT)"
        #expect(counter.layerFlops > 0, "\(label)")
        #expect(counter.totalFlops == executed,
                "\(label): counted \(counter.totalFlops) (layers \(counter.layerFlops) + glue \(counter.glueFlops)), kernels ran \(executed)")
        let head = try #require(graph.tableShapes[graph.headWeight])
        #expect(counter.glueFlops == (1 + 2 * steps) * 2 * T * head[0] * head[1], "\(label): glue")
    }

    /// Every family of the end-to-end oracle (OPT pre- and post-LN, GPT-2, the RMS/GELU graph, Llama with GQA, RoPE
    /// and SwiGLU, padded FFN, head chunks), with the paper's options and with the exact ones, 1–2 steps, n_sim all
    /// or 1.
    @Test(arguments: DoubleOracleTests.fixtures) func counterEqualsTheKernels(name: String) throws {
        try check(Float.self, fixture: name, steps: 1, simulatedLayers: nil, exact: false)
        try check(Float.self, fixture: name, steps: 2, simulatedLayers: 1, exact: true)
    }

    /// The Double path (generic mix kernel) and independent sequences (single-ft) count the same way.
    @Test func doubleAndSingleFT() throws {
        try check(Double.self, fixture: "tiny-opt-pre-ln", steps: 1, simulatedLayers: nil, exact: true)
        try check(Float.self, fixture: "tiny-llama", steps: 1, simulatedLayers: nil, exact: false, singleFT: true)
    }
}

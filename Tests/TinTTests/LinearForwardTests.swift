import Testing
import Tensor
@testable import TinT

@Suite struct LinearForwardTests {
    static let cases: [(Int, Int)] = [(0, 1), (1, 7), (2, 13), (3, 5)]

    func check<S: TensorScalar>(_: S.Type, configIndex: Int, tokens t: Int) throws {
        let config = smallConfigs[configIndex].with(gates: testGates(S.self))
        let D = config.auxWidth, W = config.simWidth, mem = config.linearMemory
        let weight: Tensor<Double> = randn([D, D], seed: 1, std: 1 / Double(D).squareRoot())
        let bias: Tensor<Double> = randn([D], seed: 2)
        let prefixes: Tensor<S> = try LinearPrefixLayout.encode(weight: weight, bias: bias, config: config).converted()
        let before: TinTState<S> = randomState(config, prefixes: prefixes, tokens: t, seed: 3)
        var state = before
        let module = try LinearForward<S>(config: config, inputWidth: D, outputWidth: D)
        try module.apply(&state)

        let x = columns(before.tokens, 0, D).converted(to: Double.self)
        let y = naiveLinear(x, weight, bias)
        let tol = exactTolerance(S.self)
        #expect(maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), y) <= tol * max(1, maxAbs(y)), "Wx + b")
        #expect(maxDiff(columns(state.tokens, mem, D), columns(before.tokens, 0, D)) <= tol, "memory holds x")
        #expect(maxDiff(columns(state.tokens, D, mem - D), columns(before.tokens, D, mem - D)) <= tol, "other heads kept")
        #expect(maxDiff(state.prefixes, before.prefixes) <= tol * maxAbs(before.prefixes), "prefixes untouched")
        #expect(state.trainMask == before.trainMask)
        _ = W
    }

    @Test(arguments: cases) func double(configIndex: Int, tokens: Int) throws { try check(Double.self, configIndex: configIndex, tokens: tokens) }
    @Test(arguments: cases) func float(configIndex: Int, tokens: Int) throws { try check(Float.self, configIndex: configIndex, tokens: tokens) }

    /// A non-square map with explicit placement: input kept, output and memory elsewhere.
    @Test func rectangularMapAndPlacement() throws {
        let config = smallConfigs[1].with(gates: .hard)  // D 64, S 4, K 16, W 320
        let K = config.prefixCount, dIn = 2 * K, dOut = 3 * K
        let weight: Tensor<Double> = randn([dOut, dIn], seed: 4)
        let bias: Tensor<Double> = randn([dOut], seed: 5)
        let prefixes = try LinearPrefixLayout.encode(weight: weight, bias: bias, config: config)
        let (w2, b2) = try LinearPrefixLayout.decode(prefixes, inputWidth: dIn, outputWidth: dOut, config: config)
        #expect(w2 == weight && b2 == bias, "encode/decode round trip")
        let before: TinTState<Double> = randomState(config, prefixes: prefixes, tokens: 9, seed: 6)
        var state = before
        let module = try LinearForward<Double>(config: config, inputWidth: dIn, outputWidth: dOut, inputOffset: K,
                                               outputOffset: 4 * K, memory: .at(10 * K), keepInput: true)
        try module.apply(&state)
        let y = naiveLinear(columns(before.tokens, K, dIn), weight, bias)
        #expect(maxDiff(columns(state.tokens, 4 * K, dOut), y) <= 1e-10 * maxAbs(y))
        #expect(maxDiff(columns(state.tokens, 10 * K, dIn), columns(before.tokens, K, dIn)) == 0)
        #expect(maxDiff(columns(state.tokens, 0, 4 * K), columns(before.tokens, 0, 4 * K)) == 0, "input kept")
        #expect(maxDiff(columns(state.tokens, 12 * K, 8 * K), columns(before.tokens, 12 * K, 8 * K)) == 0)
    }

    @Test func rejectsRuleViolations() throws {
        let config = smallConfigs[0]
        #expect(throws: TinTError.self) { try LinearForward<Float>(config: config, inputWidth: 20, outputWidth: 48) }
        #expect(throws: TinTError.self) { try LinearForward<Float>(config: config, inputWidth: 48, outputWidth: 48, outputOffset: 150) }
        #expect(throws: TinTError.self) {
            try LinearForward<Float>(config: config, inputWidth: 48, outputWidth: 48, memory: .at(0))
        }
        var bad = config
        bad.rowsPerPrefix = 2
        #expect(throws: TinTError.self) { try LinearForward<Float>(config: bad, inputWidth: 48, outputWidth: 48) }
        let module = try LinearForward<Float>(config: config, inputWidth: 48, outputWidth: 48)
        var state = try TinTState<Float>(prefixes: try .zeros([16, 192]), tokens: try .zeros([65, 192]),
                                         trainMask: [Bool](repeating: true, count: 65))
        #expect(throws: TinTError.self) { try module.apply(&state) }  // T > T_aux
    }
}

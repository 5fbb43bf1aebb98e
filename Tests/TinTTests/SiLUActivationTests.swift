import Testing
import LanguageModel
import Tensor
import Autodiff
@testable import TinT

/// SiLU as a simulator activation: `ActivationForward` against Autodiff's `silu`, and `ActivationBackward`
/// (finite difference and exact) against Autodiff's exact SiLU gradient.
@Suite struct SiLUActivationTests {
    func forward<S: TensorScalar>(_: S.Type, _ ci: Int) throws {
        let config = smallConfigs[ci].with(gates: testGates(S.self))
        let D = config.auxWidth, t = 7
        let before: TinTState<S> = randomState(config, prefixes: randn([config.prefixCount, config.simWidth], seed: 1), tokens: t, seed: 2)
        var state = before
        try ActivationForward<S>(config: config, activation: .silu).apply(&state)
        let x = columns(before.tokens, 0, D).converted(to: Double.self)
        let y = Variable(x).silu().value
        let tol = exactTolerance(S.self)
        #expect(maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), y) <= tol * max(1, maxAbs(y)))
        #expect(maxDiff(columns(state.tokens, config.linearMemory, D), columns(before.tokens, 0, D)) <= tol, "h in memory")
    }

    @Test(arguments: [0, 1, 2, 3]) func forwardDouble(ci: Int) throws { try forward(Double.self, ci) }
    @Test(arguments: [0, 1, 2, 3]) func forwardFloat(ci: Int) throws { try forward(Float.self, ci) }

    /// Max error of the simulated `σ'(h)⊙∇a` against Autodiff (in Double), and the gradient's scale.
    func backwardError<S: TensorScalar>(_: S.Type, _ ci: Int, _ rule: TinTConfig.ActivationBackward) throws -> (Double, Double) {
        var config = smallConfigs[ci].with(gates: testGates(S.self))
        config.activationBackward = rule
        let D = config.auxWidth, t = 9
        var state: TinTState<S> = randomState(config, prefixes: randn([config.prefixCount, config.simWidth], seed: 1), tokens: t, seed: 3)
        try ActivationForward<S>(config: config, activation: .silu).apply(&state)
        let h = columns(state.tokens, config.linearMemory, D).converted(to: Double.self)
        let ga: Tensor<S> = randn([t, D], seed: 4)
        try state.tokens.assign(ga, axis: 1, 0..<D)
        let kept = state
        try ActivationBackward<S>(config: config, activation: .silu).apply(&state)
        let expected = try valueAndGradient(at: h, seed: ga.converted(to: Double.self)) { $0.silu() }.gradient
        let rest = config.simWidth - D
        #expect(maxDiff(columns(state.tokens, D, rest), columns(kept.tokens, D, rest)) == 0, "other heads kept")
        return (maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), expected), maxAbs(expected))
    }

    @Test(arguments: [0, 1, 2, 3]) func backwardExact(ci: Int) throws {
        let (ed, sd) = try backwardError(Double.self, ci, .exact)
        #expect(ed <= 1e-10 * max(1, sd), "Double: \(ed)")
        let (ef, sf) = try backwardError(Float.self, ci, .exact)
        #expect(ef <= 1e-5 * max(1, sf), "fp32: \(ef)")
    }

    /// The same bounds as the GELU test: `O(1/N)`, so 100× more N gives ≥ 20× less error (Double).
    @Test(arguments: [0, 1, 2, 3]) func backwardFiniteDifference(ci: Int) throws {
        let (e3, s) = try backwardError(Double.self, ci, .finiteDifference(1e3))
        let (e5, _) = try backwardError(Double.self, ci, .finiteDifference(1e5))
        #expect(e3 <= 1e-2 * max(1, s), "N = 1e3: \(e3)")
        #expect(e5 <= e3 / 20, "O(1/N): \(e3) → \(e5)")
        // fp32 with the paper's N: the first-order error plus cancellation, as for GELU.
        let (f3, _) = try backwardError(Float.self, ci, .finiteDifference(1e3))
        #expect(f3 <= 1e-2 * max(1, s), "fp32, N = 1e3: \(f3)")
    }
}

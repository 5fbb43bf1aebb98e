import Testing
import LanguageModel
import Tensor
import Autodiff
@testable import TinT

/// The gated product `p = σ(g) ⊙ u` of a gated MLP: `GatedProductForward` against the direct product, and
/// `GatedProductBackward` against Autodiff's gradients `∇g`, `∇u` of `⟨p, ∇p⟩` (exact and finite-difference
/// activation backward), with every untouched head kept.
@Suite struct GatedProductTests {
    static let cases: [(Activation, Int)] = [(.silu, 0), (.gelu, 1), (.relu, 2), (.silu, 3), (.geluTanh, 1)]

    struct Errors { var forward = 0.0, gate = 0.0, up = 0.0 }

    /// Relative errors (to max(1, scale)) against Autodiff in Double.
    func run<S: TensorScalar>(_: S.Type, _ f: Activation, _ ci: Int, _ rule: TinTConfig.ActivationBackward) throws -> Errors {
        var config = smallConfigs[ci].with(gates: testGates(S.self))
        config.activationBackward = rule
        let D = config.auxWidth, W = config.simWidth, t = 9
        let g: Tensor<Double> = randn([t, D], seed: 21), u: Tensor<Double> = randn([t, D], seed: 22)
        let gp: Tensor<Double> = randn([t, D], seed: 23)
        // Random rows everywhere, with g and u in their slots.
        var state: TinTState<S> = randomState(config, prefixes: randn([config.prefixCount, W], seed: 1), tokens: t, seed: 24)
        try state.tokens.assign(g.converted(to: S.self), axis: 1, D..<(2 * D))
        try state.tokens.assign(u.converted(to: S.self), axis: 1, (2 * D)..<(3 * D))
        let entry = state
        try GatedProductForward<S>(config: config, activation: f).apply(&state)
        let (p, (dg, du)) = try valueAndGradient(at: g, u, seed: gp) { gv, uv in try Layers.activation(gv, f) * uv }
        var e = Errors()
        e.forward = maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), p) / max(1, maxAbs(p))
        let tol = exactTolerance(S.self)
        #expect(maxDiff(columns(state.tokens, D, W - D), columns(entry.tokens, D, W - D)) <= tol, "g, u and the rest kept")

        try state.tokens.assign(gp.converted(to: S.self), axis: 1, 0..<D)
        let kept = state
        try GatedProductBackward<S>(config: config, activation: f).apply(&state)
        e.gate = maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), dg) / max(1, maxAbs(dg))
        e.up = maxDiff(columns(state.tokens, 2 * D, D).converted(to: Double.self), du) / max(1, maxAbs(du))
        #expect(maxDiff(columns(state.tokens, D, D), columns(kept.tokens, D, D)) <= tol, "g kept")
        #expect(maxDiff(columns(state.tokens, 3 * D, W - 3 * D), columns(kept.tokens, 3 * D, W - 3 * D)) <= tol, "rest kept")
        return e
    }

    @Test(arguments: cases) func exactDouble(f: Activation, ci: Int) throws {
        let e = try run(Double.self, f, ci, .exact)
        #expect(e.forward <= 1e-12 && e.up <= 1e-12, "forward \(e.forward), ∇u \(e.up)")
        // ReLU's σ' is a step: the exact rule and Autodiff agree except at g = 0, which random g never hits.
        #expect(e.gate <= 1e-10, "∇g \(e.gate)")
    }

    @Test(arguments: cases) func float(f: Activation, ci: Int) throws {
        let e = try run(Float.self, f, ci, .exact)
        #expect(e.forward <= 1e-5 && e.up <= 1e-5 && e.gate <= 1e-5, "\(e)")
    }

    /// The paper's finite-difference rule: first order in 1/N (ReLU is exact away from its kink).
    @Test(arguments: cases) func finiteDifference(f: Activation, ci: Int) throws {
        let e3 = try run(Double.self, f, ci, .finiteDifference(1e3))
        let e5 = try run(Double.self, f, ci, .finiteDifference(1e5))
        #expect(e3.forward <= 1e-12 && e3.up <= 1e-12)
        #expect(e3.gate <= 1e-2, "N = 1e3: \(e3.gate)")
        #expect(e5.gate <= max(e3.gate / 20, 1e-9), "O(1/N): \(e3.gate) → \(e5.gate)")
    }
}

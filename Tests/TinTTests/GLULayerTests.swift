import Testing
import LanguageModel
import Tensor
@testable import TinT

/// The GLU layer: `.exact` products equal the direct elementwise product for σ ∈ {SiLU, GELU, ReLU} (the
/// identity σ(z) − σ(−z) = z), `.activated` products equal σ(a)⊙b, and every other head is kept.
@Suite struct GLULayerTests {
    static let cases: [(Activation, Int)] = [(.silu, 0), (.gelu, 1), (.relu, 2), (.silu, 3), (.geluTanh, 0)]

    func run<S: TensorScalar>(_: S.Type, _ f: Activation, _ ci: Int) throws -> (exact: Double, activated: Double) {
        let config = smallConfigs[ci].with(gates: testGates(S.self))
        let D = config.auxWidth, W = config.simWidth, t = 11
        // a at D, b at 2D; a⊙b into the signal, σ(a)⊙b into W − D.
        let layer = try GLULayer<S>(config: config, activation: f, products: [
            GLUProduct(.exact, gate: D, up: 2 * D, output: 0),
            GLUProduct(.activated, gate: D, up: 2 * D, output: W - D),
        ])
        let before: TinTState<S> = randomState(config, prefixes: randn([config.prefixCount, W], seed: 1), tokens: t, seed: 5)
        var state = before
        try layer.apply(&state)
        let a = columns(before.tokens, D, D).converted(to: Double.self), b = columns(before.tokens, 2 * D, D).converted(to: Double.self)
        let ab = try a * b
        let sab = try applyActivation(f, a) * b
        let exact = maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), ab) / max(1, maxAbs(ab))
        let activated = maxDiff(columns(state.tokens, W - D, D).converted(to: Double.self), sab) / max(1, maxAbs(sab))
        let tol = exactTolerance(S.self)
        #expect(maxDiff(columns(state.tokens, D, W - 2 * D), columns(before.tokens, D, W - 2 * D)) <= tol, "other heads kept")
        #expect(maxDiff(state.prefixes, before.prefixes) <= tol * maxAbs(before.prefixes), "prefixes kept")
        return (exact, activated)
    }

    @Test(arguments: cases) func exactProductDouble(f: Activation, ci: Int) throws {
        let (e, s) = try run(Double.self, f, ci)
        #expect(e <= 1e-12, "a⊙b: \(e)")
        #expect(s <= 1e-12, "σ(a)⊙b: \(s)")
    }

    @Test(arguments: cases) func exactProductFloat(f: Activation, ci: Int) throws {
        let (e, s) = try run(Float.self, f, ci)
        #expect(e <= 1e-6, "a⊙b: \(e)")
        #expect(s <= 1e-6, "σ(a)⊙b: \(s)")
    }

    @Test func tooManyProductsThrow() throws {
        let config = smallConfigs[0]
        let D = config.auxWidth
        // Three exact products need 6·D/d hidden heads > H_sim.
        #expect(throws: TinTError.self) {
            _ = try GLULayer<Float>(config: config, activation: .silu, products: [
                GLUProduct(.exact, gate: D, up: 2 * D, output: 0), GLUProduct(.exact, gate: D, up: 2 * D, output: D),
                GLUProduct(.exact, gate: D, up: 2 * D, output: 2 * D)])
        }
    }
}

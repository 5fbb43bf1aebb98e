import Testing
import LanguageModel
import Tensor
import Autodiff
@testable import TinT

@Suite struct LayerNormTests {
    struct Setup<S: TensorScalar> {
        let config: SimulatorSpec
        let gamma: Tensor<Double>, beta: Tensor<Double>
        let prefixes: Tensor<S>
    }

    func setup<S: TensorScalar>(_: S.Type, _ ci: Int, lnBackward: TinTConfig.LayerNormBackward = .exact,
                                update: TinTConfig.LayerNormUpdate = .biasOnly) -> Setup<S> {
        var config = smallConfigs[ci].with(gates: testGates(S.self)).with(learningRate: 0.05)
        config.layerNormBackward = lnBackward
        config.layerNormUpdate = update
        let D = config.auxWidth
        let gamma = try! Tensor(shape: [D], scalars: (randn([D], seed: 1, std: 0.2) as Tensor<Double>).scalars.map { 1 + $0 })
        let beta: Tensor<Double> = randn([D], seed: 2, std: 0.3)
        return Setup(config: config, gamma: gamma, beta: beta,
                     prefixes: try! LinearPrefixLayout.encodeLayerNorm(gamma: gamma, beta: beta, config: config).converted())
    }

    /// A state after LayerNormForward, with `∇y` written into the signal.
    func forwardState<S: TensorScalar>(_ s: Setup<S>, _ t: Int, mask: [Bool]) throws -> (before: TinTState<S>, after: TinTState<S>) {
        var x: Tensor<S> = randn([t, s.config.simWidth], seed: 3)
        // Give the signal a non-zero mean and scale so the normalisation matters.
        x = try Tensor(shape: x.shape, scalars: x.scalars.enumerated().map { $0.offset % s.config.simWidth < s.config.auxWidth ? 2 * $0.element + 0.5 : $0.element })
        let before = try TinTState(prefixes: s.prefixes, tokens: x, trainMask: mask)
        var after = before
        try LayerNormForward<S>(config: s.config).apply(&after)
        return (before, after)
    }

    static let cases: [(Int, Int)] = [(0, 1), (1, 7), (2, 13), (3, 6)]

    func forward<S: TensorScalar>(_: S.Type, _ ci: Int, _ t: Int) throws {
        let s = setup(S.self, ci)
        let c = s.config, D = c.auxWidth, mem = c.layerNormMemory
        let (before, after) = try forwardState(s, t, mask: testMasks(t)[0])
        let x = columns(before.tokens, 0, D).converted(to: Double.self)
        let y = try x.layerNorm(weight: s.gamma, bias: s.beta, epsilon: c.layerNormEpsilon)
        let xhat = try x.layerNorm(epsilon: c.layerNormEpsilon)
        let tol = exactTolerance(S.self)
        #expect(maxDiff(columns(after.tokens, 0, D).converted(to: Double.self), y) <= tol * max(1, maxAbs(y)), "γ⊙x̂ + β")
        #expect(maxDiff(columns(after.tokens, mem, D).converted(to: Double.self), xhat) <= tol * max(1, maxAbs(xhat)), "x̂ in memory")
        #expect(maxDiff(columns(after.tokens, mem + D, D), columns(before.tokens, 0, D)) <= tol, "x in memory")
        if mem > D { #expect(maxDiff(columns(after.tokens, D, mem - D), columns(before.tokens, D, mem - D)) <= tol) }
        #expect(maxDiff(after.prefixes, before.prefixes) <= tol * maxAbs(before.prefixes))
    }

    @Test(arguments: cases) func forwardDouble(ci: Int, t: Int) throws { try forward(Double.self, ci, t) }
    @Test(arguments: cases) func forwardFloat(ci: Int, t: Int) throws { try forward(Float.self, ci, t) }

    /// The exact LN VJP from Autodiff for the state's `x` and `∇y`.
    func autodiffVJP(_ x: Tensor<Double>, _ gy: Tensor<Double>, _ s: Setup<Double>) throws -> Tensor<Double> {
        try valueAndGradient(at: x, seed: gy) { try $0.layerNorm(weight: Variable(s.gamma), bias: Variable(s.beta), epsilon: s.config.layerNormEpsilon) }.gradient
    }

    func backwardError(_ ci: Int, _ t: Int, _ rule: TinTConfig.LayerNormBackward, gates: GateKind = .hard) throws -> (Double, Double) {
        var s = setup(Double.self, ci, lnBackward: rule)
        s = Setup(config: s.config.with(gates: gates), gamma: s.gamma, beta: s.beta, prefixes: s.prefixes)
        let D = s.config.auxWidth
        var (before, state) = try forwardState(s, t, mask: testMasks(t)[0])
        let gy: Tensor<Double> = randn([t, D], seed: 5)
        try state.tokens.assign(gy, axis: 1, 0..<D)
        let kept = state
        try LayerNormBackward<Double>(config: s.config).apply(&state)
        let expected = try autodiffVJP(columns(before.tokens, 0, D), gy, s)
        let rest = s.config.simWidth - D
        #expect(maxDiff(columns(state.tokens, D, rest), columns(kept.tokens, D, rest)) == 0, "memory kept")
        return (maxDiff(columns(state.tokens, 0, D), expected), maxAbs(expected))
    }

    @Test(arguments: cases) func backwardExact(ci: Int, t: Int) throws {
        let (err, scale) = try backwardError(ci, t, .exact)
        #expect(err <= 1e-10 * max(1, scale))
    }

    /// The first-order rule converges as O(1/N) (Double), and is within a few 1e-3 at the paper's N = 1000.
    @Test(arguments: cases) func backwardFirstOrder(ci: Int, t: Int) throws {
        let (e3, scale) = try backwardError(ci, t, .firstOrder(1e3))
        let (e4, _) = try backwardError(ci, t, .firstOrder(1e4))
        #expect(e3 <= 5e-3 * max(1, scale), "N = 1e3: \(e3)")
        #expect(e4 <= e3 / 5, "O(1/N): \(e3) → \(e4)")
    }

    /// fp32 with the paper's defaults (tanh(10) gates, N = 1000): within O(1/N) of the exact VJP.
    @Test func backwardFirstOrderFloat() throws {
        let s = setup(Float.self, 2, lnBackward: .firstOrder(1000))
        let D = s.config.auxWidth
        var (before, state) = try forwardState(s, 9, mask: testMasks(9)[0])
        let gy: Tensor<Float> = randn([9, D], seed: 5)
        try state.tokens.assign(gy, axis: 1, 0..<D)
        try LayerNormBackward<Float>(config: s.config).apply(&state)
        let sd = setup(Double.self, 2)
        let expected = try autodiffVJP(columns(before.tokens, 0, D).converted(), gy.converted(), sd)
        #expect(maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), expected) <= 1e-2 * max(1, maxAbs(expected)))
    }

    @Test(arguments: [TinTConfig.LayerNormUpdate.biasOnly, .full])
    func descent(update: TinTConfig.LayerNormUpdate) throws {
        let s = setup(Double.self, 2, update: update)
        let c = s.config, D = c.auxWidth, t = 9
        for mask in testMasks(t) {
            var (_, state) = try forwardState(s, t, mask: mask)
            let gy: Tensor<Double> = randn([t, D], seed: 6)
            try state.tokens.assign(gy, axis: 1, 0..<D)
            let xhat = columns(state.tokens, c.layerNormMemory, D)
            let start = state
            try LayerNormDescent<Double>(config: c).apply(&state)
            let (w1, b1) = try LinearPrefixLayout.decode(state.prefixes, inputWidth: D, outputWidth: D, config: c)
            let (w0, b0) = try LinearPrefixLayout.decode(s.prefixes, inputWidth: D, outputWidth: D, config: c)
            let (we, be) = naiveDescent(w0, b0, gy: gy, x: xhat, mask: mask, eta: c.learningRate, biasOnly: update == .biasOnly)
            #expect(maxDiff(w1, we) <= 1e-10 && maxDiff(b1, be) <= 1e-10)
            if update == .biasOnly { #expect(w1 == w0, "γ untouched") }
            // Backward ∥ Descent gives the same prefixes and the Backward token rows.
            var both = start
            try LayerNormBackwardDescent<Double>(config: c).apply(&both)
            #expect(maxDiff(both.prefixes, state.prefixes) <= 1e-12)
            var back = start
            try LayerNormBackward<Double>(config: c).apply(&back)
            #expect(maxDiff(both.tokens, back.tokens) <= 1e-12)
        }
    }
}

@Suite struct ActivationTests {
    static let cases: [(Activation, Int)] = [(.relu, 0), (.gelu, 1), (.geluTanh, 2), (.relu, 3)]

    func autodiffActivation(_ f: Activation, _ v: Variable<Double>) -> Variable<Double> {
        switch f {
        case .relu: return v.relu()
        case .gelu: return v.gelu()
        case .geluTanh: return v.geluTanh()
        case .silu: return v.silu()
        }
    }

    func forward<S: TensorScalar>(_: S.Type, _ f: Activation, _ ci: Int) throws {
        let config = smallConfigs[ci].with(gates: testGates(S.self))
        let D = config.auxWidth, t = 7
        let before: TinTState<S> = randomState(config, prefixes: randn([config.prefixCount, config.simWidth], seed: 1), tokens: t, seed: 2)
        var state = before
        try ActivationForward<S>(config: config, activation: f).apply(&state)
        let x = columns(before.tokens, 0, D).converted(to: Double.self)
        let y = autodiffActivation(f, Variable(x)).value
        let tol = exactTolerance(S.self)
        #expect(maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), y) <= tol * max(1, maxAbs(y)))
        #expect(maxDiff(columns(state.tokens, config.linearMemory, D), columns(before.tokens, 0, D)) <= tol, "h in memory")
        let mid = config.linearMemory - D
        #expect(maxDiff(columns(state.tokens, D, mid), columns(before.tokens, D, mid)) <= tol)
        #expect(maxDiff(state.prefixes, before.prefixes) <= tol * maxAbs(before.prefixes))
    }

    @Test(arguments: cases) func forwardDouble(f: Activation, ci: Int) throws { try forward(Double.self, f, ci) }
    @Test(arguments: cases) func forwardFloat(f: Activation, ci: Int) throws { try forward(Float.self, f, ci) }

    func backwardError(_ f: Activation, _ ci: Int, _ rule: TinTConfig.ActivationBackward) throws -> (Double, Double) {
        var config = smallConfigs[ci].with(gates: .hard)
        config.activationBackward = rule
        let D = config.auxWidth, t = 9
        var state: TinTState<Double> = randomState(config, prefixes: randn([config.prefixCount, config.simWidth], seed: 1), tokens: t, seed: 3)
        try ActivationForward<Double>(config: config, activation: f).apply(&state)
        let h = columns(state.tokens, config.linearMemory, D)
        let ga: Tensor<Double> = randn([t, D], seed: 4)
        try state.tokens.assign(ga, axis: 1, 0..<D)
        let kept = state
        try ActivationBackward<Double>(config: config, activation: f).apply(&state)
        let expected = try valueAndGradient(at: h, seed: ga) { autodiffActivation(f, $0) }.gradient
        let rest = config.simWidth - D
        #expect(maxDiff(columns(state.tokens, D, rest), columns(kept.tokens, D, rest)) == 0)
        return (maxDiff(columns(state.tokens, 0, D), expected), maxAbs(expected))
    }

    @Test(arguments: cases) func backwardExact(f: Activation, ci: Int) throws {
        let (e, s) = try backwardError(f, ci, .exact)
        #expect(e <= 1e-10 * max(1, s))
    }

    @Test(arguments: cases) func backwardFiniteDifference(f: Activation, ci: Int) throws {
        let (e3, s) = try backwardError(f, ci, .finiteDifference(1e3))
        let (e5, _) = try backwardError(f, ci, .finiteDifference(1e5))
        // ReLU is exact except within |∇a|/N of the kink; GELU's error is O(1/N).
        #expect(e3 <= 1e-2 * max(1, s), "N = 1e3: \(e3)")
        #expect(e5 <= e3 / 20 || e5 <= 1e-9, "O(1/N): \(e3) → \(e5)")
    }
}

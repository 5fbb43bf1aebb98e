import Testing
import Tensor
@testable import TinT

/// `W − ηΣ_{t∈train} ∇y_t x_tᵀ` and `b − ηΣ_{t∈train} ∇y_t` with explicit loops.
func naiveDescent(_ w: Tensor<Double>, _ b: Tensor<Double>, gy: Tensor<Double>, x: Tensor<Double>, mask: [Bool],
                  eta: Double, biasOnly: Bool = false) -> (Tensor<Double>, Tensor<Double>) {
    let dOut = w.shape[0], dIn = w.shape[1]
    var ws = w.scalars, bs = b.scalars
    let g = gy.scalars, xs = x.scalars
    for t in mask.indices where mask[t] {
        for o in 0..<dOut {
            bs[o] -= eta * g[t * dOut + o]
            if !biasOnly { for i in 0..<dIn { ws[o * dIn + i] -= eta * g[t * dOut + o] * xs[t * dIn + i] } }
        }
    }
    return (try! Tensor(shape: w.shape, scalars: ws), try! Tensor(shape: b.shape, scalars: bs))
}

@Suite struct LinearBackwardDescentTests {
    static let cases: [(Int, Int)] = [(0, 1), (1, 7), (2, 13), (3, 6)]

    func setup<S: TensorScalar>(_: S.Type, _ configIndex: Int, _ t: Int, seed: UInt64)
        -> (SimulatorSpec, Tensor<Double>, Tensor<Double>, Tensor<S>) {
        let config = smallConfigs[configIndex].with(gates: testGates(S.self)).with(learningRate: 0.05)
        let D = config.auxWidth
        let w: Tensor<Double> = randn([D, D], seed: seed, std: 1 / Double(D).squareRoot())
        let b: Tensor<Double> = randn([D], seed: seed + 1)
        return (config, w, b, try! LinearPrefixLayout.encode(weight: w, bias: b, config: config).converted())
    }

    func backward<S: TensorScalar>(_: S.Type, _ ci: Int, _ t: Int) throws {
        let (config, w, b, prefixes) = setup(S.self, ci, t, seed: 10)
        let D = config.auxWidth, mem = config.linearMemory
        let before: TinTState<S> = randomState(config, prefixes: prefixes, tokens: t, seed: 11)
        var state = before
        try LinearBackward<S>(config: config, inputWidth: D, outputWidth: D).apply(&state)
        let gy = columns(before.tokens, 0, D).converted(to: Double.self)
        let expected = naiveMatmul(gy, w)  // Wᵀ∇y as rows: ∇y·W
        let tol = exactTolerance(S.self)
        #expect(maxDiff(columns(state.tokens, 0, D).converted(to: Double.self), expected) <= tol * max(1, maxAbs(expected)))
        #expect(maxDiff(columns(state.tokens, D, config.simWidth - D), columns(before.tokens, D, config.simWidth - D)) <= tol,
                "memory and other heads kept")
        #expect(maxDiff(state.prefixes, before.prefixes) <= tol * maxAbs(before.prefixes))
        _ = (b, mem)
    }

    func descent<S: TensorScalar>(_: S.Type, _ ci: Int, _ t: Int, biasOnly: Bool) throws {
        let (config, w, b, prefixes) = setup(S.self, ci, t, seed: 20)
        let D = config.auxWidth, mem = config.linearMemory
        for mask in testMasks(t) {
            let before: TinTState<S> = randomState(config, prefixes: prefixes, tokens: t, seed: 21, mask: mask)
            var state = before
            try LinearDescent<S>(config: config, inputWidth: D, outputWidth: D, biasOnly: biasOnly).apply(&state)
            let (w1, b1) = try LinearPrefixLayout.decode(state.prefixes.converted(to: Double.self), inputWidth: D, outputWidth: D,
                                                         config: config)
            let (we, be) = naiveDescent(w, b, gy: columns(before.tokens, 0, D).converted(), x: columns(before.tokens, mem, D).converted(),
                                        mask: mask, eta: config.learningRate, biasOnly: biasOnly)
            let tol = exactTolerance(S.self)
            #expect(maxDiff(w1, we) <= tol * max(1, maxAbs(we)), "W updated, mask \(mask)")
            #expect(maxDiff(b1, be) <= tol * max(1, maxAbs(be)), "b updated, mask \(mask)")
            // Only prefix 0 holds the bias; the other prefixes' bias slots stay zero.
            let R = D / config.prefixCount
            let biasSlots = try state.prefixes.sliced(axis: 0, 1..<config.prefixCount).sliced(axis: 1, (R * D)..<(R * D + D))
            #expect(maxAbs(biasSlots.contiguous()) == 0)
            #expect(maxDiff(state.tokens, before.tokens) <= tol * maxAbs(before.tokens), "tokens kept")
        }
    }

    @Test(arguments: cases) func backwardDouble(ci: Int, t: Int) throws { try backward(Double.self, ci, t) }
    @Test(arguments: cases) func backwardFloat(ci: Int, t: Int) throws { try backward(Float.self, ci, t) }
    @Test(arguments: cases) func descentDouble(ci: Int, t: Int) throws { try descent(Double.self, ci, t, biasOnly: false) }
    @Test(arguments: cases) func descentFloat(ci: Int, t: Int) throws { try descent(Float.self, ci, t, biasOnly: false) }
    @Test(arguments: cases) func descentBiasOnly(ci: Int, t: Int) throws { try descent(Double.self, ci, t, biasOnly: true) }

    /// Backward ∥ Descent: token rows from Backward (pre-update W), prefixes from Descent.
    @Test(arguments: cases) func backwardDescent(ci: Int, t: Int) throws {
        let (config, w, b, prefixes) = setup(Double.self, ci, t, seed: 30)
        let D = config.auxWidth, mem = config.linearMemory
        let mask = testMasks(t)[3]
        let before: TinTState<Double> = randomState(config, prefixes: prefixes, tokens: t, seed: 31, mask: mask)
        var state = before
        try LinearBackwardDescent<Double>(config: config, inputWidth: D, outputWidth: D).apply(&state)
        let gy = columns(before.tokens, 0, D)
        #expect(maxDiff(columns(state.tokens, 0, D), naiveMatmul(gy, w)) <= 1e-10)
        let (w1, b1) = try LinearPrefixLayout.decode(state.prefixes, inputWidth: D, outputWidth: D, config: config)
        let (we, be) = naiveDescent(w, b, gy: gy, x: columns(before.tokens, mem, D), mask: mask, eta: config.learningRate)
        #expect(maxDiff(w1, we) <= 1e-10 && maxDiff(b1, be) <= 1e-10)
        #expect(maxDiff(columns(state.tokens, D, config.simWidth - D), columns(before.tokens, D, config.simWidth - D)) == 0)
    }

    /// Eval tokens never influence the update: changing them changes nothing; duplicating the train tokens doubles it.
    @Test func evalTokensDoNotMatterAndSumsAdd() throws {
        let (config, _, _, prefixes) = setup(Double.self, 2, 8, seed: 40)
        let D = config.auxWidth
        let mask = [true, true, false, true, false, false, true, false]
        var a: TinTState<Double> = randomState(config, prefixes: prefixes, tokens: 8, seed: 41, mask: mask)
        var b = a
        var tokens = b.tokens.scalars
        for t in mask.indices where !mask[t] { for c in 0..<config.simWidth { tokens[t * config.simWidth + c] *= -3 } }
        b.tokens = try Tensor(shape: b.tokens.shape, scalars: tokens)
        let descent = try LinearDescent<Double>(config: config, inputWidth: D, outputWidth: D)
        try descent.apply(&a)
        try descent.apply(&b)
        #expect(maxDiff(a.prefixes, b.prefixes) == 0)
        // Duplicate the train segment: the update doubles.
        let base: TinTState<Double> = randomState(config, prefixes: prefixes, tokens: 4, seed: 42, mask: [true, true, true, false])
        var once = base
        var twice = try TinTState(prefixes: prefixes, tokens: try .concatenated([base.tokens, base.tokens], axis: 0),
                                  trainMask: base.trainMask + base.trainMask)
        try descent.apply(&once)
        try descent.apply(&twice)
        let d1 = once.prefixes.scalars.enumerated().map { $0.element - prefixes.scalars[$0.offset] }
        let d2 = twice.prefixes.scalars.enumerated().map { $0.element - prefixes.scalars[$0.offset] }
        #expect(zip(d1, d2).map { abs(2 * $0 - $1) }.max()! <= 1e-12)
        #expect(d1.map(abs).max()! > 1e-3)
    }
}

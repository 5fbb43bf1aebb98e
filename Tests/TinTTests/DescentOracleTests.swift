import Autodiff
import Foundation
import LanguageModel
import OPT
import Tensor
import Testing
@testable import TinT

/// The tiny OPT fixtures of Tests/OPTTests/Fixtures (hidden 32, ffn 64, 2 layers, vocab 632; the post-LN one
/// has project_in/out to 16), loaded by path so this target needs no resource copy.
enum TinyOPT {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("OPTTests/Fixtures")
    static let preLN = try! OPTModel.load(directory: directory.appendingPathComponent("tiny-opt-pre-ln"))
    static let postLN = try! OPTModel.load(directory: directory.appendingPathComponent("tiny-opt-post-ln"))
    static let both: [(String, OPTModel)] = [("pre-LN", preLN), ("post-LN", postLN)]

    /// Deterministic token ids (never the padding id 1).
    static func ids(_ count: Int, seed: UInt64) -> [Int] {
        var rng = TensorRNG(seed: seed)
        return (0..<count).map { _ in 2 + Int(rng.nextUnit() * 600) }
    }

    /// The first `n` of `count` tokens train.
    static func prefixMask(_ n: Int, of count: Int) -> [Bool] { (0..<count).map { $0 < n } }

    /// A config for the fixture (D_aux 32: S = 4, H_sim = 20 satisfy every rule).
    static func config(lr: Double, steps: Int = 1, layers: Int? = nil, referenceCompatible: Bool = false) -> TinTConfig {
        TinTConfig(rowsPerPrefix: 4, simHeads: 20, learningRate: lr,
                   simulatedLayers: layers, steps: steps, referenceCompatible: referenceCompatible)
    }
}

/// Largest absolute difference per parameter name, over the names both sets hold.
func parameterDifferences(_ a: ParameterSet<Float>, _ b: ParameterSet<Float>) -> [String: Double] {
    var out: [String: Double] = [:]
    for (name, t) in a { if let u = b[name] { out[name] = maxDiff(t, u) } }
    return out
}

/// `a − b` per trainable name, flattened in name order, in Double.
func parameterDelta(_ a: ParameterSet<Float>, _ b: ParameterSet<Float>, names: [String]) -> [Double] {
    names.flatMap { n in zip(a[n]!.scalars, b[n]!.scalars).map { Double($0) - Double($1) } }
}

@Suite struct DescentOracleTests {
    let ids = TinyOPT.ids(12, seed: 7)

    @Test func zeroLearningRateLeavesLogitsAndParametersUnchanged() throws {
        for (label, model) in TinyOPT.both {
            let plain = try model.logits(ids)
            for method in [DescentMethod.approx, .exact] {
                let r = try oracleDescent(method, model: model, ids: ids, trainMask: TinyOPT.prefixMask(6, of: 12),
                                          config: TinyOPT.config(lr: 0, steps: 2))
                #expect(maxDiff(r.logitsBefore, plain) == 0, "\(label) \(method)")
                #expect(maxDiff(r.logitsAfter, plain) == 0, "\(label) \(method)")
                #expect(parameterDifferences(r.parameters!, model.parameters).values.max() == 0, "\(label) \(method)")
            }
        }
    }

    /// The approximate update equals SGD written out by hand with Autodiff and OPT's own masked loss, and it
    /// moves exactly TinT's trainable set.
    @Test(arguments: [1, 2])
    func approximateUpdateEqualsHandBuiltAutodiff(layers: Int) throws {
        let (lr, steps, n) = (0.05, 2, 7)
        for (label, model) in TinyOPT.both {
            var trainable: Set<String> = []
            for l in (2 - layers)..<2 {
                for s in ["self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight",
                          "self_attn.out_proj.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                          "self_attn_layer_norm.bias", "final_layer_norm.bias"] {
                    trainable.insert("model.decoder.layers.\(l).\(s)")
                }
            }
            if model.config.doLayerNormBefore { trainable.insert("model.decoder.final_layer_norm.bias") }

            var params = model.parameters
            var sgd = SGD<Float>(learningRate: Float(lr))
            let batch = TokenBatch(ids)
            for _ in 0..<steps {
                let (_, g) = try valueAndGradient(of: params, trainable: trainable) { p in
                    try model.loss(batch, parameters: p, reduction: .sum, includeTarget: { _, t in t < n },
                                   options: ForwardOptions(detachAttentionProbabilities: true))
                }
                try sgd.update(&params, along: g)
            }
            let expectedLogits = try noGrad { try model.logits(batch, parameters: params.constants).value.squeezed(0) }

            let config = TinyOPT.config(lr: lr, steps: steps, layers: layers)
            #expect(try DescentRule.approximate(for: model, config: config).trainable == trainable, "\(label)")
            let r = try approximateGradientDescent(model: model, ids: ids, trainMask: TinyOPT.prefixMask(n, of: 12),
                                                   config: config)
            let updated = r.parameters!
            let vsHand = parameterDifferences(updated, params)
            let vsStart = parameterDifferences(updated, model.parameters)
            for name in model.parameters.names {
                #expect(vsHand[name]! <= 1e-6, "\(label): \(name) differs from the hand-built update by \(vsHand[name]!)")
                if trainable.contains(name) {
                    #expect(vsStart[name]! > 1e-6, "\(label): trainable \(name) did not move")
                } else {
                    #expect(vsStart[name]! == 0, "\(label): frozen \(name) moved by \(vsStart[name]!)")
                }
            }
            #expect(maxDiff(r.logitsAfter, expectedLogits) <= 1e-5, "\(label)")
            #expect(maxDiff(r.logitsAfter, r.logitsBefore) > 1e-3, "\(label): the update must change the logits")
        }
    }

    /// Summed, not averaged: one more train target adds exactly that target's gradient to the update.
    @Test func updateIsTheSumOfPerTargetGradients() throws {
        let (lr, n) = (0.1, 6)
        for (label, model) in TinyOPT.both {
            let config = TinyOPT.config(lr: lr)
            let rule = try DescentRule.approximate(for: model, config: config)
            let names = model.parameters.names.filter(rule.trainable.contains)
            let small = try approximateGradientDescent(model: model, ids: ids, trainMask: TinyOPT.prefixMask(n, of: 12),
                                                       config: config).parameters!
            let large = try approximateGradientDescent(model: model, ids: ids, trainMask: TinyOPT.prefixMask(n + 1, of: 12),
                                                       config: config).parameters!
            // The gradient of the one extra target (token n, predicted at position n − 1), by hand.
            let (_, g) = try valueAndGradient(of: model.parameters, trainable: rule.trainable) { p in
                try model.loss(TokenBatch(ids), parameters: p, reduction: .sum, includeTarget: { _, t in t == n },
                               options: ForwardOptions(detachAttentionProbabilities: true))
            }
            let delta = parameterDelta(large, small, names: names)
            let expected = names.flatMap { g[$0]!.scalars.map { -lr * Double($0) } }
            let scale = expected.map(abs).max()!
            let err = zip(delta, expected).map { abs($0 - $1) }.max()!
            #expect(scale > 1e-4 && err <= 1e-4 * scale, "\(label): error \(err), scale \(scale)")
        }
    }

    /// Duplicating the train segment ([A, E] → [A, A, E], train = the A's) about doubles the update, as the
    /// summed loss says (a mean loss would keep it the same size); only about, since the second copy sees
    /// other positions and context.
    @Test func duplicatingTheTrainSegmentRoughlyDoublesTheUpdate() throws {
        let a = TinyOPT.ids(8, seed: 11), e = TinyOPT.ids(4, seed: 12)
        for (label, model) in TinyOPT.both {
            let config = TinyOPT.config(lr: 1e-3)
            let names = model.parameters.names.filter(try DescentRule.approximate(for: model, config: config).trainable.contains)
            let once = try approximateGradientDescent(model: model, ids: a + e, trainMask: TinyOPT.prefixMask(8, of: 12),
                                                      config: config).parameters!
            let twice = try approximateGradientDescent(model: model, ids: a + a + e,
                                                       trainMask: TinyOPT.prefixMask(16, of: 20), config: config).parameters!
            let d1 = parameterDelta(once, model.parameters, names: names)
            let d2 = parameterDelta(twice, model.parameters, names: names)
            let n1 = d1.reduce(0) { $0 + $1 * $1 }.squareRoot(), n2 = d2.reduce(0) { $0 + $1 * $1 }.squareRoot()
            let cosine = zip(d1, d2).reduce(0) { $0 + $1.0 * $1.1 } / (n1 * n2)
            print("duplicated train segment, \(label): update norm ratio \(n2 / n1), cosine \(cosine)")
            #expect(n2 / n1 > 1.5 && n2 / n1 < 2.6, "\(label): ratio \(n2 / n1)")
            #expect(cosine > 0.8, "\(label): cosine \(cosine)")
        }
    }

    @Test func evalTokensNeverInfluenceTheUpdate() throws {
        let n = 7
        var other = ids
        let replacement = TinyOPT.ids(12, seed: 99)
        for t in n..<12 { other[t] = replacement[t] }
        for (label, model) in TinyOPT.both {
            for method in [DescentMethod.approx, .exact] {
                for reference in [false, true] {
                    let config = TinyOPT.config(lr: 0.05, steps: 2, referenceCompatible: reference && method == .approx)
                    let mask = TinyOPT.prefixMask(n, of: 12)
                    let r1 = try oracleDescent(method, model: model, ids: ids, trainMask: mask, config: config)
                    let r2 = try oracleDescent(method, model: model, ids: other, trainMask: mask, config: config)
                    let d = parameterDifferences(r1.parameters!, r2.parameters!).values.max()!
                    #expect(d <= 1e-7, "\(label) \(method): eval tokens moved the update by \(d)")
                    let moved = parameterDifferences(r1.parameters!, model.parameters).values.max()!
                    #expect(moved > 1e-4, "\(label) \(method)")
                    // Rows before the eval segment see only train tokens: equal logits after the update.
                    let rows = 0..<n
                    #expect(maxDiff(try r1.logitsAfter.sliced(axis: 0, rows).contiguous(),
                                    try r2.logitsAfter.sliced(axis: 0, rows).contiguous()) <= 1e-6, "\(label) \(method)")
                }
            }
        }
    }

    /// `referenceCompatible` changes exactly the two quirks: fc2's bias moves (ffn/D_aux = 2)× as far, and when
    /// the last token is a train token its position adds the gradient of logsumexp(logits_{T−1}).
    @Test func referenceCompatibleReproducesTheTwoQuirks() throws {
        let lr = 0.05
        for (label, model) in TinyOPT.both {
            let fc2Bias = (0..<2).map { OPTModel.layerName($0, "fc2.bias") }
            // Last token eval: only fc2's bias differs, by the chunk factor.
            let mask = TinyOPT.prefixMask(8, of: 12)
            let plain = try approximateGradientDescent(model: model, ids: ids, trainMask: mask,
                                                       config: TinyOPT.config(lr: lr)).parameters!
            let ref = try approximateGradientDescent(model: model, ids: ids, trainMask: mask,
                                                     config: TinyOPT.config(lr: lr, referenceCompatible: true)).parameters!
            for (name, d) in parameterDifferences(plain, ref) where !fc2Bias.contains(name) {
                #expect(d == 0, "\(label): \(name) differs by \(d)")
            }
            for name in fc2Bias {
                let dPlain = parameterDelta(plain, model.parameters, names: [name])
                let dRef = parameterDelta(ref, model.parameters, names: [name])
                let err = zip(dRef, dPlain).map { abs($0 - 2 * $1) }.max()!
                #expect(dPlain.map(abs).max()! > 1e-5 && err <= 1e-6, "\(label): \(name) error \(err)")
            }

            // All tokens train: the extra update is −η·∇logsumexp(logits_{T−1}) (fc2's bias aside).
            let all = [Bool](repeating: true, count: 12)
            let plainAll = try approximateGradientDescent(model: model, ids: ids, trainMask: all,
                                                          config: TinyOPT.config(lr: lr)).parameters!
            let refAll = try approximateGradientDescent(model: model, ids: ids, trainMask: all,
                                                        config: TinyOPT.config(lr: lr, referenceCompatible: true)).parameters!
            let rule = try DescentRule.approximate(for: model, config: TinyOPT.config(lr: lr))
            let (_, g) = try valueAndGradient(of: model.parameters, trainable: rule.trainable) { p in
                let z = try model.logits(TokenBatch(ids), parameters: p, cache: nil,
                                         options: ForwardOptions(detachAttentionProbabilities: true))
                return try z.selecting(axis: 1, index: 11).logSumExp(axis: -1).sum()
            }
            let names = model.parameters.names.filter { rule.trainable.contains($0) && !fc2Bias.contains($0) }
            let delta = parameterDelta(refAll, plainAll, names: names)
            let expected = names.flatMap { g[$0]!.scalars.map { -lr * Double($0) } }
            let scale = expected.map(abs).max()!
            let err = zip(delta, expected).map { abs($0 - $1) }.max()!
            #expect(scale > 1e-4 && err <= 1e-3 * scale, "\(label): error \(err), scale \(scale)")
        }
    }

    /// Exact GD moves more parameters and differentiates through the attention scores: its logit change
    /// differs from the approximate one but points the same way.
    @Test func exactAndApproximateDifferButAgreeInDirection() throws {
        let mask = TinyOPT.prefixMask(8, of: 12)
        for (label, model) in TinyOPT.both {
            for steps in [1, 2] {
                let config = TinyOPT.config(lr: 0.02, steps: steps)
                let approx = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
                let exact = try exactGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
                #expect(maxDiff(approx.logitsBefore, exact.logitsBefore) == 0)
                let positions = evalTargetPositions(trainMask: mask)
                let cosine = try logitChangeCosine(before: exact.logitsBefore, approx.logitsAfter, exact.logitsAfter,
                                                   positions: positions)
                let relative = try logitChangeRelativeError(before: exact.logitsBefore, approx.logitsAfter,
                                                            reference: exact.logitsAfter, positions: positions)
                print("approx vs exact GD, \(label), \(steps) step(s): cosine \(cosine), relative difference \(relative)")
                #expect(cosine > 0.5 && cosine < 1 - 1e-6, "\(label): cosine \(cosine)")
                #expect(relative > 1e-3, "\(label): relative difference \(relative)")
                // Exact GD moves q/k_proj and γ too.
                let moved = parameterDifferences(exact.parameters!, model.parameters)
                #expect(moved["model.decoder.layers.1.self_attn.q_proj.weight"]! > 0, "\(label)")
                #expect(moved["model.decoder.layers.1.fc1.weight"]! > 0, "\(label)")
                #expect(moved["model.decoder.layers.0.fc1.weight"]! > 0, "\(label)")
            }
        }
    }

    /// The Double path (the model's parameters converted) agrees with the Float one.
    @Test func doubleParametersAgreeWithFloat() throws {
        let model = TinyOPT.preLN
        let mask = TinyOPT.prefixMask(6, of: 12)
        let config = TinyOPT.config(lr: 0.05, steps: 2)
        let rule = try DescentRule.approximate(for: model, config: config)
        let f = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: config)
        let d = try gradientDescent(model: model, parameters: model.parameters.converted(to: Double.self), ids: ids,
                                    trainMask: mask, rule: rule, learningRate: 0.05, steps: 2)
        let relative = try logitChangeRelativeError(before: d.logitsBefore, f.logitsAfter.converted(to: Double.self),
                                                    reference: d.logitsAfter)
        #expect(relative <= 1e-4, "relative error \(relative)")
    }

    @Test func metricsMatchTheirDefinitions() throws {
        let model = TinyOPT.preLN
        let n = 5
        let mask = TinyOPT.prefixMask(n, of: 12)
        #expect(evalTargetPositions(trainMask: mask) == Array(4..<11))
        #expect(evalTargetPositions(trainMask: [true]).isEmpty)
        let z = try model.logits(ids)
        let loss = try evalPartLoss(logits: z, ids: ids, trainMask: mask)
        let reference = try noGrad {
            try model.loss(TokenBatch(ids), parameters: model.parameters.constants, reduction: .sum,
                           includeTarget: { _, t in t >= n }).value.item()
        }
        #expect(loss.count == 7 && abs(loss.sum - Double(reference)) <= 1e-4 * abs(loss.sum))
        #expect(abs(loss.perplexity - Foundation.exp(loss.sum / 7)) <= 1e-9 * loss.perplexity)
        #expect(try evalPartLoss(logits: z, ids: ids, trainMask: [Bool](repeating: true, count: 12)).count == 0)

        let up = z + Float(0.5), down = z - Float(0.25)
        #expect(abs(try logitChangeCosine(before: z, up, down) + 1) <= 1e-9)
        #expect(abs(try logitChangeCosine(before: z, up, up, positions: [0, 3]) - 1) <= 1e-9)
        #expect(try logitChangeCosine(before: z, z, up).isNaN)
        #expect(abs(try logitChangeRelativeError(before: z, down, reference: up) - 1.5) <= 1e-6)
        #expect(throws: TinTError.self) { _ = try logitChangeCosine(before: z, up, down, positions: [12]) }
        #expect(throws: TinTError.self) { _ = try logitChangeCosine(before: z, up, z.transposed().contiguous()) }
        #expect(throws: TinTError.self) { _ = try evalPartLoss(logits: z, ids: Array(ids.dropLast()), trainMask: mask) }
    }

    @Test func rejectsWhatTheOracleCannotDo() throws {
        let model = TinyOPT.preLN
        let mask = TinyOPT.prefixMask(6, of: 12)
        func message(_ body: () throws -> Void) -> String {
            do { try body() } catch { return "\(error)" }
            return ""
        }
        var interleaved = mask
        interleaved[9] = true
        let nonPrefix = message { _ = try approximateGradientDescent(model: model, ids: ids, trainMask: interleaved,
                                                                     config: TinyOPT.config(lr: 0.1)) }
        #expect(nonPrefix.contains("prefix-shaped") && nonPrefix.contains("token 9"), "\(nonPrefix)")
        #expect(!message { _ = try exactGradientDescent(model: model, ids: ids, trainMask: [true, false],
                                                        config: TinyOPT.config(lr: 0.1)) }.isEmpty)
        var full = TinyOPT.config(lr: 0.1)
        full.layerNormUpdate = .full
        #expect(message { _ = try approximateGradientDescent(model: model, ids: ids, trainMask: mask, config: full) }
            .contains("layerNormUpdate .full"))
        #expect(message { _ = try exactGradientDescent(model: model, ids: ids, trainMask: mask,
                                                       config: TinyOPT.config(lr: 0.1, layers: 3)) }.contains("n_sim"))
        #expect(!message { _ = try approximateGradientDescent(model: model, ids: ids, trainMask: mask,
                                                              config: TinyOPT.config(lr: .nan)) }.isEmpty)
        #expect(!message { _ = try approximateGradientDescent(model: model, ids: [], trainMask: [],
                                                              config: TinyOPT.config(lr: 0.1)) }.isEmpty)
        #expect(throws: TinTError.self) {
            _ = try oracleDescent(.tint, model: model, ids: ids, trainMask: mask, config: TinyOPT.config(lr: 0.1))
        }
        // No train target: nothing moves.
        let none = try approximateGradientDescent(model: model, ids: ids, trainMask: TinyOPT.prefixMask(1, of: 12),
                                                  config: TinyOPT.config(lr: 0.1))
        #expect(maxDiff(none.logitsAfter, none.logitsBefore) == 0)
    }
}

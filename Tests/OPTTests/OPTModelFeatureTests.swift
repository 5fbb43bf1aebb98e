import Autodiff
import Foundation
import Testing
import Tensor
@testable import LanguageModel
@testable import OPT

/// Gradients against finite differences in Double, and against the same architecture written with
/// Autodiff's public ops (an independent oracle for the fused kernels).
@Suite struct OPTGradientTests {
    static let variants: [(String, OPTConfig)] = {
        var noBias = smallConfig(hidden: 8, heads: 2, ffn: 12, maxPositions: 12, activation: .gelu)
        noBias.enableBias = false
        noBias.layerNormElementwiseAffine = false
        var untied = smallConfig(preLN: true, hidden: 8, heads: 2, ffn: 12, maxPositions: 12, activation: .silu)
        untied.tieWordEmbeddings = false
        untied.removeFinalLayerNorm = true
        return [
            ("pre-LN gelu", smallConfig(hidden: 8, heads: 2, ffn: 12, maxPositions: 12, activation: .gelu)),
            ("post-LN projections gelu_new", smallConfig(preLN: false, projection: true, hidden: 8, heads: 2, ffn: 12,
                                                         maxPositions: 12, activation: .geluNew)),
            ("no bias, no affine", noBias),
            ("untied head, no final LN, silu", untied),
        ]
    }()

    @Test(arguments: 0..<4)
    func gradientsMatchFiniteDifferences(_ variant: Int) throws {
        let (label, config) = OPTGradientTests.variants[variant]
        let model = try randomModel(config, seed: UInt64(10 + variant))
        let params = try doubleParameters(model)
        // No real token is the padding id: its input-embedding row gets no gradient by design (padding_idx).
        let batch = try TokenBatch.padded([[2, 5, 9, 4, 7, 3], [2, 8, 10, 6]], padID: 1)
        let report = try gradientCheck(of: params, epsilon: 1e-4) { p in try model.loss(batch, parameters: p) }
        #expect(report.worstRelativeError <= 1e-6, "\(label): \(report)")
        #expect(report.checkedCount == params.scalarCount)
    }

    /// The detached-probabilities rule (TinT's attention backward) against finite differences of a loss in
    /// which the probabilities are frozen constants is not expressible; instead compare with Autodiff's own
    /// `scaledDotProductAttention(detachProbabilities:)` in a reference model built from public ops.
    @Test(arguments: [false, true])
    func gradientsMatchAReferenceBuiltFromAutodiffOps(_ detach: Bool) throws {
        let config = smallConfig(vocab: 29, hidden: 16, heads: 4, ffn: 20, maxPositions: 16)
        let model = try randomModel(config, seed: 5)
        let ids = [2, 7, 11, 3, 28, 5, 9, 14, 21]
        let options = ForwardOptions(detachAttentionProbabilities: detach)
        let (loss, grads) = try valueAndGradient(of: model.parameters) { p in
            try model.loss(TokenBatch(ids), parameters: p, options: options)
        }
        let (refLoss, refGrads) = try valueAndGradient(of: model.parameters) { p in
            try referenceLoss(config, ids, p, detach: detach)
        }
        #expect(abs(loss - refLoss) <= 1e-5 * abs(refLoss))
        for (name, g) in grads {
            let r = refGrads[name]!
            #expect(relativeError(g, r) <= 2e-4 || maxAbsDiff(g, r) <= 1e-6, "\(name): \(relativeError(g, r))")
            if detach && (name.contains("q_proj") || name.contains("k_proj")) {
                #expect(g.scalars.allSatisfy { $0 == 0 }, "\(name) must get no gradient through detached probabilities")
            }
        }
    }
}

/// Pre-LN OPT loss from Autodiff's public ops (unfused, materialised heads), for unpadded `ids`.
func referenceLoss(_ c: OPTConfig, _ ids: [Int], _ p: VariableSet<Float>, detach: Bool) throws -> Variable<Float> {
    let t = ids.count, h = c.hiddenSize, heads = c.numAttentionHeads, d = h / heads
    func v(_ n: String) throws -> Variable<Float> { try p[n] }
    func layer(_ l: Int, _ s: String) throws -> Variable<Float> { try p[OPTModel.layerName(l, s)] }
    func lin(_ x: Variable<Float>, _ l: Int, _ name: String) throws -> Variable<Float> {
        try x.linear(weight: layer(l, name + ".weight"), bias: layer(l, name + ".bias"))
    }
    func split(_ x: Variable<Float>) throws -> Variable<Float> { try x.reshaped([t, heads, d]).permuted([1, 0, 2]) }
    var x = try v(OPTModel.embedTokensName).embedding(ids, shape: [t])
        + v(OPTModel.embedPositionsName).embedding(Array(2..<(t + 2)), shape: [t])
    for l in 0..<c.numHiddenLayers {
        let a = try x.layerNorm(weight: layer(l, "self_attn_layer_norm.weight"), bias: layer(l, "self_attn_layer_norm.bias"))
        let q = try split(lin(a, l, "self_attn.q_proj") * Float(1 / Double(d).squareRoot()))
        let k = try split(lin(a, l, "self_attn.k_proj")), vv = try split(lin(a, l, "self_attn.v_proj"))
        let o = try scaledDotProductAttention(query: q, key: k, value: vv, causal: true, scale: 1, detachProbabilities: detach)
        x = try x + lin(o.permuted([1, 0, 2]).reshaped([t, h]), l, "self_attn.out_proj")
        let f = try x.layerNorm(weight: layer(l, "final_layer_norm.weight"), bias: layer(l, "final_layer_norm.bias"))
        x = try x + lin(lin(f, l, "fc1").relu(), l, "fc2")
    }
    x = try x.layerNorm(weight: v("model.decoder.final_layer_norm.weight"), bias: v("model.decoder.final_layer_norm.bias"))
    let logits = try x.linear(weight: v(OPTModel.embedTokensName))
    return try crossEntropy(logits: logits, targets: Array(ids.dropFirst()) + [-100])
}

/// Batches with padding, the KV cache and the Float/Double paths agree with plain single-sequence forwards.
@Suite struct OPTBatchAndCacheTests {
    static let sequences = [[2, 5, 9, 4, 7, 3, 8], [2, 8, 1, 6], [2, 11]]

    @Test(arguments: [true, false])
    func paddedBatchesMatchSingleSequences(_ preLN: Bool) throws {
        let model = try randomModel(smallConfig(preLN: preLN, projection: !preLN), seed: 3)
        let v = model.config.vocabSize
        for side in [TokenBatch.PaddingSide.left, .right] {
            let batch = try TokenBatch.padded(OPTBatchAndCacheTests.sequences, padID: 1, side: side)
            let z = try model.logits(batch)
            for (b, s) in OPTBatchAndCacheTests.sequences.enumerated() {
                let single = try model.logits(s)
                let offset = side == .left ? batch.length - s.count : 0
                let rows = try z.selecting(axis: 0, index: b).sliced(axis: 0, offset..<(offset + s.count))
                #expect(maxAbsDiff(rows.contiguous(), single) <= 1e-5, "\(side) row \(b)")
            }
            // The mean loss of the padded batch is the mean over every sequence's targets.
            var sum = 0.0, count = 0
            for s in OPTBatchAndCacheTests.sequences {
                sum += try Double(model.loss(TokenBatch(s), parameters: model.parameters.constants, reduction: .sum).value.item())
                count += s.count - 1
            }
            let batchLoss = try Double(model.loss(batch, parameters: model.parameters.constants).value.item())
            #expect(abs(batchLoss - sum / Double(count)) <= 1e-5 * abs(batchLoss))
            #expect(z.shape == [3, batch.length, v])
        }
    }

    @Test(arguments: [true, false])
    func kvCacheMatchesFullForward(_ preLN: Bool) throws {
        let model = try randomModel(smallConfig(preLN: preLN, projection: !preLN), seed: 4)
        let batch = try TokenBatch.padded(OPTBatchAndCacheTests.sequences, padID: 1)
        let full = try model.logits(batch)
        // Feed the padded batch in pieces (3, 1, 2, 1 tokens) through a cache that starts too small to hold it.
        let cache = try model.makeCache(batchSize: 3, capacity: 2, as: Float.self)
        var start = 0
        for piece in [3, 1, 2, 1] {
            let rows = (0..<3).map { b in Array(batch.ids[(b * 7 + start)..<(b * 7 + start + piece)]) }
            let mask = (0..<3).map { b in Array(batch.attentionMask![(b * 7 + start)..<(b * 7 + start + piece)]) }
            let z = try model.logits(TokenBatch(rows: rows, attentionMask: mask), cache: cache)
            for b in 0..<3 where batch.isReal(b, start) {
                let expected = try full.selecting(axis: 0, index: b).sliced(axis: 0, start..<(start + piece)).contiguous()
                #expect(maxAbsDiff(try z.selecting(axis: 0, index: b).contiguous(), expected) <= 1e-5, "piece at \(start), row \(b)")
            }
            start += piece
        }
        #expect(cache.length == 7)
    }

    @Test func doubleForwardAgreesWithFloat() throws {
        let model = try randomModel(smallConfig(preLN: false, projection: true, activation: .geluNew), seed: 6)
        let ids = [2, 4, 6, 8, 10, 12, 14, 16, 18]
        let zf = try model.logits(ids)
        let zd = try noGrad { try model.logits(TokenBatch(ids), parameters: try doubleParameters(model).constants).value }
        #expect(maxAbsDiff(zf.converted(to: Double.self), try zd.squeezed(0)) <= 1e-5)
    }

    @Test func cacheIsRejectedWhenRecordingGradients() throws {
        let model = try randomModel(smallConfig(), seed: 7)
        let cache = try model.makeCache(batchSize: 1, as: Float.self)
        #expect(throws: ModelError.self) {
            _ = try valueAndGradient(of: model.parameters) { p in
                try model.logits(TokenBatch([2, 3]), parameters: p, cache: cache, options: ForwardOptions()).sum()
            }
        }
    }
}

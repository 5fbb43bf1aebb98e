import Autodiff
import Foundation
import Testing
import Tensor
@testable import LanguageModel
@testable import OPT

/// Parity with PyTorch/transformers on the committed tiny models (pre-LN and post-LN with project_in/out):
/// logits, loss, every parameter's gradient, and the logits after SGD steps.
@Suite struct OPTModelParityTests {
    @Test(arguments: ReferenceCase.names)
    func logitsMatchTransformers(_ name: String) throws {
        let ref = try ReferenceCase(name)
        let logits = try ref.model.logits(TokenBatch(ref.ids))
        #expect(logits.shape == ref.logits.shape)
        let err = maxAbsDiff(logits, ref.logits)
        #expect(err <= 1e-4, "\(name): max |Δlogit| = \(err)")
    }

    @Test(arguments: ReferenceCase.names)
    func lossMatchesTransformers(_ name: String) throws {
        let ref = try ReferenceCase(name)
        let p = ref.model.parameters.constants
        let mean = try Double(ref.model.loss(TokenBatch(ref.ids), parameters: p).value.item())
        let sum = try Double(ref.model.loss(TokenBatch(ref.ids), parameters: p, reduction: .sum).value.item())
        #expect(abs(mean - ref.lossMean) / ref.lossMean <= 1e-5, "\(name): mean loss \(mean) vs \(ref.lossMean)")
        #expect(abs(sum - ref.lossSum) / ref.lossSum <= 1e-5, "\(name): summed loss \(sum) vs \(ref.lossSum)")
    }

    @Test(arguments: ReferenceCase.names)
    func everyGradientMatchesAutograd(_ name: String) throws {
        let ref = try ReferenceCase(name)
        let (loss, grads) = try valueAndGradient(of: ref.model.parameters) { p in
            try ref.model.loss(TokenBatch(ref.ids), parameters: p)
        }
        #expect(abs(Double(loss) - ref.lossMean) / ref.lossMean <= 1e-5)
        #expect(grads.count == ref.model.parameters.count)
        #expect(Set(ref.gradients.tensorNames) == Set(grads.names))
        // k_proj.bias has an exact gradient of 0 (adding q·b to every score of a row does not change the
        // softmax), so both sides are rounding noise there; every tensor's error is measured against at least
        // 1e-3 of the largest gradient in the model.
        let floor = try grads.names.map { try ref.gradients.tensor(named: $0).scalars.map { abs(Double($0)) }.max() ?? 0 }.max()! * 1e-3
        for (pname, g) in grads {
            let expected = try ref.gradients.tensor(named: pname)
            let scale = max(expected.scalars.map { abs(Double($0)) }.max() ?? 0, floor)
            let err = maxAbsDiff(g, expected) / scale
            #expect(err <= 1e-4, "\(name): gradient of \(pname): relative error \(err)")
            if pname.hasSuffix("k_proj.bias") { #expect(g.scalars.allSatisfy { abs(Double($0)) <= 1e-6 * floor * 1e3 }) }
        }
    }

    @Test(arguments: ReferenceCase.names)
    func sgdStepsMatchTorchOptim(_ name: String) throws {
        let ref = try ReferenceCase(name)
        var params = ref.model.parameters
        var sgd = SGD<Float>(learningRate: ref.sgdLearningRate)
        for step in 0..<ref.sgdSteps {
            let (loss, grads) = try valueAndGradient(of: params) { p in try ref.model.loss(TokenBatch(ref.ids), parameters: p) }
            #expect(abs(Double(loss) - ref.sgdLosses[step]) / ref.sgdLosses[step] <= 1e-5,
                    "\(name): loss before step \(step): \(loss) vs \(ref.sgdLosses[step])")
            try sgd.update(&params, along: grads)
        }
        let updated = try OPTModel(config: ref.model.config, parameters: params)
        let logits = try updated.logits(TokenBatch(ref.ids))
        let err = maxAbsDiff(logits, ref.sgdLogits)
        #expect(err <= 1e-4, "\(name): max |Δlogit| after \(ref.sgdSteps) SGD steps = \(err)")
        let after = try Double(updated.loss(TokenBatch(ref.ids), parameters: params.constants).value.item())
        #expect(abs(after - ref.sgdLossAfter) / ref.sgdLossAfter <= 1e-5)
    }

    /// The fp16 copy (sharded) holds the fp32 weights rounded to fp16, and its logits agree with the fp32
    /// model's to what fp16 weights allow.
    @Test func halfPrecisionCheckpointsMatchTheirFloatTwin() throws {
        let fp32 = try OPTModel.load(directory: Fixtures.url("tiny-opt-pre-ln"))
        let fp16 = try OPTModel.load(directory: Fixtures.url("tiny-opt-pre-ln-fp16"))
        let bf16 = try OPTModel(config: fp32.config,
                                checkpoint: SafetensorsCheckpoint(file: Fixtures.url("tiny-opt-pre-ln-bf16.safetensors")))
        for (other, unitRoundoff) in [(fp16, 0x1p-11), (bf16, 0x1p-8)] {
            #expect(other.parameters.names == fp32.parameters.names)
            for (name, t) in fp32.parameters {
                let a = t.scalars, b = other.parameters[name]!.scalars
                for (x, y) in zip(a, b) {
                    // Rounded to nearest: within half an ulp of the narrower format (plus its denormal floor).
                    #expect(abs(Double(x) - Double(y)) <= unitRoundoff * abs(Double(x)) + 0x1p-24, "\(name): \(x) vs \(y)")
                }
            }
        }
        let ids = try ReferenceCase("tiny-opt-pre-ln").ids
        let reference = try fp32.logits(ids)
        let scale = reference.scalars.reduce(0) { max($0, abs(Double($1))) }
        let err16 = maxAbsDiff(try fp16.logits(ids), reference)
        let errBF = maxAbsDiff(try bf16.logits(ids), reference)
        // Weight rounding of 2⁻¹¹ (fp16) and 2⁻⁸ (bf16) relative, through two layers.
        #expect(err16 <= 4e-3 * scale && err16 > 0, "fp16: max |Δlogit| = \(err16), scale \(scale)")
        #expect(errBF <= 3e-2 * scale && errBF > err16, "bf16: max |Δlogit| = \(errBF), scale \(scale)")
    }
}

import Testing
import Tensor
@testable import Autodiff

/// The same code runs in Float for speed: its gradients must agree with the Double ones to fp32 accuracy.
@Suite struct FloatTests {
    @Test func transformerBlockGradientsInFloat() throws {
        let model = TinyDecoder()
        let params = try model.parameters(seed: 21)
        let tokens = [1, 4, 4, 0, 6], targets = [4, 4, 0, -100, 2]
        let (lossD, gradD) = try valueAndGradient(of: params) { p in
            try crossEntropy(logits: model.logits(p, tokens), targets: targets, reduction: .sum)
        }
        var paramsF = ParameterSet<Float>()
        for (name, t) in params { try paramsF.insert(name, t.converted(to: Float.self)) }
        let (lossF, gradF) = try valueAndGradient(of: paramsF) { p in
            try crossEntropy(logits: model.logits(p, tokens), targets: targets, reduction: .sum)
        }
        #expect(abs(Double(lossF) - lossD) <= 1e-5 * abs(lossD))
        for (name, g) in gradD {
            let gf = try gradF.tensor(name).converted(to: Double.self)
            let scale = max(g.scalars.map(abs).max()!, 1e-3)
            #expect(gf.maxAbsDifference(g) <= 1e-4 * scale, "\(name)")
        }
    }


    @Test func fusedSoftmaxPullbackInFloat() throws {
        // The Float SIMD row kernel (blocks of 32 and 8, then a scalar tail) against the Double kernel.
        for n in [1, 7, 8, 13, 40, 65, 257] {
            let x = rand([3, n], UInt64(n), -3, 3), g = rand([3, n], UInt64(n + 1000))
            let y = try x.softmax()
            let expected = try softmaxLastAxisPullback(y: y, g: g)
            let composite = try y * (g - (try (g * y).sum(axis: -1, keepDims: true)))
            #expect(expected.maxAbsDifference(composite) <= 1e-15)
            let got = try softmaxLastAxisPullback(y: y.converted(to: Float.self), g: g.converted(to: Float.self))
            #expect(got.converted(to: Double.self).maxAbsDifference(expected) <= 1e-6, "n = \(n)")
        }
    }
}

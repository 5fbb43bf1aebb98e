import Foundation
import Testing
import Tensor
@testable import Autodiff

@Suite struct OptimizerTests {
    let p0 = rand([4], 1), g1 = rand([4], 2), g2 = rand([4], 3), g3 = rand([4], 4)

    func step<O: Optimizer>(_ opt: inout O, _ grads: [Tensor<Double>]) throws -> [Double] where O.Scalar == Double {
        var p = try ParameterSet([("w", p0), ("frozen", rand([2], 5))])
        for g in grads { try opt.update(&p, along: try ParameterSet([("w", g)])) }
        #expect(p["frozen"] == rand([2], 5))  // no gradient: untouched
        return try p.tensor("w").scalars
    }

    @Test func plainSGD() throws {
        var sgd = SGD<Double>(learningRate: 0.1)
        let p = try step(&sgd, [g1])
        #expect(p == zip(p0.scalars, g1.scalars).map { $0 - 0.1 * $1 })
    }

    @Test func sgdMomentumAndWeightDecayMatchPyTorch() throws {
        var sgd = SGD<Double>(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
        let got = try step(&sgd, [g1, g2, g3])
        var p = p0.scalars, buf = [Double](repeating: 0, count: 4)
        for (t, g) in [g1, g2, g3].enumerated() {
            for i in 0..<4 {
                let d = g.scalars[i] + 0.01 * p[i]
                buf[i] = t == 0 ? d : 0.9 * buf[i] + d
                p[i] -= 0.1 * buf[i]
            }
        }
        #expect(zip(got, p).allSatisfy { abs($0 - $1) < 1e-15 })
    }

    /// torch.optim.Adam / AdamW, transcribed.
    func adamReference(decoupled: Bool, wd: Double) -> [Double] {
        let lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8
        var p = p0.scalars, m = [Double](repeating: 0, count: 4), v = m
        for (k, g) in [g1, g2, g3].enumerated() {
            let t = Double(k + 1)
            for i in 0..<4 {
                var gi = g.scalars[i]
                if decoupled { p[i] *= 1 - lr * wd } else { gi += wd * p[i] }
                m[i] = b1 * m[i] + (1 - b1) * gi
                v[i] = b2 * v[i] + (1 - b2) * gi * gi
                let denom = (v[i].squareRoot() / (1 - pow(b2, t)).squareRoot()) + eps
                p[i] -= lr / (1 - pow(b1, t)) * m[i] / denom
            }
        }
        return p
    }

    @Test func adamMatchesPyTorch() throws {
        var adam = Adam<Double>(learningRate: 0.01, weightDecay: 0.1)
        let got = try step(&adam, [g1, g2, g3])
        #expect(zip(got, adamReference(decoupled: false, wd: 0.1)).allSatisfy { abs($0 - $1) < 1e-14 })
        var adamW = Adam<Double>.adamW(learningRate: 0.01, weightDecay: 0.1)
        let gotW = try step(&adamW, [g1, g2, g3])
        #expect(zip(gotW, adamReference(decoupled: true, wd: 0.1)).allSatisfy { abs($0 - $1) < 1e-14 })
        #expect(got != gotW)
    }

    @Test func badGradientsThrowAndChangeNothing() throws {
        var p = try ParameterSet([("w", p0)])
        var sgd = SGD<Double>(learningRate: 0.1)
        #expect(throws: AutodiffError.unknownParameter("v")) { try sgd.update(&p, along: try ParameterSet([("w", g1), ("v", g1)])) }
        #expect(throws: AutodiffError.parameterShapeMismatch(name: "w", expected: [4], got: [2])) {
            try sgd.update(&p, along: try ParameterSet([("w", rand([2], 9))]))
        }
        #expect(p["w"] == p0)
    }

    @Test func sgdOnALossDecreasesIt() throws {
        // One training loop end to end: valueAndGradient + SGD on a least-squares fit.
        var p = try ParameterSet([("w", try Tensor<Double>.zeros([3]))])
        let x = rand([8, 3], 10), y = try Tensor<Double>(shape: [8], scalars: (0..<8).map { x[$0, 0] - 2 * x[$0, 2] })
        var sgd = SGD<Double>(learningRate: 0.3)
        var losses: [Double] = []
        for _ in 0..<1000 {
            let (loss, g) = try valueAndGradient(of: p) { v in
                try (Variable(x).matmul(v["w"]) - Variable(y)).squared().mean()
            }
            losses.append(loss)
            try sgd.update(&p, along: g)
        }
        #expect(losses.last! < 1e-9 * losses.first!, "\(losses.first!) → \(losses.last!)")
        #expect(try p.tensor("w").allClose(Tensor([1, 0, -2]), rtol: 0, atol: 1e-3))
    }
}

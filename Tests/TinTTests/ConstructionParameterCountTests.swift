import Testing
import Tensor
import LanguageModel
@testable import TinT

/// The closed parameter-count formulas of Docs/TINT.md §13 for the GLU, gated-product, GQA and rotary modules, written
/// out independently of the modules (as `ParameterCountTests` does for the OPT modules).
@Suite struct ConstructionParameterCountTests {
    @Test(arguments: [0, 1, 2, 3]) func formulas(ci: Int) throws {
        for exact in [false, true] {
            var c = smallConfigs[ci]
            if exact { c.activationBackward = .exact }
            let W = c.simWidth, K = c.prefixCount
            let mL = W * c.linearHeads, mS = W * c.simHeads, pi = (K + 1) * K + c.linearHeads, g = K + 2, P = K * W
            let fLin = ParameterCount(constructed: 5 * mL, position: 3 * pi, gates: 2 * g, prefixStorage: P)
            let bdLin = ParameterCount(constructed: 6 * mL, position: 3 * pi, gates: 3 * g, prefixStorage: P)
            let glu = ParameterCount(constructed: 4 * mS, gates: 2 * g)
            let activationBackward = ParameterCount(constructed: (exact ? 1 : 3) * mS, gates: 2 * g)
            #expect(try GLULayer<Float>(config: c, activation: .silu, products: [GLUProduct(.exact, gate: c.auxWidth, up: 2 * c.auxWidth, output: 0)]).parameterCount == glu)
            #expect(try GatedProductForward<Float>(config: c, activation: .silu).parameterCount == glu)
            #expect(try GatedProductBackward<Float>(config: c, activation: .silu).parameterCount == glu + activationBackward)
            let valueGradient = ParameterCount(constructed: 5 * mS, gates: 2 * g)
            let groupMean = ParameterCount(constructed: W * (W / c.auxHeadWidth), gates: 2 * g)
            #expect(try GroupedValueBackwardDescent<Float>(config: c, kvHeads: 1).parameterCount == valueGradient + groupMean + bdLin)
            let rotation = ParameterCount(constructed: 3 * mS, gates: 2 * g)
            let rotary = try RotaryAttentionForward<Float>(config: c, theta: 10_000)
            #expect(rotary.parameterCount == 5 * fLin + 2 * rotation + valueGradient)
            #expect(rotary.featureCount == c.auxMaxPositions * W)
        }
    }
}

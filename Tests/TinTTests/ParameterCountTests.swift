import Testing
import LanguageModel
import Tensor
@testable import TinT

/// The closed formula of Docs/TINT.md §7, written out independently of the modules.
struct Formula {
    let W: Int, K: Int, HL: Int, HS: Int
    init(_ c: SimulatorSpec) { W = c.simWidth; K = c.prefixCount; HL = c.linearHeads; HS = c.simHeads }
    var mL: Int { W * HL }                 // a linear-attention cross-head mix
    var mS: Int { W * HS }                 // a softmax / MLP / normalisation cross-head mix
    var pi: Int { (K + 1) * K + HL }       // a position map
    var gate: Int { K + 2 }
    var prefix: Int { K * W }
    func count(_ m: Int, _ p: Int, _ g: Int, prefixes: Int) -> ParameterCount {
        ParameterCount(constructed: m, position: p, gates: g * gate, prefixStorage: prefixes * prefix)
    }
    var linearForward: ParameterCount { count(5 * mL, 3 * pi, 2, prefixes: 1) }
    var linearBackward: ParameterCount { count(4 * mL, pi, 2, prefixes: 1) }
    func linearDescent(biasOnly: Bool = false) -> ParameterCount { count((biasOnly ? 1 : 2) * mL, 2 * pi, 2, prefixes: 1) }
    func linearBackwardDescent(biasOnly: Bool = false) -> ParameterCount { count((biasOnly ? 5 : 6) * mL, 3 * pi, 3, prefixes: 1) }
    var attentionForward: ParameterCount { count(9 * mL + 5 * mS, 3 * pi, 8, prefixes: 3) }
    var valueGradient: ParameterCount { count(5 * mS, 0, 2, prefixes: 0) }
    var attentionBackward: ParameterCount { valueGradient + linearBackward }
    var attentionDescent: ParameterCount { valueGradient + linearDescent() }
    var attentionBackwardDescent: ParameterCount { valueGradient + linearBackwardDescent() }
    var layerNormForward: ParameterCount { count(mS, 0, 2, prefixes: 0) + linearForward }
    func jacobian(exact: Bool) -> ParameterCount { exact ? count(mS, 0, 2, prefixes: 0) : count(5 * mS, 0, 6, prefixes: 0) }
    func layerNormBackward(exact: Bool) -> ParameterCount { linearBackward + jacobian(exact: exact) }
    var activationForward: ParameterCount { count(2 * mS, 0, 2, prefixes: 0) }
    func activationBackward(exact: Bool) -> ParameterCount { count(exact ? mS : 3 * mS, 0, 2, prefixes: 0) }
}

@Suite struct ParameterCountTests {
    static let configs = smallConfigs + [SimulatorSpec(auxWidth: 768, auxHeads: 12, auxMaxPositions: 2048)]

    @Test(arguments: configs) func modulesMatchTheClosedFormula(config: SimulatorSpec) throws {
        let f = Formula(config), D = config.auxWidth
        typealias S = Float
        #expect(try LinearForward<S>(config: config, inputWidth: D, outputWidth: D).parameterCount == f.linearForward)
        #expect(try LinearBackward<S>(config: config, inputWidth: D, outputWidth: D).parameterCount == f.linearBackward)
        #expect(try LinearDescent<S>(config: config, inputWidth: D, outputWidth: D).parameterCount == f.linearDescent())
        #expect(try LinearDescent<S>(config: config, inputWidth: D, outputWidth: D, biasOnly: true).parameterCount
                == f.linearDescent(biasOnly: true))
        #expect(try LinearBackwardDescent<S>(config: config, inputWidth: D, outputWidth: D).parameterCount == f.linearBackwardDescent())
        #expect(try AttentionForward<S>(config: config).parameterCount == f.attentionForward)
        #expect(try AttentionBackward<S>(config: config).parameterCount == f.attentionBackward)
        #expect(try AttentionDescent<S>(config: config).parameterCount == f.attentionDescent)
        #expect(try AttentionBackwardDescent<S>(config: config).parameterCount == f.attentionBackwardDescent)
        #expect(try LayerNormForward<S>(config: config).parameterCount == f.layerNormForward)
        #expect(try LayerNormDescent<S>(config: config).parameterCount == f.linearDescent(biasOnly: true))
        var full = config
        full.layerNormUpdate = .full
        #expect(try LayerNormDescent<S>(config: full).parameterCount == f.linearDescent())
        #expect(try LayerNormBackwardDescent<S>(config: config).parameterCount
                == f.linearBackwardDescent(biasOnly: true) + f.jacobian(exact: false))
        for exact in [false, true] {
            var c = config
            c.layerNormBackward = exact ? .exact : .firstOrder(1000)
            c.activationBackward = exact ? .exact : .finiteDifference(1000)
            #expect(try LayerNormBackward<S>(config: c).parameterCount == f.layerNormBackward(exact: exact))
            for a in Activation.allCases {
                #expect(try ActivationForward<S>(config: c, activation: a).parameterCount == f.activationForward)
                #expect(try ActivationBackward<S>(config: c, activation: a).parameterCount == f.activationBackward(exact: exact))
            }
        }
    }

    /// Every constructed map is a cross-head mix: no block map and no bias is held by any module.
    @Test func constructedMapsAreMixOnly() throws {
        let config = smallConfigs[0]
        let layers: [GatedLayer<Float>] = try [LinearForward<Float>(config: config, inputWidth: 48, outputWidth: 48).layer,
                                              LinearBackwardDescent<Float>(config: config, inputWidth: 48, outputWidth: 48).layer]
            + AttentionForward<Float>(config: config).projections + [try AttentionForward<Float>(config: config).softmax]
            + (try LayerNormBackward<Float>(config: config).jacobian)
        for layer in layers {
            for branch in layer.branches {
                var maps: [HSimSplitLinear<Float>?] = []
                switch branch.body {
                case .attention(let a): maps = [a.query.map, a.key.map, a.value.map, a.output, a.residual]
                case .mlp(let m): maps = [m.fc, m.proj, m.residual]
                case .norm(let n): maps = [n.residual]
                case .exact(let e): maps = [e.residual]
                case .glu(let g): maps = [g.gate, g.up, g.proj, g.residual]
                }
                for case let m? in maps { #expect(m.block == nil && m.bias == nil && m.mix != nil) }
            }
        }
    }

    /// The OPT-125M-shaped numbers quoted in Docs/TINT.md §7.
    @Test func opt125mNumbers() {
        let f = Formula(SimulatorSpec(auxWidth: 768, auxHeads: 12, auxMaxPositions: 2048))
        #expect(f.linearForward.moduleWeights == 382_248)
        #expect(f.linearBackwardDescent().moduleWeights == 419_370)
        #expect(f.attentionForward.moduleWeights == 715_572)
        #expect(f.prefix == 786_432)
    }
}

@Suite struct ConfigRuleTests {
    func rule(_ body: () throws -> Void) -> String? {
        do { try body(); return nil } catch let TinTError.ruleViolation(rule, _, _) { return rule } catch { return "other: \(error)" }
    }

    @Test func eachRuleIsNamed() throws {
        let ok = SimulatorSpec(auxWidth: 48, auxHeads: 3, auxMaxPositions: 64, rowsPerPrefix: 3, simHeads: 12)
        #expect(rule { try ok.validate() } == nil)
        var c = ok; c.rowsPerPrefix = 2
        #expect(rule { try c.validate() } == "rowsPerPrefix")
        c = ok; c.auxWidth = 50
        #expect(rule { try c.validate() } == "prefixCount")
        c = ok; c.simHeads = 7
        #expect(rule { try c.validate() } == "simHeadsDivide")
        c = ok; c.simHeads = 3          // head width 64 does not divide 48
        #expect(rule { try c.validate() } == "simHeadWidth")
        c = ok; c.auxHeads = 5
        #expect(rule { try c.validate() } == "auxHeads")
        c = ok; c.auxHeads = 24; c.simHeads = 12   // H_aux > H_sim
        #expect(rule { try c.validate() } == "auxHeads")
        c = ok; c.auxHeads = 4         // aux head width 12 does not divide the TinT head width 16
        #expect(rule { try c.validate() } == "auxHeads")
        c = ok; c.learningRate = .nan
        #expect(rule { try c.validate() } == "positive")
        c = ok; c.layerNormBackward = .firstOrder(0)
        #expect(rule { try c.validate() } == "positive")
        c = ok; c.gates = .tanh(-1)
        #expect(rule { try c.validate() } == "positive")
        #expect(rule { try ok.validateMap(inputWidth: 40, outputWidth: 48) } == "mapWidths")
        #expect(rule { try ok.validateMap(inputWidth: 96, outputWidth: 96) } == "mapWidths")  // does not fit a prefix
        #expect(rule { try ok.validateSequence(65) } == "sequenceLength")
        #expect(rule { _ = try LinearForward<Float>(config: ok, inputWidth: 48, outputWidth: 48, outputOffset: 8) } == "offsets")
        // The message names the rule and the values.
        do { try c.validate(); Issue.record("no error") } catch { #expect("\(error)".contains("positive") && "\(error)".contains("g=-1")) }
    }

    @Test func paperConfigurationIsValid() throws {
        let opt125m = SimulatorSpec(auxWidth: 768, auxHeads: 12, auxMaxPositions: 2048, rowsPerPrefix: 3, simHeads: 12)
        try opt125m.validate()
        #expect(opt125m.simWidth == 3072 && opt125m.prefixCount == 256 && opt125m.linearHeads == 12)
        #expect(opt125m.attentionMemory == 768 && opt125m.layerNormMemory == 1536 && opt125m.linearMemory == 2304)
        let opt13b = SimulatorSpec(auxWidth: 2048, auxHeads: 32, auxMaxPositions: 2048, rowsPerPrefix: 4, simHeads: 40)
        try opt13b.validate()
        #expect(opt13b.simWidth == 10240 && opt13b.prefixCount == 512)
    }
}

import Foundation
import Testing
import LanguageModel
import OPT
@testable import TinT

/// Issue 18, item 3: `TinTParameterReport(graph:config:)` counts from the closed formulas without building modules,
/// and equals the compiled program's report (built modules) for every module kind and option.
@Suite struct ParameterFormulaTests {
    static func opt(width: Int = 48, heads: Int = 3, layers: Int = 2, ffn: Int = 96, proj: Int? = nil, postLN: Bool = false,
                    bias: Bool = true, activation: OPTActivation = .relu) -> OPTConfig {
        var c = OPTConfig()
        c.vocabSize = 64; c.hiddenSize = width; c.numHiddenLayers = layers; c.ffnDim = ffn; c.numAttentionHeads = heads
        c.maxPositionEmbeddings = 32; c.wordEmbedProjDim = proj ?? width; c.doLayerNormBefore = !postLN
        c.enableBias = bias; c.activationFunction = activation
        return c
    }

    /// Graphs: pre-/post-LN, project_in/out, no biases, GELU, FFN with a last chunk narrower than D, and an RMS graph.
    static func graphs() throws -> [(String, AuxGraph)] {
        [("pre-LN", try AuxGraph(opt: opt())), ("post-LN", try AuxGraph(opt: opt(postLN: true))),
         ("projections", try AuxGraph(opt: opt(proj: 24))), ("no bias", try AuxGraph(opt: opt(bias: false))),
         ("gelu", try AuxGraph(opt: opt(activation: .gelu))), ("ffn 144", try AuxGraph(opt: opt(ffn: 144))),
         ("rms", try rmsGraph())]
    }

    /// Options that change which modules are built and how often they are charged.
    static func configs(_ g: AuxGraph) -> [TinTConfig] {
        let base = TinTConfig(rowsPerPrefix: 3,
                              simHeads: 12)
        var out = [base]
        var c = base; c.steps = 3; out.append(c)
        c = base; c.steps = 2; c.reuseForward = false; c.reuseBackward = true; out.append(c)
        c = base; c.simulatedLayers = 1; out.append(c)
        c = base; c.simulatedLayers = 0; out.append(c)
        c = base; c.layerNormBackward = .exact; c.activationBackward = .exact; out.append(c)
        c = base; c.layerNormUpdate = .full; out.append(c)
        c = base; c.referenceCompatible = true; out.append(c)
        c = base; c.gates = .hard; out.append(c)
        c = TinTConfig(rowsPerPrefix: 4,
                       simHeads: 20)
        out.append(c)
        return out
    }

    @Test func formulaEqualsTheCompiledReport() throws {
        var compared = 0, refused = 0
        for (name, graph) in try Self.graphs() {
            for config in Self.configs(graph) {
                let compiled: TinTParameterReport
                do { compiled = try TinTCompiler.compile(graph, config: config).parameterReport } catch {
                    // The formula must refuse exactly what the compiler refuses, with the same error.
                    do {
                        _ = try TinTParameterReport(graph: graph, config: config)
                        Issue.record("\(name): the formula accepted what the compiler refused: \(error)")
                    } catch let formulaError {
                        #expect("\(formulaError)" == "\(error)", "\(name)")
                    }
                    refused += 1
                    continue
                }
                let formula = try TinTParameterReport(graph: graph, config: config)
                #expect(formula == compiled, "\(name), \(config):\nformula\n\(formula)\ncompiled\n\(compiled)")
                compared += 1
            }
        }
        // Most combinations compile; the rest (e.g. the RMS graph's ε against the default) exercise the refusals.
        #expect(compared >= 40 && refused >= 1, "compared \(compared), refused \(refused)")
    }

    /// The released shapes (no weights needed) agree too, OPT-350M's post-LN and 512-wide projections included.
    @Test func releasedShapesAgree() throws {
        var opt350m = Self.opt(width: 1024, heads: 16, layers: 24, ffn: 4096, proj: 512, postLN: true)
        opt350m.maxPositionEmbeddings = 2048
        var opt125m = Self.opt(width: 768, heads: 12, layers: 12, ffn: 3072)
        opt125m.maxPositionEmbeddings = 2048
        for (c, s, h) in [(opt125m, 3, 12), (opt350m, 4, 20)] {
            let config = TinTConfig(
                                    rowsPerPrefix: s, simHeads: h)
            let graph = try AuxGraph(opt: c)
            #expect(try TinTParameterReport(graph: graph, config: config)
                    == TinTCompiler.compile(graph, config: config).parameterReport)
        }
    }

    /// Issue 16: TinT for an OPT-1.3B-shaped aux (D 2048, 24 layers, 32 heads, FFN 8192) compiles on this machine —
    /// every distinct module built, nothing run — with the defaults (S 4, H_sim 40), and its report equals the closed
    /// formulas: 3,387,833,010 parameters (`tint params --shape opt-1.3b`).
    @Test func opt1_3bCompilesToTheFormula() throws {
        var c = Self.opt(width: 2048, heads: 32, layers: 24, ffn: 8192)
        (c.vocabSize, c.maxPositionEmbeddings) = (50272, 2048)
        let graph = try AuxGraph(opt: c)
        let config = try TinTDefaults(graph: graph).config
        #expect(config.rowsPerPrefix == 4 && config.simHeads == 40)
        let compiled = try TinTCompiler.compile(graph, config: config).parameterReport
        #expect(compiled == (try TinTParameterReport(graph: graph, config: config)))
        #expect(compiled.total == 3_387_833_010)
    }

    /// The issue's case: hidden 2²⁰ is within the config limits; counting it allocates nothing and returns at once
    /// (the compiler would build position maps of (K+1)·K ≈ 6.9·10¹⁰ weights).
    @Test func hugeWidthIsCountedWithoutBuilding() throws {
        let c = Self.opt(width: 1 << 20, heads: 16, layers: 1, ffn: 1 << 20)
        let config = TinTConfig(rowsPerPrefix: 4, simHeads: 20)
        let report = try TinTParameterReport(graph: try AuxGraph(opt: c), config: config)
        let K = (1 << 20) / 4
        #expect(report.entries.first { $0.kind == "LinearForward" }!.count.position >= 3 * (K + 1) * K)
        #expect(report.total > report.auxParameters)
    }

    /// Counts beyond 64 bits are an error, not a trap.
    @Test func overflowIsAnError() throws {
        let c = Self.opt(width: 1 << 30, heads: 1, layers: 10_000, ffn: 1 << 30)
        var config = TinTConfig(rowsPerPrefix: 1 << 28, simHeads: 5)
        config.simHeads = 5
        #expect(throws: (any Error).self) { _ = try TinTParameterReport(graph: try AuxGraph(opt: c), config: config) }
    }
}

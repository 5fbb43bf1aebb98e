import Foundation
import LanguageModel
import OPT
import ModelZoo
import TinT

/// OPT shapes by name (the released configs' hyper-parameters; no weights needed to count).
enum OPTShapes {
    static func config(_ name: String) throws -> OPTConfig {
        var c = OPTConfig()
        switch name {
        case "opt-125m": break
        case "opt-350m":
            c.hiddenSize = 1024; c.numHiddenLayers = 24; c.ffnDim = 4096; c.numAttentionHeads = 16
            c.wordEmbedProjDim = 512; c.doLayerNormBefore = false
        case "opt-1.3b":
            c.hiddenSize = 2048; c.numHiddenLayers = 24; c.ffnDim = 8192; c.numAttentionHeads = 32; c.wordEmbedProjDim = 2048
        default:
            throw ArgumentError("--shape must be one of opt-125m, opt-350m, opt-1.3b, got '\(name)'")
        }
        return c
    }
}

let paramsCommand = Command(
    name: "params",
    summary: "parameter count of the TinT that simulates an OPT model, by module kind",
    help: """
        usage: tint params (--model DIR | --shape opt-125m|opt-350m|opt-1.3b) [TinT options] [--json]

        Counts, from the closed formulas of Docs/TINT.md §7 (nothing is allocated), the TinT the compiler builds
        for the model's graph with the TinT options, and prints every module kind's share (module weights:
        constructed maps, position maps, gates; prefix storage: the aux weights as prefixes), the embeddings shared
        with the aux model, the TinT total and the aux count. Only config.json is read.

          --model DIR     a Hugging Face OPT directory (its config.json)
          --shape NAME    a released OPT shape instead
          --json          machine-readable output on stdout

        """ + TinTOptions.help,
    run: { args in
        let o = try ParsedOptions(args, valued: TinTOptions.valued.union(["--model", "--shape"]),
                                  flags: TinTOptions.flags.union(["--json"]))
        let (source, value) = try o.oneOf("--model", "--shape")
        if source == "--model" {
            try PathChecks.requireReadableDirectory(value, option: "--model", expected: "a directory with config.json")
        }
        let opt = source == "--shape" ? try OPTShapes.config(value)
            : try OPTConfig(contentsOf: URL(fileURLWithPath: value).appendingPathComponent("config.json"))
        let config = try TinTOptions.config(o, model: opt)
        // Counted from the closed formulas: compiling would build every module (a 274 GB allocation for hidden 2²⁰).
        let report = try TinTParameterReport(graph: try AuxGraph(opt: opt), config: config)
        if o.has("--json") {
            struct Kind: Encodable {
                let kind: String, modules: Int, constructed: Int, position: Int, gates: Int, prefix_storage: Int, total: Int
            }
            struct Output: Encodable {
                let model: String, config: TinTConfigJSON, kinds: [Kind], embeddings: Int, total: Int, aux_parameters: Int
            }
            try printJSON(Output(model: value, config: TinTConfigJSON(config), kinds: report.entries.map {
                Kind(kind: $0.kind, modules: $0.modules, constructed: $0.count.constructed, position: $0.count.position,
                     gates: $0.count.gates, prefix_storage: $0.count.prefixStorage, total: $0.count.total)
            }, embeddings: report.embeddings, total: report.total, aux_parameters: report.auxParameters))
        } else {
            try Console.out("\(value): \(TinTOptions.summary(config))")
            try Console.out(report.description)
        }
    })

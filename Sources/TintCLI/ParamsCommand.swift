import Foundation
import LanguageModel
import OPT
import ModelZoo
import TinT

let paramsCommand = Command(
    name: "params",
    summary: "parameter count of the TinT that simulates a model (OPT, GPT-2, Llama), by module kind",
    help: """
        usage: tint params (--model DIR | --shape NAME) [TinT options] [--json]

        Counts, from the closed formulas of Docs/TINT.md §7 (nothing is allocated), the TinT the compiler builds
        for the model's graph with the TinT options, and prints every module kind's share (module weights:
        constructed maps, position maps, gates; prefix storage: the aux weights as prefixes), the embeddings shared
        with the aux model, the TinT total and the aux count. Only config.json is read.

          --model DIR     a Hugging Face OPT, GPT-2 or Llama directory (its config.json)
          --shape NAME    a released shape instead: \(ReleasedShapes.names.joined(separator: ", "))
          --json          machine-readable output on stdout

        """ + TinTOptions.help,
    run: { args in
        let o = try ParsedOptions(args, valued: TinTOptions.valued.union(["--model", "--shape"]),
                                  flags: TinTOptions.flags.union(["--json"]))
        let (source, value) = try o.oneOf("--model", "--shape")
        if source == "--model" {
            try PathChecks.requireReadableDirectory(value, option: "--model", expected: "a directory with config.json")
        }
        guard source == "--model" || ReleasedShapes.names.contains(value) else {
            throw ArgumentError("--shape must be one of \(ReleasedShapes.names.joined(separator: ", ")), got '\(value)'")
        }
        let model = source == "--shape" ? try ReleasedShapes.config(value)
            : try ModelRegistry.zoo.config(at: URL(fileURLWithPath: value).appendingPathComponent("config.json"))
        let graph = try AuxGraph(config: model)
        let choice = try TinTOptions.config(o, graph: graph, layers: model.numHiddenLayers)
        choice.announce()
        let config = choice.config
        // Counted from the closed formulas: compiling would build every module (a 274 GB allocation for hidden 2²⁰).
        let report = try TinTParameterReport(graph: graph, config: config)
        if o.has("--json") {
            struct Kind: Encodable {
                let kind: String, modules: Int, constructed: Int, position: Int, gates: Int, prefix_storage: Int, total: Int
            }
            struct Output: Encodable {
                let model: String, config: TinTConfig, config_note: String?, aux_width: Int, sim_width: Int, prefix_count: Int
                let kinds: [Kind], embeddings: Int, total: Int, aux_parameters: Int
            }
            let spec = SimulatorSpec(config: config, auxWidth: graph.hiddenWidth, auxHeads: 1, auxMaxPositions: 1)
            try printJSON(Output(model: value, config: config, config_note: choice.note, aux_width: graph.hiddenWidth,
                                 sim_width: spec.simWidth, prefix_count: spec.prefixCount, kinds: report.entries.map {
                Kind(kind: $0.kind, modules: $0.modules, constructed: $0.count.constructed, position: $0.count.position,
                     gates: $0.count.gates, prefix_storage: $0.count.prefixStorage, total: $0.count.total)
            }, embeddings: report.embeddings, total: report.total, aux_parameters: report.auxParameters))
        } else {
            try Console.out("\(value): \(TinTOptions.summary(config, auxWidth: graph.hiddenWidth))")
            try Console.out(report.description)
        }
    })

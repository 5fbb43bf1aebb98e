import Foundation
import ModelZoo
import LanguageModel
import Testing
import TinT
@testable import TintCLI

/// `tint dynamic-eval`, `compare`, `demo` and `params` on the zoo's tiny GPT-2 and Llama (Tests/ZooTests/Fixtures).
@Suite struct ZooCommandTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("ZooTests/Fixtures")
    static let gpt2 = fixtures.appendingPathComponent("tiny-gpt2").path
    static let llama = fixtures.appendingPathComponent("tiny-llama").path
    /// Three blocks of 8 whose eval half repeats the train half.
    static let ids: [Int] = [[2, 5, 9, 100], [200, 300, 17, 42], [390, 31, 250, 60]].flatMap { $0 + $0 }

    /// On GPT-2 with the default S and H_sim (4 and 10 for D 32), the tint method lands on the approximate-GD
    /// oracle's eval loss (within 1e-3 of the update's size), through the command's own functions.
    @Test func tintMatchesApproxOnGPT2() throws {
        let model = try loadModel(Self.gpt2)
        let choice = try TinTOptions.config(try ParsedOptions(["--lr", "0.01"], valued: TinTOptions.valued, flags: TinTOptions.flags),
                                            graph: try AuxGraph(model: model), layers: 2)
        #expect(choice.config.rowsPerPrefix == 4 && choice.config.simHeads == 10 && choice.note != nil)
        let r = try evaluateDescent(model: model, ids: Self.ids, trainFraction: 0.5, block: 8, config: choice.config,
                                    methods: [.tint, .approx, .exact])
        let tint = r.after[.tint]!.mean, approx = r.after[.approx]!.mean
        #expect(abs(tint - approx) <= 1e-3 * abs(r.before.mean - approx), "tint \(tint), approx \(approx), before \(r.before.mean)")
    }

    /// The commands run end to end on GPT-2 and on Llama (every method).
    @Test func commandsRunOnGPT2AndLlama() throws {
        let base = ["--ids", Self.ids.map(String.init).joined(separator: ","), "--train-fraction", "0.5", "--block", "8",
                    "--lr", "0.01", "--quiet"]
        for model in [Self.gpt2, Self.llama] {
            for method in ["tint", "approx", "exact"] {
                try dynamicEvalCommand.run(["--model", model, "--method", method, "--json"] + base)
            }
            try compareCommand.run(["--model", model] + base)
        }
    }

    /// On Llama (rotary attention, grouped-query heads, SwiGLU) the tint method lands on the approximate-GD oracle's
    /// eval loss too.
    @Test func tintMatchesApproxOnLlama() throws {
        let model = try loadModel(Self.llama)
        let choice = try TinTOptions.config(try ParsedOptions(["--lr", "0.01"], valued: TinTOptions.valued, flags: TinTOptions.flags),
                                            graph: try AuxGraph(model: model), layers: 2)
        let r = try evaluateDescent(model: model, ids: Self.ids, trainFraction: 0.5, block: 8, config: choice.config,
                                    methods: [.tint, .approx])
        let tint = r.after[.tint]!.mean, approx = r.after[.approx]!.mean
        #expect(abs(tint - approx) <= 1e-3 * abs(r.before.mean - approx), "tint \(tint), approx \(approx), before \(r.before.mean)")
    }

    /// `tint demo --model` on the tiny GPT-2 (its own tokenizer, the shipped passages).
    @Test func demoRunsOnGPT2() throws {
        let o = try ParsedOptions(["--model", Self.gpt2, "--max-passages", "2", "--validation-passages", "1", "--lr", "0.001",
                                   "--block", "32", "--quiet"],
                                  valued: TinTOptions.valued.union(["--model", "--max-passages", "--validation-passages", "--block"]),
                                  flags: TinTOptions.flags.union(["--quiet"]))
        let r = try Demo.run(o)
        #expect(r.passages == 2 && r.model_eval_loss.isFinite && r.config.rowsPerPrefix == 4 && r.config_note != nil)
        #expect(r.relative_error_tint_vs_approx <= 5e-3, "relative error \(r.relative_error_tint_vs_approx)")
    }

    /// Every released shape works with the defaults and counts from the closed formulas (`tint params --shape`);
    /// GPT-2 small ≤ 0.35B, OPT-125M ≤ 0.31B and the Llama-style 125M-class shape ≤ 0.45B, counted from compiled
    /// programs.
    @Test func everyShapeWorksWithTheDefaults() throws {
        for name in ReleasedShapes.names {
            let graph = try AuxGraph(config: try ReleasedShapes.config(name))
            let chosen = try TinTDefaults(graph: graph)
            try TinTDefaults.check(graph, chosen.config)
            _ = try TinTParameterReport(graph: graph, config: chosen.config)
            try paramsCommand.run(["--shape", name, "--json"])
        }
        func compiled(_ name: String) throws -> Int {
            let graph = try AuxGraph(config: try ReleasedShapes.config(name))
            return try TinTCompiler.compile(graph, config: try TinTDefaults(graph: graph).config).parameterReport.total
        }
        let gpt2 = try compiled("gpt2"), opt = try compiled("opt-125m"), llama = try compiled("llama-125m")
        #expect(gpt2 <= 350_000_000 && opt <= 310_000_000 && llama <= 450_000_000, "GPT-2 small \(gpt2), OPT-125M \(opt), Llama \(llama)")
    }

    /// The configuration round-trips through JSON with snake_case keys; absent keys take the defaults.
    @Test func configIsCodable() throws {
        var c = TinTConfig(rowsPerPrefix: 4, simHeads: 10, learningRate: 0.5, simulatedLayers: 1, steps: 2, referenceCompatible: true)
        c.layerNormBackward = .exact
        c.gates = .tanh(7)
        let data = try JSONEncoder().encode(c)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains("\"rows_per_prefix\":4") && text.contains("\"layer_norm_backward\":\"exact\"") && text.contains("\"gate_scale\":7"))
        #expect(try JSONDecoder().decode(TinTConfig.self, from: data) == c)
        #expect(try JSONDecoder().decode(TinTConfig.self, from: Data("{}".utf8)) == TinTConfig())
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(TinTConfig.self, from: Data("{\"gates\": \"soft\"}".utf8)) }
    }
}

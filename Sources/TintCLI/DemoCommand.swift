// `tint demo`: the main job. On the shipped demo model (or any OPT or GPT-2 directory; Llama until its constructions land is refused by node) and held-out passages, the TinT
// paper's language-modelling protocol: each passage's first half is the train part; one internal SGD step; the
// eval-part perplexity of the model, of TinT, of the approximate-GD oracle and of exact GD. The inner learning
// rate is chosen on validation passages, never on the reported ones.
import Foundation
import LanguageModel
import OPT
import ModelZoo
import Tensor
import TinT

/// What the demo measured.
struct DemoResult: Encodable {
    struct Method: Encodable {
        let method: String, eval_loss: Double, perplexity: Double, passages_improved: Int, seconds: Double
        /// Per-passage perplexity change relative to the model's, in %: min, median, max.
        let change_percent_min: Double, change_percent_median: Double, change_percent_max: Double
    }
    /// One candidate η: its validation eval loss, or nil when TinT's update diverged (a non-finite value).
    struct Selection: Encodable { let lr: Double, validation_eval_loss: Double? }
    let model: String, passages: Int, block: Int, train_fraction: Double, eval_targets: Int
    let lr: Double, lr_selection: [Selection]
    let config: TinTConfig, config_note: String?
    let model_eval_loss: Double, model_perplexity: Double
    let methods: [Method]
    let cosine_tint_exact: Double, cosine_tint_exact_per_passage_min: Double, cosine_tint_approx: Double
    let relative_error_tint_vs_approx: Double
    let tint_vs_approx_perplexity_gap_percent: Double
    let tint_parameters: Int, aux_parameters: Int
    let seconds: Double
}

enum Demo {
    /// Blocks of `block` tokens cut from the concatenated `ids` (the remainder dropped), `count` of them evenly
    /// spaced over the text (all of them if there are fewer).
    static func passages(_ ids: [Int], block: Int, count: Int) -> [[Int]] {
        let all = stride(from: 0, through: ids.count - block, by: block).map { Array(ids[$0..<($0 + block)]) }
        guard all.count > count, count > 0 else { return all }
        return (0..<count).map { all[$0 * all.count / count] }
    }

    /// Tokens of a text file with the model directory's tokenizer (`</s>` first, as OPT's).
    static func tokens(_ url: URL, option: String, tokenizer: any Tokenizer, model: any CausalLM, directory: URL) throws -> [Int] {
        try checkedTokens(tokenizer.encode(try InputText.read(url.path, option: option), addSpecialTokens: true), config: model.config,
                          directory: directory.path)
    }

    /// The mean eval-part loss of TinT with learning rate `lr` over `passages`.
    static func tintEvalLoss(simulator: TinTSimulator, passages: [[Int]], trainFraction: Double) throws -> Double {
        var total = EvalLoss(sum: 0, count: 0)
        for p in passages {
            let mask = trainMask(p.count, trainFraction)
            let out = try simulator.run(ids: p, trainMask: mask)
            total = total + (try evalPartLoss(logits: out.logitsAfter, ids: p, trainMask: mask))
        }
        return total.mean
    }

    static func trainMask(_ count: Int, _ fraction: Double) -> [Bool] {
        let n = Int((fraction * Double(count)).rounded(.down))
        return (0..<count).map { $0 < n }
    }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    static func run(_ o: ParsedOptions) throws -> DemoResult {
        let start = Date()
        let directory = o["--model"].map { URL(fileURLWithPath: $0) } ?? DemoResources.modelDirectory
        let model: any CausalLM = try o["--model"].map { try loadModel($0) } ?? OPTModel.load(directory: directory)
        let tokenizer = try loadTokenizer(directory: directory)
        let trainFraction = try o.double("--train-fraction", in: 0...1, default: 0.5)!
        let block = try blockOption(o, model: model.config, default: 512)
        // Refuse up front what would otherwise be a table of nan: passages whose eval part has no target.
        guard !evalTargetPositions(trainMask: trainMask(block, trainFraction)).isEmpty else {
            throw ArgumentError("--train-fraction \(trainFraction) leaves no eval-part target in passages of \(block) tokens "
                                + "(the train part is ⌊F·\(block)⌋ tokens, so F must be below 1)")
        }
        let maxPassages = try o.int("--max-passages", in: 1...100_000, default: 48)!
        let validationCount = try o.int("--validation-passages", in: 1...100_000, default: 8)!
        let graph = try AuxGraph(model: model)
        let choice = try TinTOptions.config(o, graph: graph, layers: model.config.numHiddenLayers)
        choice.announce()
        var config = choice.config
        let testURL = o["--passages"].map { URL(fileURLWithPath: $0) } ?? DemoResources.testText
        let validationURL = o["--validation"].map { URL(fileURLWithPath: $0) } ?? DemoResources.validationText
        let passages = passages(try tokens(testURL, option: "--passages", tokenizer: tokenizer, model: model, directory: directory), block: block, count: maxPassages)
        guard !passages.isEmpty else { throw CommandError("\(testURL.path): shorter than one passage of \(block) tokens") }
        let report = try TinTCompiler.compile(graph, config: config).parameterReport

        // The inner learning rate: the best of the grid on validation passages (unless --lr is given).
        var selection: [DemoResult.Selection] = []
        if o["--lr"] == nil {
            let grid = try o["--lr-grid"].map(parseDoubleList) ?? [1e-5, 3e-5, 1e-4, 3e-4, 1e-3]
            let validation = self.passages(try tokens(validationURL, option: "--validation", tokenizer: tokenizer, model: model, directory: directory), block: block, count: validationCount)
            guard !validation.isEmpty else { throw CommandError("\(validationURL.path): shorter than one passage of \(block) tokens") }
            for (i, lr) in grid.enumerated() {
                var c = config
                c.learningRate = lr
                // A candidate that diverges is not chosen, not fatal: the grid spans orders of magnitude.
                var loss: Double? = nil
                do {
                    // η is a constructed weight of the Descent modules: one simulator per grid point.
                    let simulator = try compileSimulator(model: model, config: c)
                    loss = try tintEvalLoss(simulator: simulator, passages: validation, trainFraction: trainFraction)
                } catch TinTError.nonFiniteValue(_, let step, _, _, _) where step > 0 {
                    Progress.note("demo: η = \(lr) diverges on the validation passages; not a candidate")
                }
                selection.append(.init(lr: lr, validation_eval_loss: loss))
                Progress.update("demo: choosing η on \(validation.count) validation passages", i + 1, grid.count)
            }
            guard let best = selection.compactMap({ s in s.validation_eval_loss.map { (s.lr, $0) } }).min(by: { $0.1 < $1.1 }) else {
                throw CommandError("every η of the grid (\(grid.map { "\($0)" }.joined(separator: ", "))) diverges on the "
                                   + "validation passages; give smaller values with --lr-grid")
            }
            config.learningRate = best.0
        }

        // The reported passages, with the simulator compiled once for the chosen η.
        let simulator = try compileSimulator(model: model, config: config)
        let methods: [DescentMethod] = [.tint, .approx, .exact]
        var before = EvalLoss(sum: 0, count: 0)
        var after: [DescentMethod: EvalLoss] = [:], seconds: [DescentMethod: Double] = [:]
        var changes: [DescentMethod: [Double]] = [:]
        var tintExact = LogitChangeComparison(), tintApprox = LogitChangeComparison()
        var passageCosines: [Double] = []
        for (i, p) in passages.enumerated() {
            let mask = trainMask(p.count, trainFraction), positions = evalTargetPositions(trainMask: mask)
            var outcomes: [DescentMethod: DescentOutcome<Float>] = [:]
            for m in methods {
                let t0 = Date()
                outcomes[m] = try descend(m, model: model, simulator: simulator, ids: p, trainMask: mask, config: config,
                                          place: "passage \(i + 1) of \(passages.count)")
                seconds[m, default: 0] += Date().timeIntervalSince(t0)
            }
            let base = outcomes[.exact]!.logitsBefore
            let b = try evalPartLoss(logits: base, ids: p, trainMask: mask)
            before = before + b
            for m in methods {
                let a = try evalPartLoss(logits: outcomes[m]!.logitsAfter, ids: p, trainMask: mask)
                after[m] = (after[m] ?? EvalLoss(sum: 0, count: 0)) + a
                changes[m, default: []].append(100 * (a.perplexity / b.perplexity - 1))
            }
            try tintExact.add(before: base, outcomes[.tint]!.logitsAfter, outcomes[.exact]!.logitsAfter, positions: positions)
            try tintApprox.add(before: base, outcomes[.tint]!.logitsAfter, outcomes[.approx]!.logitsAfter, positions: positions)
            passageCosines.append(try logitChangeCosine(before: base, outcomes[.tint]!.logitsAfter, outcomes[.exact]!.logitsAfter,
                                                        positions: positions))
            Progress.update("demo: passages", i + 1, passages.count)
        }
        let names: [DescentMethod: String] = [.tint: "TinT", .approx: "approx GD", .exact: "exact GD"]
        return DemoResult(
            model: o["--model"] ?? "demo (OPT 4×96 trained on KJV, Sources/TintCLI/DemoModel)", passages: passages.count,
            block: block, train_fraction: trainFraction, eval_targets: before.count, lr: config.learningRate,
            lr_selection: selection, config: config, config_note: choice.note,
            model_eval_loss: before.mean, model_perplexity: before.perplexity,
            methods: methods.map { m in
                let c = changes[m]!
                return .init(method: names[m]!, eval_loss: after[m]!.mean, perplexity: after[m]!.perplexity,
                             passages_improved: c.filter { $0 < 0 }.count, seconds: seconds[m]!,
                             change_percent_min: c.min()!, change_percent_median: median(c), change_percent_max: c.max()!)
            },
            cosine_tint_exact: tintExact.cosine, cosine_tint_exact_per_passage_min: passageCosines.min()!,
            cosine_tint_approx: tintApprox.cosine, relative_error_tint_vs_approx: tintApprox.relativeError,
            tint_vs_approx_perplexity_gap_percent: 100 * (after[.tint]!.perplexity / after[.approx]!.perplexity - 1),
            tint_parameters: report.total, aux_parameters: report.auxParameters,
            seconds: Date().timeIntervalSince(start))
    }

    static func print(_ r: DemoResult) throws {
        func p(_ x: Double) -> String { formatted(x, 3) }
        try Console.out("""
            TinT demo — \(r.model)
            \(r.passages) held-out passages of \(r.block) tokens; the first \(Int(r.train_fraction * 100))% of each is the \
            train part, \(r.eval_targets) eval-part targets in all; \(r.config.steps) internal SGD step\(r.config.steps == 1 ? "" : "s")
            """)
        if r.lr_selection.isEmpty {
            try Console.out("inner learning rate η = \(r.lr) (given)")
        } else {
            try Console.out("inner learning rate η = \(r.lr), chosen on validation passages: "
                        + r.lr_selection.map { "\($0.lr) → \($0.validation_eval_loss.map { formatted($0, 4) } ?? "diverged")" }.joined(separator: ", "))
        }
        try Console.out("")
        try Console.out("method       eval loss   perplexity   vs model   passages improved   per-passage change (min / median / max)   seconds")
        try Console.out("model".padding(toLength: 13, withPad: " ", startingAt: 0) + formatted(r.model_eval_loss, 4).leftPad(9)
                    + p(r.model_perplexity).leftPad(13))
        for m in r.methods {
            let change = 100 * (m.perplexity / r.model_perplexity - 1)
            try Console.out(m.method.padding(toLength: 13, withPad: " ", startingAt: 0) + formatted(m.eval_loss, 4).leftPad(9)
                        + p(m.perplexity).leftPad(13) + (formatted(change, 2) + "%").leftPad(11)
                        + "\(m.passages_improved)/\(r.passages)".leftPad(20)
                        + ("\(formatted(m.change_percent_min, 2))% / \(formatted(m.change_percent_median, 2))% / "
                           + "\(formatted(m.change_percent_max, 2))%").leftPad(42)
                        + formatted(m.seconds, 1).leftPad(10))
        }
        try Console.out("""

            TinT vs approximate GD: perplexity gap \(formatted(r.tint_vs_approx_perplexity_gap_percent, 3))% \
            (logit changes: cosine \(formatted(r.cosine_tint_approx, 6)), relative error \(formatted(r.relative_error_tint_vs_approx, 5)))
            TinT vs exact GD: cosine of the logit changes \(formatted(r.cosine_tint_exact, 4)) \
            (lowest passage \(formatted(r.cosine_tint_exact_per_passage_min, 4)))
            parameters: TinT \(r.tint_parameters) (\(formatted(Double(r.tint_parameters) / Double(r.aux_parameters), 1))× the aux \
            model's \(r.aux_parameters))
            wall time \(formatted(r.seconds, 1)) s
            """)
    }
}

extension String {
    fileprivate func leftPad(_ n: Int) -> String { count >= n ? " " + self : String(repeating: " ", count: n - count) + self }
}

/// `a,b,c` as numbers.
func parseDoubleList(_ s: String) throws -> [Double] {
    let xs = s.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard !xs.isEmpty, xs.allSatisfy({ $0 != nil && $0!.isFinite }) else {
        throw ArgumentError("expected a comma-separated list of numbers, got '\(s)'")
    }
    return xs.map { $0! }
}

let demoCommand = Command(
    name: "demo",
    summary: "TinT fine-tunes a transformer inside its own forward pass: eval perplexity before/after (the main job)",
    help: """
        usage: tint demo [--model DIR] [--max-passages N] [--block N] [--train-fraction F] [--lr η | --lr-grid LIST]
                         [--validation-passages N] [--passages TEXT] [--validation TEXT] [TinT options] [--json] [--quiet]

        Runs the TinT paper's language-modelling protocol on held-out passages: in each passage the first part is
        the train part; TinT (one forward pass of the simulator), the approximate-GD oracle (Autodiff, TinT's rule)
        and exact GD each take the internal SGD step(s) on it; the table gives the eval-part perplexity of each, the
        per-passage spread, the cosine between TinT's and exact GD's logit changes, and the parameter counts.
        Without --model it uses the demo model shipped in tint (OPT 4×96 trained by `tint train` on the King
        James Bible; Docs/DATA.md) and the held-out chapters of its text.

          --model DIR             an OPT or GPT-2 directory in Hugging Face layout (with its tokenizer)
          --max-passages N        reported passages, evenly spaced over the text (default 48)
          --block N               tokens per passage (default min(512, max_position_embeddings))
          --train-fraction F      train part of each passage (default 0.5)
          --lr η                  the inner learning rate (default: chosen on validation passages)
          --lr-grid LIST          candidates for the choice (default 1e-5,3e-5,1e-4,3e-4,1e-3)
          --validation-passages N passages of the validation text used for the choice (default 8)
          --passages TEXT         reported text (default: the demo's held-out test split)
          --validation TEXT       validation text (default: the demo's validation split)
          --json                  machine-readable output on stdout
          --quiet                 no progress on stderr

        """ + TinTOptions.help,
    run: { args in
        let o = try ParsedOptions(args, valued: TinTOptions.valued.union([
            "--model", "--max-passages", "--block", "--train-fraction", "--lr-grid", "--validation-passages", "--passages",
            "--validation",
        ]), flags: TinTOptions.flags.union(["--json", "--quiet"]))
        Progress.quiet = o.has("--quiet")
        let r = try Demo.run(o)
        if o.has("--json") { try printJSON(r) } else { try Demo.print(r) }
    })

import Foundation
import ICL
import LanguageModel
import TinT

// `tint icl`: the paper's in-context-learning protocol (Docs/ICL.md) on one task directory.

let iclCommand = Command(
    name: "icl",
    summary: "in-context learning on a classification task: the model alone, dynamic evaluation, approx GD and TinT",
    help: """
        usage: tint icl --model DIR --task DIR [--shots K] [--seeds N] (--method icl|exact|approx|tint | --compare)
                        [--loss label-only|context] [--single-ft] [--calibrate] [--lr η | --lr-grid LIST] [--max-examples N]
                        [--validation-examples N] [--context N] [TinT options] [--json] [--quiet]

        For each seed, draws K demonstrations from the task's train split and scores every label of each test example
        after them: the label whose words get the highest log-probability at the answer position is the prediction.
        Reports test accuracy as mean ± std over the seeds. The methods differ in what happens to the model before it
        scores a prompt:
          --method icl      nothing: plain in-context learning
          --method exact    dynamic evaluation: --steps SGD steps on the context's loss, every parameter of the top
                            --layers layers
          --method approx   TinT's approximate gradient descent, computed with Autodiff
          --method tint     the TinT simulator: one forward pass over the prompt
          --compare         every method side by side
        With --lr-grid, η is chosen per method by mean validation accuracy over the seeds (never on test); the best
        test accuracy over the grid (the authors' selection on the evaluation set) is reported too, as optimistic.
        A prompt longer than the model's positions loses its earliest demonstrations (counted in the output).

          --model DIR              a Hugging Face model directory (OPT, GPT-2 or Llama) with its tokenizer
          --task DIR               a task directory (task.json, train/validation/test.jsonl; Docs/DATA.md)
          --shots K                demonstrations per prompt (default 0)
          --seeds N                demonstration seeds 1…N (default 3)
          --loss label-only|context   the inner loss: the demonstrations' label words (default) or every context target
          --single-ft              the demonstrations as separate sequences (each attends only to itself, positions
                                   from 0; the query is scored on its own) instead of one concatenated context
          --calibrate              content-free calibration: subtract each label's score with the query text "N/A"
          --lr-grid LIST           comma-separated η values to choose from on validation (overrides --lr)
          --max-examples N         test examples (default 200)
          --validation-examples N  validation examples for choosing η (default 100)
          --context N              the longest prompt, in tokens (default: the model's positions); longer prompts
                                   lose their earliest demonstrations (e.g. a model's trained context when shorter)
          --json                   machine-readable output on stdout
          --quiet                  no progress on stderr

        """ + TinTOptions.help,
    run: { args in
        let valued = TinTOptions.valued.union(["--model", "--task", "--shots", "--seeds", "--method", "--loss", "--lr-grid",
                                               "--max-examples", "--validation-examples", "--context"])
        let o = try ParsedOptions(args, valued: valued, flags: TinTOptions.flags.union(["--calibrate", "--single-ft", "--compare", "--json", "--quiet"]))
        Progress.quiet = o.has("--quiet")
        let methods = try iclMethods(o)
        var options = ICLExperimentOptions()
        options.shots = try o.int("--shots", in: 0...100_000, default: 0)!
        options.seeds = (1...UInt64(try o.int("--seeds", in: 1...1000, default: 3)!)).map { $0 }
        options.calibrate = o.has("--calibrate")
        options.singleFT = o.has("--single-ft")
        options.maxExamples = try o.int("--max-examples", in: 1...Int.max, default: 200)!
        options.maxValidationExamples = try o.int("--validation-examples", in: 1...Int.max, default: 100)!
        options.contextLimit = try o.int("--context", in: 1...Int.max, default: nil)
        if let loss = o["--loss"] {
            guard let l = ICLLoss(rawValue: loss) else { throw ArgumentError("--loss must be label-only or context, got '\(loss)'") }
            options.loss = l
        }
        if o["--lr-grid"] != nil && o["--lr"] != nil { throw ArgumentError("give --lr or --lr-grid, not both") }

        let modelDirectory = try o.required("--model"), taskDirectory = try o.required("--task")
        try PathChecks.requireReadableDirectory(taskDirectory, option: "--task", expected: "a task directory with task.json, "
                                                + "train.jsonl, validation.jsonl and test.jsonl (Docs/DATA.md)")
        let task = try ICLTask(directory: URL(fileURLWithPath: taskDirectory))
        let model = try loadModel(modelDirectory)
        let tokenizer = try loadTokenizer(directory: URL(fileURLWithPath: modelDirectory))
        let usesTinT = methods.contains(.tint)
        let graph = usesTinT ? try AuxGraph(model: model) : try? AuxGraph(model: model)
        let choice = try TinTOptions.config(o, graph: graph, layers: model.config.numHiddenLayers, checkRules: usesTinT)
        if usesTinT { choice.announce() }
        options.learningRates = try o["--lr-grid"].map { try parseLearningRates($0) } ?? [choice.config.learningRate]
        let experiment = try ICLExperiment(task: task, tokenizer: tokenizer, options: options)
        Progress.note("task \(task.name): \(task.labels.count) labels, \(options.shots) shots, \(options.seeds.count) seeds, "
                      + "\(min(options.maxExamples, task.test.count)) test examples, loss \(options.loss.rawValue)"
                      + (options.singleFT ? ", single-ft" : "") + (options.calibrate ? ", calibrated" : ""))

        var results: [ICLMethodResult] = []
        for method in methods {
            let result = try experiment.run(method, scorer: { eta in
                var c = choice.config
                c.learningRate = eta
                return ICLScorer(model: model, config: c, simulator: method == .tint ? try compileSimulator(model: model, config: c) : nil)
            }, progress: { Progress.update("icl: \(method.rawValue)", $0, $1) })
            results.append(result)
        }
        try printICL(results, task: task, options: options, config: choice, model: model, json: o.has("--json"))
    })

/// `--method M` or `--compare` (every method).
func iclMethods(_ o: ParsedOptions) throws -> [ICLMethod] {
    if o.has("--compare") {
        guard o["--method"] == nil else { throw ArgumentError("give --method or --compare, not both") }
        return ICLMethod.allCases
    }
    let name = try o.required("--method")
    guard let m = ICLMethod(rawValue: name) else {
        throw ArgumentError("--method must be one of \(ICLMethod.allCases.map(\.rawValue).joined(separator: ", ")), got '\(name)'")
    }
    return [m]
}

/// `--lr-grid`: comma-separated finite numbers.
func parseLearningRates(_ text: String) throws -> [Double] {
    let values = text.split(separator: ",", omittingEmptySubsequences: false)
        .map { Double($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0?.isFinite == true }) else {
        throw ArgumentError("--lr-grid needs comma-separated finite numbers, got '\(Sanitized.text(text))'")
    }
    return values.map { $0! }
}

/// The results as a table, or JSON.
func printICL(_ results: [ICLMethodResult], task: ICLTask, options: ICLExperimentOptions, config: TinTChoice,
              model: any CausalLM, json: Bool) throws {
    if json {
        struct Method: Encodable {
            let method: String, lr: Double?, accuracy_mean: Double, accuracy_std: Double, accuracies: [Double]
            let validation_accuracies: [Double], optimistic_mean: Double, optimistic_std: Double
            let shortened_prompts: Int, seconds: Double, shared_update_deviation: Double?
        }
        struct Output: Encodable {
            let task: String, labels: [String], shots: Int, seeds: [UInt64], loss: String, single_ft: Bool, calibrate: Bool
            let test_examples: Int, context_limit: Int?, lr_grid: [Double], methods: [Method], tint_approx_agreement: [Double]?
            let config: TinTConfig, config_note: String?
        }
        try printJSON(Output(task: task.name, labels: task.labels.map(\.name), shots: options.shots, seeds: options.seeds,
                             loss: options.loss.rawValue, single_ft: options.singleFT, calibrate: options.calibrate,
                             test_examples: min(options.maxExamples, task.test.count), context_limit: options.contextLimit,
                             lr_grid: options.learningRates,
                             methods: results.map { r in
                                 Method(method: r.method.rawValue, lr: r.learningRate, accuracy_mean: r.mean,
                                        accuracy_std: r.standardDeviation, accuracies: r.accuracies,
                                        validation_accuracies: r.validationAccuracies,
                                        optimistic_mean: r.optimisticMean,
                                        optimistic_std: r.optimisticStandardDeviation,
                                        shortened_prompts: r.shortenedPrompts, seconds: r.seconds,
                                        shared_update_deviation: r.sharedUpdateDeviation)
                             }, tint_approx_agreement: tintApproxAgreement(results), config: config.config, config_note: config.note))
        return
    }
    func pct(_ x: Double) -> String { String(format: "%5.1f", 100 * x) }
    try Console.out("task \(task.name) (\(task.labels.map(\.name).joined(separator: " / "))), \(options.shots)-shot, "
                    + "\(options.seeds.count) seeds, \(min(options.maxExamples, task.test.count)) test examples, loss "
                    + "\(options.loss.rawValue)\(options.singleFT ? ", single-ft" : "")\(options.calibrate ? ", calibrated" : "")")
    try Console.out("TinT config: \(TinTOptions.summary(config.config, auxWidth: model.config.hiddenSize))")
    try Console.out("method   η          accuracy %       optimistic %     shortened   seconds")
    for r in results {
        let eta = r.learningRate.map { String(format: "%-9.3g", $0) } ?? "—        "
        let grid = r.method.learns && options.learningRates.count > 1
        let optimistic: String = grid ? pct(r.optimisticMean) + " ± " + pct(r.optimisticStandardDeviation) : "       —        "
        let accuracy: String = pct(r.mean) + " ± " + pct(r.standardDeviation)
        let name = r.method.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0)
        let tail = String(format: "%9d%10.1f", r.shortenedPrompts, r.seconds)
        try Console.out(name + eta + "  " + accuracy + "   " + optimistic + "   " + tail)
    }
    if let agreement = tintApproxAgreement(results) {
        try Console.out("tint and approx predict the same label on " + zip(options.learningRates, agreement)
            .map { String(format: "%.1f%% (η %g)", 100 * $1, $0) }.joined(separator: ", ") + " of test prompts")
    }
    let deviations = results.compactMap { r in r.sharedUpdateDeviation.map { (r.method, $0) } }
    if !deviations.isEmpty {
        try Console.out("one update per demonstration set; largest label-score difference to each method's own pass over a "
                        + "whole prompt: " + deviations.map { String(format: "%@ %.2g", $0.0.rawValue, $0.1) }.joined(separator: ", "))
    }
}

/// Per η, the fraction of test predictions `tint` shares with `approx` (both run), else nil.
func tintApproxAgreement(_ results: [ICLMethodResult]) -> [Double]? {
    guard let t = results.first(where: { $0.method == .tint }), let a = results.first(where: { $0.method == .approx }) else { return nil }
    return t.agreement(with: a)
}

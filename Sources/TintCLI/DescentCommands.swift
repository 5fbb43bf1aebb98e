// `tint dynamic-eval` and `tint compare`: the TinT paper's language-modelling protocol (eval-part loss before
// and after a dynamic update on each block's train part) for TinT, the approximate-GD oracle and exact GD.
import Foundation
import LanguageModel
import OPT
import ModelZoo
import Tensor
import TinT

/// One dynamic update of `model` on `ids` by `method`; `.tint` runs `simulator` (compiled once by the command). `place` says where the tokens come from ("block 3 of 7",
/// "passage 2") for the error a diverging update raises.
///
/// - Throws: `CommandError` naming the method, the place, the inner step and the tensor when the update produced
///   a NaN or an infinity (a learning rate too large, weights near Float's limit); the methods' other errors.
func descend(_ method: DescentMethod, model: any CausalLM, simulator: TinTSimulator?, ids: [Int], trainMask: [Bool],
             config: TinTConfig, place: String = "") throws -> DescentOutcome<Float> {
    do {
        switch method {
        case .tint:
            guard let simulator else { throw CommandError("internal: the tint method needs a compiled simulator") }
            return try simulator.run(ids: ids, trainMask: trainMask)
        case .approx, .exact: return try oracleDescent(method, model: model, ids: ids, trainMask: trainMask, config: config)
        }
    } catch let error as ModelError {
        guard case .nonFiniteUpdate = error else { throw error }
        throw CommandError("non-finite result: method \(method.rawValue)\(place.isEmpty ? "" : ", " + place), "
                           + "η=\(config.learningRate), \(config.steps) step\(config.steps == 1 ? "" : "s"): \(error)")
    } catch let error as TinTError {
        guard case .nonFiniteValue = error else { throw error }
        throw CommandError("non-finite result: method \(method.rawValue)\(place.isEmpty ? "" : ", " + place), "
                           + "η=\(config.learningRate), \(config.steps) step\(config.steps == 1 ? "" : "s"): \(error)")
    }
}

/// Dynamic evaluation by several methods over the same blocks.
struct DescentEvaluation {
    /// Blocks with at least one eval-part target.
    var blocks = 0
    /// Train-part targets over those blocks.
    var trainTargets = 0
    /// The eval-part loss of the unmodified model.
    var before = EvalLoss(sum: 0, count: 0)
    /// The eval-part loss after each method's update.
    var after: [DescentMethod: EvalLoss] = [:]
    /// Seconds spent in each method.
    var seconds: [DescentMethod: Double] = [:]
    /// Logit changes over the eval-target positions, per compared pair (a, reference b).
    var comparisons: [(a: DescentMethod, b: DescentMethod, comparison: LogitChangeComparison)] = []

    /// The pairs `tint compare` reports, in order: TinT against exact GD, TinT against its oracle, the
    /// oracle against exact GD.
    static let pairs: [(DescentMethod, DescentMethod)] = [(.tint, .exact), (.tint, .approx), (.approx, .exact)]
}

/// One pipeline stage's TinT forward on a block (`dynamic-eval --distributed`, Docs/DISTRIBUTED.md): the outcome on
/// the last stage, nil on the others.
typealias TinTStageRun = (_ ids: [Int], _ trainMask: [Bool]) throws -> DescentOutcome<Float>?

/// Splits `ids` into blocks of at most `block` tokens; in each, the first ⌊f·T⌋ tokens train (a prefix mask)
/// and the rest are evaluated. Runs every method of `methods` on every block with an eval-part target. With
/// `tintStage`, the tint method runs as that pipeline stage; a stage other than the last only takes part in each
/// block's run (its evaluation holds no losses). `model` may be nil when tint is the only method and runs as
/// `tintStage` (a distributed rank holds only its stage's weights, in its executor).
///
/// - Throws: `CommandError` when no block has an eval-part target; the methods' errors.
func evaluateDescent(model: (any CausalLM)?, simulator: TinTSimulator? = nil, tintStage: TinTStageRun? = nil, ids: [Int],
                     trainFraction: Double, block: Int, config: TinTConfig, methods: [DescentMethod],
                     progress: ((Int, Int) -> Void)? = nil) throws -> DescentEvaluation {
    func wholeModel() throws -> any CausalLM {
        guard let model else { throw CommandError("internal: dynamic evaluation by \(methods.map(\.rawValue)) needs the whole model") }
        return model
    }
    // The simulator is compiled once for the whole evaluation (the command's, or here when none is passed).
    let simulator = try simulator ?? (methods.contains(.tint) && tintStage == nil ? compileSimulator(model: wholeModel(), config: config) : nil)
    var r = DescentEvaluation()
    r.comparisons = DescentEvaluation.pairs.filter { methods.contains($0.0) && methods.contains($0.1) }
        .map { ($0.0, $0.1, LogitChangeComparison()) }
    for m in methods {
        r.after[m] = EvalLoss(sum: 0, count: 0)
        r.seconds[m] = 0
    }
    let split = dynamicEvaluationBlocks(ids, block: block, trainFraction: trainFraction)
    blocks: for (i, (chunk, nTrain)) in split.enumerated() {
        defer { progress?(i + 1, split.count) }
        let mask = (0..<chunk.count).map { $0 < nTrain }
        let positions = evalTargetPositions(trainMask: mask)
        guard !positions.isEmpty else { continue }
        var outcomes: [DescentMethod: DescentOutcome<Float>] = [:]
        for m in methods {
            let t0 = Date()
            if m == .tint, let tintStage {
                guard let outcome = try tintStage(chunk, mask) else { r.blocks += 1; continue blocks }
                outcomes[m] = outcome
            } else {
                outcomes[m] = try descend(m, model: wholeModel(), simulator: simulator, ids: chunk, trainMask: mask, config: config,
                                          place: "block \(i + 1) of \(split.count)")
            }
            r.seconds[m]! += Date().timeIntervalSince(t0)
            r.after[m] = r.after[m]! + (try evalPartLoss(logits: outcomes[m]!.logitsAfter, ids: chunk, trainMask: mask))
        }
        // The unmodified model's logits: an oracle's (exact), else TinT's first forward.
        let before = outcomes[methods.first { $0 != .tint } ?? methods[0]]!.logitsBefore
        r.before = r.before + (try evalPartLoss(logits: before, ids: chunk, trainMask: mask))
        for k in r.comparisons.indices {
            let (a, b) = (r.comparisons[k].a, r.comparisons[k].b)
            try r.comparisons[k].comparison.add(before: before, outcomes[a]!.logitsAfter, outcomes[b]!.logitsAfter,
                                                positions: positions)
        }
        r.blocks += 1
        r.trainTargets += max(nTrain - 1, 0)
    }
    guard r.blocks > 0 else {
        throw CommandError("no block has an eval-part target (train fraction \(trainFraction), \(ids.count) tokens, "
                           + "block \(block))")
    }
    return r
}

/// What `dynamic-eval` and `compare` share: the model, the tokens, the block split and the TinT configuration.
struct DescentRun {
    /// The `--model` directory.
    let modelDirectory: String
    /// The model's hyper-parameters.
    let modelConfig: any CausalLMConfig
    /// The model with all its weights; nil in a distributed run, where each rank reads only its stage's tensors.
    let model: (any CausalLM)?
    let ids: [Int]
    let trainFraction: Double
    let block: Int
    let config: TinTConfig
    /// Why S and H_sim differ from the paper's, if they do.
    let configNote: String?
    /// The simulator, compiled once when the methods include tint (unless the run is distributed: each rank then
    /// builds only its stage).
    let simulator: TinTSimulator?

    static let valued: Set<String> = TinTOptions.valued.union(["--model", "--file", "--ids", "--train-fraction", "--block"])
    static let flags: Set<String> = TinTOptions.flags.union(["--json", "--quiet"])

    /// Parses the shared options and loads the model and tokens. TinT's construction rules are checked only when
    /// `methods` include the simulator, which is then compiled once here. With `distributed`, only the model's config
    /// is read and nothing is compiled: each rank builds its stage and loads its tensors.
    init(_ o: ParsedOptions, methods: [DescentMethod], distributed: Bool = false) throws {
        Progress.quiet = o.has("--quiet")
        let dir = try o.required("--model")
        _ = try o.oneOf("--file", "--ids")
        trainFraction = try o.double("--train-fraction", in: 0...1) ?? { throw ArgumentError("--train-fraction is required") }()
        if let v = o["--block"], (Int(v) ?? 0) < 2 { throw ArgumentError("--block needs an integer ≥ 2, got '\(v)'") }
        modelDirectory = dir
        model = distributed ? nil : try loadModel(dir)
        modelConfig = try model?.config ?? loadModelConfig(dir)
        block = try blockOption(o, model: modelConfig, default: 1024)
        let usesTinT = methods.contains(.tint)
        let graph = methods.contains { $0 != .exact } ? try AuxGraph(config: modelConfig) : try? AuxGraph(config: modelConfig)
        let choice = try TinTOptions.config(o, graph: graph, layers: modelConfig.numHiddenLayers, checkRules: usesTinT)
        config = choice.config
        configNote = choice.note
        if usesTinT { choice.announce() }
        if usesTinT, let model { simulator = try compileSimulator(model: model, config: choice.config) } else { simulator = nil }
        ids = try loadTokens(o, config: modelConfig, modelDirectory: dir)
    }
}

/// A number in JSON output that may be undefined (the cosine of two zero changes) or overflow Double (the
/// perplexity of a loss above ~709 nats): JSON has no NaN or infinity, so such a value is an explicit `null` —
/// the key stays present, unlike an optional, which `JSONEncoder` leaves out.
struct JSONNumber: Encodable {
    let value: Double
    func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if value.isFinite { try c.encode(value) } else { try c.encodeNil() }
    }
}

func finite(_ x: Double) -> JSONNumber { JSONNumber(value: x) }

let descentHelpCommon = "\n" + """
      --model DIR          Hugging Face model directory (OPT, GPT-2 or Llama)
      --file TEXT | --ids LIST   the text (- for stdin; tokenized with the model's tokenizer, a leading
                           byte-order mark kept as U+FEFF) or token ids
      --train-fraction F   fraction of each block used for training, in [0, 1] (e.g. 0.5)
      --block N            tokens per block (default min(1024, max_position_embeddings))
      --json               machine-readable output on stdout
      --quiet              no progress on stderr

    """ + "\n"

// MARK: - dynamic-eval

let dynamicEvalCommand = Command(
    name: "dynamic-eval",
    summary: "eval-part loss before/after a dynamic update on each block's train part (tint, approx or exact)",
    help: """
        usage: tint dynamic-eval --model DIR (--file TEXT | --ids LIST) --train-fraction F --method tint|approx|exact
                                 [TinT options] [--block N] [--json] [--quiet] [--distributed [--peer-timeout S]]

        Splits the tokens into blocks. In each block the first ⌊F·T⌋ tokens are the train part and the rest the
        eval part. Reports the mean loss (and perplexity) of the eval-part targets before and after the model is
        updated by --steps SGD steps with learning rate --lr on the SUMMED cross-entropy of the positions whose
        target token is in the train part. The model is reset for every block.

          --method tint        the TinT simulator (one forward pass of the constructed transformer)
          --method approx      the approximate GD TinT simulates, computed with Autodiff: attention probabilities
                               detached; v/out projections, fc1, fc2 and the layer-norm biases of the top N_SIM
                               layers and the final layer norm's bias move; q/k, γ, embeddings and head frozen
          --method exact       exact GD on every parameter of the top N_SIM layers and the final layer norm
          --distributed        with --method tint, under `mpirun -np N` in the MPI build (TINT_MPI=1): the layer
                               stack pipelined over the N ranks, split by parameter count (printed on stderr);
                               the last rank prints the result (Docs/DISTRIBUTED.md)
          --peer-timeout S     longest wait for a neighbouring rank, in seconds (default 600)

        """ + descentHelpCommon + TinTOptions.help,
    run: { args in
        let o = try ParsedOptions(args, valued: DescentRun.valued.union(["--method", "--peer-timeout"]),
                                  flags: DescentRun.flags.union(["--distributed"]))
        let methodName = try o.required("--method")
        guard let method = DescentMethod(rawValue: methodName) else {
            throw ArgumentError("--method must be one of \(DescentMethod.allCases.map(\.rawValue).joined(separator: ", ")), got '\(methodName)'")
        }
        if o.has("--distributed") {
            guard method == .tint else { throw ArgumentError("--distributed pipelines the TinT simulator: it needs --method tint") }
            try distributedDynamicEval(o)
            return
        }
        let run = try DescentRun(o, methods: [method])
        let r = try evaluateDescent(model: run.model, simulator: run.simulator, ids: run.ids, trainFraction: run.trainFraction, block: run.block,
                                    config: run.config, methods: [method]) { Progress.update("dynamic-eval: blocks", $0, $1) }
        try printDynamicEval(r, run: run, method: method, json: o.has("--json"))
    })

/// Prints `dynamic-eval`'s result: a table, or JSON with `json`.
func printDynamicEval(_ r: DescentEvaluation, run: DescentRun, method: DescentMethod, json: Bool) throws {
    let after = r.after[method]!
    let layers = run.config.simulatedLayers ?? run.modelConfig.numHiddenLayers
    if json {
        struct Output: Encodable {
            let method: String, blocks: Int, block: Int, train_fraction: Double, lr: Double, steps: Int, layers: Int
            let train_tokens: Int, eval_tokens: Int
            let eval_loss_before: JSONNumber, eval_loss_after: JSONNumber
            let perplexity_before: JSONNumber, perplexity_after: JSONNumber, seconds: Double
            let config: TinTConfig, config_note: String?
        }
        try printJSON(Output(method: method.rawValue, blocks: r.blocks, block: run.block, train_fraction: run.trainFraction,
                             lr: run.config.learningRate, steps: run.config.steps, layers: layers,
                             train_tokens: r.trainTargets, eval_tokens: r.before.count,
                             eval_loss_before: finite(r.before.mean), eval_loss_after: finite(after.mean),
                             perplexity_before: finite(r.before.perplexity), perplexity_after: finite(after.perplexity),
                             seconds: r.seconds[method]!, config: run.config, config_note: run.configNote))
    } else {
        try Console.out("method \(method.rawValue), \(r.blocks) block\(r.blocks == 1 ? "" : "s") of ≤ \(run.block) tokens, "
              + "train fraction \(run.trainFraction), top \(layers) layers")
        try Console.out("TinT config: \(TinTOptions.summary(run.config, auxWidth: run.modelConfig.hiddenSize))")
        try Console.out("train targets \(r.trainTargets), eval targets \(r.before.count)")
        try Console.out("             eval loss   perplexity")
        try Console.out("before       \(formatted(r.before.mean))      \(formatted(r.before.perplexity, 3))")
        try Console.out("after        \(formatted(after.mean))      \(formatted(after.perplexity, 3))")
    }
}

// MARK: - compare

let compareCommand = Command(
    name: "compare",
    summary: "TinT, the approximate-GD oracle and exact GD side by side, with the cosines of their logit changes",
    help: """
        usage: tint compare --model DIR (--file TEXT | --ids LIST) --train-fraction F [TinT options]
                            [--block N] [--json] [--quiet]

        Runs the three methods of `tint dynamic-eval` (tint, approx, exact) on the same blocks and prints their
        eval-part loss and perplexity after the update side by side, then the cosine between the methods' logit
        changes over the eval-target positions of all blocks: TinT vs exact GD, TinT vs the approximate-GD oracle
        (with TinT's relative error against it), and the oracle vs exact GD.

        """ + descentHelpCommon + TinTOptions.help,
    run: { args in
        let o = try ParsedOptions(args, valued: DescentRun.valued, flags: DescentRun.flags)
        let methods: [DescentMethod] = [.tint, .approx, .exact]
        let run = try DescentRun(o, methods: methods)
        let r = try evaluateDescent(model: run.model, simulator: run.simulator, ids: run.ids, trainFraction: run.trainFraction, block: run.block,
                                    config: run.config, methods: methods) { Progress.update("compare: blocks", $0, $1) }
        try printComparison(r, run: run, methods: methods, json: o.has("--json"))
    })

/// The output of `tint compare`.
func printComparison(_ r: DescentEvaluation, run: DescentRun, methods: [DescentMethod], json: Bool) throws {
    if json {
        struct Method: Encodable {
            let method: String, eval_loss_after: JSONNumber, perplexity_after: JSONNumber, seconds: Double
        }
        struct Pair: Encodable { let a: String, b: String, cosine: JSONNumber, relative_error_of_a_vs_b: JSONNumber }
        struct Output: Encodable {
            let blocks: Int, block: Int, train_fraction: Double, train_tokens: Int, eval_tokens: Int
            let eval_loss_before: JSONNumber, perplexity_before: JSONNumber
            let methods: [Method], comparisons: [Pair], config: TinTConfig, config_note: String?
        }
        let out = Output(
            blocks: r.blocks, block: run.block, train_fraction: run.trainFraction, train_tokens: r.trainTargets,
            eval_tokens: r.before.count, eval_loss_before: finite(r.before.mean), perplexity_before: finite(r.before.perplexity),
            methods: methods.map { Method(method: $0.rawValue, eval_loss_after: finite(r.after[$0]!.mean),
                                          perplexity_after: finite(r.after[$0]!.perplexity), seconds: r.seconds[$0]!) },
            comparisons: r.comparisons.map { Pair(a: $0.a.rawValue, b: $0.b.rawValue, cosine: finite($0.comparison.cosine),
                                                  relative_error_of_a_vs_b: finite($0.comparison.relativeError)) },
            config: run.config, config_note: run.configNote)
        try printJSON(out)
    } else {
        try Console.out("\(r.blocks) block\(r.blocks == 1 ? "" : "s") of ≤ \(run.block) tokens, train fraction \(run.trainFraction), "
              + "train targets \(r.trainTargets), eval targets \(r.before.count)")
        try Console.out("TinT config: \(TinTOptions.summary(run.config, auxWidth: run.modelConfig.hiddenSize))")
        try Console.out("             eval loss   perplexity   seconds")
        try Console.out("before       \(formatted(r.before.mean))      \(formatted(r.before.perplexity, 3))")
        for m in methods {
            let name = m.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)
            try Console.out("\(name)\(formatted(r.after[m]!.mean))      \(formatted(r.after[m]!.perplexity, 3))      "
                  + formatted(r.seconds[m]!, 2))
        }
        try Console.out("logit changes over the eval-target positions:")
        for c in r.comparisons {
            try Console.out("  cos(Δ\(c.a.rawValue), Δ\(c.b.rawValue)) = \(formatted(c.comparison.cosine, 6))   "
                  + "‖Δ\(c.a.rawValue) − Δ\(c.b.rawValue)‖/‖Δ\(c.b.rawValue)‖ = \(formatted(c.comparison.relativeError, 6))")
        }
    }
}

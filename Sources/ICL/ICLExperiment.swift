import Foundation
import LanguageModel
import Tensor

/// The settings of one in-context-learning run (the paper's protocol, Docs/ICL.md).
public struct ICLExperimentOptions: Sendable {
    /// Demonstrations per prompt (k; 0 is zero-shot).
    public var shots = 0
    /// The demonstration seeds: each draws its own k train examples, shared by every query.
    public var seeds: [UInt64] = [1, 2, 3]
    /// Which targets the inner loss counts.
    public var loss = ICLLoss.labelOnly
    /// The demonstrations as separate sequences (the authors' `single_FT`, ``ICLSeparateSequences``) instead of one
    /// concatenated context.
    public var singleFT = false
    /// Content-free calibration (Zhao et al. 2021): each label's score minus its score on the same demonstrations
    /// with the query text "N/A".
    public var calibrate = false
    /// Test examples scored (the first of the split).
    public var maxExamples = 200
    /// Validation examples used to choose η (the first of the split).
    public var maxValidationExamples = 100
    /// The η grid; with one value there is nothing to choose.
    public var learningRates: [Double] = [1e-4]

    /// The defaults.
    public init() {}
}

/// One method's result: accuracy per seed with η chosen on validation, and the authors' optimistic selection.
public struct ICLMethodResult: Sendable, Codable, Equatable {
    /// The method.
    public var method: ICLMethod
    /// η chosen on the validation split (the best mean validation accuracy over seeds; nil for `icl`).
    public var learningRate: Double?
    /// Test accuracy per seed with that η.
    public var accuracies: [Double]
    /// Validation accuracy (mean over seeds) per η of the grid, in grid order.
    public var validationAccuracies: [Double]
    /// Per seed, the best test accuracy over the η grid: the authors' selection on the evaluation set itself,
    /// reported as optimistic.
    public var optimisticAccuracies: [Double]
    /// Test prompts (over seeds and the η grid) that lost their earliest demonstrations to fit the model's
    /// positions.
    public var shortenedPrompts: Int
    /// Wall-clock seconds for this method (validation and test).
    public var seconds: Double

    /// Mean test accuracy over seeds.
    public var mean: Double { accuracies.mean }
    /// Standard deviation over seeds (population, as the paper's tables).
    public var standardDeviation: Double { accuracies.standardDeviation }
    /// Mean of ``optimisticAccuracies``.
    public var optimisticMean: Double { optimisticAccuracies.mean }
    /// Standard deviation of ``optimisticAccuracies``.
    public var optimisticStandardDeviation: Double { optimisticAccuracies.standardDeviation }
}

/// One task under several methods: demonstrations per seed, η chosen on validation, test accuracy.
public struct ICLExperiment: Sendable {
    /// The task.
    public let task: ICLTask
    /// The tokenizer of the model.
    public let tokenizer: any Tokenizer
    /// The settings.
    public let options: ICLExperimentOptions

    /// An experiment; throws `ICLTaskError.invalidArgument` for no seeds, a negative k or more shots than train
    /// examples, an empty or non-finite η grid, or non-positive example counts.
    public init(task: ICLTask, tokenizer: any Tokenizer, options: ICLExperimentOptions) throws {
        let op = "ICLExperiment"
        func check(_ ok: Bool, _ reason: String) throws { if !ok { throw ICLTaskError.invalidArgument(op: op, reason: reason) } }
        try check(!options.seeds.isEmpty, "at least one seed is needed")
        try check(options.shots >= 0 && options.shots <= task.train.count,
                  "shots must be in 0…\(task.train.count) (the train split), got \(options.shots)")
        try check(!options.learningRates.isEmpty && options.learningRates.allSatisfy(\.isFinite), "the η grid must hold finite values")
        try check(options.maxExamples > 0 && options.maxValidationExamples > 0, "the example counts must be positive")
        self.task = task
        self.tokenizer = tokenizer
        self.options = options
    }

    /// The k demonstrations of `seed`: drawn without replacement from the train split (a seeded Fisher–Yates).
    public func demonstrations(seed: UInt64) -> [ICLExample] {
        var rng = TensorRNG(seed: seed)
        var indices = Array(task.train.indices)
        for i in 0..<options.shots {
            let j = i + Int(rng.next() % UInt64(indices.count - i))
            indices.swapAt(i, j)
        }
        return indices.prefix(options.shots).map { task.train[$0] }
    }

    /// The prompt for `query` after `demonstrations`, dropping the earliest demonstrations while the prompt and its
    /// longest answer exceed `positions` tokens; returns it with the number dropped.
    public func fittingPrompt(_ demonstrations: [ICLExample], query: String, positions: Int) throws -> (ICLEncodedPrompt, dropped: Int) {
        var demos = demonstrations[...]
        while true {
            let prompt = try task.encodedPrompt(demonstrations: Array(demos), query: query, tokenizer: tokenizer)
            let length = ICLScorer.tokenCount(prompt, singleFT: options.singleFT)
            if length <= positions || demos.isEmpty { return (prompt, demonstrations.count - demos.count) }
            demos = demos.dropFirst()
        }
    }

    /// The prediction for each of `examples` (the label with the highest, optionally calibrated, score), with the
    /// demonstrations of `seed`, scored by `scorer` with `method`, and how many prompts lost demonstrations to fit
    /// the model's positions.
    public func predictions(_ examples: [ICLExample], seed: UInt64, method: ICLMethod, scorer: ICLScorer,
                            progress: (() -> Void)? = nil) throws -> (labels: [Int], shortened: Int) {
        let demos = demonstrations(seed: seed), positions = scorer.model.config.maxPositionEmbeddings
        var baseline: [Double]? = nil, shortened = 0
        if options.calibrate {
            let (prompt, _) = try fittingPrompt(demos, query: "N/A", positions: positions)
            baseline = try scorer.scores(prompt, method: method, loss: options.loss, singleFT: options.singleFT)
        }
        let labels = try examples.map { example in
            let (prompt, dropped) = try fittingPrompt(demos, query: example.text, positions: positions)
            if dropped > 0 { shortened += 1 }
            let s = calibrated(try scorer.scores(prompt, method: method, loss: options.loss, singleFT: options.singleFT),
                               baseline: baseline)
            progress?()
            return s.indices.max { s[$0] < s[$1] || (s[$0] == s[$1] && $0 > $1) }!
        }
        return (labels, shortened)
    }

    /// Runs `method` over seeds: for each η of the grid, validation and test accuracy per seed; η chosen by mean
    /// validation accuracy (the smaller on a tie). `scorer(η)` gives the scorer for one η (TinT compiles η into its
    /// Descent weights). `progress` is called after each scored example with (done, total).
    public func run(_ method: ICLMethod, scorer: (Double) throws -> ICLScorer,
                    progress: ((Int, Int) -> Void)? = nil) throws -> ICLMethodResult {
        let start = Date()
        let grid = method.learns ? options.learningRates : [options.learningRates[0]]
        let validation = Array(task.validation.prefix(options.maxValidationExamples))
        let test = Array(task.test.prefix(options.maxExamples))
        // Validation is needed only to choose among several η.
        let choose = grid.count > 1
        let total = grid.count * options.seeds.count * (test.count + (choose ? validation.count : 0))
        var done = 0
        func tick() { done += 1; progress?(done, total) }
        var validationMeans: [Double] = [], testBySeed: [[Double]] = [], shortened = 0
        for eta in grid {
            let s = try scorer(eta)
            var v: [Double] = [], t: [Double] = []
            for seed in options.seeds {
                if choose {
                    let p = try predictions(validation, seed: seed, method: method, scorer: s, progress: tick)
                    v.append(accuracy(p.labels, validation))
                }
                let p = try predictions(test, seed: seed, method: method, scorer: s, progress: tick)
                t.append(accuracy(p.labels, test))
                shortened += p.shortened
            }
            validationMeans.append(choose ? v.mean : .nan)
            testBySeed.append(t)
        }
        let best = choose ? validationMeans.indices.max { validationMeans[$0] < validationMeans[$1]
            || (validationMeans[$0] == validationMeans[$1] && grid[$0] > grid[$1]) }! : 0
        let optimistic = options.seeds.indices.map { i in testBySeed.map { $0[i] }.max()! }
        return ICLMethodResult(method: method, learningRate: method.learns ? grid[best] : nil, accuracies: testBySeed[best],
                               validationAccuracies: choose ? validationMeans : [], optimisticAccuracies: optimistic,
                               shortenedPrompts: shortened, seconds: Date().timeIntervalSince(start))
    }
}

/// `scores − baseline` (content-free calibration in log space: dividing each label's probability by its
/// probability on the content-free input), or `scores` without a baseline.
public func calibrated(_ scores: [Double], baseline: [Double]?) -> [Double] {
    guard let baseline else { return scores }
    return zip(scores, baseline).map { $0 - $1 }
}

/// The fraction of `predictions` equal to the examples' labels.
func accuracy(_ predictions: [Int], _ examples: [ICLExample]) -> Double {
    Double(zip(predictions, examples).filter { $0 == $1.label }.count) / Double(max(examples.count, 1))
}

extension Array where Element == Double {
    var mean: Double { isEmpty ? .nan : reduce(0, +) / Double(count) }
    var standardDeviation: Double {
        guard count > 1 else { return 0 }
        let m = mean
        return (map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(count)).squareRoot()
    }
}

import Autodiff
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
    /// The longest prompt in tokens (with its longest answer), below the model's positions (e.g. the context the model
    /// was trained at); nil: the model's positions.
    public var contextLimit: Int? = nil
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
    /// With one update per demonstration set (``ICLScorer/updateIsQueryIndependent(loss:singleFT:)``): the largest
    /// difference of a label score between that shared update and the method's own pass over the whole prompt, on
    /// the first test example of each seed and η; nil when every prompt ran its own update.
    public var sharedUpdateDeviation: Double? = nil
    /// The test predictions (label indices) per η of the grid, per seed, per example: what two methods' agreement is
    /// measured on.
    public var testPredictions: [[[Int]]] = []

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
        try check((options.contextLimit ?? 1) > 0, "the context limit must be positive")
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
    ///
    /// When the update does not depend on the query (``ICLScorer/updateIsQueryIndependent(loss:singleFT:)``) it is
    /// learned once per demonstration set and every query is scored with it; `deviation` is then the largest label
    /// score difference to the method's own pass over the first example's whole prompt (`checkShared`), else nil.
    /// `updates` keeps the learned weights for another call with the same seed, method and scorer (validation, then
    /// test).
    public func predictions(_ examples: [ICLExample], seed: UInt64, method: ICLMethod, scorer: ICLScorer,
                            checkShared: Bool = false, updates: ICLUpdateCache = ICLUpdateCache(),
                            progress: (() -> Void)? = nil)
        throws -> (labels: [Int], shortened: Int, deviation: Double?) {
        let demos = demonstrations(seed: seed)
        let positions = min(scorer.model.config.maxPositionEmbeddings, options.contextLimit ?? .max)
        let (loss, singleFT) = (options.loss, options.singleFT)
        let shared = method == .icl || scorer.updateIsQueryIndependent(loss: loss, singleFT: singleFT)
        var deviation: Double? = nil
        func score(_ prompt: ICLEncodedPrompt, check: Bool) throws -> [Double] {
            guard shared else { return try scorer.scores(prompt, method: method, loss: loss, singleFT: singleFT) }
            let key = prompt.ids[0..<(prompt.demonstrations.last?.upperBound ?? 0)]
            let learned = try updates.entry(Array(key)) {
                (try scorer.learnedParameters(prompt, method: method, loss: loss, singleFT: singleFT), ICLPrefixCache())
            }
            let s = try scorer.scores(prompt, parameters: learned.parameters, singleFT: singleFT, prefix: learned.prefix)
            if check && method.learns {
                let own = try scorer.scores(prompt, method: method, loss: loss, singleFT: singleFT)
                deviation = zip(s, own).reduce(deviation ?? 0) { max($0, Swift.abs($1.0 - $1.1)) }
            }
            return s
        }
        var baseline: [Double]? = nil, shortened = 0
        if options.calibrate {
            let (prompt, _) = try fittingPrompt(demos, query: "N/A", positions: positions)
            baseline = try score(prompt, check: false)
        }
        let labels = try examples.enumerated().map { i, example in
            let (prompt, dropped) = try fittingPrompt(demos, query: example.text, positions: positions)
            if dropped > 0 { shortened += 1 }
            let s = calibrated(try score(prompt, check: checkShared && i == 0), baseline: baseline)
            progress?()
            return s.indices.max { s[$0] < s[$1] || (s[$0] == s[$1] && $0 > $1) }!
        }
        return (labels, shortened, deviation)
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
        var validationMeans: [Double] = [], testBySeed: [[Double]] = [], shortened = 0, deviation: Double? = nil
        var predicted: [[[Int]]] = []
        for eta in grid {
            let s = try scorer(eta)
            var v: [Double] = [], t: [Double] = [], labels: [[Int]] = []
            for seed in options.seeds {
                let updates = ICLUpdateCache()
                if choose {
                    let p = try predictions(validation, seed: seed, method: method, scorer: s, updates: updates, progress: tick)
                    v.append(accuracy(p.labels, validation))
                }
                let p = try predictions(test, seed: seed, method: method, scorer: s, checkShared: true, updates: updates,
                                        progress: tick)
                t.append(accuracy(p.labels, test))
                labels.append(p.labels)
                shortened += p.shortened
                if let d = p.deviation { deviation = max(deviation ?? 0, d) }
            }
            validationMeans.append(choose ? v.mean : .nan)
            testBySeed.append(t)
            predicted.append(labels)
        }
        let best = choose ? validationMeans.indices.max { validationMeans[$0] < validationMeans[$1]
            || (validationMeans[$0] == validationMeans[$1] && grid[$0] > grid[$1]) }! : 0
        let optimistic = options.seeds.indices.map { i in testBySeed.map { $0[i] }.max()! }
        return ICLMethodResult(method: method, learningRate: method.learns ? grid[best] : nil, accuracies: testBySeed[best],
                               validationAccuracies: choose ? validationMeans : [], optimisticAccuracies: optimistic,
                               shortenedPrompts: shortened, seconds: Date().timeIntervalSince(start),
                               sharedUpdateDeviation: deviation, testPredictions: predicted)
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

extension ICLMethodResult {
    /// Per η of the grid, the fraction of test predictions (over seeds and examples) this method shares with `other`,
    /// run on the same grid; nil when the grids differ.
    public func agreement(with other: ICLMethodResult) -> [Double]? {
        guard testPredictions.count == other.testPredictions.count else { return nil }
        return zip(testPredictions, other.testPredictions).map { mine, theirs in
            let pairs = zip(mine.joined(), theirs.joined())
            let n = pairs.reduce(0) { n, _ in n + 1 }
            return n == 0 ? .nan : Double(pairs.filter { $0 == $1 }.count) / Double(n)
        }
    }
}

/// The weights one method learned from a seed's demonstrations (with their keys and values), kept across the
/// ``ICLExperiment/predictions(_:seed:method:scorer:checkShared:updates:progress:)`` calls of one seed. Keyed by the
/// demonstrations' tokens: a prompt that must drop its earliest demonstrations to fit (how many depends on the
/// query's length) learns from a shorter set, so a seed has a few keys; the least recently used of more than
/// `capacity` is dropped.
public final class ICLUpdateCache: @unchecked Sendable {
    private var entries: [[Int]: (parameters: ParameterSet<Float>, prefix: ICLPrefixCache)] = [:]
    private var order: [[Int]] = []
    /// The most entries kept.
    public let capacity: Int

    /// An empty cache.
    public init(capacity: Int = 8) { self.capacity = max(capacity, 1) }

    /// The entry of `key`, made by `make` when absent.
    func entry(_ key: [Int], _ make: () throws -> (ParameterSet<Float>, ICLPrefixCache))
        throws -> (parameters: ParameterSet<Float>, prefix: ICLPrefixCache) {
        if let e = entries[key] {
            order.removeAll { $0 == key }
            order.append(key)
            return e
        }
        let e = try make()
        if order.count == capacity { entries[order.removeFirst()] = nil }
        entries[key] = e
        order.append(key)
        return e
    }
}

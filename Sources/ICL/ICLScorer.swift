import Autodiff
import Foundation
import LanguageModel
import Tensor
import TinT

/// What an ICL method does with a prompt's demonstrations before it scores the labels (Docs/ICL.md).
public enum ICLMethod: String, CaseIterable, Sendable, Codable {
    /// The model as it is: in-context learning alone.
    case icl
    /// Dynamic evaluation: exact SGD on the context's loss, every parameter of the top n_sim layers.
    case exact
    /// TinT's approximate gradient descent computed with Autodiff (TinT's update set, detached attention).
    case approx
    /// The TinT simulator: one forward pass over the prompt.
    case tint

    /// Whether the method takes an inner learning rate.
    public var learns: Bool { self != .icl }
}

/// Which next-token targets of the context the inner loss counts.
public enum ICLLoss: String, CaseIterable, Sendable, Codable {
    /// Only the demonstrations' answer tokens (their label words).
    case labelOnly = "label-only"
    /// Every target inside the context: the demonstrations and the query's text.
    case context
}

/// Scores every label of a prompt under one ICL method: `log p(candidate | context)` after the method adapted the
/// model to the context. The candidates are never part of the update (they are TinT's eval tokens), so one update
/// per prompt serves every label.
public struct ICLScorer: Sendable {
    /// The model.
    public let model: any CausalLM
    /// The inner update: η (`learningRate`), `steps`, n_sim (`simulatedLayers`) and TinT's options.
    public let config: TinTConfig
    /// The compiled TinT for `.tint`, built with `config` (its η is part of the constructed Descent weights, so each
    /// η needs its own); nil: `.tint` throws.
    public let simulator: TinTSimulator?

    /// A scorer; `simulator` must be compiled from `model` (with `config`'s construction options).
    public init(model: any CausalLM, config: TinTConfig, simulator: TinTSimulator? = nil) {
        self.model = model
        self.config = config
        self.simulator = simulator
    }

    /// Whether token `i` of `prompt.ids`, as the target of position `i − 1`, is in the inner loss.
    public static func countsTarget(_ prompt: ICLEncodedPrompt, loss: ICLLoss) -> (Int) -> Bool {
        switch loss {
        case .context:
            let n = prompt.ids.count
            return { $0 >= 1 && $0 < n }
        case .labelOnly:
            var counted = Set<Int>()
            for r in prompt.demonstrationAnswers { counted.formUnion(r) }
            return { counted.contains($0) }
        }
    }

    /// `log p(candidate_c | context)` for every label `c`, after `method` updated the model on the context's
    /// `loss` with `config`'s η, steps and n_sim. With `singleFT` the demonstrations are separate sequences
    /// (``ICLSeparateSequences``): the update learns from each on its own and the query is scored on its own.
    ///
    /// - Throws: `ICLTaskError.invalidArgument` when the prompt plus a candidate is longer than the model's positions
    ///   or `.tint` has no simulator; the model's and TinT's errors.
    public func scores(_ prompt: ICLEncodedPrompt, method: ICLMethod, loss: ICLLoss, singleFT: Bool = false) throws -> [Double] {
        let op = "ICLScorer.scores"
        let longest = Self.tokenCount(prompt, singleFT: singleFT)
        guard longest <= model.config.maxPositionEmbeddings else {
            throw ICLTaskError.invalidArgument(op: op, reason: "the prompt and its longest answer take \(longest) tokens, "
                                               + "more than the model's \(model.config.maxPositionEmbeddings) positions")
        }
        if method == .tint && simulator == nil {
            throw ICLTaskError.invalidArgument(op: op, reason: "the tint method needs a compiled TinT")
        }
        if singleFT { return try separateScores(ICLSeparateSequences(prompt), method: method, loss: loss) }
        let c = config, candidates = prompt.candidates
        let counts = Self.countsTarget(prompt, loss: loss)
        switch method {
        case .icl:
            return try candidateLogProbabilities(prompt.ids, candidates) { try model.logits(TokenBatch($0)) }
        case .exact, .approx:
            let updated = try model.dynamicUpdate(prompt.ids, parameters: model.parameters, countsTarget: counts,
                                                  rule: try rule(method), learningRate: c.learningRate, steps: c.steps)
            return try candidateLogProbabilities(prompt.ids, candidates) { ids in
                try noGrad { try model.logits(TokenBatch(ids), parameters: updated.constants).value }
            }
        case .tint:
            let n = prompt.ids.count
            return try candidateLogProbabilities(prompt.ids, candidates) { ids in
                try simulator!.run(ids: ids, trainMask: ids.indices.map { $0 < n }, countsTarget: counts).logitsAfter
            }
        }
    }

    /// Whether the update a method learns from a prompt is the same for every query, so that one update per
    /// demonstration set serves them all (``learnedParameters(_:method:loss:singleFT:)``). With `label-only` the only
    /// targets are the demonstrations' answers, which a causal model computes before it reads the query: every
    /// gradient at a query token is zero, and the query's terms in the Descent's sums vanish. With `single-ft` the
    /// query is not part of the update at all. Not so with `context` (the query's text is a target), nor under
    /// `referenceCompatible` (its unmasked last position is the query's).
    public func updateIsQueryIndependent(loss: ICLLoss, singleFT: Bool) -> Bool {
        (singleFT || loss == .labelOnly) && !config.referenceCompatible
    }

    /// The weights `method` learns from `prompt`'s demonstrations alone, for a query-independent update: `exact` and
    /// `approx` by `dynamicUpdate` on the demonstrations; `tint` by one TinT forward over them (concatenated, or side
    /// by side with `singleFT`), its Descent's weights read back; `icl` and zero shots learn nothing. Scoring a query
    /// with these weights (``scores(_:parameters:singleFT:)``) is what TinT's own forward over the whole prompt
    /// computes after its Descent, whose Forward modules are exact (Docs/ICL.md, "One update per demonstration set").
    public func learnedParameters(_ prompt: ICLEncodedPrompt, method: ICLMethod, loss: ICLLoss, singleFT: Bool) throws -> ParameterSet<Float> {
        guard method.learns, let end = prompt.demonstrations.last?.upperBound else { return model.parameters }
        if method == .tint && simulator == nil {
            throw ICLTaskError.invalidArgument(op: "ICLScorer.learnedParameters", reason: "the tint method needs a compiled TinT")
        }
        let c = config
        if singleFT {
            let s = ICLSeparateSequences(prompt)
            func counts(_ d: Int, _ i: Int) -> Bool { loss == .context ? i >= 1 : s.answers[d].contains(i) }
            if method == .tint {
                let (ids, starts, counted) = Self.sideBySide(s.demonstrations, counts: counts)
                return try readBack(simulator!.run(ids: ids, trainMask: ids.map { _ in true }, countsTarget: counted,
                                                   segmentStarts: starts, readBack: true))
            }
            return try model.dynamicUpdate(sequences: s.demonstrations, parameters: model.parameters, countsTarget: counts,
                                           rule: try rule(method), learningRate: c.learningRate, steps: c.steps)
        }
        let ids = Array(prompt.ids[0..<end]), counts = Self.countsTarget(prompt, loss: loss)
        if method == .tint {
            return try readBack(simulator!.run(ids: ids, trainMask: ids.map { _ in true }, countsTarget: counts, readBack: true))
        }
        return try model.dynamicUpdate(ids, parameters: model.parameters, countsTarget: counts, rule: try rule(method),
                                       learningRate: c.learningRate, steps: c.steps)
    }

    /// Every label's `log p(candidate | context)` under the model with `parameters` (the context is the query alone
    /// with `singleFT`). With `prefix`, the keys and values of the demonstrations are computed once for every query
    /// that follows the same demonstrations under the same `parameters` (the caller keeps the pairing), and each query
    /// runs only its own tokens.
    public func scores(_ prompt: ICLEncodedPrompt, parameters: ParameterSet<Float>, singleFT: Bool,
                       prefix: ICLPrefixCache? = nil) throws -> [Double] {
        let context = singleFT ? ICLSeparateSequences(prompt).query : prompt.ids
        let constants = parameters.constants
        let shared = singleFT ? 0 : prompt.demonstrations.last?.upperBound ?? 0
        guard let prefix, shared > 0 else {
            return try candidateLogProbabilities(context, prompt.candidates) { ids in
                try noGrad { try model.logits(TokenBatch(ids), parameters: constants).value }
            }
        }
        let demonstrations = Array(context[0..<shared])
        if prefix.ids != demonstrations {
            let cache: KVCache<Float> = try model.makeCache(batchSize: 1, capacity: context.count + 16)
            _ = try noGrad { try model.logits(TokenBatch(demonstrations), parameters: constants, cache: cache, options: ForwardOptions()) }
            (prefix.ids, prefix.cache) = (demonstrations, cache)
        }
        let cache = prefix.cache!
        // Only the last rows are read, so the logits of the query's own tokens suffice.
        return try candidateLogProbabilities(context, prompt.candidates) { ids in
            try cache.truncate(to: shared)
            return try noGrad {
                try model.logits(TokenBatch(Array(ids[shared...])), parameters: constants, cache: cache, options: ForwardOptions()).value
            }
        }
    }

    private func readBack(_ outcome: DescentOutcome<Float>) throws -> ParameterSet<Float> {
        guard let p = outcome.parameters else {
            throw ICLTaskError.invalidArgument(op: "ICLScorer.learnedParameters", reason: "TinT returned no read-back weights")
        }
        return p
    }

    /// Sequences side by side for one TinT forward: their ids, each token's sequence start (``TinTState/segmentStarts``)
    /// and which targets count (`counts(sequence, index in it)`; never a token that starts a sequence).
    static func sideBySide(_ sequences: [[Int]], counts: @escaping (Int, Int) -> Bool) -> (ids: [Int], starts: [Int], counts: (Int) -> Bool) {
        var starts: [Int] = [], owner: [(Int, Int)] = []
        for (d, seq) in sequences.enumerated() {
            starts += Array(repeating: starts.count, count: seq.count)
            owner += seq.indices.map { (d, $0) }
        }
        return (sequences.flatMap { $0 }, starts, { $0 < owner.count && counts(owner[$0].0, owner[$0].1) })
    }

    /// `single-ft`: `exact`/`approx` update on the demonstrations as separate forwards (their losses summed) and score
    /// the query alone; `tint` runs one forward over the sequences side by side, each attending only to itself with
    /// its positions from 0 (``TinTExecutor/run(ids:trainMask:countsTarget:segmentStarts:readBack:)``), the
    /// demonstrations its train part; `icl` scores the query alone.
    func separateScores(_ s: ICLSeparateSequences, method: ICLMethod, loss: ICLLoss) throws -> [Double] {
        let c = config
        func counts(_ d: Int, _ i: Int) -> Bool { loss == .context ? i >= 1 : s.answers[d].contains(i) }
        switch method {
        case .icl:
            return try candidateLogProbabilities(s.query, s.candidates) { try model.logits(TokenBatch($0)) }
        case .exact, .approx:
            let updated = try model.dynamicUpdate(sequences: s.demonstrations, parameters: model.parameters, countsTarget: counts,
                                                  rule: try rule(method), learningRate: c.learningRate, steps: c.steps)
            return try candidateLogProbabilities(s.query, s.candidates) { ids in
                try noGrad { try model.logits(TokenBatch(ids), parameters: updated.constants).value }
            }
        case .tint:
            let (demos, starts, counted) = Self.sideBySide(s.demonstrations, counts: counts), n = demos.count
            return try candidateLogProbabilities(s.query, s.candidates) { query in
                let ids = demos + query
                return try simulator!.run(ids: ids, trainMask: ids.indices.map { $0 < n }, countsTarget: counted,
                                          segmentStarts: starts + Array(repeating: n, count: query.count)).logitsAfter
            }
        }
    }

    /// The tokens a prompt and its longest candidate take (laid out as separate sequences with `singleFT`).
    public static func tokenCount(_ prompt: ICLEncodedPrompt, singleFT: Bool) -> Int {
        let candidate = (prompt.candidates.map(\.count).max() ?? 1) - 1
        guard singleFT else { return prompt.ids.count + candidate }
        let s = ICLSeparateSequences(prompt)
        return s.demonstrations.reduce(s.query.count + candidate) { $0 + $1.count }
    }

    /// The exact or approximate rule for `method`.
    func rule(_ method: ICLMethod) throws -> DescentRule {
        method == .exact ? try DescentRule.exact(for: model, config: config) : try DescentRule.approximate(for: model, config: config)
    }

    /// The candidates' log-probabilities from `logits` of `context` followed by each candidate's tokens but its last
    /// (one call with the context alone when every candidate is one token). Only the last rows are read, so `logits`
    /// may prepend other tokens (``separateScores(_:method:loss:)``).
    func candidateLogProbabilities(_ context: [Int], _ candidates: [[Int]], logits: ([Int]) throws -> Tensor<Float>) throws -> [Double] {
        if candidates.allSatisfy({ $0.count == 1 }) {
            let z = try logits(context)
            let last = z.shape[z.rank - 2] - 1
            return candidates.map { logProbability(z, row: last, token: $0[0]) }
        }
        return try candidates.map { candidate in
            let z = try logits(context + candidate.dropLast())
            let first = z.shape[z.rank - 2] - candidate.count
            return candidate.enumerated().reduce(0) { $0 + logProbability(z, row: first + $1.offset, token: $1.element) }
        }
    }
}

/// `log softmax(z[row])[token]` in Double; `z` is `[T, V]` or `[1, T, V]`.
func logProbability(_ z: Tensor<Float>, row: Int, token: Int) -> Double {
    let v = z.shape[z.rank - 1]
    return z.contiguous().withUnsafeBufferPointer { p in
        let r = UnsafeBufferPointer(rebasing: p[(row * v)..<((row + 1) * v)])
        let m = Double(r.max() ?? 0)
        let sum = r.reduce(0.0) { $0 + Foundation.exp(Double($1) - m) }
        return Double(r[token]) - m - Foundation.log(sum)
    }
}

/// A prompt as separate sequences (`single-ft`, the authors' `single_FT`): each demonstration on its own and the query
/// on its own, each led by the prompt's leading tokens (its BOS, if any); the separators between demonstrations are
/// dropped.
public struct ICLSeparateSequences: Equatable, Sendable {
    /// Each demonstration's tokens.
    public var demonstrations: [[Int]]
    /// Each demonstration's answer tokens, in its own sequence.
    public var answers: [Range<Int>]
    /// The query's tokens up to its answer position.
    public var query: [Int]
    /// Each label's answer tokens.
    public var candidates: [[Int]]

    /// The sequences of `prompt`.
    public init(_ prompt: ICLEncodedPrompt) {
        let lead = Array(prompt.ids[0..<(prompt.demonstrations.first?.lowerBound ?? prompt.query.lowerBound)])
        demonstrations = prompt.demonstrations.map { lead + prompt.ids[$0] }
        answers = zip(prompt.demonstrations, prompt.demonstrationAnswers).map { d, a in
            (a.lowerBound - d.lowerBound + lead.count)..<(a.upperBound - d.lowerBound + lead.count)
        }
        query = lead + prompt.ids[prompt.query]
        candidates = prompt.candidates
    }
}

/// The keys and values of a prompt's demonstrations under one set of weights, reused by every query that follows them
/// (``ICLScorer/scores(_:parameters:singleFT:prefix:)``). Use one per set of weights.
public final class ICLPrefixCache: @unchecked Sendable {
    /// The demonstrations' tokens the cache holds.
    var ids: [Int] = []
    var cache: KVCache<Float>?

    /// An empty cache.
    public init() {}
}

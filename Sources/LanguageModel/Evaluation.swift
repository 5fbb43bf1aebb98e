import Autodiff
import Foundation
import Tensor

// Perplexity, generation and dynamic evaluation on top of the forward pass.

/// The result of ``CausalLM/perplexity(ids:block:progress:)``.
public struct Perplexity: Sendable, Codable, Equatable {
    /// Tokens predicted (every token of a block but its first).
    public var tokens: Int
    /// Blocks evaluated.
    public var blocks: Int
    /// Mean negative log-likelihood per predicted token (nats).
    public var meanNLL: Double
    /// exp(mean NLL).
    public var perplexity: Double { Foundation.exp(meanNLL) }
}

/// How ``CausalLM/generate(prompt:maxNewTokens:sampling:stopAtEOS:onToken:)`` picks each token.
public struct Sampling: Sendable, Equatable {
    /// 0 picks the most likely token (greedy); otherwise logits are divided by it before sampling.
    public var temperature: Double
    /// Sample only among the `topK` most likely tokens (`nil`: all).
    public var topK: Int?
    /// Seed of the sampler's random number generator (same seed, same tokens).
    public var seed: UInt64

    public init(temperature: Double = 0, topK: Int? = nil, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.seed = seed
    }
}

/// The settings of dynamic evaluation (the TinT paper's language-modelling protocol, with exact gradients).
public struct DynamicEvaluationOptions: Sendable, Equatable {
    /// Fraction of each block that is the train part: its first ⌊f·T⌋ tokens.
    public var trainFraction: Double
    /// η of plain SGD on the summed cross-entropy of the train-part targets.
    public var learningRate: Float
    /// SGD steps per block.
    public var steps: Int
    /// n_sim: the top layers whose parameters are updated (with the final layer norm); `nil` means all.
    public var layers: Int?
    /// Tokens per block (each block is an independent context; the model is reset between blocks).
    public var block: Int
    /// Stop the gradient at the attention probabilities (the approximate rule TinT simulates).
    public var forward: ForwardOptions

    public init(trainFraction: Double = 0.5, learningRate: Float, steps: Int = 1, layers: Int? = nil, block: Int = 1024,
                forward: ForwardOptions = ForwardOptions()) {
        self.trainFraction = trainFraction
        self.learningRate = learningRate
        self.steps = steps
        self.layers = layers
        self.block = block
        self.forward = forward
    }
}

/// The result of ``CausalLM/dynamicEvaluation(ids:options:progress:)``: eval-part loss before and after the
/// SGD steps, summed over blocks.
public struct DynamicEvaluation: Sendable, Codable, Equatable {
    /// Blocks with at least one eval-part target.
    public var blocks: Int
    /// Train-part targets (positions whose target token is in the train part), over all blocks.
    public var trainTokens: Int
    /// Eval-part targets, over all blocks.
    public var evalTokens: Int
    /// Mean NLL of the eval-part targets before the update.
    public var evalLossBefore: Double
    /// Mean NLL of the eval-part targets after the update.
    public var evalLossAfter: Double
    public var perplexityBefore: Double { Foundation.exp(evalLossBefore) }
    public var perplexityAfter: Double { Foundation.exp(evalLossAfter) }
}

extension CausalLM {
    // MARK: Perplexity

    /// Perplexity of `ids` in consecutive blocks of at most `block` tokens; each block is evaluated on its own
    /// (its first token is context only), so the result for one block equals `transformers`' loss on it.
    ///
    /// - Parameter progress: called after each block with (tokens done, tokens in all).
    /// - Throws: ``ModelError/invalidArgument(op:reason:)`` when `block` is below 2 or beyond
    ///   `max_position_embeddings`, or fewer than 2 ids are given; ``ModelError/invalidTokenID(id:vocabularySize:)``.
    public func perplexity(ids: [Int], block: Int = 1024, progress: ((Int, Int) -> Void)? = nil) throws -> Perplexity {
        let op = "perplexity"
        try checkBlock(block, op: op)
        guard ids.count >= 2 else {
            throw ModelError.invalidArgument(op: op, reason: "needs at least 2 tokens, got \(ids.count)")
        }
        try checkIDs(ids)
        var total = 0.0, tokens = 0, blocks = 0
        let p = parameters.constants
        for start in stride(from: 0, to: ids.count, by: block) {
            let chunk = Array(ids[start..<Swift.min(ids.count, start + block)])
            guard chunk.count >= 2 else { continue }
            let batch = TokenBatch(chunk)
            let r = try noGrad {
                try Layers.crossEntropy(logits(batch, parameters: p), targets: batch.nextTokenTargets(), mean: false)
            }
            total += r.sum
            tokens += r.counted
            blocks += 1
            progress?(start + chunk.count, ids.count)
        }
        return Perplexity(tokens: tokens, blocks: blocks, meanNLL: total / Double(tokens))
    }

    func checkBlock(_ block: Int, op: String) throws {
        guard block >= 2 && block <= config.maxPositionEmbeddings else {
            throw ModelError.invalidArgument(op: op, reason: "block must be in 2…\(config.maxPositionEmbeddings) "
                                           + "(max_position_embeddings), got \(block)")
        }
    }

    func checkIDs(_ ids: [Int]) throws {
        for id in ids where id < 0 || id >= config.vocabSize {
            throw ModelError.invalidTokenID(id: id, vocabularySize: config.vocabSize)
        }
    }

    // MARK: Generation

    /// Continues `prompt` by up to `maxNewTokens` tokens, one forward pass of one token per step over a KV
    /// cache. Stops early at the end-of-sequence token (with `stopAtEOS`, which is then included) or when the
    /// sequence would pass `max_position_embeddings`.
    ///
    /// - Parameter onToken: called with each new token as soon as it is chosen (for streaming output).
    /// - Returns: the new tokens (not the prompt).
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: Sampling = Sampling(), stopAtEOS: Bool = true,
                         onToken: ((Int) -> Void)? = nil) throws -> [Int] {
        let op = "generate"
        guard !prompt.isEmpty else { throw ModelError.invalidArgument(op: op, reason: "the prompt is empty") }
        guard maxNewTokens >= 0 else {
            throw ModelError.invalidArgument(op: op, reason: "maxNewTokens must not be negative, got \(maxNewTokens)")
        }
        guard sampling.temperature >= 0 && sampling.temperature.isFinite else {
            throw ModelError.invalidArgument(op: op, reason: "temperature must be finite and ≥ 0, got \(sampling.temperature)")
        }
        if let k = sampling.topK, k < 1 { throw ModelError.invalidArgument(op: op, reason: "top-k must be ≥ 1, got \(k)") }
        try checkIDs(prompt)
        guard prompt.count <= config.maxPositionEmbeddings else {
            throw ModelError.invalidArgument(op: op, reason: "the prompt has \(prompt.count) tokens but the model has "
                                           + "max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        let budget = Swift.min(maxNewTokens, config.maxPositionEmbeddings - prompt.count)
        guard budget > 0 else { return [] }
        let cache: KVCache<Float> = try makeCache(batchSize: 1, capacity: prompt.count + budget)
        var rng = TensorRNG(seed: sampling.seed)
        var out: [Int] = []
        var next = prompt
        while out.count < budget {
            let z = try logits(TokenBatch(next), cache: cache)
            let v = config.vocabSize
            let token = z.withPointer { p in
                pickToken(UnsafeBufferPointer(start: p + (next.count - 1) * v, count: v), sampling, &rng)
            }
            out.append(token)
            onToken?(token)
            if stopAtEOS && token == config.eosTokenID { break }
            next = [token]
        }
        return out
    }

    // MARK: Dynamic evaluation

    /// The parameters dynamic evaluation updates with `layers` = n_sim: every parameter of the top n_sim
    /// decoder layers and the final layer norm (embeddings, positions and projections stay frozen).
    public func dynamicEvaluationParameterNames(layers: Int?) throws -> Set<String> {
        let l = config.numHiddenLayers, n = layers ?? l
        guard n >= 0 && n <= l else {
            throw ModelError.invalidArgument(op: "dynamicEvaluation", reason: "layers (n_sim) must be in 0…\(l), got \(n)")
        }
        var names = Set(finalNormParameterNames)
        for layer in (l - n)..<l { names.formUnion(layerParameterNames(layer)) }
        return names
    }

    /// The parameters after `steps` plain SGD steps (η = `learningRate`) on the **summed** cross-entropy of the
    /// positions of `ids` whose target is among the first `trainCount` tokens, updating only `trainable`.
    public func dynamicUpdate(_ ids: [Int], trainCount: Int, learningRate: Float, steps: Int, trainable: Set<String>,
                              options: ForwardOptions = ForwardOptions()) throws -> ParameterSet<Float> {
        try dynamicUpdate(ids, parameters: parameters, trainCount: trainCount,
                          rule: DescentRule(trainable: trainable, forward: options),
                          learningRate: Double(learningRate), steps: steps)
    }

    /// The one SGD-on-the-train-part loop (dynamic evaluation, the CLI's exact method and TinT's oracles):
    /// `steps` plain SGD steps from `start` (the model's parameters, or a copy converted to Double for tighter
    /// oracles), θ ← θ − η·scale(θ)·∇θ, on the **summed** cross-entropy of the positions of `ids` whose target
    /// is among the first `trainCount` tokens, plus the last position's log-sum-exp under
    /// ``DescentRule/unmaskedLastPosition`` (when every token trains). Only `rule.trainable` moves.
    ///
    /// - Throws: ``ModelError/nonFiniteUpdate(op:step:tensor:index:value:)`` at the first step that makes a weight
    ///   NaN or infinite.
    public func dynamicUpdate<S: TensorScalar>(_ ids: [Int], parameters start: ParameterSet<S>, trainCount: Int,
                                                 rule: DescentRule, learningRate: Double, steps: Int) throws -> ParameterSet<S> {
        try dynamicUpdate(ids, parameters: start, countsTarget: { $0 < trainCount }, rule: rule, learningRate: learningRate,
                          steps: steps, unmaskLast: rule.unmaskedLastPosition && !ids.isEmpty && trainCount >= ids.count)
    }

    /// The same SGD loop with the loss over any set of targets: token `i` (`i ≥ 1`) counts as the target of
    /// position `i − 1` when `countsTarget(i)` — e.g. only the label words of in-context demonstrations. The whole
    /// sequence is the context either way. `unmaskLast` adds the last position's log-sum-exp (the reference's quirk).
    public func dynamicUpdate<S: TensorScalar>(_ ids: [Int], parameters start: ParameterSet<S>, countsTarget: (Int) -> Bool,
                                                 rule: DescentRule, learningRate: Double, steps: Int,
                                                 unmaskLast: Bool = false) throws -> ParameterSet<S> {
        try dynamicUpdate(sequences: [ids], parameters: start, countsTarget: { _, i in countsTarget(i) }, rule: rule,
                          learningRate: learningRate, steps: steps, unmaskLast: unmaskLast)
    }

    /// The SGD loop over several independent sequences (separate forwards, e.g. in-context learning's `single-ft`):
    /// the loss is the sum over sequences of their summed cross-entropy over the targets `countsTarget(s, i)` (token
    /// `i` of sequence `s` as the target of position `i − 1`); `unmaskLast` adds each sequence's last-position
    /// log-sum-exp.
    public func dynamicUpdate<S: TensorScalar>(sequences: [[Int]], parameters start: ParameterSet<S>,
                                                 countsTarget: (Int, Int) -> Bool, rule: DescentRule, learningRate: Double,
                                                 steps: Int, unmaskLast: Bool = false) throws -> ParameterSet<S> {
        let batches = sequences.filter { !$0.isEmpty }.map { TokenBatch($0) }
        let targets = withoutActuallyEscaping(countsTarget) { counts in
            batches.indices.map { s in batches[s].nextTokenTargets { _, target in counts(s, target) } }
        }
        var params = start
        // Without a counted target the loss is a constant: nothing moves.
        guard steps > 0 && !rule.trainable.isEmpty && (unmaskLast || targets.joined().contains { $0 >= 0 }) else { return params }
        for step in 1...steps {
            let (_, grads) = try valueAndGradient(of: params, trainable: rule.trainable) { p in
                var total: Variable<S>? = nil
                for (batch, target) in zip(batches, targets) where unmaskLast || target.contains(where: { $0 >= 0 }) {
                    let z = try logits(batch, parameters: p, cache: nil, options: rule.forward)
                    var loss = try Layers.crossEntropy(z, targets: target, mean: false).loss
                    if unmaskLast { loss = try loss + z.selecting(axis: 1, index: batch.length - 1).logSumExp(axis: -1).sum() }
                    total = try total.map { try $0 + loss } ?? loss
                }
                return total!
            }
            for (name, g) in grads {
                try params.update(name) { w in
                    try w -= g * S(learningRate * (rule.learningRateScale[name] ?? 1))
                    // Stop at the first NaN/inf, naming the step and tensor (a diverging η, or huge weights).
                    try requireFiniteUpdate(w, step: step, tensor: name)
                }
            }
        }
        return params
    }

    /// Dynamic evaluation: split `ids` into blocks; in each, the first ⌊f·T⌋ tokens are the train part and the
    /// rest the eval part. Report the eval-part loss (targets in the eval part, the whole block as context)
    /// before and after `steps` SGD steps on the summed cross-entropy of the train-part targets, updating the
    /// top n_sim layers and the final layer norm (``dynamicEvaluationParameterNames(layers:)``). The model is
    /// reset for every block.
    ///
    /// - Parameter progress: called after each block with (blocks done, blocks in all).
    public func dynamicEvaluation(ids: [Int], options o: DynamicEvaluationOptions,
                                  progress: ((Int, Int) -> Void)? = nil) throws -> DynamicEvaluation {
        let op = "dynamicEvaluation"
        try checkBlock(o.block, op: op)
        guard o.trainFraction >= 0 && o.trainFraction <= 1 else {
            throw ModelError.invalidArgument(op: op, reason: "the train fraction must be in [0, 1], got \(o.trainFraction)")
        }
        guard o.steps >= 0 else { throw ModelError.invalidArgument(op: op, reason: "steps must not be negative, got \(o.steps)") }
        guard o.learningRate.isFinite else { throw ModelError.invalidArgument(op: op, reason: "the learning rate must be finite") }
        try checkIDs(ids)
        let trainable = try dynamicEvaluationParameterNames(layers: o.layers)
        let split = dynamicEvaluationBlocks(ids, block: o.block, trainFraction: o.trainFraction)
        var before = 0.0, after = 0.0, evalTokens = 0, trainTokens = 0, blocks = 0
        for (i, (chunk, nTrain)) in split.enumerated() {
            let batch = TokenBatch(chunk)
            let evalTargets = batch.nextTokenTargets { _, t in t >= nTrain }
            let counted = evalTargets.filter { $0 >= 0 }.count
            guard counted > 0 else { progress?(i + 1, split.count); continue }
            func evalLoss(_ p: ParameterSet<Float>) throws -> Double {
                try noGrad { try Layers.crossEntropy(logits(batch, parameters: p.constants), targets: evalTargets, mean: false).sum }
            }
            before += try evalLoss(parameters)
            let updated = try dynamicUpdate(chunk, trainCount: nTrain, learningRate: o.learningRate, steps: o.steps,
                                            trainable: trainable, options: o.forward)
            after += try evalLoss(updated)
            evalTokens += counted
            trainTokens += Swift.max(nTrain - 1, 0)
            blocks += 1
            progress?(i + 1, split.count)
        }
        guard evalTokens > 0 else {
            throw ModelError.invalidArgument(op: op, reason: "no block has an eval-part target (train fraction \(o.trainFraction), "
                                           + "\(ids.count) tokens, block \(o.block))")
        }
        return DynamicEvaluation(blocks: blocks, trainTokens: trainTokens, evalTokens: evalTokens,
                                    evalLossBefore: before / Double(evalTokens), evalLossAfter: after / Double(evalTokens))
    }
}

/// The next token from one row of logits: argmax (temperature 0 or top-k 1), else a sample from
/// softmax(logits / T) restricted to the top k.
func pickToken(_ logits: UnsafeBufferPointer<Float>, _ s: Sampling, _ rng: inout TensorRNG) -> Int {
    var best = 0
    for i in 1..<logits.count where logits[i] > logits[best] { best = i }
    if s.temperature == 0 || s.topK == 1 { return best }
    var candidates = Array(0..<logits.count)
    if let k = s.topK, k < logits.count {
        // Stable order: larger logit first, then smaller id (deterministic under ties).
        candidates.sort { logits[$0] != logits[$1] ? logits[$0] > logits[$1] : $0 < $1 }
        candidates.removeLast(candidates.count - k)
    }
    let m = Double(logits[best])
    let weights = candidates.map { Foundation.exp((Double(logits[$0]) - m) / s.temperature) }
    let total = weights.reduce(0, +)
    var u = rng.nextUnit() * total
    for (c, w) in zip(candidates, weights) {
        u -= w
        if u < 0 { return c }
    }
    return candidates.last!
}

/// What one SGD step of a dynamic update differentiates and moves: the trainable parameters, a per-parameter
/// learning-rate factor, the forward options (detached attention probabilities or not), and whether the last
/// position's loss gradient is left unmasked (the TinT reference code's quirk). TinT builds its approximate-GD
/// rule from this (`DescentRule.approximate(for:config:)`).
public struct DescentRule: Sendable, Equatable {
    /// The parameters that move; every other parameter is a constant.
    public var trainable: Set<String>
    /// A factor on η per parameter name (absent: 1).
    public var learningRateScale: [String: Double]
    /// The forward pass the loss is differentiated through.
    public var forward: ForwardOptions
    /// When the last token is a train token, add `logsumexp(logits_{T−1})` to the loss: the gradient the
    /// reference code leaves unmasked at the last position (`gradient[:, :-1] *= mask[:, 1:]`).
    public var unmaskedLastPosition: Bool

    /// A rule from its parts.
    public init(trainable: Set<String>, learningRateScale: [String: Double] = [:],
                forward: ForwardOptions = ForwardOptions(), unmaskedLastPosition: Bool = false) {
        self.trainable = trainable
        self.learningRateScale = learningRateScale
        self.forward = forward
        self.unmaskedLastPosition = unmaskedLastPosition
    }
}

/// Dynamic evaluation's blocks: `ids` cut into consecutive blocks of at most `block` tokens, each with its
/// train-part length ⌊f·T⌋ (the first tokens train, the rest are evaluated). The one split that
/// `CausalLM.dynamicEvaluation` and `tint dynamic-eval`/`compare` share.
public func dynamicEvaluationBlocks(_ ids: [Int], block: Int, trainFraction: Double) -> [(ids: [Int], trainCount: Int)] {
    stride(from: 0, to: ids.count, by: Swift.max(block, 1)).map { start in
        let chunk = Array(ids[start..<Swift.min(ids.count, start + block)])
        return (chunk, Int((trainFraction * Double(chunk.count)).rounded(.down)))
    }
}

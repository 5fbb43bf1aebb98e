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
    /// `loss` with `config`'s η, steps and n_sim.
    ///
    /// - Throws: `ICLTaskError.invalidArgument` when the prompt plus a candidate is longer than the model's positions
    ///   or `.tint` has no simulator; the model's and TinT's errors.
    public func scores(_ prompt: ICLEncodedPrompt, method: ICLMethod, loss: ICLLoss) throws -> [Double] {
        let op = "ICLScorer.scores"
        let longest = prompt.ids.count + (prompt.candidates.map(\.count).max() ?? 1) - 1
        guard longest <= model.config.maxPositionEmbeddings else {
            throw ICLTaskError.invalidArgument(op: op, reason: "the prompt and its longest answer take \(longest) tokens, "
                                               + "more than the model's \(model.config.maxPositionEmbeddings) positions")
        }
        let c = config
        let counts = Self.countsTarget(prompt, loss: loss)
        switch method {
        case .icl:
            return try candidateLogProbabilities(prompt) { try model.logits(TokenBatch($0)) }
        case .exact, .approx:
            let rule = method == .exact ? try DescentRule.exact(for: model, config: c) : try DescentRule.approximate(for: model, config: c)
            let updated = try model.dynamicUpdate(prompt.ids, parameters: model.parameters, countsTarget: counts, rule: rule,
                                                  learningRate: c.learningRate, steps: c.steps)
            return try candidateLogProbabilities(prompt) { ids in
                try noGrad { try model.logits(TokenBatch(ids), parameters: updated.constants).value }
            }
        case .tint:
            guard let simulator else { throw ICLTaskError.invalidArgument(op: op, reason: "the tint method needs a compiled TinT") }
            let n = prompt.ids.count
            return try candidateLogProbabilities(prompt) { ids in
                try simulator.run(ids: ids, trainMask: ids.indices.map { $0 < n }, countsTarget: counts).logitsAfter
            }
        }
    }

    /// The candidates' log-probabilities from `logits` of the context followed by each candidate's tokens but its
    /// last (one call with the context alone when every candidate is one token).
    func candidateLogProbabilities(_ prompt: ICLEncodedPrompt, logits: ([Int]) throws -> Tensor<Float>) throws -> [Double] {
        let n = prompt.ids.count
        if prompt.candidates.allSatisfy({ $0.count == 1 }) {
            let z = try logits(prompt.ids)
            return prompt.candidates.map { logProbability(z, row: n - 1, token: $0[0]) }
        }
        return try prompt.candidates.map { candidate in
            let z = try logits(prompt.ids + candidate.dropLast())
            return candidate.enumerated().reduce(0) { $0 + logProbability(z, row: n - 1 + $1.offset, token: $1.element) }
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

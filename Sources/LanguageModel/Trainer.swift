import Autodiff
import Foundation
import Tensor

/// How the learning rate moves from its peak (after warm-up) to `minLearningRateRatio` × peak at the last step.
public enum LearningRateSchedule: String, Codable, CaseIterable, Sendable {
    /// Half a cosine.
    case cosine
    /// A straight line.
    case linear
    /// No decay.
    case constant
}

/// The hyper-parameters of a training run: everything that changes the weights. A resumed run must use the
/// same options to continue bit-identically.
public struct TrainingOptions: Codable, Equatable, Sendable {
    /// Optimizer steps in the whole run (the schedule spans them).
    public var steps = 1000
    /// Rows per batch.
    public var batchSize = 16
    /// Tokens per row: `</s>` followed by `context − 1` tokens of the training stream.
    public var context = 128
    /// The peak learning rate.
    public var learningRate = 1e-3
    /// Steps of linear warm-up from 0 to the peak.
    public var warmupSteps = 100
    /// The decay after warm-up.
    public var schedule = LearningRateSchedule.cosine
    /// The final learning rate as a fraction of the peak.
    public var minLearningRateRatio = 0.1
    /// AdamW's decoupled weight decay λ.
    public var weightDecay = 0.01
    /// Adam's β₁.
    public var beta1 = 0.9
    /// Adam's β₂.
    public var beta2 = 0.98
    /// Adam's ε.
    public var epsilon = 1e-8
    /// The gradient's global L2 norm is scaled down to this when larger (0: no clipping).
    public var gradientClip = 1.0
    /// Seeds the batch order (the initial weights have their own seed, see ``CausalLM/init(config:seed:)``).
    public var seed: UInt64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", context, learningRate = "learning_rate", warmupSteps = "warmup_steps"
        case schedule, minLearningRateRatio = "min_learning_rate_ratio", weightDecay = "weight_decay"
        case beta1, beta2, epsilon, gradientClip = "gradient_clip", seed
    }

    /// Throws ``ModelError/invalidArgument(op:reason:)`` for options no run can use.
    public func validate(for config: any CausalLMConfig) throws {
        func check(_ ok: Bool, _ reason: String) throws {
            if !ok { throw ModelError.invalidArgument(op: "Trainer", reason: reason) }
        }
        try check(steps >= 1, "steps must be at least 1, got \(steps)")
        try check(batchSize >= 1, "the batch size must be at least 1, got \(batchSize)")
        try check(context >= 2 && context <= config.maxPositionEmbeddings,
                  "the context must be in 2…\(config.maxPositionEmbeddings) (max_position_embeddings), got \(context)")
        try check(learningRate.isFinite && learningRate > 0, "the learning rate must be positive, got \(learningRate)")
        try check(warmupSteps >= 0, "warm-up steps must be ≥ 0, got \(warmupSteps)")
        try check((0...1).contains(minLearningRateRatio), "the minimum learning-rate ratio must be in [0, 1]")
        try check(weightDecay >= 0 && weightDecay.isFinite, "weight decay must be ≥ 0")
        try check((0..<1).contains(beta1) && (0..<1).contains(beta2), "β₁ and β₂ must be in [0, 1)")
        try check(epsilon > 0 && gradientClip >= 0, "ε must be > 0 and the gradient clip ≥ 0")
    }

    /// The learning rate of step `step` (0-based): linear warm-up, then the schedule down to the minimum.
    public func learningRate(at step: Int) -> Double {
        if step < warmupSteps { return learningRate * Double(step + 1) / Double(warmupSteps) }
        let span = max(steps - warmupSteps - 1, 1)
        let progress = min(Double(step - warmupSteps) / Double(span), 1)
        let floor = learningRate * minLearningRateRatio
        switch schedule {
        case .constant: return learningRate
        case .linear: return floor + (learningRate - floor) * (1 - progress)
        case .cosine: return floor + (learningRate - floor) * 0.5 * (1 + Foundation.cos(Double.pi * progress))
        }
    }
}

/// One entry of a run's log: the mean training loss of the step's batch, its learning rate, and the
/// validation loss when the step was evaluated.
public struct TrainingRecord: Codable, Equatable, Sendable {
    /// The step, counted from 1 (after its update).
    public var step: Int
    /// The batch's mean cross-entropy before the update.
    public var trainLoss: Double
    /// The learning rate of the update.
    public var learningRate: Double
    /// The gradient's global norm before clipping.
    public var gradientNorm: Double

    public init(step: Int, trainLoss: Double, learningRate: Double, gradientNorm: Double) {
        self.step = step
        self.trainLoss = trainLoss
        self.learningRate = learningRate
        self.gradientNorm = gradientNorm
    }

    enum CodingKeys: String, CodingKey {
        case step, trainLoss = "train_loss", learningRate = "learning_rate", gradientNorm = "gradient_norm"
    }
}

/// A validation loss measured during a run.
public struct ValidationRecord: Codable, Equatable, Sendable {
    /// The step after which it was measured.
    public var step: Int
    /// The mean next-token cross-entropy.
    public var loss: Double
    /// The rows it was measured on (the first rows of the validation stream).
    public var rows: Int

    public init(step: Int, loss: Double, rows: Int) {
        self.step = step
        self.loss = loss
        self.rows = rows
    }
}

/// Trains any ``CausalLM`` as a causal language model with AdamW, deterministically.
///
/// Each batch row is `</s>` followed by `context − 1` consecutive tokens of the training stream, at an
/// offset that is a pure function of `(seed, step, row)`: the data order needs no state beyond the step,
/// so a run resumed from a checkpoint (weights, Adam moments, step; see Trainer+Checkpoint.swift) makes
/// exactly the updates the uninterrupted run makes.
public struct Trainer {
    /// The model being trained.
    public private(set) var model: any CausalLM
    /// The run's hyper-parameters.
    public let options: TrainingOptions
    /// Steps done so far.
    public private(set) var step: Int
    /// One record per step done.
    public private(set) var history: [TrainingRecord]
    /// Validation losses recorded by the caller (kept in checkpoints).
    public var validations: [ValidationRecord] = []
    /// The training stream (token ids, no `</s>` separators).
    public let trainTokens: [Int]
    var optimizer: Adam<Float>

    /// A run at step 0.
    ///
    /// - Throws: ``ModelError/invalidArgument(op:reason:)`` for bad options, a stream shorter than one row or a
    ///   token outside the vocabulary.
    public init(model: any CausalLM, options: TrainingOptions, trainTokens: [Int]) throws {
        try self.init(model: model, options: options, trainTokens: trainTokens, step: 0, history: [],
                      moments: [:])
    }

    init(model: any CausalLM, options: TrainingOptions, trainTokens: [Int], step: Int,
         history: [TrainingRecord], moments: [String: AdamMoments<Float>]) throws {
        try options.validate(for: model.config)
        guard trainTokens.count >= options.context - 1 else {
            throw ModelError.invalidArgument(op: "Trainer", reason: "the training stream has \(trainTokens.count) tokens, fewer than one row of \(options.context - 1)")
        }
        let v = model.config.vocabSize
        if let bad = trainTokens.first(where: { $0 < 0 || $0 >= v }) { throw ModelError.invalidTokenID(id: bad, vocabularySize: v) }
        self.model = model
        self.options = options
        self.trainTokens = trainTokens
        self.step = step
        self.history = history
        optimizer = Adam<Float>.adamW(learningRate: 0, beta1: Float(options.beta1), beta2: Float(options.beta2),
                                      epsilon: Float(options.epsilon), weightDecay: Float(options.weightDecay))
        try optimizer.restore(moments: moments)
    }

    /// The beginning-of-sequence id rows start with (the config's, `</s>` = 2 for OPT).
    var bos: Int { model.config.bosTokenID ?? 2 }

    /// The rows of step `step` (0-based): deterministic in `(options.seed, step)`.
    public func batch(at step: Int) throws -> TokenBatch {
        let n = options.context - 1, positions = trainTokens.count - n + 1
        var rows: [[Int]] = []
        for r in 0..<options.batchSize {
            var x = options.seed ^ (UInt64(step) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(r) &* 0xD1B5_4A32_D192_ED03)
            let offset = Int(splitMix64(&x) % UInt64(positions))
            rows.append([bos] + trainTokens[offset..<(offset + n)])
        }
        return try TokenBatch(rows: rows)
    }

    /// Does one step: the loss and gradient of the next batch, clipping, then AdamW at the scheduled rate.
    ///
    /// - Returns: the step's record (also appended to ``history``).
    /// - Throws: ``ModelError/invalidArgument(op:reason:)`` when the loss or the gradient is not finite (the
    ///   weights are then left as they were).
    @discardableResult
    public mutating func trainStep() throws -> TrainingRecord {
        let batch = try batch(at: step)
        let model = self.model
        let (loss, raw) = try valueAndGradient(of: model.parameters) { p in try model.loss(batch, parameters: p) }
        var gradient = raw
        var sumSquares = 0.0
        for (_, g) in gradient {
            g.withUnsafeBufferPointer { p in for x in p { sumSquares += Double(x) * Double(x) } }
        }
        let norm = sumSquares.squareRoot()
        guard loss.isFinite, norm.isFinite else {
            throw ModelError.invalidArgument(op: "Trainer", reason: "step \(step + 1): the loss (\(loss)) or the gradient norm (\(norm)) is not finite; lower the learning rate")
        }
        if options.gradientClip > 0 && norm > options.gradientClip {
            let scale = Float(options.gradientClip / norm)
            var clipped = ParameterSet<Float>()
            for (name, g) in gradient { try clipped.insert(name, g * scale) }
            gradient = clipped
        }
        let lr = options.learningRate(at: step)
        optimizer.learningRate = Float(lr)
        try optimizer.update(&self.model.parameters, along: gradient)
        step += 1
        let record = TrainingRecord(step: step, trainLoss: Double(loss), learningRate: lr, gradientNorm: norm)
        history.append(record)
        return record
    }

    /// The Adam state, by parameter name.
    public var optimizerMoments: [String: AdamMoments<Float>] { optimizer.moments }
}

// MARK: - Evaluation

extension Trainer {
    /// Consecutive evaluation rows of a token stream: `</s>` followed by `context − 1` tokens each; the
    /// remainder shorter than a full row is dropped. At most `limit` rows when given.
    public static func evaluationRows(_ tokens: [Int], context: Int, bos: Int = 2, limit: Int? = nil) -> [[Int]] {
        let n = max(context - 1, 1)
        var rows: [[Int]] = []
        var start = 0
        while start + n <= tokens.count && rows.count < (limit ?? Int.max) {
            rows.append([bos] + tokens[start..<(start + n)])
            start += n
        }
        return rows
    }

    /// The mean next-token cross-entropy of `model` over `rows` (equal lengths), `batchSize` rows at a time.
    public static func meanLoss(_ model: any CausalLM, rows: [[Int]], batchSize: Int = 16) throws -> Double {
        guard !rows.isEmpty else { throw ModelError.invalidArgument(op: "Trainer.meanLoss", reason: "no rows to evaluate") }
        var total = 0.0, count = 0
        var i = 0
        while i < rows.count {
            let chunk = Array(rows[i..<min(i + max(batchSize, 1), rows.count)])
            let batch = try TokenBatch(rows: chunk)
            let sum = try noGrad { try model.loss(batch, parameters: model.parameters.constants, reduction: .sum).value.item() }
            total += Double(sum)
            count += chunk.count * (chunk[0].count - 1)
            i += chunk.count
        }
        return total / Double(count)
    }
}

/// SplitMix64: a good 64-bit mix of a counter.
@inline(__always)
func splitMix64(_ x: inout UInt64) -> UInt64 {
    x &+= 0x9E37_79B9_7F4A_7C15
    var z = x
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

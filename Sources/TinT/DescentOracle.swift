import Autodiff
import LanguageModel
import OPT
import Tensor

// The oracles TinT is held against (TINT-DESIGN §4): the approximate gradient descent TinT simulates, computed
// directly with Autodiff, and exact gradient descent on the same loss. Both update one OPT on one sequence.

// DescentMethod and DescentOutcome (shared with the TinT executor) are in DescentOutcome.swift.

/// TinT's rules for the one dynamic update (`CausalLM.dynamicUpdate(_:parameters:trainCount:rule:learningRate:steps:)`,
/// LanguageModel's `DescentRule`).
extension DescentRule {
    /// The per-layer parameters TinT updates (TINT-REFERENCE §2.8): v_proj, out_proj, fc1, fc2 (weights and
    /// biases) and the two layer-norm biases. q_proj/k_proj, every γ, the embeddings, positions, project_in/out
    /// and the head stay frozen.
    public static let tintLayerSuffixes = [
        "self_attn.v_proj.weight", "self_attn.v_proj.bias", "self_attn.out_proj.weight", "self_attn.out_proj.bias",
        "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "self_attn_layer_norm.bias", "final_layer_norm.bias",
    ]

    /// TinT's rule for any graph: the parameters TinT moves, stated once per op kind
    /// (``AuxGraph/approximateDescentParameters(config:)``: trainable linear maps' W and b, attention's value
    /// map, norms' β) in the top n_sim layers and above them, attention probabilities detached. With
    /// `config.referenceCompatible`, the bias of every moving map wider than D_aux at its input moves at
    /// (number of D_aux-wide input chunks)·η — OPT's fc2 / GPT-2's `mlp.c_proj` quirk of the reference — and the last
    /// position is unmasked.
    ///
    /// - Throws: `TinTError.invalidArgument` for `layerNormUpdate == .full` (the dense γ update TinT then makes
    ///   is not a parameter update of the model, so no oracle exists) or n_sim outside 0…L.
    public static func approximate(graph: AuxGraph, config: TinTConfig) throws -> DescentRule {
        let module = "approximateGradientDescent"
        guard config.layerNormUpdate == .biasOnly else {
            throw TinTError.invalidArgument(module: module, reason: "layerNormUpdate .full has no approximate-GD oracle: "
                                            + "TinT then adds the dense −ηΣ∇y x̂ᵀ to the diag(γ) prefix matrix, which is not "
                                            + "a parameter of the model; use .biasOnly")
        }
        let l = graph.layerCount, n = config.simulatedLayers ?? l
        guard n >= 0 && n <= l else {
            throw TinTError.invalidArgument(module: module, reason: "n_sim (simulatedLayers) must be in 0…\(l), got \(n)")
        }
        let trainable = graph.approximateDescentParameters(config: config)
        var scale: [String: Double] = [:]
        if config.referenceCompatible {
            // The reference stores b/c in each of the c input chunks of a wide map and each chunk's Descent
            // subtracts the full ηΣ∇y, so the bias moves c times as far.
            let D = graph.hiddenWidth
            for node in graph.nodes {
                guard case .linear(let m, _) = node.op, let b = m.bias, trainable.contains(b), m.inputWidth > D else { continue }
                scale[b] = Double((m.inputWidth + D - 1) / D)
            }
        }
        return DescentRule(trainable: trainable, learningRateScale: scale,
                           forward: ForwardOptions(detachAttentionProbabilities: true),
                           unmaskedLastPosition: config.referenceCompatible)
    }

    /// TinT's rule for `model`: ``approximate(graph:config:)`` on the model's graph (its family's front end).
    /// For OPT this is the top n_sim layers' ``tintLayerSuffixes`` plus the final layer norm's β, and fc2's
    /// bias at (number of D_aux-wide MLP chunks)·η with `referenceCompatible`.
    public static func approximate(for model: any CausalLM, config: TinTConfig) throws -> DescentRule {
        var rule = try approximate(graph: try AuxGraph(model: model), config: config)
        rule.trainable.formIntersection(model.parameters.names)
        return rule
    }

    /// Exact GD: every parameter of the top n_sim layers and of the final layer norm
    /// (`OPTModel.dynamicEvaluationParameterNames`), no detaching, η for all. `referenceCompatible` and
    /// `layerNormUpdate` are TinT options and do not apply.
    public static func exact(for model: any CausalLM, config: TinTConfig) throws -> DescentRule {
        let layers = try simulatedLayerRange(model, config, module: "exactGradientDescent")
        return DescentRule(trainable: try model.dynamicEvaluationParameterNames(layers: layers.count))
    }

    /// The indices of the top n_sim layers.
    static func simulatedLayerRange(_ model: any CausalLM, _ config: TinTConfig, module: String) throws -> Range<Int> {
        let l = model.config.numHiddenLayers, n = config.simulatedLayers ?? l
        guard n >= 0 && n <= l else {
            throw TinTError.invalidArgument(module: module, reason: "n_sim (simulatedLayers) must be in 0…\(l), got \(n)")
        }
        return (l - n)..<l
    }
}

/// The approximate gradient descent TinT simulates, computed directly with Autodiff: `config.steps` plain SGD
/// steps with η = `config.learningRate` on the **summed** cross-entropy over the positions t whose target t+1
/// is a train token, attention probabilities detached, updating only the parameters of
/// ``DescentRule/approximate(for:config:)``.
///
/// - Parameter trainMask: one flag per token, `true` for the train segment. It must be prefix-shaped (the
///   first n tokens train): TinT's Descent sums ∇y xᵀ over train tokens only, which equals the gradient of the
///   train-target loss only when no eval token precedes a train token.
/// - Throws: `TinTError.invalidArgument` for a mask of the wrong length or shape, `.full` LN updates, n_sim
///   outside 0…L, negative steps or a non-finite η; `TinTError.nonFiniteValue` naming the step and tensor when the
///   logits or an updated weight become NaN or infinite; OPT errors for bad token ids or a too-long sequence.
public func approximateGradientDescent(model: any CausalLM, ids: [Int], trainMask: [Bool], config: TinTConfig) throws
    -> DescentOutcome<Float> {
    try descentOutcome(model, ids, trainMask, config, rule: .approximate(for: model, config: config))
}

/// Exact gradient descent on the same loss as ``approximateGradientDescent(model:ids:trainMask:config:)``
/// (same η, steps and mask), updating every parameter of the top n_sim layers and the final layer norm, with
/// no detaching: the baseline TinT's approximation is measured against.
public func exactGradientDescent(model: any CausalLM, ids: [Int], trainMask: [Bool], config: TinTConfig) throws
    -> DescentOutcome<Float> {
    try descentOutcome(model, ids, trainMask, config, rule: .exact(for: model, config: config))
}

/// The outcome of the oracle `method` (`.approx` or `.exact`); `.tint` throws (it is the simulator's job).
public func oracleDescent(_ method: DescentMethod, model: any CausalLM, ids: [Int], trainMask: [Bool], config: TinTConfig)
    throws -> DescentOutcome<Float> {
    switch method {
    case .approx:
        return try approximateGradientDescent(model: model, ids: ids, trainMask: trainMask, config: config)
    case .exact: return try exactGradientDescent(model: model, ids: ids, trainMask: trainMask, config: config)
    case .tint:
        throw TinTError.invalidArgument(module: "oracleDescent", reason: "the tint method is the simulator, not an oracle")
    }
}

func descentOutcome(_ model: any CausalLM, _ ids: [Int], _ trainMask: [Bool], _ config: TinTConfig, rule: DescentRule) throws
    -> DescentOutcome<Float> {
    let r = try gradientDescent(model: model, parameters: model.parameters, ids: ids, trainMask: trainMask, rule: rule,
                                learningRate: config.learningRate, steps: config.steps)
    return DescentOutcome(logitsBefore: r.logitsBefore, logitsAfter: r.logitsAfter, parameters: r.parameters)
}

/// `steps` plain SGD steps under `rule` from `parameters` (LanguageModel's one `dynamicUpdate`; the model's
/// parameters, or a copy converted to Double for tighter oracles): θ ← θ − η·scale(θ)·∇θ, with the loss the summed cross-entropy of the positions whose
/// target is a train token (plus the last position's log-sum-exp under ``DescentRule/unmaskedLastPosition``).
///
/// - Returns: the logits `[T, vocab]` before and after, and every parameter after the steps.
/// - Throws: see ``approximateGradientDescent(model:ids:trainMask:config:)``.
@_specialize(where S == Float)
@_specialize(where S == Double)
public func gradientDescent<S: TensorScalar>(model: any CausalLM, parameters start: ParameterSet<S>, ids: [Int],
                                             trainMask: [Bool], rule: DescentRule, learningRate: Double, steps: Int)
    throws -> (logitsBefore: Tensor<S>, logitsAfter: Tensor<S>, parameters: ParameterSet<S>) {
    let module = "gradientDescent"
    try checkTrainMask(trainMask, tokens: ids.count, module: module)
    guard steps >= 0 else { throw TinTError.invalidArgument(module: module, reason: "steps must be ≥ 0, got \(steps)") }
    guard learningRate.isFinite else {
        throw TinTError.invalidArgument(module: module, reason: "the learning rate must be finite, got \(learningRate)")
    }
    let batch = TokenBatch(ids)
    func logits(_ p: ParameterSet<S>) throws -> Tensor<S> {
        try noGrad { try model.logits(batch, parameters: p.constants).value.squeezed(0) }
    }
    // The mask is prefix-shaped (checked above): its train tokens are the first `trainCount`.
    let trainCount = trainMask.firstIndex(of: false) ?? trainMask.count
    let params: ParameterSet<S>
    do {
        params = try model.dynamicUpdate(ids, parameters: start, trainCount: trainCount, rule: rule,
                                         learningRate: learningRate, steps: steps)
    } catch let ModelError.nonFiniteUpdate(_, step, tensor, index, value) {
        // The update loop lives in LanguageModel; report it in TinT's terms like the simulator's own check.
        throw TinTError.nonFiniteValue(module: module, step: step, tensor: tensor, index: index, value: value)
    }
    let before = try logits(start)
    try requireFinite(before, module: module, step: 0, tensor: "logits")
    guard steps > 0 else { return (before, before, params) }
    let after = try logits(params)
    try requireFinite(after, module: module, step: steps, tensor: "logits")
    return (before, after, params)
}

/// Checks that `trainMask` has one flag per token and is prefix-shaped (see
/// ``approximateGradientDescent(model:ids:trainMask:config:)`` for why).
func checkTrainMask(_ trainMask: [Bool], tokens: Int, module: String) throws {
    guard tokens > 0 else { throw TinTError.invalidArgument(module: module, reason: "the sequence is empty") }
    guard trainMask.count == tokens else {
        throw TinTError.invalidArgument(module: module, reason: "the train mask has \(trainMask.count) flags for \(tokens) tokens")
    }
    if let firstEval = trainMask.firstIndex(of: false), let late = trainMask[firstEval...].firstIndex(of: true) {
        throw TinTError.invalidArgument(
            module: module,
            reason: "the train mask must be prefix-shaped (the first n tokens train, the rest eval), but token \(late) "
                + "is train after eval token \(firstEval): TinT's Descent sums ∇y xᵀ over train tokens only, which is "
                + "the gradient of the train-target loss only when no eval token precedes a train token")
    }
}

extension ParameterSet {
    /// Every tensor converted to another scalar type (e.g. the model's Float parameters to Double for oracles
    /// with tighter tolerances).
    public func converted<T: TensorScalar>(to type: T.Type) throws -> ParameterSet<T> {
        try ParameterSet<T>(map { ($0.name, $0.tensor.converted(to: T.self)) })
    }
}

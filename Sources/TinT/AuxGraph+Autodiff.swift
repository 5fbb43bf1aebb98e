import LanguageModel
import Autodiff
import Tensor

extension AuxGraph {
    /// The aux model's logits `[T, vocab]` for `ids`, computed from the graph itself with the layer library
    /// (`Layers`, the ops every model family runs; each node by its unit's ``AuxOpUnit/evaluate``): the reference the
    /// compiled TinT is checked against for any graph. `detachAttentionProbabilities` is TinT's stop-gradient through
    /// the attention scores.
    public func logits<S: TensorScalar>(ids: [Int], parameters p: VariableSet<S>,
                                        detachAttentionProbabilities: Bool = false) throws -> Variable<S> {
        var values: [Variable<S>] = []
        for node in nodes {
            values.append(try AuxOpUnits.evaluate(node.op, inputs: node.inputs.map { values[$0] }, parameters: p, ids: ids,
                                                  detachAttentionProbabilities: detachAttentionProbabilities))
        }
        return try Layers.linear(values[output], weight: p[headWeight])
    }

    /// `config.steps` SGD steps of TinT's rule on this graph, computed with Autodiff (the approximate-GD oracle for any
    /// graph): summed cross-entropy over the targets in the train part (a prefix mask), attention probabilities
    /// detached, only ``approximateDescentParameters(config:)`` trained, η = `config.learningRate`. It computes in
    /// the parameters' scalar: with `Double` it is the reference a `Double` ``TinTExecutor`` is checked against.
    public func approximateGradientDescent<S: TensorScalar>(parameters: ParameterSet<S>, ids: [Int], trainMask: [Bool],
                                                            config: TinTConfig) throws -> DescentOutcome<S> {
        let trainable = approximateDescentParameters(config: config)
        let targets = (0..<ids.count).map { t in t + 1 < ids.count && trainMask[t + 1] ? ids[t + 1] : -100 }
        var p = parameters
        let before = try noGrad { try logits(ids: ids, parameters: p.constants).value }
        var sgd = SGD<S>(learningRate: S(config.learningRate))
        for _ in 0..<config.steps where !trainable.isEmpty {
            let (_, grads) = try valueAndGradient(of: p, trainable: trainable) { v in
                try Layers.crossEntropy(logits(ids: ids, parameters: v, detachAttentionProbabilities: true), targets: targets,
                                        mean: false).loss
            }
            try sgd.update(&p, along: grads)
        }
        let after = try noGrad { try logits(ids: ids, parameters: p.constants).value }
        return DescentOutcome(logitsBefore: before, logitsAfter: after, parameters: p)
    }
}

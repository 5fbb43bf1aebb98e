import LanguageModel
import Autodiff
import Tensor

extension AuxGraph {
    /// The aux model's logits `[T, vocab]` for `ids`, computed from the graph itself with the layer library
    /// (`Layers`, the ops every model family runs): the reference the compiled TinT is checked against for any
    /// graph. `detachAttentionProbabilities` is TinT's stop-gradient through the attention scores.
    public func logits<S: TensorScalar>(ids: [Int], parameters p: VariableSet<S>,
                                        detachAttentionProbabilities: Bool = false) throws -> Variable<S> {
        let T = ids.count
        var values: [Variable<S>] = []
        func linear(_ x: Variable<S>, _ l: AuxLinear) throws -> Variable<S> {
            try l.apply(x, p)
        }
        for node in nodes {
            let inputs = node.inputs.map { values[$0] }
            let y: Variable<S>
            switch node.op {
            case .tokenEmbedding(let w):
                y = try Layers.embedding(p[w], ids: ids, shape: [T])
            case .positionEmbedding(let w, let offset):
                y = try Layers.embedding(p[w], ids: (0..<T).map { $0 + offset }, shape: [T])
            case .linear(let l, _):
                y = try linear(inputs[0], l)
            case .layerNorm(let w, let b, let eps):
                y = try Layers.layerNorm(inputs[0], weight: try w.map { try p[$0] }, bias: try b.map { try p[$0] }, epsilon: S(eps))
            case .rmsNorm(let w, let eps):
                y = try Layers.rmsNorm(inputs[0], weight: try w.map { try p[$0] }, epsilon: S(eps))
            case .causalSelfAttention(let q, let k, let v, let heads):
                let width = q.outputWidth
                func project(_ l: AuxLinear) throws -> Variable<S> { try linear(inputs[0], l).reshaped([1, T, width]) }
                let o = try Layers.attention(q: project(q), k: project(k), v: project(v), heads: heads,
                                             scale: 1 / S(width / heads).squareRoot(), keyMask: nil,
                                             detachProbabilities: detachAttentionProbabilities)
                y = try o.reshaped([T, width])
            case .attention(let a):
                func project(_ l: AuxLinear) throws -> Variable<S> { try l.apply(inputs[0], p).reshaped([1, T, l.outputWidth]) }
                var q = try project(a.query), k = try project(a.key)
                if let r = a.rotary {
                    let rope = try RotaryEmbedding<S>(positions: Array(0..<T), headDim: r.headDim, theta: r.theta, scaling: r.scaling)
                    q = try Layers.rotary(q, rope)
                    k = try Layers.rotary(k, rope)
                }
                let o = try Layers.attention(q: q, k: k, v: project(a.value), heads: a.heads, kvHeads: a.kvHeads,
                                             scale: 1 / S(a.headDim).squareRoot(), keyMask: nil,
                                             detachProbabilities: detachAttentionProbabilities)
                y = try o.reshaped([T, a.query.outputWidth])
            case .gatedProduct(let a):
                y = try Layers.gatedActivation(gate: inputs[0], up: inputs[1], activation: a)
            case .activation(let a):
                y = try Layers.activation(inputs[0], a)
            case .add:
                y = try inputs.dropFirst().reduce(inputs[0]) { try Layers.add($0, $1) }
            }
            values.append(y)
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

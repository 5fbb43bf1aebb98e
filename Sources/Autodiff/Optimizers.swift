import Tensor

/// Updates a ``ParameterSet`` in place from a gradient ``ParameterSet`` (as returned by
/// `valueAndGradient(of:trainable:_:)`). Parameters without a gradient are left alone.
public protocol Optimizer {
    associatedtype Scalar: TensorScalar
    /// Applies one step. Throws for a gradient whose name is not a parameter or whose shape differs.
    mutating func update(_ parameters: inout ParameterSet<Scalar>, along gradient: ParameterSet<Scalar>) throws
}

extension Optimizer {
    /// The tensors to update, checked up front so a bad gradient set changes nothing.
    func checkedPairs(_ parameters: ParameterSet<Scalar>, _ gradient: ParameterSet<Scalar>) throws
        -> [(name: String, gradient: Tensor<Scalar>)] {
        try gradient.map { name, g in
            let p = try parameters.tensor(name)
            guard p.shape == g.shape else {
                throw AutodiffError.parameterShapeMismatch(name: name, expected: p.shape, got: g.shape)
            }
            return (name, g)
        }
    }
}

/// Stochastic gradient descent with PyTorch's semantics: `g ← g + λ·p` (weight decay), then with momentum μ
/// `b ← μ·b + g` (`b = g` on the first step), `g ← b`; finally `p ← p − η·g`.
///
/// TinT's inner step is plain SGD (μ = λ = 0) on the *summed* cross-entropy over the training positions, so
/// use `crossEntropy(…, reduction: .sum)` to match it.
public struct SGD<Scalar: TensorScalar>: Optimizer {
    /// η.
    public var learningRate: Scalar
    /// μ (0: none).
    public var momentum: Scalar
    /// λ, L2 penalty added to the gradient (0: none).
    public var weightDecay: Scalar
    private var velocity: [String: Tensor<Scalar>] = [:]

    public init(learningRate: Scalar, momentum: Scalar = 0, weightDecay: Scalar = 0) {
        self.learningRate = learningRate
        self.momentum = momentum
        self.weightDecay = weightDecay
    }

    public mutating func update(_ parameters: inout ParameterSet<Scalar>, along gradient: ParameterSet<Scalar>) throws {
        for (name, g) in try checkedPairs(parameters, gradient) {
            var buffer: Tensor<Scalar>? = nil
            if momentum != 0 { buffer = try velocity[name] ?? Tensor.zeros(g.shape) }
            let first = velocity[name] == nil
            try parameters.update(name) { p in
                p.withUnsafeMutableBufferPointer { pp in
                    g.withUnsafeBufferPointer { gp in
                        if buffer == nil {
                            sgdStep(pp.baseAddress!, gp.baseAddress!, nil, pp.count,
                                    learningRate, 0, weightDecay, true)
                        } else {
                            buffer!.withUnsafeMutableBufferPointer { bp in
                                sgdStep(pp.baseAddress!, gp.baseAddress!, bp.baseAddress!, pp.count,
                                        learningRate, momentum, weightDecay, first)
                            }
                        }
                    }
                }
            }
            if let buffer { velocity[name] = buffer }
        }
    }
}

/// Adam (Kingma & Ba) with PyTorch's semantics: `g ← g + λ·p` when `decoupledWeightDecay` is false (Adam's
/// L2 penalty) or `p ← p·(1 − η·λ)` when true (AdamW); `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`,
/// `p ← p − η·(m/(1−β₁ᵗ)) / (√(v/(1−β₂ᵗ)) + ε)`.
public struct Adam<Scalar: TensorScalar>: Optimizer {
    public var learningRate: Scalar
    public var beta1: Scalar
    public var beta2: Scalar
    public var epsilon: Scalar
    /// λ.
    public var weightDecay: Scalar
    /// AdamW's decoupled weight decay instead of an L2 term in the gradient.
    public var decoupledWeightDecay: Bool
    var state: [String: (step: Int, m: Tensor<Scalar>, v: Tensor<Scalar>)] = [:]  // Adam+State.swift reads and restores it

    /// Adam; PyTorch's defaults.
    public init(learningRate: Scalar = 1e-3, beta1: Scalar = 0.9, beta2: Scalar = 0.999, epsilon: Scalar = 1e-8,
                weightDecay: Scalar = 0, decoupledWeightDecay: Bool = false) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    /// AdamW (decoupled weight decay); PyTorch's defaults (λ = 0.01).
    public static func adamW(learningRate: Scalar = 1e-3, beta1: Scalar = 0.9, beta2: Scalar = 0.999,
                             epsilon: Scalar = 1e-8, weightDecay: Scalar = 0.01) -> Adam {
        Adam(learningRate: learningRate, beta1: beta1, beta2: beta2, epsilon: epsilon,
             weightDecay: weightDecay, decoupledWeightDecay: true)
    }

    public mutating func update(_ parameters: inout ParameterSet<Scalar>, along gradient: ParameterSet<Scalar>) throws {
        for (name, g) in try checkedPairs(parameters, gradient) {
            var (step, m, v) = try state[name] ?? (0, Tensor.zeros(g.shape), Tensor.zeros(g.shape))
            state[name] = nil  // so m and v are uniquely owned while they are written
            step += 1
            let t = Double(step)
            let c1 = Scalar(1 - Double.pow(Double(beta1), t)), c2 = Scalar(1 - Double.pow(Double(beta2), t))
            let hyper = AdamHyper(lr: learningRate, b1: beta1, b2: beta2, eps: epsilon, wd: weightDecay,
                                  decoupled: decoupledWeightDecay, c1: c1, c2: c2)
            try parameters.update(name) { p in
                p.withUnsafeMutableBufferPointer { pp in
                    g.withUnsafeBufferPointer { gp in
                        m.withUnsafeMutableBufferPointer { mp in
                            v.withUnsafeMutableBufferPointer { vp in
                                adamStep(pp.baseAddress!, gp.baseAddress!, mp.baseAddress!, vp.baseAddress!,
                                         pp.count, hyper)
                            }
                        }
                    }
                }
            }
            state[name] = (step, m, v)
        }
    }
}

struct AdamHyper<S: TensorScalar> {
    let lr, b1, b2, eps, wd: S
    let decoupled: Bool
    let c1, c2: S  // bias corrections 1 − βᵗ
}

@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func adamStep<S: TensorScalar>(_ p: UnsafeMutablePointer<S>, _ g: UnsafePointer<S>, _ m: UnsafeMutablePointer<S>,
                               _ v: UnsafeMutablePointer<S>, _ n: Int, _ h: AdamHyper<S>) {
    let stepSize = h.lr / h.c1, rc2 = 1 / S.sqrt(h.c2)
    for i in 0..<n {
        var gi = g[i]
        if h.decoupled { p[i] *= 1 - h.lr * h.wd } else { gi += h.wd * p[i] }
        m[i] = h.b1 * m[i] + (1 - h.b1) * gi
        v[i] = h.b2 * v[i] + (1 - h.b2) * gi * gi
        p[i] -= stepSize * m[i] / (S.sqrt(v[i]) * rc2 + h.eps)
    }
}

@_specialize(where S == Float)
@_specialize(where S == Double)
@inline(never)
func sgdStep<S: TensorScalar>(_ p: UnsafeMutablePointer<S>, _ g: UnsafePointer<S>, _ b: UnsafeMutablePointer<S>?,
                              _ n: Int, _ lr: S, _ momentum: S, _ wd: S, _ first: Bool) {
    for i in 0..<n {
        var gi = g[i] + wd * p[i]
        if let b {
            b[i] = first ? gi : momentum * b[i] + gi
            gi = b[i]
        }
        p[i] -= lr * gi
    }
}

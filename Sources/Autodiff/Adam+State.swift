import Tensor

/// One parameter's Adam state: the number of updates it has had and its two moment estimates.
public struct AdamMoments<Scalar: TensorScalar>: Sendable {
    /// Updates applied so far (t in the bias corrections 1 − βᵗ).
    public var step: Int
    /// m, the running mean of the gradient.
    public var first: Tensor<Scalar>
    /// v, the running mean of the squared gradient.
    public var second: Tensor<Scalar>

    public init(step: Int, first: Tensor<Scalar>, second: Tensor<Scalar>) {
        self.step = step
        self.first = first
        self.second = second
    }
}

// Checkpointing: a training run saves these with its weights, and restoring them makes the next update
// bit-identical to the one an uninterrupted run would have made.
extension Adam {
    /// The state of every parameter updated so far, by name.
    public var moments: [String: AdamMoments<Scalar>] {
        state.mapValues { AdamMoments(step: $0.step, first: $0.m, second: $0.v) }
    }

    /// Replaces the whole state (parameters absent from `moments` start afresh at their next update).
    ///
    /// - Throws: ``AutodiffError/invalidArgument(op:reason:)`` for a negative step or moments of different
    ///   shapes.
    public mutating func restore(moments: [String: AdamMoments<Scalar>]) throws {
        var restored: [String: (step: Int, m: Tensor<Scalar>, v: Tensor<Scalar>)] = [:]
        for (name, s) in moments {
            guard s.step >= 0, s.first.shape == s.second.shape else {
                throw AutodiffError.invalidArgument(
                    op: "Adam.restore", reason: "parameter '\(name)': step \(s.step), moment shapes \(s.first.shape) and \(s.second.shape)")
            }
            restored[name] = (s.step, s.first.contiguous(), s.second.contiguous())
        }
        state = restored
    }
}

import Autodiff
import Tensor

/// How the update on the train part is computed.
public enum DescentMethod: String, Sendable, CaseIterable { case tint, approx, exact }

/// Result of one TinT-style dynamic update of a model on one sequence, in `Scalar` (`Float`, or `Double` for the
/// end-to-end oracle).
public struct DescentOutcome<Scalar: TensorScalar>: Sendable {
    /// `[T, vocab]`, the unmodified model.
    public var logitsBefore: Tensor<Scalar>
    /// `[T, vocab]`, after `steps` SGD steps.
    public var logitsAfter: Tensor<Scalar>
    /// The updated parameters (all names), when computed.
    public var parameters: ParameterSet<Scalar>?

    /// An outcome.
    public init(logitsBefore: Tensor<Scalar>, logitsAfter: Tensor<Scalar>, parameters: ParameterSet<Scalar>? = nil) {
        self.logitsBefore = logitsBefore
        self.logitsAfter = logitsAfter
        self.parameters = parameters
    }
}

import Autodiff
import Tensor

/// How the update on the train part is computed.
public enum DescentMethod: String, Sendable, CaseIterable { case tint, approx, exact }

/// Result of one TinT-style dynamic update of an OPT on one sequence.
public struct DescentOutcome: Sendable {
    /// `[T, vocab]`, the unmodified model.
    public var logitsBefore: Tensor<Float>
    /// `[T, vocab]`, after `steps` SGD steps.
    public var logitsAfter: Tensor<Float>
    /// The updated parameters (all names), when computed.
    public var parameters: ParameterSet<Float>?

    /// An outcome.
    public init(logitsBefore: Tensor<Float>, logitsAfter: Tensor<Float>, parameters: ParameterSet<Float>? = nil) {
        self.logitsBefore = logitsBefore
        self.logitsAfter = logitsAfter
        self.parameters = parameters
    }
}

import Tensor

// A public door for ops defined outside this module (fused model kernels, e.g. OPT's attention), in the spirit
// of `torch.autograd.Function` and `jax.custom_vjp`: the caller computes the value with any Tensor code and
// supplies one pullback per differentiable input.

extension Variable {
    /// The result of a caller-defined differentiable op.
    ///
    /// `value` is the op's result; each input comes with its pullback, which maps the gradient of the result
    /// (shaped like `value`) to the gradient of that input (shaped like the input). Inputs that track no
    /// gradient are skipped, and nothing is recorded inside ``noGrad(_:)`` or when no input tracks
    /// gradients; the pullbacks then never run, so they may capture forward intermediates freely (check
    /// ``isRecorded(_:)`` first to avoid computing intermediates no one will use).
    public static func differentiable(value: Tensor<Scalar>,
                                      inputs: [(Variable, (Tensor<Scalar>) throws -> Tensor<Scalar>)]) -> Variable {
        record(value, inputs)
    }

    /// Whether an op on `inputs` would be recorded now: recording is on and at least one input tracks
    /// gradients.
    public static func isRecorded(_ inputs: [Variable]) -> Bool {
        GradientMode.isRecording && inputs.contains { $0.node != nil }
    }
}

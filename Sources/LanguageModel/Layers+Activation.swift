import Autodiff
import Tensor

extension Layers {
    /// `act(x)` elementwise as its own op (the activation `linear(…activation:)` fuses into its GEMM), with the
    /// same kernels: Tensor's one implementation of each activation and of its derivative.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func activation<S>(_ x: Variable<S>, _ kind: Activation) throws -> Variable<S> {
        let xv = x.value.contiguous()
        var y = xv
        y.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { lmActivate(kind, p, $0.count) } }
        guard Variable.isRecorded([x]) else { return Variable(y) }
        let saved = kind == .relu ? y : xv  // ReLU's backward masks by the output, the others read the input
        return Variable.differentiable(value: y, inputs: [(x, { g in
            var gp = g.contiguous()
            saved.withPointer { s in
                gp.withUnsafeMutableBufferPointer { if let p = $0.baseAddress { lmActivationBackward(kind, saved: s, p, $0.count) } }
            }
            return gp
        })])
    }
}

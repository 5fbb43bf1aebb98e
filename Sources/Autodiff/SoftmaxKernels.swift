import Tensor

// The softmax pullback over the last axis, dx = y ⊙ (g − Σ g⊙y), split over threads by rows; each row is Tensor's
// one softmax-backward kernel (`softmaxPullbackRows`, beside the forward in Tensor+Softmax.swift): two reads and
// one write per element instead of four passes and three temporaries.

/// dx for softmax output `y` and output gradient `g` along the last axis (same shapes).
func softmaxLastAxisPullback<S: TensorScalar>(y: Tensor<S>, g: Tensor<S>) throws -> Tensor<S> {
    let n = y.shape.last ?? 1
    let rows = n == 0 ? 0 : y.count / n
    let yc = y.contiguous(), gc = g.contiguous()
    var out = try Tensor<S>.zeros(y.shape)
    yc.withUnsafeBufferPointer { yp in
        gc.withUnsafeBufferPointer { gp in
            out.withUnsafeMutableBufferPointer { op in
                let ys = UncheckedSendable(yp.baseAddress!), gs = UncheckedSendable(gp.baseAddress!), os = UncheckedSendable(op.baseAddress!)
                parallelChunks(count: rows, grain: rowGrain(n)) { r in
                    let off = r.lowerBound &* n
                    softmaxPullbackRows(ys.value + off, gs.value + off, os.value + off, rows: r.count, n: n)
                }
            }
        }
    }
    return out
}

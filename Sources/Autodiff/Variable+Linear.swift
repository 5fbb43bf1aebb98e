import Tensor

// Matrix products. Pullbacks are matmuls on transposed views (no transposed copies); a weight shared by a
// batch gets its gradient from one tall GEMM over the flattened batch instead of a per-batch sum.

extension Variable {
    /// The matrix product with NumPy/PyTorch `matmul` semantics (see `Tensor.matmul`): batch dimensions
    /// broadcast, a rank-1 operand is a row (left) or column (right) vector.
    public func matmul(_ other: Variable) throws -> Variable {
        if rank == 1 { return try unsqueezed(0).matmul(other).squeezed(other.rank == 1 ? -1 : -2) }
        if other.rank == 1 { return try matmul(other.unsqueezed(1)).squeezed(-1) }
        let (a, b) = (value, other.value)
        return Variable.record(try a.matmul(b),
            self, { g in try g.matmul(b, transposeA: false, transposeB: true).unbroadcast(to: a.shape) },
            other, { g in
                if b.rank == 2 && a.rank > 2 {  // Σ over the batch of aᵢᵀ·gᵢ as one GEMM: [k, B·m]·[B·m, n]
                    let k = a.shape[a.rank - 1], n = g.shape[g.rank - 1]
                    return try a.reshaped([-1, k]).matmul(try g.reshaped([-1, n]), transposeA: true, transposeB: false)
                }
                return try a.matmul(g, transposeA: true, transposeB: false).unbroadcast(to: b.shape)
            })
    }

    /// `self · weightᵀ + bias` (PyTorch's `F.linear`): `self` is `[..., in]`, `weight` `[out, in]`, `bias` `[out]`.
    public func linear(weight: Variable, bias: Variable? = nil) throws -> Variable {
        let (x, w) = (value, weight.value)
        let y = try x.linear(weight: w, bias: bias?.value)
        let outF = w.shape[0], inF = w.shape[1]
        var inputs: [(Variable, Node<Scalar>.Pullback)] = [
            (self, { g in try g.matmul(w) }),
            (weight, { g in  // Σ over rows of gᵣ xᵣᵀ: [out, rows]·[rows, in]
                try g.reshaped([-1, outF]).matmul(try x.reshaped([-1, inF]), transposeA: true, transposeB: false)
            }),
        ]
        if let bias {
            let lead = Array(0..<(x.rank - 1))
            inputs.append((bias, { g in lead.isEmpty ? g : try g.sum(axes: lead) }))
        }
        return Variable.record(y, inputs)
    }
}

import Tensor

// Layout ops. Forwards are Tensor views; each pullback puts the gradient back into the input's layout.

extension Variable {
    /// ``Tensor/reshaped(_:)``; the gradient is reshaped back.
    public func reshaped(_ newShape: [Int]) throws -> Variable {
        let s = shape
        return Variable.record(try value.reshaped(newShape), self) { g in try g.reshaped(s) }
    }

    /// ``Tensor/permuted(_:)``; the gradient goes through the inverse permutation.
    public func permuted(_ axes: [Int]) throws -> Variable {
        let y = try value.permuted(axes)
        var inverse = [Int](repeating: 0, count: axes.count)
        for (i, a) in axes.enumerated() { inverse[a < 0 ? a + axes.count : a] = i }
        return Variable.record(y, self) { g in try g.permuted(inverse) }
    }

    /// Swaps two dimensions.
    public func transposed(_ a: Int, _ b: Int) throws -> Variable {
        let y = try value.transposed(a, b)
        return Variable.record(y, self) { g in try g.transposed(a, b) }
    }

    /// Swaps the last two dimensions.
    public func transposed() throws -> Variable {
        let y = try value.transposed()
        return Variable.record(y, self) { g in try g.transposed() }
    }

    /// ``Tensor/sliced(axis:_:step:)``; the gradient is zero outside the slice. When the input already has a
    /// gradient (the pieces of a ``split(sizes:axis:)``), the slice's gradient is added into it in place instead
    /// of building another full-size tensor that is mostly zeros.
    public func sliced(axis: Int, _ range: Range<Int>, step: Int = 1) throws -> Variable {
        let y = try value.sliced(axis: axis, range, step: step)
        let s = shape
        let a = try normalizedAxis(axis, op: "sliced")
        func addInto(_ out: inout Tensor<Scalar>, _ g: Tensor<Scalar>) throws {
            try out.indexAdd(g, indices: Array(stride(from: range.lowerBound, to: range.upperBound, by: step)), axis: a)
        }
        return Variable.record(y, self, { g in
            var out = try Tensor<Scalar>.zeros(s)
            if step == 1 { try out.assign(g, axis: a, range) } else { try addInto(&out, g) }
            return out
        }, addInto: addInto)
    }

    /// ``Tensor/selecting(axis:index:)``; the gradient is zero except at `index` (added in place into an
    /// existing gradient, as in ``sliced(axis:_:step:)``).
    public func selecting(axis: Int, index: Int) throws -> Variable {
        let y = try value.selecting(axis: axis, index: index)
        let s = shape
        let a = axis < 0 ? axis + s.count : axis
        let i = index < 0 ? index + s[a] : index
        func addInto(_ out: inout Tensor<Scalar>, _ g: Tensor<Scalar>) throws {
            try out.indexAdd(try g.unsqueezed(a), indices: [i], axis: a)
        }
        return Variable.record(y, self, { g in
            var out = try Tensor<Scalar>.zeros(s)
            try out.assign(try g.unsqueezed(a), axis: a, i..<(i + 1))
            return out
        }, addInto: addInto)
    }

    /// Inserts a dimension of size 1.
    public func unsqueezed(_ axis: Int) throws -> Variable {
        let s = shape
        return Variable.record(try value.unsqueezed(axis), self) { g in try g.reshaped(s) }
    }

    /// Removes dimension `axis` (of size 1).
    public func squeezed(_ axis: Int) throws -> Variable {
        let s = shape
        return Variable.record(try value.squeezed(axis), self) { g in try g.reshaped(s) }
    }

    /// ``Tensor/expanded(to:)`` (broadcast by stride 0); the gradient is summed over the broadcast dimensions.
    public func expanded(to newShape: [Int]) throws -> Variable {
        let s = shape
        return Variable.record(try value.expanded(to: newShape), self) { g in try g.unbroadcast(to: s) }
    }
}

extension Variable {
    /// The variables joined along `axis` (``Tensor/concatenated(_:axis:)``); each gets its slice of the gradient.
    public static func concatenated(_ parts: [Variable], axis: Int) throws -> Variable {
        let y = try Tensor.concatenated(parts.map(\.value), axis: axis)
        let a = axis < 0 ? axis + y.rank : axis
        var start = 0
        return record(y, parts.map { p in
            let range = start..<(start + p.shape[a])
            start = range.upperBound
            return (p, { g in try g.sliced(axis: a, range) })
        })
    }

    /// The variables (same shape) joined along a new dimension at `axis`.
    public static func stacked(_ parts: [Variable], axis: Int = 0) throws -> Variable {
        guard let first = parts.first else { return Variable(try Tensor.stacked([], axis: axis)) }
        let a = axis < 0 ? axis + first.rank + 1 : axis
        return try concatenated(try parts.map { try $0.unsqueezed(a) }, axis: a)
    }

    /// Consecutive pieces of `sizes[i]` along `axis` (views of the value; each gradient is zero outside
    /// its piece).
    public func split(sizes: [Int], axis: Int) throws -> [Variable] {
        let pieces = try value.split(sizes: sizes, axis: axis)
        let a = try normalizedAxis(axis, op: "split")
        var start = 0
        return try pieces.map { piece in
            defer { start += piece.shape[a] }
            return try sliced(axis: a, start..<(start + piece.shape[a]))
        }
    }

    /// `count` equal pieces along `axis`.
    public func split(count: Int, axis: Int) throws -> [Variable] {
        let pieces = try value.split(count: count, axis: axis)
        return try split(sizes: pieces.map { $0.shape[axis < 0 ? axis + rank : axis] }, axis: axis)
    }
}

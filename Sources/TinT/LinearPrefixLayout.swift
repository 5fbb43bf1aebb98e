import Tensor

/// How a linear map `y = Wx + b` (`W: d_out × d_in`) is stored in the K prefix rows (Docs/TINT.md §1):
/// **strided rows** — prefix `p`, slot `s < R = d_out/K` holds row `w_{sK+p}` at `[s·d_in, (s+1)·d_in)` — and
/// the bias in prefix 0 at `[R·d_in, R·d_in + d_out)` (zeros in the other prefixes).
public enum LinearPrefixLayout {
    /// The `[K, D_sim]` prefix tensor holding `weight` (`[d_out, d_in]`) and `bias` (`[d_out]`, zeros if nil).
    // Specialised: unspecialised, its element loops cost a metadata lookup per element (seconds per OPT-125M encode).
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func encode<S: TensorScalar>(weight: Tensor<S>, bias: Tensor<S>?, config: SimulatorSpec) throws -> Tensor<S> {
        guard weight.rank == 2 else {
            throw TinTError.invalidArgument(module: "LinearPrefixLayout.encode", reason: "weight must be [d_out, d_in], got \(weight.shape)")
        }
        let dOut = weight.shape[0], dIn = weight.shape[1]
        try config.validateMap(inputWidth: dIn, outputWidth: dOut)
        if let bias { try requireShape(bias, [dOut], module: "LinearPrefixLayout.encode", what: "bias") }
        let K = config.prefixCount, W = config.simWidth, R = dOut / K
        let w = weight.scalars, b = bias?.scalars
        var out = [S](repeating: 0, count: K * W)
        for p in 0..<K {
            for s in 0..<R {
                let row = s * K + p
                for i in 0..<dIn { out[p * W + s * dIn + i] = w[row * dIn + i] }
            }
        }
        if let b { for i in 0..<dOut { out[R * dIn + i] = b[i] } }
        return try Tensor(shape: [K, W], scalars: out)
    }

    /// The layer-norm prefixes: `diag(γ)` and `β`.
    public static func encodeLayerNorm<S: TensorScalar>(gamma: Tensor<S>, beta: Tensor<S>, config: SimulatorSpec) throws -> Tensor<S> {
        let D = gamma.count
        try requireShape(gamma, [D], module: "LinearPrefixLayout.encodeLayerNorm", what: "γ")
        try requireShape(beta, [D], module: "LinearPrefixLayout.encodeLayerNorm", what: "β")
        var diag = [S](repeating: 0, count: D * D)
        let g = gamma.scalars
        for i in 0..<D { diag[i * D + i] = g[i] }
        return try encode(weight: try Tensor(shape: [D, D], scalars: diag), bias: beta, config: config)
    }

    /// Reads `(weight [d_out, d_in], bias [d_out])` back out of a prefix tensor.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    public static func decode<S: TensorScalar>(_ prefixes: Tensor<S>, inputWidth dIn: Int, outputWidth dOut: Int,
                                               config: SimulatorSpec) throws -> (weight: Tensor<S>, bias: Tensor<S>) {
        try config.validateMap(inputWidth: dIn, outputWidth: dOut)
        let K = config.prefixCount, W = config.simWidth, R = dOut / K
        try requireShape(prefixes, [K, W], module: "LinearPrefixLayout.decode", what: "prefixes")
        let p = prefixes.scalars
        var w = [S](repeating: 0, count: dOut * dIn)
        for q in 0..<K { for s in 0..<R { for i in 0..<dIn { w[(s * K + q) * dIn + i] = p[q * W + s * dIn + i] } } }
        let b = Array(p[(R * dIn)..<(R * dIn + dOut)])
        return (try Tensor(shape: [dOut, dIn], scalars: w), try Tensor(shape: [dOut], scalars: b))
    }
}

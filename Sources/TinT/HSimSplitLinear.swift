import Tensor

/// The H_sim-split linear layer: a `width × width` linear map restricted to a cross-head mix followed by a
/// per-head block map, `y = (x·Mix)·Block + bias`.
///
/// A `width`-wide row is split into `heads` heads of `headWidth = width/heads` coordinates. The **cross-head
/// mix** has, for every within-head coordinate `r`, an `H × H` matrix: `z[h'·d + r] = Σ_h mix[h, h', r]·x[h·d + r]`
/// (`width·heads` weights). The **block map** has one `d × d` matrix per head:
/// `y[h·d + r'] = Σ_r z[h·d + r]·block[h, r, r'] + bias[h·d + r']` (`width²/heads` weights). Together
/// `width²/H + width·H (+ width)` parameters instead of `width²` for a dense layer (Docs/TINT.md §2).
///
/// Either map may be absent (`nil`), meaning the identity: it is then neither stored, computed nor counted.
/// The mix is applied by a SIMD kernel that skips input heads with no weight into an output-head group (so
/// the selector mixes TinT constructs cost one pass over the data); the block map is one GEMM per head on
/// the strided head columns of the mixed rows.
public struct HSimSplitLinear<Scalar: TensorScalar>: Sendable {
    /// The row width (D_sim for the simulator's maps).
    public let width: Int
    /// The number of heads.
    public let heads: Int
    /// The cross-head mix, shape `[heads, heads, headWidth]` (`mix[h, h', r]`), or nil for the identity.
    public let mix: Tensor<Scalar>?
    /// The per-head block maps, shape `[heads, headWidth, headWidth]` (`block[h, r, r']`), or nil for the identity.
    public let block: Tensor<Scalar>?
    /// The bias added after the block map, shape `[width]`, or nil.
    public let bias: Tensor<Scalar>?
    let pattern: MixPattern?

    /// The width of one head.
    public var headWidth: Int { width / heads }

    /// A split layer from its parts. Throws when `width` is not divisible by `heads` or a part has the wrong shape.
    public init(width: Int, heads: Int, mix: Tensor<Scalar>? = nil, block: Tensor<Scalar>? = nil,
                bias: Tensor<Scalar>? = nil) throws {
        let op = "HSimSplitLinear"
        guard width > 0, heads > 0, width % heads == 0 else {
            throw TinTError.invalidArgument(module: op, reason: "width \(width) must be a positive multiple of heads \(heads)")
        }
        let d = width / heads
        if let mix { try requireShape(mix, [heads, heads, d], module: op, what: "mix") }
        if let block { try requireShape(block, [heads, d, d], module: op, what: "block") }
        if let bias { try requireShape(bias, [width], module: op, what: "bias") }
        self.width = width
        self.heads = heads
        self.mix = mix?.contiguous()
        self.block = block?.contiguous()
        self.bias = bias?.contiguous()
        self.pattern = self.mix.map { m in m.withUnsafeBufferPointer { MixPattern(mix: $0, heads: heads, headWidth: d) } }
    }

    /// A layer with every part drawn from a normal distribution (benchmarks and tests).
    public static func random(width: Int, heads: Int, mixStd: Scalar = 0.3, blockStd: Scalar? = nil,
                              bias: Bool = true, using rng: inout TensorRNG) throws -> HSimSplitLinear {
        guard heads > 0, width % heads == 0 else {
            throw TinTError.invalidArgument(module: "HSimSplitLinear.random",
                                            reason: "width \(width) must be a positive multiple of heads \(heads)")
        }
        let d = width / heads
        let bstd = blockStd ?? Scalar(1 / Double(d).squareRoot())
        return try HSimSplitLinear(
            width: width, heads: heads,
            mix: try Tensor.normal([heads, heads, d], std: mixStd, using: &rng),
            block: try Tensor.normal([heads, d, d], std: bstd, using: &rng),
            bias: bias ? try Tensor.normal([width], std: 0.1, using: &rng) : nil)
    }

    /// Parameters held: `width·heads` for the mix, `width²/heads` for the block map, `width` for the bias,
    /// each only when present.
    public var parameterCount: Int {
        (mix == nil ? 0 : width * heads) + (block == nil ? 0 : width * headWidth) + (bias == nil ? 0 : width)
    }

    /// The parameter count of a layer with all three parts: `width²/heads + width·heads + width`.
    public static func parameterCount(width: Int, heads: Int) -> Int {
        width * (width / heads) + width * heads + width
    }

    /// Multiply-adds per row: `width·heads` (mix) + `width²/heads` (block map); what a dense layer does in `width²`.
    public var multiplyAddsPerRow: Int {
        (mix == nil ? 0 : width * heads) + (block == nil ? 0 : width * headWidth)
    }

    /// The FLOPs `apply` executes on `rows` rows: 2 per multiply-add of the mix (only the head pairs its pattern
    /// reads) and of the block map.
    func flops(rows: Int) -> Int {
        2 * rows * ((pattern?.pairCount ?? 0) * headWidth + (block == nil ? 0 : width * headWidth))
    }

    /// Applies the layer to the last dimension of `x` (shape `[..., width]`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func callAsFunction(_ x: Tensor<Scalar>) throws -> Tensor<Scalar> {
        guard x.rank >= 1, x.shape[x.rank - 1] == width else {
            throw TinTError.shapeMismatch(module: "HSimSplitLinear", expected: [-1, width], got: x.shape, what: "input")
        }
        let rows = x.count / Swift.max(width, 1)
        var out = try! Tensor<Scalar>.zeros(x.shape)
        x.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                apply(s, ldx: width, rows: rows, into: d, ldo: width, accumulate: false)
            }
        }
        return out
    }

    /// Writes `self(x)` into `out` (both `[rows, width]`, `out` reused so repeated calls allocate nothing big).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public func callAsFunction(_ x: Tensor<Scalar>, into out: inout Tensor<Scalar>) throws {
        guard x.rank == 2, x.shape[1] == width else {
            throw TinTError.shapeMismatch(module: "HSimSplitLinear", expected: [-1, width], got: x.shape, what: "input")
        }
        try requireShape(out, x.shape, module: "HSimSplitLinear", what: "output")
        apply(x, into: &out, accumulate: false)
    }

    /// The dense `width × width` matrix `M` with `layer(x) = x·M + bias`.
    public func denseMatrix() throws -> Tensor<Scalar> {
        let d = headWidth, H = heads, W = width
        var m = try Tensor<Scalar>(shape: [W, W], repeating: 0)
        let mixS = mix?.scalars, blockS = block?.scalars
        m.withUnsafeMutableBufferPointer { p in
            for h in 0..<H {
                for hp in 0..<H {
                    for r in 0..<d {
                        let a = mixS.map { $0[(h * H + hp) * d + r] } ?? (h == hp ? 1 : 0)
                        if a == 0 { continue }
                        if let blockS {
                            for rp in 0..<d { p[(h * d + r) * W + hp * d + rp] += a * blockS[(hp * d + r) * d + rp] }
                        } else {
                            p[(h * d + r) * W + hp * d + r] += a
                        }
                    }
                }
            }
        }
        return m
    }

    /// `out[n] (+)= layer(x[n])` for `rows` rows `ldx`/`ldo` apart. `out` must not overlap `x`.
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func apply(_ x: UnsafePointer<Scalar>, ldx: Int, rows: Int, into out: UnsafeMutablePointer<Scalar>, ldo: Int,
               accumulate: Bool) {
        if rows == 0 { return }
        let W = width
        if let block {
            if mix != nil {
                // Mix all rows first, then full-height GEMMs per head: measured faster than interleaving short
                // row blocks (the per-head GEMMs then pack each block map once and run at full speed).
                ScratchCache.withBuffer(count: rows * width, of: Scalar.self) { scratch in
                    applyMix(x, ldx: ldx, rows: rows, into: scratch, ldz: width, accumulate: false)
                    applyBlock(block, UnsafePointer(scratch), ldz: width, rows: rows, into: out, ldo: ldo,
                               accumulate: accumulate)
                }
            } else {
                applyBlock(block, x, ldz: ldx, rows: rows, into: out, ldo: ldo, accumulate: accumulate)
            }
        } else if mix != nil {
            applyMix(x, ldx: ldx, rows: rows, into: out, ldz: ldo, accumulate: accumulate)
        } else {
            let p = UncheckedSendable((x, out))
            parallelChunks(count: rows, grain: rowCopyGrain(width: W)) { range in
                for n in range {
                    let o = p.value.1 + n * ldo, s = p.value.0 + n * ldx
                    if accumulate { for i in 0..<W { o[i] += s[i] } } else { o.update(from: s, count: W) }
                }
            }
        }
        if let bias {
            bias.withUnsafeBufferPointer { b in
                let p = UncheckedSendable((out, b.baseAddress!))
                parallelChunks(count: rows, grain: rowCopyGrain(width: W)) { range in
                    for n in range {
                        let o = p.value.0 + n * ldo
                        for i in 0..<W { o[i] += p.value.1[i] }
                    }
                }
            }
        }
    }

    /// The cross-head mix alone, over the output heads of `pattern` (the layer's, or a restriction of it).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    func applyMix(_ x: UnsafePointer<Scalar>, ldx: Int, rows: Int, into z: UnsafeMutablePointer<Scalar>,
                  ldz: Int, accumulate: Bool, pattern restricted: MixPattern? = nil) {
        guard let mix, let pattern = restricted ?? pattern else { return }
        let H = heads, d = headWidth
        // Chunks of at least ~100k multiply-adds (~25 µs, a few thread wake-ups): a 256-row mix of a one-pair-per-head
        // pattern (256 × 12 × 256) then splits over two threads. Larger chunks left it serial, 13% of the TinT
        // forward's CPU time at 2 threads.
        let grain = Swift.max(1, 100_000 / Swift.max(1, pattern.pairCount * d))
        ProductTally.record(2 * rows * pattern.pairCount * d)
        let xs = UncheckedSendable(x), zs = UncheckedSendable(z)
        mix.withUnsafeBufferPointer { m in
            let mp = UncheckedSendable(m.baseAddress!)
            parallelChunks(count: rows, grain: grain) { range in
                let xr = xs.value + range.lowerBound * ldx, zr = zs.value + range.lowerBound * ldz
                if Scalar.self == Float.self {
                    mixRowsFloat(UnsafeRawPointer(xr).assumingMemoryBound(to: Float.self), ldx: ldx,
                                 UnsafeMutableRawPointer(zr).assumingMemoryBound(to: Float.self), ldz: ldz,
                                 rows: range.count, mix: UnsafeRawPointer(mp.value).assumingMemoryBound(to: Float.self),
                                 heads: H, headWidth: d, pattern: pattern, accumulate: accumulate)
                } else {
                    mixRowsGeneric(xr, ldx: ldx, zr, ldz: ldz, rows: range.count, mix: mp.value, heads: H,
                                   headWidth: d, pattern: pattern, accumulate: accumulate)
                }
            }
        }
    }

    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    private func applyBlock(_ block: Tensor<Scalar>, _ z: UnsafePointer<Scalar>, ldz: Int, rows: Int,
                            into out: UnsafeMutablePointer<Scalar>, ldo: Int, accumulate: Bool) {
        let d = headWidth, H = heads
        let beta: Scalar = accumulate ? 1 : 0
        block.withUnsafeBufferPointer { bp in
            let b = bp.baseAddress!
            if Threading.maxThreads <= 1 || H < 2 * Threading.maxThreads {
                // One thread, or too few heads to share out: the GEMM threads on its own if it is big enough.
                for h in 0..<H {
                    gemm(m: rows, n: d, k: d, a: z + h * d, aRowStride: ldz, aColStride: 1, b: b + h * d * d, bRowStride: d, bColStride: 1,
                             beta: beta, c: out + h * d, ldc: ldo)
                }
            } else {
                // Whole heads per thread: measured faster than letting each head's GEMM split its rows (a 256-row
                // head GEMM is too short to pay for a wake-up per call).
                let zs = UncheckedSendable(z), bs = UncheckedSendable(b), os = UncheckedSendable(out)
                parallelItems(count: H) { h in
                    gemm(m: rows, n: d, k: d, a: zs.value + h * d, aRowStride: ldz, aColStride: 1, b: bs.value + h * d * d,
                         bRowStride: d, bColStride: 1, beta: beta, c: os.value + h * d, ldc: ldo)
                }
            }
        }
    }
}


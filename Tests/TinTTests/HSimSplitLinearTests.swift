import Testing
import Tensor
@testable import TinT

@Suite struct HSimSplitLinearTests {
    /// The layer equals `x·M + b` for the dense matrix it represents, built independently from the definition.
    @Test(arguments: [(1, 1, 1), (7, 7, 13), (12, 3, 7), (65, 13, 5), (96, 4, 65), (64, 8, 257)])
    func equalsItsDenseMatrix(width: Int, heads: Int, rows: Int) throws {
        var rng = TensorRNG(seed: UInt64(width * 31 + heads))
        let layer = try HSimSplitLinear<Double>.random(width: width, heads: heads, using: &rng)
        let d = width / heads
        // Dense matrix from the definition: z[h'd+r] = Σ_h mix[h,h',r] x[hd+r]; y[h'd+r'] = Σ_r z[h'd+r] B[h',r,r'].
        let mix = layer.mix!.scalars, block = layer.block!.scalars
        var dense = [Double](repeating: 0, count: width * width)
        for h in 0..<heads { for hp in 0..<heads { for r in 0..<d { for rp in 0..<d {
            dense[(h * d + r) * width + hp * d + rp] += mix[(h * heads + hp) * d + r] * block[(hp * d + r) * d + rp]
        } } } }
        let m = try Tensor(shape: [width, width], scalars: dense)
        #expect(maxDiff(try layer.denseMatrix(), m) <= 1e-14)
        let x: Tensor<Double> = randn([rows, width], seed: 7)
        var expected = naiveMatmul(x, m)
        let b = layer.bias!.scalars
        expected = try Tensor(shape: expected.shape, scalars: expected.scalars.enumerated().map { $0.element + b[$0.offset % width] })
        let y = try layer(x)
        #expect(maxDiff(y, expected) <= 1e-12 * Double(width), "Double")
        // fp32 fast path against the Double oracle.
        let lf = try HSimSplitLinear<Float>(width: width, heads: heads, mix: layer.mix!.converted(), block: layer.block!.converted(),
                                            bias: layer.bias!.converted())
        let yf = try lf(x.converted(to: Float.self))
        #expect(maxDiff(yf.converted(to: Double.self), expected) <= 2e-5 * max(1, maxAbs(expected)), "Float")
    }

    @Test func parameterCountIsTheFormula() throws {
        var rng = TensorRNG(seed: 3)
        for (w, h) in [(3072, 12), (96, 4), (65, 13), (5, 1)] {
            let layer = try HSimSplitLinear<Float>.random(width: w, heads: h, using: &rng)
            #expect(layer.parameterCount == w * w / h + w * h + w)
            #expect(HSimSplitLinear<Float>.parameterCount(width: w, heads: h) == w * w / h + w * h + w)
            let noBias = try HSimSplitLinear<Float>(width: w, heads: h, mix: layer.mix, block: layer.block)
            #expect(noBias.parameterCount == w * w / h + w * h)
            let mixOnly = try HSimSplitLinear<Float>(width: w, heads: h, mix: layer.mix)
            #expect(mixOnly.parameterCount == w * h)
            #expect(try HSimSplitLinear<Float>(width: w, heads: h).parameterCount == 0)
        }
    }

    /// Absent parts are identities; sparse (selector) mixes take the skipping path and still match. Head widths 12
    /// and 28: the Float kernel's one-head groups run 16 columns a step, then 8, then one (28 = 16 + 8 + 4).
    @Test(arguments: [(Float(0), 12), (0, 28), (1, 12), (1, 28)])
    func partialLayersAndSparseMixes(_ useFloat: Float, _ d: Int) throws {
        let heads = 5, width = heads * d, rows = 9
        var rng = TensorRNG(seed: 11)
        let full = try HSimSplitLinear<Double>.random(width: width, heads: heads, using: &rng)
        // A selector mix: output head h' reads input head (h'+2) % H, coefficient depends on r; head 3 gets nothing.
        var sel = [Double](repeating: 0, count: heads * heads * d)
        for hp in 0..<heads where hp != 3 { for r in 0..<d { sel[((hp + 2) % heads * heads + hp) * d + r] = Double(r + 1) / 4 } }
        let selMix = try Tensor(shape: [heads, heads, d], scalars: sel)
        let x: Tensor<Double> = randn([rows, width], seed: 5)
        for layer in [try HSimSplitLinear(width: width, heads: heads, mix: selMix),
                      try HSimSplitLinear(width: width, heads: heads, block: full.block),
                      try HSimSplitLinear(width: width, heads: heads, mix: selMix, block: full.block, bias: full.bias),
                      try HSimSplitLinear(width: width, heads: heads, bias: full.bias),
                      try HSimSplitLinear(width: width, heads: heads)] {
            var expected = naiveMatmul(x, try layer.denseMatrix())
            if let b = layer.bias?.scalars {
                expected = try Tensor(shape: expected.shape, scalars: expected.scalars.enumerated().map { $0.element + b[$0.offset % width] })
            }
            if useFloat == 0 {
                #expect(maxDiff(try layer(x), expected) <= 1e-12)
            } else {
                let lf = try HSimSplitLinear<Float>(width: width, heads: heads, mix: layer.mix?.converted(),
                                                    block: layer.block?.converted(), bias: layer.bias?.converted())
                #expect(maxDiff(try lf(x.converted(to: Float.self)).converted(to: Double.self), expected) <= 1e-4)
                // Accumulating into ones adds one to every output.
                var acc = try Tensor<Float>.ones([rows, width])
                x.converted(to: Float.self).withUnsafeBufferPointer { xp in
                    acc.withUnsafeMutableBufferPointer { ap in
                        lf.apply(xp.baseAddress!, ldx: width, rows: rows, into: ap.baseAddress!, ldo: width, accumulate: true)
                    }
                }
                let plusOne = try Tensor(shape: expected.shape, scalars: expected.scalars.map { $0 + 1 })
                #expect(maxDiff(acc.converted(to: Double.self), plusOne) <= 1e-4)
            }
        }
    }

    /// Accumulating application and non-contiguous inputs.
    @Test func accumulateAndStridedInput() throws {
        var rng = TensorRNG(seed: 2)
        let layer = try HSimSplitLinear<Float>.random(width: 48, heads: 6, using: &rng)
        let base: Tensor<Float> = randn([48, 13], seed: 4)
        let x = try base.transposed()  // [13, 48], not contiguous
        #expect(!x.isContiguous)
        let y = try layer(x)
        #expect(maxDiff(y, try layer(x.contiguous())) == 0)
        var acc: Tensor<Float> = randn([13, 48], seed: 9)
        let start = acc
        let xc = x.contiguous()
        xc.withUnsafeBufferPointer { xp in
            acc.withUnsafeMutableBufferPointer { ap in
                layer.apply(xp.baseAddress!, ldx: 48, rows: 13, into: ap.baseAddress!, ldo: 48, accumulate: true)
            }
        }
        let sum = try Tensor(shape: [13, 48], scalars: zip(start.scalars, y.scalars).map { $0 + $1 })
        #expect(maxDiff(acc, sum) <= 1e-5)
    }

    @Test func rejectsBadShapes() throws {
        #expect(throws: TinTError.self) { try HSimSplitLinear<Float>(width: 10, heads: 3) }
        #expect(throws: TinTError.self) { try HSimSplitLinear<Float>(width: 12, heads: 3, mix: try .zeros([3, 3, 3])) }
        #expect(throws: TinTError.self) { try HSimSplitLinear<Float>(width: 12, heads: 3, block: try .zeros([3, 4, 3])) }
        #expect(throws: TinTError.self) { try HSimSplitLinear<Float>(width: 12, heads: 3, bias: try .zeros([11])) }
        let layer = try HSimSplitLinear<Float>(width: 12, heads: 3)
        #expect(throws: TinTError.self) { try layer(try .zeros([2, 13])) }
        do {
            _ = try layer(try .zeros([2, 13]))
        } catch let e as TinTError {
            #expect("\(e)".contains("HSimSplitLinear") && "\(e)".contains("13"))
        }
    }
}

/// Enough rows for the row-split paths to share the work over threads (the mix: chunks of ≥ 100K multiply-adds;
/// identity maps and bias adds: ``rowCopyGrain(width:)`` rows): the same dense-matrix oracle as above.
@Suite struct HSimSplitLinearThreadedTests {
    @Test func manyRowsMatchTheDenseMatrix() throws {
        let width = 32, heads = 4, d = 8, rows = 3 * rowCopyGrain(width: width) + 5  // 12,293 rows
        var rng = TensorRNG(seed: 21)
        let full = try HSimSplitLinear<Double>.random(width: width, heads: heads, using: &rng)
        var sel = [Double](repeating: 0, count: heads * heads * d)  // one input head per output head: the sparsest mix
        for hp in 0..<heads { for r in 0..<d { sel[((hp + 1) % heads * heads + hp) * d + r] = Double(r) / 8 - 0.3 } }
        let selMix = try Tensor(shape: [heads, heads, d], scalars: sel)
        #expect(rows >= 2 * (100_000 / (heads * d)), "the sparse mix must split")
        let x: Tensor<Double> = randn([rows, width], seed: 8)
        for layer in [full,
                      try HSimSplitLinear(width: width, heads: heads, mix: selMix, bias: full.bias),
                      try HSimSplitLinear(width: width, heads: heads, bias: full.bias),
                      try HSimSplitLinear(width: width, heads: heads)] {
            let b = layer.bias?.scalars ?? [Double](repeating: 0, count: width)
            let product = naiveMatmul(x, try layer.denseMatrix())
            let expected = try Tensor(shape: product.shape, scalars: product.scalars.enumerated().map { $0.element + b[$0.offset % width] })
            #expect(maxDiff(try layer(x), expected) <= 1e-12 * Double(width), "Double")
            let lf = try HSimSplitLinear<Float>(width: width, heads: heads, mix: layer.mix?.converted(),
                                                block: layer.block?.converted(), bias: layer.bias?.converted())
            #expect(maxDiff(try lf(x.converted(to: Float.self)).converted(to: Double.self), expected) <= 2e-5 * max(1, maxAbs(expected)),
                    "Float")
        }
    }

    /// A state's token rows, and the Backward's restored rows, written row-split over threads: signal, then zeros, and
    /// (restored) the columns past the signal width kept.
    @Test func paddedRowCopiesOfAWideState() throws {
        let W = 4096, w = 100, D = 300, T = 5 * rowCopyGrain(width: W) + 3  // 163 rows of 4096
        let signal: Tensor<Float> = randn([T, w], seed: 3)
        let prefixes = try Tensor<Float>.zeros([2, W])
        let state = try TinTState(prefixes: prefixes, signal: signal, trainMask: [Bool](repeating: true, count: T))
        let sig = signal.scalars, tok = state.tokens.scalars
        var bad = 0
        for r in 0..<T { for c in 0..<W where tok[r * W + c] != (c < w ? sig[r * w + c] : 0) { bad += 1 } }
        #expect(bad == 0, "\(bad) state elements differ")
        let stored: Tensor<Float> = randn([T, W], seed: 4)
        let storedScalars = stored.scalars
        let restored = try TinTGlue.restoredState(stored, gradient: signal, signalWidth: D, prefixes: prefixes,
                                                  trainMask: [Bool](repeating: false, count: T)).tokens.scalars
        bad = 0
        for r in 0..<T {
            for c in 0..<W where restored[r * W + c] != (c < w ? sig[r * w + c] : c < D ? 0 : storedScalars[r * W + c]) { bad += 1 }
        }
        #expect(bad == 0, "\(bad) restored elements differ")
    }
}

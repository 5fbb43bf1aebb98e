import Testing
@testable import Tensor

// Every product is checked against a naive triple loop in Double.
// Tolerances: fp32 |c − ref| ≤ 1e-6·√K·Σₚ|a||b| (rounding grows like √K; a single missing or doubled term is
// about Σₚ|a||b|/K, which this still catches up to K ≈ 10⁴); fp64 |c − ref| ≤ 1e-12·Σₚ|a||b|.

/// Reference product of two rank-2 tensors: values and Σₚ|a_ip·b_pj|, row-major.
private func reference<S: TensorScalar>(_ a: Tensor<S>, _ b: Tensor<S>) -> (value: [Double], mag: [Double]) {
    let m = a.shape[0], k = a.shape[1], n = b.shape[1]
    let x = a.scalars.map(Double.init), y = b.scalars.map(Double.init)
    var v = [Double](repeating: 0, count: m * n), g = v
    x.withUnsafeBufferPointer { x in
        y.withUnsafeBufferPointer { y in
            v.withUnsafeMutableBufferPointer { v in
                g.withUnsafeMutableBufferPointer { g in
                    for i in 0..<m {
                        for p in 0..<k {
                            let aip = x[i * k + p]
                            for j in 0..<n {
                                let t = aip * y[p * n + j]
                                v[i * n + j] += t
                                g[i * n + j] += abs(t)
                            }
                        }
                    }
                }
            }
        }
    }
    return (v, g)
}

/// Checks `c` (rank 2, or any rank holding the same row-major elements) against the reference of a·b.
private func expectProduct<S: TensorScalar>(_ c: Tensor<S>, _ a: Tensor<S>, _ b: Tensor<S>,
                                            alpha: Double = 1, beta: Double = 0, c0: [Double]? = nil,
                                            sourceLocation: SourceLocation = #_sourceLocation) {
    expectMatches(c, reference(a, b), k: a.shape[1], alpha: alpha, beta: beta, c0: c0, sourceLocation: sourceLocation)
}

/// Checks `c` against a precomputed reference (see `reference`) of a product with inner dimension `k`.
private func expectMatches<S: TensorScalar>(_ c: Tensor<S>, _ ref: (value: [Double], mag: [Double]), k kInt: Int,
                                            alpha: Double = 1, beta: Double = 0, c0: [Double]? = nil,
                                            sourceLocation: SourceLocation = #_sourceLocation) {
    let (v, g) = ref
    let k = Double(kInt)
    let rel = S.self == Float.self ? 1e-6 * k.squareRoot() : 1e-12
    let got = c.scalars.map(Double.init)
    #expect(got.count == v.count, sourceLocation: sourceLocation)
    var worst = 0.0, worstAt = -1
    for i in 0..<min(got.count, v.count) {
        let want = alpha * v[i] + beta * (c0?[i] ?? 0)
        let tol = rel * (abs(alpha) * g[i] + abs(beta * (c0?[i] ?? 0))) + 1e-30
        let e = abs(got[i] - want) / tol
        if !(e <= worst) { worst = e; worstAt = i }  // NaN counts as worst
    }
    #expect(worst <= 1, "error \(worst)× tolerance at flat index \(worstAt), shape \(c.shape)",
            sourceLocation: sourceLocation)
}

private func rand(_ shape: [Int], _ seed: UInt64) -> Tensor<Float> {
    var rng = TensorRNG(seed: seed)
    return try! Tensor<Float>.uniform(shape, low: -1, high: 1, using: &rng)
}

private func randD(_ shape: [Int], _ seed: UInt64) -> Tensor<Double> {
    var rng = TensorRNG(seed: seed)
    return try! Tensor<Double>.uniform(shape, low: -1, high: 1, using: &rng)
}

/// Runs `body` with `Threading.maxThreads == threads`, restoring the default afterwards.
private func withThreads(_ threads: Int, _ body: () throws -> Void) rethrows {
    Threading.maxThreads = threads
    defer { Threading.maxThreads = 0 }
    try body()
}

@Suite(.serialized) struct MatmulTests {
    @Test(arguments: [
        (1, 1, 1), (1, 7, 13), (7, 1, 13), (13, 7, 1), (2, 13, 7), (7, 13, 2), (7, 13, 65), (13, 65, 7),
        (65, 257, 13), (257, 13, 65), (6, 16, 16), (12, 384, 32), (12, 256, 32), (13, 257, 33), (65, 65, 65),
        (144, 385, 17), (150, 20, 3075),
    ])
    func oddSizes(_ s: (Int, Int, Int)) throws {
        let (m, k, n) = s
        let a = rand([m, k], 1), b = rand([k, n], 2)
        try forEachFloatGEMMKernel { try expectProduct(a.matmul(b), a, b) }
    }

    /// Crosses every cache-block edge at once: m > MC, k > KC, n > NC, with ragged remainders.
    @Test func blockEdges() throws {
        let a = rand([145, 389], 3), b = rand([389, 3075], 4)
        let ref = reference(a, b)
        for threads in [1, 2] {
            try withThreads(threads) {
                try forEachFloatGEMMKernel { try expectMatches(a.matmul(b), ref, k: 389) }
            }
        }
    }

    /// Few rows with many columns (one packed A, column panels across threads, n > NC), a product too deep to pack
    /// a column group's B whole, and one whose column blocks are narrowed so packed B stays L3-sized.
    @Test func wideAndDeep() throws {
        try withThreads(2) {
            let a = rand([13, 400], 90), b = rand([400, 3100], 91)
            let ab = reference(a, b)
            try forEachFloatGEMMKernel { try expectMatches(a.matmul(b), ab, k: 400) }
            let d = rand([13, 4200], 94), e = rand([4200, 70], 95)
            let de = reference(d, e)
            try forEachFloatGEMMKernel { try expectMatches(d.matmul(e), de, k: 4200) }
            // m > MC and n < 4m: the row-chunk path, with packed B capped at 8 MB, so two ragged column blocks.
            let x = rand([145, 4300], 92), y = rand([4300, 500], 93)
            let xy = reference(x, y)
            try forEachFloatGEMMKernel { try expectMatches(x.matmul(y), xy, k: 4300) }
        }
    }

    /// Depth so long that packed B for all of it would hold < 256 columns (an LM head's ∇h = ∇logits·E has
    /// K = 50272): the product runs as KC-aligned K slices accumulating into C, so alpha must apply to every
    /// slice and beta only once.
    @Test func longDepthSlices() throws {
        let (m, k, n) = (145, 20000, 100)
        let a = rand([m, k], 60), b = rand([k, n], 61)
        let ref = reference(a, b)
        for threads in [1, 2] {
            try withThreads(threads) {
                try forEachFloatGEMMKernel { try expectMatches(a.matmul(b), ref, k: k) }
            }
        }
        let c0 = rand([m, n], 62).scalars
        var c = c0
        let pa = a.scalars, pb = b.scalars
        pa.withUnsafeBufferPointer { ap in
            pb.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    gemm(m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, aRowStride: k, aColStride: 1,
                         b: bp.baseAddress!, bRowStride: n, bColStride: 1, beta: -2, c: cp.baseAddress!, ldc: n)
                }
            }
        }
        expectMatches(try Tensor(shape: [m, n], scalars: c), ref, k: k, alpha: 0.5, beta: -2, c0: c0.map(Double.init))
        // Double has its own blocking: packed B for k = 20000 would hold about 50 of the 70 columns.
        let x = randD([97, 20000], 63), y = randD([20000, 70], 64)
        try expectProduct(x.matmul(y), x, y)
    }

    /// A row-major A is read in place by the AVX-512 kernel (no packing): rows of a wider matrix (row stride >
    /// depth), a ragged last row tile, on the row-block path (m > MC), the resident-A path (m ≤ MC) and the wide
    /// path (n ≥ 4m), each with alpha and beta. The buffer ends where the last row does, so a read past row m - 1
    /// is out of bounds (AddressSanitizer in CI).
    @Test(arguments: [(150, 389, 70), (13, 100, 40), (37, 70, 300), (8, 16, 32), (290, 40, 33)])
    func rowMajorAInPlace(_ s: (Int, Int, Int)) throws {
        let (m, k, n) = s
        let lda = k + 5
        let wide = rand([m, lda], 70), b = rand([k, n], 71)
        let a = try wide.sliced(axis: 1, 2..<(k + 2)).contiguous()
        let c0 = rand([m, n], 72).scalars
        let source = Array(wide.scalars.dropFirst(2).prefix((m - 1) * lda + k))  // ends with row m - 1
        let pb = b.scalars
        for threads in [1, 2] {
            try withThreads(threads) {
                forEachFloatGEMMKernel {
                    var c = c0
                    source.withUnsafeBufferPointer { ap in
                        pb.withUnsafeBufferPointer { bp in
                            c.withUnsafeMutableBufferPointer { cp in
                                gemm(m: m, n: n, k: k, alpha: 0.5, a: ap.baseAddress!, aRowStride: lda, aColStride: 1,
                                     b: bp.baseAddress!, bRowStride: n, bColStride: 1, beta: -1, c: cp.baseAddress!, ldc: n)
                            }
                        }
                    }
                    expectProduct(try! Tensor(shape: [m, n], scalars: c), a, b, alpha: 0.5, beta: -1,
                                  c0: c0.map(Double.init))
                }
            }
        }
    }

    /// A transposed B read through a row stride wider than the depth (a head's Kᵀ inside the token rows) and a
    /// row-major B with a wide row stride: the packed panels (16×16 register transposes on AVX-512, with a depth
    /// tail past the last full block, and depth blocks after the first) against the Double reference, both kernels,
    /// 1 and 2 threads. The transposed source ends with its last row, so an over-read is out of bounds (ASan).
    @Test(arguments: [(40, 50, 70), (9, 400, 64), (33, 16, 32), (64, 263, 97), (8, 15, 33)])
    func packedPanelsOfStridedB(_ s: (Int, Int, Int)) throws {
        let (m, k, n) = s
        let ldb = k + 7
        let a = rand([m, k], 80), wide = rand([n, ldb], 81)
        let bt = try wide.sliced(axis: 1, 3..<(k + 3)).contiguous()  // [n, k]; B = btᵀ
        let b = try bt.transposed().contiguous()
        let transposedSource = Array(wide.scalars.dropFirst(3).prefix((n - 1) * ldb + k))
        let rowMajorWide = rand([k, n + 9], 82)
        let rowMajorB = try rowMajorWide.sliced(axis: 1, 0..<n).contiguous()
        let c0 = rand([m, n], 83).scalars
        let pa = a.scalars
        for threads in [1, 2] {
            try withThreads(threads) {
                forEachFloatGEMMKernel {
                    for (source, rs, cs, reference) in [(transposedSource, 1, ldb, b), (rowMajorWide.scalars, n + 9, 1, rowMajorB)] {
                        var c = c0
                        pa.withUnsafeBufferPointer { ap in
                            source.withUnsafeBufferPointer { bp in
                                c.withUnsafeMutableBufferPointer { cp in
                                    gemm(m: m, n: n, k: k, alpha: 1.5, a: ap.baseAddress!, aRowStride: k, aColStride: 1,
                                         b: bp.baseAddress!, bRowStride: rs, bColStride: cs, beta: 0.5, c: cp.baseAddress!, ldc: n)
                                }
                            }
                        }
                        expectProduct(try! Tensor(shape: [m, n], scalars: c), a, reference, alpha: 1.5, beta: 0.5,
                                      c0: c0.map(Double.init))
                    }
                }
            }
        }
    }

    @Test(arguments: [(7, 13, 65), (65, 257, 13), (145, 50, 70), (1, 33, 40), (40, 33, 1)])
    func transposedOperands(_ s: (Int, Int, Int)) throws {
        let (m, k, n) = s
        let at = rand([k, m], 5), bt = rand([n, k], 6)
        let a = try at.transposed(), b = try bt.transposed()
        let ac = a.contiguous(), bc = b.contiguous()
        try forEachFloatGEMMKernel { try expectProduct(a.matmul(b), ac, bc) }
        try expectProduct(ac.matmul(b), ac, bc)
        try expectProduct(a.matmul(bc), ac, bc)
        try expectProduct(at.matmul(bt, transposeA: true, transposeB: true), ac, bc)
        try expectProduct(ac.matmul(bt, transposeA: false, transposeB: true), ac, bc)
    }

    @Test func slicedAndExpandedOperands() throws {
        // Strided rows and columns (step 2), an offset start, and a stride-0 (expanded) operand.
        let big = rand([40, 60], 7)
        let a = try big.sliced(axis: 0, 3..<36, step: 2).sliced(axis: 1, 1..<60, step: 2)  // [17, 30]
        let b = try rand([30, 50], 8).sliced(axis: 1, 5..<45)                             // [30, 40]
        try expectProduct(a.matmul(b), a.contiguous(), b.contiguous())
        try expectProduct(b.transposed().matmul(a.transposed()), b.transposed().contiguous(),
                          a.transposed().contiguous())
        let row = try rand([1, 30], 9).expanded(to: [20, 30])
        try expectProduct(row.matmul(b), row.contiguous(), b.contiguous())
        let col = try rand([30, 1], 10).expanded(to: [30, 9])
        try expectProduct(a.matmul(col), a.contiguous(), col.contiguous())
    }

    @Test func vectorCases() throws {
        let v = rand([13], 11), w = rand([13], 12), m = rand([13, 7], 13), mt = rand([5, 13], 14)
        let dot = try v.matmul(w)
        #expect(dot.shape == [])
        try expectProduct(dot, v.reshaped([1, 13]), w.reshaped([13, 1]))
        let vm = try v.matmul(m)
        #expect(vm.shape == [7])
        try expectProduct(vm, v.reshaped([1, 13]), m)
        let mv = try mt.matmul(v)
        #expect(mv.shape == [5])
        try expectProduct(mv, mt, v.reshaped([13, 1]))
        // Transposed matrix with a vector (the gemv paths with the other unit stride), and a strided vector.
        let vt = try rand([26], 15).sliced(axis: 0, 0..<26, step: 2)
        try expectProduct(vt.matmul(mt.transposed()), vt.reshaped([1, 13]), mt.transposed().contiguous())
        try expectProduct(m.transposed().matmul(vt), m.transposed().contiguous(), vt.reshaped([13, 1]))
        // Vector against a batch, batch against a vector.
        let bm = rand([3, 13, 7], 16)
        let vb = try v.matmul(bm)
        #expect(vb.shape == [3, 7])
        for i in 0..<3 {
            try expectProduct(vb.selecting(axis: 0, index: i), v.reshaped([1, 13]), bm.selecting(axis: 0, index: i))
        }
        let bv = rand([3, 5, 13], 17)
        let r = try bv.matmul(v)
        #expect(r.shape == [3, 5])
        for i in 0..<3 {
            try expectProduct(r.selecting(axis: 0, index: i), bv.selecting(axis: 0, index: i), v.reshaped([13, 1]))
        }
    }

    @Test func batchedAndBroadcast() throws {
        // (a shape, b shape, result shape)
        let cases: [([Int], [Int], [Int])] = [
            ([3, 5, 7], [7, 4], [3, 5, 4]),             // folds into one GEMM
            ([3, 5, 7], [3, 7, 4], [3, 5, 4]),
            ([5, 7], [3, 7, 4], [3, 5, 4]),
            ([2, 1, 5, 7], [3, 7, 4], [2, 3, 5, 4]),
            ([2, 3, 1, 7], [1, 7, 9], [2, 3, 1, 9]),
            ([4, 1, 65, 13], [1, 3, 13, 33], [4, 3, 65, 33]),
        ]
        for (sa, sb, sr) in cases {
            let a = rand(sa, 20), b = rand(sb, 21)
            let c = try a.matmul(b)
            #expect(c.shape == sr)
            let batch = Array(sr.dropLast(2))
            let ae = try a.expanded(to: batch + Array(sa.suffix(2))), be = try b.expanded(to: batch + Array(sb.suffix(2)))
            let count = batch.reduce(1, *)
            let a3 = try ae.contiguous().reshaped([count] + Array(sa.suffix(2)))
            let b3 = try be.contiguous().reshaped([count] + Array(sb.suffix(2)))
            let c3 = try c.reshaped([count] + Array(sr.suffix(2)))
            for i in 0..<count {
                try expectProduct(c3.selecting(axis: 0, index: i), a3.selecting(axis: 0, index: i),
                                  b3.selecting(axis: 0, index: i))
            }
        }
        // Batch views that do not fold: permuted batch dims, and many small matrices (spread over threads).
        for threads in [1, 2] {
            try withThreads(threads) {
                let base = rand([7, 40, 9], 22)
                let a = try base.permuted([1, 0, 2])  // [40, 7, 9], batch stride 9, row stride 360
                let b = rand([9, 6], 23)
                let c = try a.matmul(b)
                for i in [0, 17, 39] {
                    try expectProduct(c.selecting(axis: 0, index: i), a.selecting(axis: 0, index: i).contiguous(), b)
                }
                let x = rand([64, 24, 16], 24), y = rand([64, 16, 24], 25)
                let z = try x.matmul(y)
                for i in [0, 31, 63] {
                    try expectProduct(z.selecting(axis: 0, index: i), x.selecting(axis: 0, index: i),
                                      y.selecting(axis: 0, index: i))
                }
            }
        }
    }

    @Test func emptyAndZeroDepth() throws {
        let z = try rand([4, 0], 30).matmul(rand([0, 5], 31))
        #expect(z.shape == [4, 5])
        #expect(z.scalars.allSatisfy { $0 == 0 })
        #expect(try rand([0, 3], 32).matmul(rand([3, 5], 33)).shape == [0, 5])
        #expect(try rand([2, 0, 3], 34).matmul(rand([3, 5], 35)).shape == [2, 0, 5])
    }

    @Test func alphaBetaRawAPI() throws {
        let (m, k, n) = (37, 70, 45)
        let a = rand([m, k], 40), b = rand([k, n], 41)
        let c0 = rand([m, n], 42).scalars
        let pa = a.scalars, pb = b.scalars
        for (alpha, beta) in [(Float(0.5), Float(-2)), (1, 1), (2, 0), (0, 3)] {
            var c = c0
            pa.withUnsafeBufferPointer { ap in
                pb.withUnsafeBufferPointer { bp in
                    c.withUnsafeMutableBufferPointer { cp in
                        gemm(m: m, n: n, k: k, alpha: alpha, a: ap.baseAddress!, aRowStride: k, aColStride: 1,
                             b: bp.baseAddress!, bRowStride: n, bColStride: 1, beta: beta, c: cp.baseAddress!, ldc: n)
                    }
                }
            }
            expectProduct(try Tensor(shape: [m, n], scalars: c), a, b, alpha: Double(alpha), beta: Double(beta),
                          c0: c0.map(Double.init))
        }
        // beta == 0 never reads C: NaNs there must not leak into the result.
        var c = [Float](repeating: .nan, count: m * n)
        let at = try a.transposed().contiguous().scalars  // stored k×m
        at.withUnsafeBufferPointer { ap in
            pb.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    gemm(transposeA: true, transposeB: false, m: m, n: n, k: k, a: ap.baseAddress!, lda: m,
                         b: bp.baseAddress!, ldb: n, c: cp.baseAddress!, ldc: n)
                }
            }
        }
        expectProduct(try Tensor(shape: [m, n], scalars: c), a, b)
        // A sub-block of C (ldc larger than n) leaves the rest untouched.
        var wide = [Float](repeating: 7, count: m * (n + 3))
        pa.withUnsafeBufferPointer { ap in
            pb.withUnsafeBufferPointer { bp in
                wide.withUnsafeMutableBufferPointer { cp in
                    gemm(m: m, n: n, k: k, a: ap.baseAddress!, aRowStride: k, aColStride: 1,
                         b: bp.baseAddress!, bRowStride: n, bColStride: 1, c: cp.baseAddress! + 1, ldc: n + 3)
                }
            }
        }
        let w = try Tensor(shape: [m, n + 3], scalars: wide)
        expectProduct(try w.sliced(axis: 1, 1..<(n + 1)), a, b)
        #expect(try w.sliced(axis: 1, 0..<1).scalars.allSatisfy { $0 == 7 })
        #expect(try w.sliced(axis: 1, (n + 1)..<(n + 3)).scalars.allSatisfy { $0 == 7 })
    }

    @Test func linearWithBias() throws {
        let w = rand([9, 13], 50), bias = rand([9], 51)
        let wt = try w.transposed().contiguous()
        func expectLinear(_ x: Tensor<Float>, _ y: Tensor<Float>, bias b: Tensor<Float>?) throws {
            let rows = x.count / 13
            let x2 = try x.contiguous().reshaped([rows, 13])
            // [x, 1]·[Wᵀ; b] checks the bias inside the same tolerance.
            if let b {
                let xa = try Tensor<Float>(shape: [rows, 14], scalars: (0..<rows).flatMap { x2.scalars[$0 * 13..<($0 + 1) * 13] + [1] })
                let wa = try Tensor<Float>(shape: [14, 9], scalars: wt.scalars + b.scalars)
                expectProduct(y, xa, wa)
            } else {
                expectProduct(y, x2, wt)
            }
        }
        let x3 = rand([2, 3, 13], 52)
        let y3 = try x3.linear(weight: w, bias: bias)
        #expect(y3.shape == [2, 3, 9])
        try expectLinear(x3, y3, bias: bias)
        try expectLinear(x3, x3.linear(weight: w), bias: nil)
        // A 1-D input, a non-foldable (permuted) input, a transposed-view weight and a strided bias.
        let x1 = rand([13], 53)
        let y1 = try x1.linear(weight: w, bias: bias)
        #expect(y1.shape == [9])
        try expectLinear(x1, y1, bias: bias)
        let xp = try rand([3, 2, 13], 54).permuted([1, 0, 2])
        try expectLinear(xp, xp.linear(weight: w, bias: bias), bias: bias)
        let wView = try wt.transposed()  // [9, 13] with strides [1, 9]
        let sb = try rand([18], 55).sliced(axis: 0, 0..<18, step: 2)
        try expectLinear(x3, x3.linear(weight: wView, bias: sb), bias: sb.contiguous())
        // Big enough for the threaded path.
        try withThreads(2) {
            let wBig = rand([300, 200], 56), bBig = rand([300], 57), xBig = rand([4, 50, 200], 58)
            let y = try xBig.linear(weight: wBig, bias: bBig)
            let xa = try Tensor<Float>(shape: [200, 201], scalars: (0..<200).flatMap { xBig.scalars[$0 * 200..<($0 + 1) * 200] + [1] })
            let wa = try Tensor<Float>(shape: [201, 300], scalars: wBig.transposed().contiguous().scalars + bBig.scalars)
            expectProduct(y, xa, wa)
        }
    }

    @Test func threadCounts() throws {
        // Each shape exercises one parallel path: row chunks, column panels (m ≤ MC), and both gemv layouts.
        let shapes = [(150, 200, 300), (40, 200, 600), (1, 1000, 4500), (4500, 1000, 1), (2, 1000, 1500)]
        for (m, k, n) in shapes {
            let a = rand([m, k], 60), b = rand([k, n], 61)
            let bt = try rand([n, k], 62).transposed(), at = try rand([k, m], 63).transposed()
            let ab = reference(a, b), abt = reference(a, bt.contiguous()), atb = reference(at.contiguous(), b)
            for threads in [1, 2] {
                try withThreads(threads) {
                    try forEachFloatGEMMKernel {
                        try expectMatches(a.matmul(b), ab, k: k)
                        try expectMatches(a.matmul(bt), abt, k: k)
                        try expectMatches(at.matmul(b), atb, k: k)
                    }
                }
            }
        }
    }

    @Test func doublePrecision() throws {
        for (m, k, n) in [(1, 1, 1), (7, 13, 65), (65, 257, 13), (100, 300, 2100), (1, 50, 70), (70, 50, 2)] {
            let a = randD([m, k], 70), b = randD([k, n], 71)
            try expectProduct(a.matmul(b), a, b)
            let bt = try randD([n, k], 72).transposed()
            try expectProduct(a.matmul(bt), a, bt.contiguous())
        }
        let x = randD([3, 5, 7], 73), w = randD([4, 7], 74), bias = randD([4], 75)
        let y = try x.linear(weight: w, bias: bias)
        let yr = try x.reshaped([15, 7]).matmul(w.transposed())
        for i in 0..<15 {
            for j in 0..<4 {
                let got = try y.reshaped([15, 4]).element(at: [i, j])
                let want = try yr.element(at: [i, j]) + bias.element(at: [j])
                #expect(abs(got - want) <= 1e-12 * 8)
            }
        }
    }

    @Test func errors() throws {
        func expectMismatch(_ a: [Int], _ b: [Int], op: String = "matmul", _ body: () throws -> Tensor<Float>) {
            do {
                _ = try body()
                Issue.record("expected \(op) to throw for \(a) and \(b)")
            } catch let TensorError.shapeMismatch(o, shapes, _) {
                #expect(o == op)
                #expect(shapes.count >= 2 && shapes[0] == a && shapes[1] == b)
            } catch {
                Issue.record("unexpected error \(error)")
            }
        }
        let t23 = rand([2, 3], 80), t45 = rand([4, 5], 81)
        expectMismatch([2, 3], [4, 5]) { try t23.matmul(t45) }
        expectMismatch([3], [4]) { try rand([3], 82).matmul(rand([4], 83)) }
        expectMismatch([3], [4, 5]) { try rand([3], 82).matmul(t45) }
        expectMismatch([2, 3], [4]) { try t23.matmul(rand([4], 84)) }
        expectMismatch([2, 2, 3], [3, 3, 5]) { try rand([2, 2, 3], 85).matmul(rand([3, 3, 5], 86)) }
        expectMismatch([2, 3], [3, 5], op: "linear") { try t23.linear(weight: rand([5, 3], 87).transposed().contiguous()) }
        expectMismatch([2, 3], [5, 3], op: "linear") { try t23.linear(weight: rand([5, 3], 87), bias: rand([4], 88)) }
        #expect(throws: TensorError.self) { try Tensor<Float>(scalar: 1).matmul(t23) }
        #expect(throws: TensorError.self) { try t23.linear(weight: rand([3], 89)) }
        #expect(throws: TensorError.self) { try rand([3], 90).matmul(t23, transposeA: true, transposeB: false) }
        // The message names both shapes.
        do {
            _ = try t23.matmul(t45)
        } catch {
            #expect("\(error)".contains("[2, 3]") && "\(error)".contains("[4, 5]"))
        }
    }
}

/// `ProductTally`, the ground truth of FLOP accounting: a gemm records `2·m·n·k`, inside parallel regions too, and
/// only under `measure`.
@Suite struct ProductTallyTests {
    @Test func countsGemmsOnEveryThread() throws {
        let a = rand([64, 48], 1), b = rand([48, 40], 2)
        let (_, one) = try ProductTally.measure { try a.matmul(b) }
        #expect(one == 2 * 64 * 48 * 40)
        let (_, many) = ProductTally.measure {
            parallelChunks(count: 8, grain: 1) { range in
                for _ in range { _ = try! a.matmul(b) }
            }
        }
        #expect(many == 8 * 2 * 64 * 48 * 40)
        let (_, nested) = try ProductTally.measure { () throws -> Int in
            _ = try a.matmul(b)
            return ProductTally.measure { 0 }.flops
        }
        #expect(nested == 2 * 64 * 48 * 40, "an inner measure takes its own work only")
    }
}

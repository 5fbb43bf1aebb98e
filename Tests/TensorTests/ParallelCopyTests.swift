import Testing
@testable import Tensor

/// Copies and fills large enough to be shared over threads (``parallelCopyElements``, 2^17 elements) against index
/// arithmetic on the source, exactly; and ``parallelItems(count:_:)`` visits every item once. The kernels use every
/// active core by default (two on this project's machines and CI).
@Suite struct ParallelCopyTests {
    /// `rows × cols` holding 0, 1, 2, … (exact in Float below 2^24).
    func iota(_ rows: Int, _ cols: Int) throws -> Tensor<Float> {
        try Tensor<Float>.arange(0, Float(rows * cols)).reshaped([rows, cols])
    }

    @Test func largeTransposeAndSliceCopiesMatchIndexArithmetic() throws {
        let (rows, cols) = (700, 901)  // 630,700 elements: several parallel pieces, a remainder in the last
        let base = try iota(rows, cols)
        let source = base.scalars  // contiguous: read directly, not through the copy under test
        #expect(rows * cols >= 2 * parallelCopyElements)
        let t = try base.transposed().contiguous()  // [cols, rows]: a stride-`cols` read per element
        let ts = t.scalars
        var bad = 0
        for i in 0..<cols { for j in 0..<rows where ts[i * rows + j] != source[j * cols + i] { bad += 1 } }
        #expect(bad == 0, "\(bad) transposed elements differ")
        let s = try base.sliced(axis: 1, 37..<(cols - 11)).contiguous()  // contiguous runs, each offset
        let w = cols - 48, ss = s.scalars
        bad = 0
        for i in 0..<rows { for j in 0..<w where ss[i * w + j] != source[i * cols + 37 + j] { bad += 1 } }
        #expect(bad == 0, "\(bad) sliced elements differ")
    }

    @Test func largeFillsWriteEveryElement() throws {
        let n = 2 * parallelCopyElements + 3
        let z = try Tensor<Float>.zeros([n])
        #expect(z.scalars.allSatisfy { $0 == 0 && $0.sign == .plus })
        let v = try Tensor<Double>(shape: [3, n / 3], repeating: -2.5)
        #expect(v.scalars.allSatisfy { $0 == -2.5 } && v.count == n / 3 * 3)
        let negativeZero = try Tensor<Float>(shape: [n], repeating: -0.0)  // not a memset: the sign must survive
        #expect(negativeZero.scalars.allSatisfy { $0 == 0 && $0.sign == .minus })
    }

    @Test(arguments: [0, 1, 2, 13, 100]) func parallelItemsVisitsEveryItemOnce(count: Int) {
        // One counter per item (no lock: TSan does not see Mutex's contended path as synchronisation, and items are
        // disjoint; a visit made twice at once is then itself a reported race).
        let visits = UnsafeMutableBufferPointer<Int>.allocate(capacity: max(count, 1))
        defer { visits.deallocate() }
        visits.initialize(repeating: 0)
        let v = UncheckedSendable(visits)
        parallelItems(count: count) { i in v.value[i] += 1 }
        #expect(visits.prefix(count).allSatisfy { $0 == 1 })
    }
}

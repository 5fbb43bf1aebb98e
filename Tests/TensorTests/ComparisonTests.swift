import Foundation
import Testing
@testable import Tensor

@Suite struct ComparisonTests {
    typealias T = Tensor<Float>

    static var comparisons: [(String, (T, T) throws -> T, (T, Float) -> T, (Double, Double) -> Bool)] { [
        ("equal", { try $0.equal($1) }, { $0.equal($1) }, { $0 == $1 }),
        ("notEqual", { try $0.notEqual($1) }, { $0.notEqual($1) }, { $0 != $1 }),
        ("less", { try $0.less($1) }, { $0.less($1) }, { $0 < $1 }),
        ("lessEqual", { try $0.lessEqual($1) }, { $0.lessEqual($1) }, { $0 <= $1 }),
        ("greater", { try $0.greater($1) }, { $0.greater($1) }, { $0 > $1 }),
        ("greaterEqual", { try $0.greaterEqual($1) }, { $0.greaterEqual($1) }, { $0 >= $1 }),
    ] }

    /// Values with many ties, ±0 and NaN, so every relation is exercised both ways.
    func tiesAndSpecials(_ shape: [Int], seed: UInt64) -> T {
        var rng = TensorRNG(seed: seed)
        let pool: [Float] = [-2, -1, -0.0, 0, 1, 2, .nan, .infinity, -.infinity]
        let n = shape.reduce(1, *)
        return try! T(shape: shape, scalars: (0..<n).map { _ in pool[Int(rng.next() % UInt64(pool.count))] })
    }

    @Test func tensorVersusTensorAllSizes() throws {
        for (name, op, _, ref) in Self.comparisons {
            for n in ewSizes + [300_001] {
                let a = tiesAndSpecials([n], seed: UInt64(n)), b = tiesAndSpecials([n], seed: UInt64(n) + 1)
                ewExpectExact(try op(a, b), ewReference([a, b]) { ref($0[0], $0[1]) ? 1 : 0 })
                _ = name
            }
        }
    }

    @Test func broadcastingAndViews() throws {
        let shapes: [([Int], [Int])] = [([3, 1], [1, 4]), ([2, 3, 4], [4]), ([], [5]), ([0, 2], [1, 2]), ([257, 1], [1, 13])]
        for (sa, sb) in shapes {
            let a = tiesAndSpecials(sa, seed: 1), b = tiesAndSpecials(sb, seed: 2)
            for (_, op, _, ref) in Self.comparisons {
                ewExpectExact(try op(a, b), ewReference([a, b]) { ref($0[0], $0[1]) ? 1 : 0 })
                ewExpectExact(try op(b, a), ewReference([b, a]) { ref($0[0], $0[1]) ? 1 : 0 })
            }
        }
        let v = try tiesAndSpecials([13, 7], seed: 3).transposed()
        let w = try tiesAndSpecials([7, 26], seed: 4).sliced(axis: 1, 0..<26, step: 2)
        for (_, op, _, ref) in Self.comparisons {
            ewExpectExact(try op(v, w), ewReference([v, w]) { ref($0[0], $0[1]) ? 1 : 0 })
        }
    }

    @Test func tensorVersusScalar() {
        for n in ewSizes + [262_200] {
            let a = tiesAndSpecials([n], seed: UInt64(n))
            for s: Float in [0, -0.0, 1, .nan, .infinity] {
                for (_, _, op, ref) in Self.comparisons {
                    ewExpectExact(op(a, s), ewReference([a]) { ref($0[0], Double(s)) ? 1 : 0 })
                }
            }
        }
    }

    @Test func doubleComparisons() throws {
        let a = ewRandom([65], seed: 1, as: Double.self), b = ewRandom([65, 1], seed: 2, as: Double.self)
        for (_, _, _, ref) in Self.comparisons.prefix(1) {
            ewExpectExact(try a.equal(a), ewReference([a, a]) { ref($0[0], $0[1]) ? 1 : 0 })
        }
        ewExpectExact(try a.less(b), ewReference([a, b]) { $0[0] < $0[1] ? 1 : 0 })
        ewExpectExact(a.greaterEqual(0.5), ewReference([a]) { $0[0] >= 0.5 ? 1 : 0 })
    }

    @Test func comparisonErrors() {
        let a = T([1, 2, 3]), b = T([1, 2])
        for (name, op, _, _) in Self.comparisons {
            #expect(throws: TensorError.shapeMismatch(
                op: name, shapes: [[3], [2]], reason: "sizes 3 and 2 at dimension -1 (counted from the right) do not broadcast")) {
                try op(a, b)
            }
        }
    }

    @Test func whereSelectsWithThreeWayBroadcasting() throws {
        let cases: [([Int], [Int], [Int])] = [
            ([7], [7], [7]), ([3, 1], [1, 4], []), ([4], [2, 1, 4], [3, 1]), ([1], [65], [1]), ([0, 1], [1, 3], [3]),
            ([257], [257], [1]), ([300_001], [300_001], [300_001]), ([2, 1], [2, 150_000], [1, 150_000]),
        ]
        for (sc, sa, sb) in cases {
            let c = tiesAndSpecials(sc, seed: 1), a = ewRandom(sa, seed: 2), b = ewRandom(sb, seed: 3)
            ewExpectExact(try T.where(c, a, b), ewReference([c, a, b]) { $0[0] != 0 ? $0[1] : $0[2] })
        }
        // NaN is non-zero, so it selects `a`.
        let r = try T.where(T([.nan, 0, -0.0, 2]), T([1, 1, 1, 1]), T([9, 9, 9, 9]))
        #expect(r.scalars == [1, 9, 9, 1])
        // Non-contiguous operands.
        let c = try tiesAndSpecials([9, 5], seed: 4).transposed()
        let a = try ewRandom([5, 18], seed: 5).sliced(axis: 1, 0..<18, step: 2)
        let b = try ewRandom([1, 9], seed: 6).expanded(to: [5, 9])
        ewExpectExact(try T.where(c, a, b), ewReference([c, a, b]) { $0[0] != 0 ? $0[1] : $0[2] })
        // Double.
        let cd = ewRandom([13], seed: 7, as: Double.self).greater(0)
        let ad = ewRandom([13], seed: 8, as: Double.self)
        ewExpectExact(try Tensor<Double>.where(cd, ad, -ad), ewReference([cd, ad]) { $0[0] != 0 ? $0[1] : -$0[1] })
    }

    @Test func whereErrorNamesAllThreeShapes() {
        #expect(throws: TensorError.shapeMismatch(
            op: "where", shapes: [[3], [1], [4]], reason: "sizes 3 and 4 at dimension -1 (counted from the right) do not broadcast")) {
            try T.where(T([1, 0, 1]), T([1]), T([1, 2, 3, 4]))
        }
        #expect(throws: TensorError.self) { try T.where(T([1, 0]), T([1, 2, 3]), T([1])) }
    }

    @Test func maskedFillBroadcastsAndCopiesOnWrite() throws {
        for (shape, maskShape) in [([7], [7]), ([3, 4], [1, 4]), ([3, 4], [3, 1]), ([65, 13], []), ([300, 1000], [1, 1000]),
                                   ([5, 2], [1])] {
            let x = ewRandom(shape, seed: 1)
            let mask = tiesAndSpecials(maskShape, seed: 2)
            var y = x
            let copy = y
            try y.maskedFill(mask, with: -.infinity)
            ewExpectExact(y, ewReference([x, mask]) { $0[1] != 0 ? -.infinity : $0[0] })
            #expect(copy == x)
            #expect(try x.maskedFilled(mask, with: -.infinity) == y)
        }
        // Into a transposed view and into an expanded (stride-0) tensor.
        var t = try ewRandom([4, 6], seed: 3).transposed()
        let t0 = t.contiguous()
        let m = tiesAndSpecials([6, 4], seed: 4)
        try t.maskedFill(m, with: 7)
        ewExpectExact(t, ewReference([t0, m]) { $0[1] != 0 ? 7 : $0[0] })
        let src = ewRandom([1, 3], seed: 5)
        var e = try src.expanded(to: [4, 3])
        try e.maskedFill(T([1, 0, 0, 1]).reshaped([4, 1]), with: 0)
        ewExpectExact(e, ewReference([src, try T([1, 0, 0, 1]).reshaped([4, 1])]) { $0[1] != 0 ? 0 : $0[0] })
        #expect(src == ewRandom([1, 3], seed: 5))
        // Errors: the mask must broadcast to the tensor's own shape.
        var z = ewRandom([3, 1], seed: 6)
        let z0 = z
        #expect(throws: TensorError.shapeMismatch(op: "maskedFill", shapes: [[3, 1], [1, 4]],
                                                  reason: "the mask must broadcast to the tensor's shape [3, 1]")) {
            try z.maskedFill(T([1, 0, 1, 0]).reshaped([1, 4]), with: 0)
        }
        #expect(throws: TensorError.self) { try z.maskedFill(T([1, 0]), with: 0) }
        #expect(z == z0)
        // Double.
        var d = ewRandom([8], seed: 7, as: Double.self)
        let d0 = d
        try d.maskedFill(d.less(0), with: 0)
        ewExpectExact(d, ewReference([d0]) { Swift.max($0[0], 0) })
    }

    @Test func causalMask() throws {
        let m = try T.causalMask(5)
        #expect(m.shape == [5, 5])
        for i in 0..<5 {
            for j in 0..<5 { #expect(try m.element(at: [i, j]) == (j <= i ? 0 : -.infinity)) }
        }
        #expect(try T.causalMask(0).shape == [0, 0])
        #expect(try T.causalMask(1).scalars == [0])
        #expect(throws: TensorError.invalidArgument(op: "causalMask", reason: "size must be non-negative, got -1")) {
            try T.causalMask(-1)
        }
        // Adding it to scores then taking exp zeroes the future.
        let scores = ewRandom([4, 4], seed: 1)
        let p = try (scores + T.causalMask(4)).exp()
        for i in 0..<4 {
            for j in 0..<4 where j > i { #expect(try p.element(at: [i, j]) == 0) }
        }
    }
}

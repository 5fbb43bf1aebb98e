import Foundation
import Testing
@testable import Tensor

// MARK: - Shared helpers for the elementwise suites (prefixed `ew` to keep them apart from other suites)

/// The broadcast shape by the textbook rule, or nil; independent of the code under test.
func ewNaiveShape(_ shapes: [[Int]]) -> [Int]? {
    let rank = shapes.map(\.count).max() ?? 0
    var out = [Int](repeating: 1, count: rank)
    for s in shapes {
        for d in 0..<s.count {
            let o = rank - s.count + d
            if out[o] == 1 { out[o] = s[d] } else if s[d] != 1 && s[d] != out[o] { return nil }
        }
    }
    return out
}

/// Reference for a broadcasting elementwise op on any number of operands, evaluated with explicit loops:
/// an odometer over the output index, and for each operand the row-major position of the source element
/// (right-aligned, size-1 dimensions pinned to 0).
func ewReference<S: TensorScalar>(_ operands: [Tensor<S>], _ f: ([Double]) -> Double) -> (shape: [Int], values: [Double]) {
    let shape = ewNaiveShape(operands.map(\.shape))!
    let rank = shape.count, n = shape.reduce(1, *)
    let flats = operands.map { $0.scalars.map(Double.init) }
    let steps = operands.map { t -> [Int] in
        var s = [Int](repeating: 0, count: rank), size = 1
        for d in stride(from: t.rank - 1, through: 0, by: -1) {
            s[rank - t.rank + d] = t.shape[d] == 1 ? 0 : size
            size *= t.shape[d]
        }
        return s
    }
    var values = [Double](repeating: 0, count: n)
    var index = [Int](repeating: 0, count: rank)
    var args = [Double](repeating: 0, count: operands.count)
    for i in 0..<n {
        for k in operands.indices {
            var p = 0
            for d in 0..<rank { p += index[d] * steps[k][d] }
            args[k] = flats[k][p]
        }
        values[i] = f(args)
        var d = rank - 1
        while d >= 0 {
            index[d] += 1
            if index[d] < shape[d] { break }
            index[d] = 0
            d -= 1
        }
    }
    return (shape, values)
}

/// Equal, or both NaN.
func ewSame<S: BinaryFloatingPoint>(_ a: S, _ b: S) -> Bool { a == b || (a.isNaN && b.isNaN) }

/// Checks `t` against reference values that must round exactly (correctly rounded IEEE ops).
func ewExpectExact<S: TensorScalar>(_ t: Tensor<S>, _ ref: (shape: [Int], values: [Double]),
                                    sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(t.shape == ref.shape, sourceLocation: sourceLocation)
    guard t.shape == ref.shape else { return }
    let got = t.scalars
    var bad = 0
    for i in got.indices where !ewSame(got[i], S(ref.values[i])) {
        bad += 1
        if bad <= 3 { Issue.record("element \(i): got \(got[i]), expected \(S(ref.values[i]))", sourceLocation: sourceLocation) }
    }
    #expect(bad == 0, sourceLocation: sourceLocation)
}

/// A tensor of normal samples with a few special values sprinkled in (±0, ±inf, NaN) when `specials`.
func ewRandom<S: TensorScalar>(_ shape: [Int], seed: UInt64, specials: Bool = false, as: S.Type = Float.self) -> Tensor<S> {
    var rng = TensorRNG(seed: seed)
    var t = try! Tensor<S>.normal(shape, std: 3, using: &rng)
    if specials && t.count >= 8 {
        let sv: [S] = [0, -0.0, .infinity, -.infinity, .nan, 1, -1, 1e-40]
        t.withUnsafeMutableBufferPointer { p in
            for (k, v) in sv.enumerated() { p[(k * 7919) % p.count] = v }
        }
    }
    return t
}

let ewSizes = [1, 7, 13, 65, 257]

// MARK: - Arithmetic

@Suite struct ArithmeticTests {
    typealias T = Tensor<Float>

    static var ops: [(String, (T, T) throws -> T, (Double, Double) -> Double)] { [
        ("+", { try $0 + $1 }, { $0 + $1 }),
        ("-", { try $0 - $1 }, { $0 - $1 }),
        ("*", { try $0 * $1 }, { $0 * $1 }),
        ("/", { try $0 / $1 }, { $0 / $1 }),
        ("maximum", { try $0.maximum($1) }, { $0.isNaN || $1.isNaN ? .nan : Swift.max($0, $1) }),
        ("minimum", { try $0.minimum($1) }, { $0.isNaN || $1.isNaN ? .nan : Swift.min($0, $1) }),
    ] }

    @Test func sameShapeDenseAllSizes() throws {
        // Float +, −, ×, ÷ are correctly rounded, so they must equal the Double result rounded once.
        for (name, op, ref) in Self.ops {
            for n in ewSizes + [300_007] {
                let a = ewRandom([n], seed: UInt64(n), specials: true), b = ewRandom([n], seed: UInt64(n) + 1, specials: true)
                let r = try op(a, b)
                #expect(r.isContiguous, "\(name)")
                ewExpectExact(r, ewReference([a, b]) { ref($0[0], $0[1]) })
            }
        }
    }

    @Test func broadcastingCornerCases() throws {
        let cases: [([Int], [Int])] = [
            ([1], [7]), ([7], [1]), ([3, 1], [1, 4]), ([2, 3, 4], [4]), ([4], [2, 3, 4]), ([5, 1, 3], [4, 1]),
            ([2, 1, 65], [1, 13, 1]), ([0, 3], [1, 3]), ([2, 0], [2, 1]), ([0], [1]), ([], [3]), ([3], []),
            ([], []), ([1, 1], [1]), ([257, 1], [1, 7]),
        ]
        for (sa, sb) in cases {
            let a = ewRandom(sa, seed: 3), b = ewRandom(sb, seed: 4)
            for (_, op, ref) in Self.ops {
                ewExpectExact(try op(a, b), ewReference([a, b]) { ref($0[0], $0[1]) })
            }
        }
    }

    @Test func largeBroadcastsHitTheParallelPath() throws {
        // Long inner runs split into pieces, many short runs, and a strided operand, all ≥ 256K elements.
        let cases: [([Int], [Int])] = [([3, 100_003], [3, 1]), ([70_001, 5], [5]), ([1, 300_000], [1]), ([300, 1, 512], [1, 2, 512])]
        for (sa, sb) in cases {
            let a = ewRandom(sa, seed: 5), b = ewRandom(sb, seed: 6)
            ewExpectExact(try a + b, ewReference([a, b]) { $0[0] + $0[1] })
            ewExpectExact(try b / a, ewReference([b, a]) { $0[0] / $0[1] })
        }
        let m = ewRandom([600, 513], seed: 7)
        let mt = try m.transposed()
        let other = ewRandom([513, 600], seed: 8)
        ewExpectExact(try mt * other, ewReference([mt, other]) { $0[0] * $0[1] })
        ewExpectExact(try mt - other, ewReference([mt, other]) { $0[0] - $0[1] })
    }

    @Test func nonContiguousOperands() throws {
        let base = ewRandom([13, 65], seed: 9)
        let views: [T] = [
            try base.transposed(),                                    // [65, 13], strides [1, 65]
            try base.sliced(axis: 1, 1..<64, step: 3).transposed(),   // stepped then transposed
            try base.sliced(axis: 0, 2..<13, step: 2),                // [6, 65] every other row
            try ewRandom([1, 13], seed: 10).expanded(to: [65, 13]),   // stride-0 rows
            try ewRandom([65, 1], seed: 11).expanded(to: [65, 13]),   // stride-0 columns
        ]
        for v in views {
            let dense = ewRandom(v.shape, seed: 12)
            for (_, op, ref) in Self.ops {
                let r1 = try op(v, dense), r2 = try op(dense, v)
                ewExpectExact(r1, ewReference([v, dense]) { ref($0[0], $0[1]) })
                ewExpectExact(r2, ewReference([dense, v]) { ref($0[0], $0[1]) })
                #expect(r1 == (try op(v.contiguous(), dense)))
            }
            let row = ewRandom([v.shape[1]], seed: 13)
            ewExpectExact(try v + row, ewReference([v, row]) { $0[0] + $0[1] })
        }
    }

    @Test func transposedOperandsAreVisitedInTiles() throws {
        // Layouts that take the tiled path (inner stride large, next-outer stride 1), with batch dimensions,
        // partial edge tiles in both directions, and the transposed tensor as the in-place output.
        let makers: [() throws -> T] = [{ try ewRandom([3, 40, 50], seed: 1).permuted([0, 2, 1]) },   // [3, 50, 40]
                                        { try ewRandom([2, 300, 20], seed: 2).permuted([0, 2, 1]) },  // [2, 20, 300]
                                        { try ewRandom([33, 129], seed: 3).transposed() }]            // [129, 33]
        for make in makers {
            let v = try make()
            #expect(CoalescedLayout(shape: v.shape, strides: [Tensor<Float>.contiguousStrides(v.shape), v.strides]).prefersTiles)
            let dense = ewRandom(v.shape, seed: 4)
            ewExpectExact(try v - dense, ewReference([v, dense]) { $0[0] - $0[1] })
            let row = ewRandom([v.shape.last!], seed: 5)
            var w = try make()  // uniquely owned, so updated in place
            try w += row
            ewExpectExact(w, ewReference([v, row]) { $0[0] + $0[1] })
            #expect(w.strides == v.strides)  // updated in its own (transposed) layout
        }
    }

    @Test func scalarOperands() {
        for n in ewSizes {
            let a = ewRandom([n, 3], seed: UInt64(n), specials: true)
            let s: Float = 1.7
            ewExpectExact(a + s, ewReference([a]) { $0[0] + 1.7.asFloat })
            ewExpectExact(s + a, ewReference([a]) { 1.7.asFloat + $0[0] })
            ewExpectExact(a - s, ewReference([a]) { $0[0] - 1.7.asFloat })
            ewExpectExact(s - a, ewReference([a]) { 1.7.asFloat - $0[0] })
            ewExpectExact(a * s, ewReference([a]) { $0[0] * 1.7.asFloat })
            ewExpectExact(s * a, ewReference([a]) { 1.7.asFloat * $0[0] })
            ewExpectExact(a / s, ewReference([a]) { $0[0] / 1.7.asFloat })
            ewExpectExact(s / a, ewReference([a]) { 1.7.asFloat / $0[0] })
            ewExpectExact(a.maximum(0.5), ewReference([a]) { $0[0].isNaN ? .nan : Swift.max($0[0], 0.5) })
            ewExpectExact(a.minimum(0.5), ewReference([a]) { $0[0].isNaN ? .nan : Swift.min($0[0], 0.5) })
        }
        let r0 = T(scalar: 2)
        #expect((r0 * 3).shape == [] && (try! (r0 * 3).item()) == 6)
        let t = try! ewRandom([7, 5], seed: 1).transposed()
        ewExpectExact(t * 2, ewReference([t]) { $0[0] * 2 })
    }

    @Test func unaryArithmetic() throws {
        for n in ewSizes + [300_001] {
            let a = ewRandom([n], seed: UInt64(n), specials: true)
            let neg = -a
            #expect(zip(neg.scalars, a.scalars).allSatisfy { $0.bitPattern == (-$1).bitPattern })
            ewExpectExact(a.abs(), ewReference([a]) { Swift.abs($0[0]) })
            ewExpectExact(a.squared(), ewReference([a]) { $0[0] * $0[0] })
            ewExpectExact(a.pow(2), ewReference([a]) { $0[0] * $0[0] })
            ewExpectExact(a.pow(1), ewReference([a]) { $0[0] })
            let p3 = a.pow(3).scalars, p05 = a.pow(-0.5).scalars
            for (i, x) in a.scalars.enumerated() {
                #expect(ewSame(p3[i], Foundation.powf(x, 3)) && ewSame(p05[i], Foundation.powf(x, -0.5)))
            }
            ewExpectExact(a.clamped(min: -1, max: 2), ewReference([a]) { $0[0].isNaN ? .nan : Swift.min(Swift.max($0[0], -1), 2) })
        }
        // min > max gives max everywhere (torch.clamp); NaN stays NaN.
        let c = T([-5, 0, 5, .nan]).clamped(min: 3, max: 1).scalars
        #expect(c[0] == 1 && c[1] == 1 && c[2] == 1 && c[3].isNaN)
        // On a non-contiguous view.
        let v = try ewRandom([9, 4], seed: 2).transposed()
        ewExpectExact(v.abs(), ewReference([v]) { Swift.abs($0[0]) })
        ewExpectExact(-v, ewReference([v]) { -$0[0] })
    }

    @Test func maximumMinimumNaNAndZeros() throws {
        let a = T([.nan, 1, .nan, -0.0, 0, -.infinity])
        let b = T([1, .nan, .nan, 0, -0.0, 3])
        let mx = try a.maximum(b).scalars, mn = try a.minimum(b).scalars
        #expect(mx[0].isNaN && mx[1].isNaN && mx[2].isNaN && mx[5] == 3)
        #expect(mn[0].isNaN && mn[1].isNaN && mn[2].isNaN && mn[5] == -.infinity)
        #expect(mx[3] == 0 && mn[4] == 0)
    }

    @Test func inPlaceOperatorsBroadcastAndCopyOnWrite() throws {
        for n in ewSizes + [300_000] {
            let a = ewRandom([n, 2], seed: UInt64(n)), row = ewRandom([2], seed: 99)
            for (name, ref): (String, (Double, Double) -> Double) in [("+=", { $0 + $1 }), ("-=", { $0 - $1 }),
                                                                        ("*=", { $0 * $1 }), ("/=", { $0 / $1 })] {
                var x = a
                let copy = x                      // shares storage: the in-place op must not change it
                switch name {
                case "+=": try x += row
                case "-=": try x -= row
                case "*=": try x *= row
                default: try x /= row
                }
                ewExpectExact(x, ewReference([a, row]) { ref($0[0], $0[1]) })
                #expect(copy == a, "\(name) wrote into a shared copy")
            }
        }
        // x += x: the right operand is the old value.
        var x = ewRandom([65], seed: 1)
        let old = x
        try x += x
        ewExpectExact(x, ewReference([old]) { $0[0] + $0[0] })
        // Scalar in-place forms.
        var y = ewRandom([13], seed: 2)
        let y0 = y
        y += 1; y -= 0.5; y *= 3; y /= 2
        ewExpectExact(y, ewReference([y0]) { Double((((Float($0[0]) + 1) - 0.5) * 3) / 2) })
        #expect(y0 == ewRandom([13], seed: 2))
    }

    @Test func inPlaceOnViews() throws {
        // An expanded (stride-0) tensor is materialised before writing; its source is untouched.
        let src = ewRandom([1, 5], seed: 3)
        var e = try src.expanded(to: [4, 5])
        let delta = ewRandom([4, 5], seed: 4)
        try e += delta
        ewExpectExact(e, ewReference([src, delta]) { $0[0] + $0[1] })
        #expect(src == ewRandom([1, 5], seed: 3))
        #expect(!e.strides.contains(0))
        // A uniquely owned transposed view is updated in its own layout.
        var t = try ewRandom([7, 13], seed: 5).transposed()
        let t0 = t.contiguous()
        let col = ewRandom([13, 1], seed: 6)
        try t *= col
        ewExpectExact(t, ewReference([t0, col]) { $0[0] * $0[1] })
        // A slice of a shared tensor: the base tensor keeps its values.
        let base = ewRandom([6, 6], seed: 7)
        var s = try base.sliced(axis: 1, 0..<6, step: 2)
        s.scale(by: -2)
        ewExpectExact(s, ewReference([try base.sliced(axis: 1, 0..<6, step: 2)]) { -2 * $0[0] })
        #expect(base == ewRandom([6, 6], seed: 7))
    }

    @Test func axpyAndScale() throws {
        for n in ewSizes + [262_147] {
            let a = ewRandom([n], seed: UInt64(n)), b = ewRandom([n], seed: UInt64(n) + 7)
            var x = a
            try x.add(b, scaledBy: 0.37)
            // Product and sum rounded separately in Float.
            let alpha: Float = 0.37
            let expected = zip(a.scalars, b.scalars).map { $0 + alpha * $1 }
            #expect(x.scalars == expected)
            var y = a
            try y.add(b)
            #expect(y == (try a + b))
            var z = a
            let shared = z
            z.scale(by: 0.25)
            #expect(z == a * 0.25 && shared == a)
        }
        var m = ewRandom([3, 4], seed: 1)
        let m0 = m
        let bias = ewRandom([4], seed: 2)
        try m.add(bias, scaledBy: -1)
        ewExpectExact(m, ewReference([m0, bias]) { Double(Float($0[0]) + Float(-1) * Float($0[1])) })
    }

    @Test func errorsNameOpAndShapes() throws {
        let a = ewRandom([2, 3], seed: 1), b = ewRandom([4], seed: 2)
        let cases: [(String, () throws -> T)] = [
            ("add", { try a + b }), ("subtract", { try a - b }), ("multiply", { try a * b }), ("divide", { try a / b }),
            ("maximum", { try a.maximum(b) }), ("minimum", { try a.minimum(b) }),
        ]
        for (op, f) in cases {
            #expect(throws: TensorError.shapeMismatch(
                op: op, shapes: [[2, 3], [4]],
                reason: "sizes 3 and 4 at dimension -1 (counted from the right) do not broadcast")) { try f() }
        }
        do {
            _ = try a + b
        } catch {
            #expect("\(error)".contains("[2, 3]") && "\(error)".contains("[4]"))
        }
        // In place: the right operand must broadcast to the left shape (here the result would be [3, 4]).
        var c = ewRandom([3, 1], seed: 3)
        let c0 = c
        #expect(throws: TensorError.self) { try c += ewRandom([1, 4], seed: 4) }
        #expect(throws: TensorError.self) { try c.add(ewRandom([2], seed: 4), scaledBy: 2) }
        #expect(c == c0)
        #expect(throws: TensorError.self) { _ = try ewRandom([0], seed: 1) + ewRandom([3], seed: 1) }
    }

    @Test func broadcastShapeFunction() throws {
        #expect(try T.broadcastShape([3, 1], [1, 4]) == [3, 4])
        #expect(try T.broadcastShape([], [2, 3]) == [2, 3])
        #expect(try T.broadcastShape([0, 1], [1, 5]) == [0, 5])
        #expect(try T.broadcastShape([8, 1, 6, 1], [7, 1, 5]) == [8, 7, 6, 5])
        #expect(throws: TensorError.shapeMismatch(op: "broadcastShape", shapes: [[2, 3], [3, 2]],
                                                  reason: "sizes 2 and 3 at dimension -2 (counted from the right) do not broadcast")) {
            try T.broadcastShape([2, 3], [3, 2])
        }
        #expect(throws: TensorError.self) { try T.broadcastShape([-1], [1]) }
    }

    @Test func doubleTensors() throws {
        for n in ewSizes + [262_145] {
            let a = ewRandom([n], seed: UInt64(n), as: Double.self), b = ewRandom([1], seed: 3, as: Double.self)
            ewExpectExact(try a + b, ewReference([a, b]) { $0[0] + $0[1] })
            ewExpectExact(try b / a, ewReference([b, a]) { $0[0] / $0[1] })
            ewExpectExact(try a.maximum(b), ewReference([a, b]) { Swift.max($0[0], $0[1]) })
            ewExpectExact(a * 3, ewReference([a]) { $0[0] * 3 })
            ewExpectExact(-a, ewReference([a]) { -$0[0] })
            var x = a
            try x.add(a, scaledBy: 0.5)
            ewExpectExact(x, ewReference([a]) { $0[0] + 0.5 * $0[0] })
        }
        let t = try ewRandom([5, 7], seed: 1, as: Double.self).transposed()
        let u = ewRandom([7, 1], seed: 2, as: Double.self)
        ewExpectExact(try t - u, ewReference([t, u]) { $0[0] - $0[1] })
    }
}

fileprivate extension Double {
    /// The Double value of the nearest Float (for references built with a Float scalar operand).
    var asFloat: Double { Double(Float(self)) }
}

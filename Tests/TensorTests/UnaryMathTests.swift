import Foundation
import Testing
@testable import Tensor

// References in Double, in forms that are accurate in both tails.
private let sqrt2 = 2.0.squareRoot()
private func refSigmoid(_ x: Double) -> Double {
    x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
}
private func refCDF(_ x: Double) -> Double { 0.5 * Foundation.erfc(-x / sqrt2) }
private func refPDF(_ x: Double) -> Double { Foundation.exp(-x * x / 2) / (2 * Double.pi).squareRoot() }
private func refV(_ x: Double) -> Double { 2 * (2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x) }
private func refGelu(_ x: Double) -> Double { x * refCDF(x) }
private func refGeluTanh(_ x: Double) -> Double { 0.5 * x * (1 + Foundation.tanh(refV(x) / 2)) }
private func refGeluTanhStable(_ x: Double) -> Double { x * refSigmoid(refV(x)) }
private func refSilu(_ x: Double) -> Double { x * refSigmoid(x) }
private func refGeluDerivative(_ x: Double) -> Double { refCDF(x) + x * refPDF(x) }
private func refGeluTanhDerivative(_ x: Double) -> Double {
    let s = refSigmoid(refV(x)), dv = 2 * (2 / Double.pi).squareRoot() * (1 + 3 * 0.044715 * x * x)
    return s + x * dv * s * refSigmoid(-refV(x))
}
private func refSiluDerivative(_ x: Double) -> Double { refSigmoid(x) * (1 + x * refSigmoid(-x)) }
/// `f` with its limits at ±inf, where the formulas above give inf·0.
private func limits(_ f: @escaping (Double) -> Double, _ atMinusInf: Double, _ atPlusInf: Double) -> (Double) -> Double {
    { x in x == -.infinity ? atMinusInf : x == .infinity ? atPlusInf : f(x) }
}

/// One unary function under test: its pointer kernel, tensor method, Double reference, and the allowed error
/// |y − r| ≤ tolerance(x, r) (NaN must match NaN; infinities and zeros of the rounded reference must match).
private struct UnaryCase: @unchecked Sendable, CustomStringConvertible {
    let name: String
    let kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void
    let method: (Tensor<Float>) -> Tensor<Float>
    let methodDouble: (Tensor<Double>) -> Tensor<Double>
    let ref: (Double) -> Double
    let tolerance: (_ x: Double, _ r: Double) -> Double
    var description: String { name }
}

/// The size of one unit in the last place of the Float nearest to r (2^-149 for denormals and zero).
private func ulp(_ r: Double) -> Double { Double(Float(r).magnitude.ulp) }

private func ulps(_ k: Double) -> (Double, Double) -> Double { { _, r in k * ulp(r) } }

private let cases: [UnaryCase] = [
    UnaryCase(name: "exp", kernel: vexp, method: { $0.exp() }, methodDouble: { $0.exp() },
              ref: Foundation.exp, tolerance: ulps(2)),
    UnaryCase(name: "log", kernel: vlog, method: { $0.log() }, methodDouble: { $0.log() },
              ref: Foundation.log, tolerance: ulps(2)),
    UnaryCase(name: "tanh", kernel: vtanh, method: { $0.tanh() }, methodDouble: { $0.tanh() },
              ref: Foundation.tanh, tolerance: ulps(3)),
    UnaryCase(name: "sigmoid", kernel: vsigmoid, method: { $0.sigmoid() }, methodDouble: { $0.sigmoid() },
              ref: refSigmoid, tolerance: ulps(3)),
    UnaryCase(name: "erf", kernel: verf, method: { $0.erf() }, methodDouble: { $0.erf() },
              ref: Foundation.erf, tolerance: ulps(2)),
    UnaryCase(name: "sqrt", kernel: vsqrt, method: { $0.sqrt() }, methodDouble: { $0.sqrt() },
              ref: { $0.squareRoot() }, tolerance: { _, _ in 0 }),  // correctly rounded
    UnaryCase(name: "rsqrt", kernel: vrsqrt, method: { $0.rsqrt() }, methodDouble: { $0.rsqrt() },
              ref: { 1 / $0.squareRoot() }, tolerance: ulps(2)),
    UnaryCase(name: "relu", kernel: vrelu, method: { $0.relu() }, methodDouble: { $0.relu() },
              ref: { $0 <= 0 ? 0 : $0 }, tolerance: { _, _ in 0 }),
    // Below about −13 the result is ~1e-38 and is formed from a denormal Φ(x): a few denormal ulps.
    UnaryCase(name: "gelu", kernel: vgelu, method: { $0.gelu() }, methodDouble: { $0.gelu() },
              ref: limits(refGelu, 0, .infinity), tolerance: { x, r in 6 * ulp(r) + (x < -13 ? 1e-6 * Swift.abs(r) + 1e-44 : 0) }),
    // Relative accuracy in the far negative tail is that of v = 2u (|v|·ε): inherent to fp32 evaluation.
    UnaryCase(name: "geluTanh", kernel: vgeluTanh, method: { $0.geluTanh() }, methodDouble: { $0.geluTanh() },
              ref: limits(refGeluTanhStable, 0, .infinity), tolerance: { x, r in 6 * ulp(r) + (x.isFinite ? 3e-7 * Swift.abs(refV(x) * r) : 0) }),
    // e^x is denormal below about −87: a few denormal ulps.
    UnaryCase(name: "silu", kernel: vsilu, method: { $0.silu() }, methodDouble: { $0.silu() },
              ref: limits(refSilu, 0, .infinity), tolerance: { x, r in 4 * ulp(r) + (x < -87 ? 1e-5 * Swift.abs(r) + 1e-43 : 0) }),
    // Derivatives: absolute error (they cross zero, where relative error is meaningless); values are O(1).
    UnaryCase(name: "geluDerivative", kernel: vgeluGrad, method: { $0.geluDerivative() },
              methodDouble: { $0.geluDerivative() }, ref: limits(refGeluDerivative, 0, 1), tolerance: { _, _ in 4e-7 }),
    UnaryCase(name: "geluTanhDerivative", kernel: vgeluTanhGrad, method: { $0.geluTanhDerivative() },
              methodDouble: { $0.geluTanhDerivative() }, ref: limits(refGeluTanhDerivative, 0, 1), tolerance: { _, _ in 4e-7 }),
    UnaryCase(name: "siluDerivative", kernel: vsiluGrad, method: { $0.siluDerivative() },
              methodDouble: { $0.siluDerivative() }, ref: limits(refSiluDerivative, 0, 1), tolerance: { _, _ in 4e-7 }),
]

/// Counts elements of `ys` = f(`xs`) outside the tolerance (and prints the first few).
private func failures(_ c: UnaryCase, _ xs: [Float], _ ys: [Float]) -> Int {
    var bad = 0
    for i in xs.indices {
        let x = Double(xs[i]), y = Double(ys[i]), r = c.ref(x)
        let ok: Bool
        if r.isNaN {
            ok = y.isNaN
        } else if Float(r).isInfinite {
            ok = y == Double(Float(r))
        } else {
            ok = y.isFinite && Swift.abs(y - r) <= c.tolerance(x, r) + 0.5 * ulp(r)
        }
        if !ok {
            bad += 1
            if bad <= 3 { print("\(c.name)(\(xs[i])) = \(ys[i]), expected \(r)") }
        }
    }
    return bad
}

/// Floats spread over the whole bit-pattern range (every `step`-th pattern), plus a dense uniform sample
/// of [−lim, lim] and the special values.
private func sweepInputs(step: UInt32 = 4099, dense: Int = 100_000, lim: Float = 20) -> [Float] {
    var xs: [Float] = []
    var b: UInt32 = 0
    while b < UInt32.max - step { xs.append(Float(bitPattern: b)); b &+= step }
    var rng = TensorRNG(seed: 42)
    for _ in 0..<dense { xs.append(Float(rng.nextUnit() * 2 - 1) * lim) }
    xs += [0, -0.0, .infinity, -.infinity, .nan, -.nan, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
           .leastNormalMagnitude, .greatestFiniteMagnitude, -.greatestFiniteMagnitude, 1, -1, 0.5, 88.72283, 88.72284,
           -87.33654, -103.97, -103.98, 0.625, -0.625, 1e-20, -1e-20]
    return xs
}

@Suite struct UnaryMathTests {
    @Test(arguments: cases)
    fileprivate func kernelAccuracySweep(_ c: UnaryCase) {
        let xs = sweepInputs()
        var ys = [Float](repeating: 0, count: xs.count)
        xs.withUnsafeBufferPointer { s in ys.withUnsafeMutableBufferPointer { c.kernel(s.baseAddress!, $0.baseAddress!, s.count) } }
        #expect(failures(c, xs, ys) == 0, "\(c.name)")
        // In place (src == dst) gives the same results.
        var inPlace = xs
        inPlace.withUnsafeMutableBufferPointer { c.kernel(UnsafePointer($0.baseAddress!), $0.baseAddress!, $0.count) }
        #expect(zip(inPlace, ys).allSatisfy { $0.bitPattern == $1.bitPattern })
    }

    @Test func specialValues() {
        func f(_ m: (Tensor<Float>) -> Tensor<Float>, _ x: [Float]) -> [Float] { m(Tensor(x)).scalars }
        let e = f({ $0.exp() }, [0, -0.0, .infinity, -.infinity, .nan, 88.8, -104, -87.5, 1])
        #expect(e[0] == 1 && e[1] == 1 && e[2] == .infinity && e[3] == 0 && e[4].isNaN && e[5] == .infinity && e[6] == 0)
        #expect(e[7] > 0 && e[7] < Float.leastNormalMagnitude)  // gradual underflow
        #expect(Swift.abs(e[8] - Float(M_E)) <= Float(M_E).ulp)
        let l = f({ $0.log() }, [0, -0.0, -1, .infinity, .nan, 1, .leastNonzeroMagnitude, -.infinity])
        #expect(l[0] == -.infinity && l[1] == -.infinity && l[2].isNaN && l[3] == .infinity && l[4].isNaN)
        #expect(l[5] == 0 && Swift.abs(l[6] - Float(Foundation.log(Double(Float.leastNonzeroMagnitude)))) < 1e-5)
        #expect(l[7].isNaN)
        let t = f({ $0.tanh() }, [.infinity, -.infinity, -0.0, .nan, 30, -30])
        #expect(t[0] == 1 && t[1] == -1 && t[2] == 0 && t[2].sign == .minus && t[3].isNaN && t[4] == 1 && t[5] == -1)
        let s = f({ $0.sigmoid() }, [.infinity, -.infinity, .nan, 0])
        #expect(s[0] == 1 && s[1] == 0 && s[2].isNaN && s[3] == 0.5)
        let er = f({ $0.erf() }, [.infinity, -.infinity, -0.0, .nan, 5])
        #expect(er[0] == 1 && er[1] == -1 && er[2] == 0 && er[2].sign == .minus && er[3].isNaN && er[4] == 1)
        for m in [{ (x: Tensor<Float>) in x.gelu() }, { $0.geluTanh() }, { $0.silu() }] {
            let g = f(m, [.infinity, -.infinity, .nan, 0, -0.0])
            #expect(g[0] == .infinity && g[1] == 0 && g[2].isNaN && g[3] == 0 && g[4] == 0)
        }
        for m in [{ (x: Tensor<Float>) in x.geluDerivative() }, { $0.geluTanhDerivative() }, { $0.siluDerivative() }] {
            let g = f(m, [.infinity, -.infinity, .nan, 0])
            #expect(g[0] == 1 && g[1] == 0 && g[2].isNaN && g[3] == 0.5)
        }
        let r = f({ $0.relu() }, [.nan, -0.0, -1, 2])
        #expect(r[0].isNaN && r[1] == 0 && r[1].sign == .plus && r[2] == 0 && r[3] == 2)
        let q = f({ $0.sqrt() }, [-1, 0, -0.0, .infinity])
        #expect(q[0].isNaN && q[1] == 0 && q[2] == 0 && q[3] == .infinity)
        let rq = f({ $0.rsqrt() }, [0, .infinity, 4])
        #expect(rq[0] == .infinity && rq[1] == 0 && rq[2] == 0.5)
    }

    @Test(arguments: cases)
    fileprivate func tensorMethodAllSizes(_ c: UnaryCase) throws {
        for n in ewSizes + [300_001] {
            let x = ewRandom([n], seed: UInt64(n), specials: true)
            let y = c.method(x)
            #expect(y.shape == x.shape && y.isContiguous)
            #expect(failures(c, x.scalars, y.scalars) == 0, "\(c.name) n=\(n)")
            // Chunking over threads and the SIMD tail never change a result.
            var serial = [Float](repeating: 0, count: n)
            x.scalars.withUnsafeBufferPointer { s in serial.withUnsafeMutableBufferPointer { c.kernel(s.baseAddress!, $0.baseAddress!, n) } }
            #expect(y.scalars.map(\.bitPattern) == serial.map(\.bitPattern))
        }
        // Rank 0 and empty.
        #expect(c.method(Tensor(scalar: 0.5)).shape == [])
        #expect(c.method(try Tensor<Float>.zeros([0, 3])).shape == [0, 3])
    }

    @Test(arguments: cases)
    fileprivate func nonContiguousInputs(_ c: UnaryCase) throws {
        let base = ewRandom([13, 65], seed: 1, specials: true)
        let views = [try base.transposed(), try base.sliced(axis: 1, 3..<60, step: 4),
                     try ewRandom([1, 65], seed: 2).expanded(to: [7, 65])]
        for v in views {
            let y = c.method(v)
            #expect(y.shape == v.shape)
            #expect(y.scalars.map(\.bitPattern) == c.method(v.contiguous()).scalars.map(\.bitPattern))
        }
    }

    @Test(arguments: cases)
    fileprivate func doublePath(_ c: UnaryCase) {
        // Double is the oracle: it must agree with the Double reference to near Double precision.
        var rng = TensorRNG(seed: 3)
        var xs = (0..<2000).map { _ in (rng.nextUnit() * 2 - 1) * 12 }
        xs += [0, 1, -1, 0.3, 1e-10, 40, -40]
        let y = c.methodDouble(Tensor(xs)).scalars
        for (x, v) in zip(xs, y) {
            if c.name == "log" || c.name == "sqrt" || c.name == "rsqrt", x < 0 { #expect(v.isNaN); continue }
            let r = c.ref(x)
            if r.isInfinite { #expect(v == r); continue }
            #expect(Swift.abs(v - r) <= 1e-14 * Swift.max(1, Swift.abs(r)), "\(c.name)(\(x)) = \(v), expected \(r)")
        }
    }

    @Test func derivativesMatchFiniteDifferencesInDouble() {
        let pairs: [((Tensor<Double>) -> Tensor<Double>, (Tensor<Double>) -> Tensor<Double>)] = [
            ({ $0.gelu() }, { $0.geluDerivative() }), ({ $0.geluTanh() }, { $0.geluTanhDerivative() }),
            ({ $0.silu() }, { $0.siluDerivative() }),
        ]
        let xs = stride(from: -8.0, through: 8.0, by: 0.173).map { $0 }
        let h = 1e-5
        for (f, df) in pairs {
            let plus = f(Tensor(xs.map { $0 + h })).scalars, minus = f(Tensor(xs.map { $0 - h })).scalars
            let d = df(Tensor(xs)).scalars
            for i in xs.indices {
                #expect(Swift.abs((plus[i] - minus[i]) / (2 * h) - d[i]) < 1e-8, "x = \(xs[i])")
            }
        }
    }

    @Test func expShiftedSumForSoftmax() {
        for n in ewSizes + [16, 31, 4099] {
            let xs = ewRandom([n], seed: UInt64(n)).scalars
            let shift = xs.max()!
            var ys = [Float](repeating: .nan, count: n)
            let sum = xs.withUnsafeBufferPointer { s in
                ys.withUnsafeMutableBufferPointer { runExpShiftedSum(s.baseAddress!, $0.baseAddress!, n, shift: shift) }
            }
            // Each element is exactly the exp kernel's value of x − shift; the sum matches a Double sum of them.
            let shifted = xs.map { $0 - shift }
            var expected = [Float](repeating: 0, count: n)
            shifted.withUnsafeBufferPointer { s in expected.withUnsafeMutableBufferPointer { vexp(s.baseAddress!, $0.baseAddress!, n) } }
            #expect(ys == expected)
            let ref = xs.reduce(0.0) { $0 + Foundation.exp(Double($1) - Double(shift)) }
            #expect(Swift.abs(Double(sum) - ref) <= 1e-6 * ref, "n = \(n)")
        }
    }

    @Test func geluTanhMatchesThePyTorchFormula() {
        // x·σ(2u) is the same function as ½x(1 + tanh u); check against the literal formula where it has no
        // cancellation.
        let xs = stride(from: -3.0, through: 6.0, by: 0.01).map { Float($0) }
        let y = Tensor(xs).geluTanh().scalars
        for (x, v) in zip(xs, y) {
            let r = refGeluTanh(Double(x))
            #expect(Swift.abs(Double(v) - r) <= 1e-6 * Swift.max(Swift.abs(r), 1e-2))
        }
    }
}

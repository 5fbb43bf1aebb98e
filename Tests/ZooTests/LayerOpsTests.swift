import Autodiff
import Foundation
import LanguageModel
import Tensor
import Testing

/// The layer library's fused ops (Layers.swift) against compositions of Autodiff's generic Variable ops:
/// forward values and the gradient of every input for a random output cotangent, ≤ 1e-9 relative in Double
/// and ≤ 1e-5 in Float.
@Suite struct LayerOpsTests {
    // MARK: RMS norm

    @Test(arguments: [true, false])
    func rmsNormMatchesAutodiff(_ withWeight: Bool) throws {
        func run<S: OpScalar>(_: S.Type) throws {
            try S.check(shapes: withWeight ? [[2, 3, 16], [16]] : [[5, 16]], seed: 1, offsets: [0.3, 1]) { v in
                try Layers.rmsNorm(v[0], weight: withWeight ? v[1] : nil, epsilon: S(1e-5))
            } reference: { v in
                try v[0].rmsNorm(weight: withWeight ? v[1] : nil, epsilon: S(1e-5))
            }
        }
        try run(Double.self)
        try run(Float.self)
    }

    /// ε matters when the row is small (Llama's embeddings are ~0.02): ours uses it exactly as LlamaRMSNorm,
    /// x·rsqrt(mean(x²) + ε), and differs from a norm with another ε.
    @Test func rmsNormUsesItsEpsilon() throws {
        let x = try Tensor<Double>(shape: [1, 4], scalars: [0.01, -0.02, 0.015, 0.005])
        let ms = x.scalars.map { $0 * $0 }.reduce(0, +) / 4
        let y = try Layers.rmsNorm(Variable(x), weight: nil, epsilon: 1e-5).value.scalars
        for (a, b) in zip(y, x.scalars) { #expect(abs(a - b / (ms + 1e-5).squareRoot()) <= 1e-14) }
        let other = try Layers.rmsNorm(Variable(x), weight: nil, epsilon: 1e-6).value.scalars
        #expect(abs(other[0] - y[0]) > 1e-2)
    }

    // MARK: Gated activation

    @Test(arguments: Activation.allCases)
    func gatedActivationMatchesAutodiff(_ activation: Activation) throws {
        func run<S: OpScalar>(_: S.Type) throws {
            try S.check(shapes: [[3, 5, 24], [3, 5, 24]], seed: 2, offsets: [0, 0]) { v in
                try Layers.gatedActivation(gate: v[0], up: v[1], activation: activation)
            } reference: { v in
                let a: Variable<S> = switch activation {
                case .relu: v[0].relu()
                case .gelu: v[0].gelu()
                case .geluTanh: v[0].geluTanh()
                case .silu: v[0].silu()
                }
                return try a * v[1]
            }
        }
        try run(Double.self)
        try run(Float.self)
    }

    // MARK: Rotary

    /// Ours against `x·cos + rotate_half(x)·sin` written with slices and a concatenation, the angles computed
    /// here independently (pos · θ^(−2i/d)); positions as a left-padded batch makes them.
    @Test func rotaryMatchesRotateHalfComposition() throws {
        let (b, t, heads, d, theta) = (2, 5, 3, 8, 500.0)
        let positions = [0, 1, 2, 3, 4, /* row 1, two pads */ 0, 0, 0, 1, 2]
        try Double.checkRotary(b: b, t: t, heads: heads, d: d, theta: theta, positions: positions)
        try Float.checkRotary(b: b, t: t, heads: heads, d: d, theta: theta, positions: positions)
    }

    /// The rotation preserves each pair's norm, position 0 is the identity, and a rotation by p then the
    /// pullback (the inverse rotation) gives the input back.
    @Test func rotaryIsARotation() throws {
        var rng = TensorRNG(seed: 7)
        let x = try Tensor<Double>.normal([1, 4, 16], mean: 0, std: 1, using: &rng)
        let rope = try RotaryEmbedding<Double>(positions: [0, 1, 17, 63], headDim: 8, theta: 10000)
        let (y, back) = try valueAndGradient(at: x, seed: try Layers.rotary(Variable(x), rope).value) { v in
            try Layers.rotary(v, rope)
        }
        let xs = x.scalars, ys = y.scalars
        for i in 0..<8 { #expect(xs[i] == ys[i]) }  // position 0
        for row in 0..<4 {
            for h in 0..<2 {
                for i in 0..<4 {
                    let a = row * 16 + h * 8 + i, c = a + 4
                    let n0 = xs[a] * xs[a] + xs[c] * xs[c], n1 = ys[a] * ys[a] + ys[c] * ys[c]
                    #expect(abs(n0 - n1) <= 1e-12 * max(n0, 1))
                }
            }
        }
        #expect(maxRelative(back, x) <= 1e-14)
        // Linear rope divides the frequencies: position 2p with factor 2 is position p with none.
        let linear = try RotaryEmbedding<Double>(positions: [0, 2, 34, 126], headDim: 8, theta: 10000, scaling: .linear(factor: 2))
        #expect(maxRelative(try Layers.rotary(Variable(x), linear).value, y) <= 1e-12)
    }

    /// Llama 3.1's rope (factor 8, low 1, high 4, original context 8192, θ 500000, head 64) against the
    /// definition computed here in Double: low frequencies divided by the factor, high ones kept, the band
    /// between interpolated; and the cos/sin table uses the rescaled frequencies.
    @Test func llama3RopeFrequencies() throws {
        let (d, theta, factor, low, high, original) = (64, 500000.0, 8.0, 1.0, 4.0, 8192)
        let scaling = RopeScaling.llama3(factor: factor, lowFrequencyFactor: low, highFrequencyFactor: high,
                                         originalMaxPositions: original)
        let rope = try RotaryEmbedding<Float>(positions: [0, 1], headDim: d, theta: theta, scaling: scaling)
        var bands = Set<String>()
        for i in 0..<(d / 2) {
            let f = Foundation.pow(theta, -Double(2 * i) / Double(d)), wavelength = 2 * Double.pi / f
            let expected: Double
            if wavelength < Double(original) / high {
                expected = f; bands.insert("high")
            } else if wavelength > Double(original) / low {
                expected = f / factor; bands.insert("low")
            } else {
                let smooth = (Double(original) / wavelength - low) / (high - low)
                expected = (1 - smooth) * f / factor + smooth * f; bands.insert("medium")
            }
            let got = Double(rope.inverseFrequencies[i])
            #expect(abs(got - expected) <= 1e-6 * expected, "frequency \(i): \(got) vs \(expected)")
        }
        #expect(bands == ["high", "medium", "low"])
        // Row 1 (position 1) holds cos/sin of the frequencies themselves.
        let x = try Tensor<Float>(shape: [1, 2, d], scalars: (0..<(2 * d)).map { $0 % d == 0 ? 1 : 0 })
        let y = try Layers.rotary(Variable(x), rope).value.scalars
        #expect(abs(Double(y[d]) - Foundation.cos(Double(rope.inverseFrequencies[0]))) <= 1e-7)
        #expect(abs(Double(y[d + d / 2]) - Foundation.sin(Double(rope.inverseFrequencies[0]))) <= 1e-7)
    }

    @Test func rotaryRefusesBadArguments() throws {
        #expect(throws: ModelError.self) { try RotaryEmbedding<Float>(positions: [0], headDim: 7, theta: 10000) }
        #expect(throws: ModelError.self) { try RotaryEmbedding<Float>(positions: [0], headDim: 8, theta: 0) }
        #expect(throws: ModelError.self) { try RotaryEmbedding<Float>(positions: [-1], headDim: 8, theta: 10000) }
        #expect(throws: ModelError.self) {
            try RotaryEmbedding<Float>(positions: [0], headDim: 8, theta: 10000,
                                       scaling: .llama3(factor: 8, lowFrequencyFactor: 4, highFrequencyFactor: 1, originalMaxPositions: 16))
        }
        let rope = try RotaryEmbedding<Float>(positions: [0, 1], headDim: 8, theta: 10000)
        #expect(throws: TensorError.self) { try Layers.rotary(Variable(try Tensor<Float>.zeros([1, 3, 8])), rope) }
        #expect(throws: TensorError.self) { try Layers.rotary(Variable(try Tensor<Float>.zeros([1, 2, 12])), rope) }
    }

    // MARK: Attention

    /// Grouped-query (and plain multi-head) causal attention against `scaledDotProductAttention` with the
    /// key/value heads repeated as `repeat_kv` does, a padding key mask and the causal mask; with
    /// `detachProbabilities` only v gets a gradient, and it is the reference's with detached probabilities.
    @Test(arguments: [(4, 2), (4, 1), (4, 4), (6, 3)])
    func attentionMatchesRepeatedKVComposition(_ heads: Int, _ kvHeads: Int) throws {
        for detach in [false, true] {
            try Double.checkAttention(heads: heads, kvHeads: kvHeads, detach: detach)
            try Float.checkAttention(heads: heads, kvHeads: kvHeads, detach: detach)
        }
    }

    @Test func attentionRefusesKVHeadsThatDoNotDivide() throws {
        let q = Variable(try Tensor<Float>.zeros([1, 2, 24])), k = Variable(try Tensor<Float>.zeros([1, 2, 16]))
        #expect(throws: TensorError.self) {
            try Layers.attention(q: q, k: k, v: k, heads: 6, kvHeads: 4, scale: 1, keyMask: nil)
        }
        #expect(throws: TensorError.self) {  // k as wide as q but two key/value heads declared
            try Layers.attention(q: q, k: q, v: q, heads: 6, kvHeads: 2, scale: 1, keyMask: nil)
        }
    }
}

// MARK: - Harness

/// max |a − b| / max(max |b|, tiny).
func maxRelative<S: TensorScalar>(_ a: Tensor<S>, _ b: Tensor<S>) -> Double {
    precondition(a.shape == b.shape, "shapes \(a.shape) vs \(b.shape)")
    let scale = b.scalars.reduce(0.0) { max($0, abs(Double($1))) }
    let diff = zip(a.scalars, b.scalars).reduce(0.0) { max($0, abs(Double($1.0) - Double($1.1))) }
    return diff / max(scale, 1e-300)
}

/// A scalar type the op tests run in, with its tolerance.
protocol OpScalar: TensorScalar {
    static var tolerance: Double { get }
}

extension Double: OpScalar { static var tolerance: Double { 1e-9 } }
extension Float: OpScalar { static var tolerance: Double { 1e-5 } }

extension OpScalar {
    static func random(_ shape: [Int], seed: UInt64, offset: Double = 0) throws -> Tensor<Self> {
        var rng = TensorRNG(seed: seed)
        let t = try Tensor<Double>.normal(shape, mean: 0, std: 1, using: &rng)
        return try Tensor<Double>(shape: shape, scalars: t.scalars.map { $0 + offset }).converted(to: Self.self)
    }

    /// Value and every input gradient (for a random cotangent) of `ours` and `reference`, compared.
    static func check(shapes: [[Int]], seed: UInt64, offsets: [Double],
                      _ ours: ([Variable<Self>]) throws -> Variable<Self>,
                      reference: ([Variable<Self>]) throws -> Variable<Self>) throws {
        let inputs = try shapes.enumerated().map { try random($1, seed: seed &+ UInt64($0), offset: offsets[$0]) }
        try compare(inputs: inputs, seed: seed, ours, reference: reference)
    }

    static func compare(inputs: [Tensor<Self>], seed: UInt64, wantGradient: [Bool]? = nil,
                        _ ours: ([Variable<Self>]) throws -> Variable<Self>,
                        reference: ([Variable<Self>]) throws -> Variable<Self>) throws {
        let outShape = try noGrad { try reference(inputs.map { Variable($0) }).shape }
        let cotangent = try random(outShape, seed: seed &+ 99)
        let (y0, g0) = try valueAndGradient(at: inputs, seed: cotangent, of: ours)
        let (y1, g1) = try valueAndGradient(at: inputs, seed: cotangent, of: reference)
        let tol = tolerance
        #expect(maxRelative(y0, y1) <= tol, "\(Self.self): value error \(maxRelative(y0, y1))")
        for (i, (a, b)) in zip(g0, g1).enumerated() where wantGradient?[i] ?? true {
            #expect(maxRelative(a, b) <= tol, "\(Self.self): gradient of input \(i): relative error \(maxRelative(a, b))")
        }
        // Nothing above may pass vacuously: the compared gradients are not all zero.
        #expect(g1.enumerated().contains { (wantGradient?[$0] ?? true) && $1.scalars.contains { $0 != 0 } })
    }

    static func checkRotary(b: Int, t: Int, heads: Int, d: Int, theta: Double, positions: [Int]) throws {
        let half = d / 2
        let rope = try RotaryEmbedding<Self>(positions: positions, headDim: d, theta: theta)
        // cos/sin [B, T, 1, d] (both halves), computed here from the definition.
        var cosValues: [Double] = [], sinValues: [Double] = []
        for p in positions {
            let angles = (0..<half).map { Double(p) * Foundation.pow(theta, -Double(2 * $0) / Double(d)) }
            cosValues += (angles + angles).map { Foundation.cos($0) }
            sinValues += (angles + angles).map { Foundation.sin($0) }
        }
        let cosT = try Tensor<Double>(shape: [b, t, 1, d], scalars: cosValues).converted(to: Self.self)
        let sinT = try Tensor<Double>(shape: [b, t, 1, d], scalars: sinValues).converted(to: Self.self)
        let x = try random([b, t, heads * d], seed: 3)
        try compare(inputs: [x], seed: 3) { v in
            try Layers.rotary(v[0], rope)
        } reference: { v in
            let x4 = try v[0].reshaped([b, t, heads, d])
            let x1 = try x4.sliced(axis: 3, 0..<half), x2 = try x4.sliced(axis: 3, half..<d)
            let rotated = try Variable.concatenated([-x2, x1], axis: 3)
            let y = try x4 * Variable(cosT) + rotated * Variable(sinT)
            return try y.reshaped([b, t, heads * d])
        }
    }

    static func checkAttention(heads: Int, kvHeads: Int, detach: Bool) throws {
        let (b, t, d) = (2, 7, 4)
        let group = heads / kvHeads
        // Row 1 has padded keys in the middle and at the end; every query still sees a real key.
        var mask = [UInt8](repeating: 1, count: b * t)
        for j in [2, 3, 6] { mask[t + j] = 0 }
        let additive = try Tensor<Double>(shape: [b, 1, 1, t], scalars: mask.map { $0 == 1 ? 0 : -Double.infinity })
            .converted(to: Self.self)
        let q = try random([b, t, heads * d], seed: 11), k = try random([b, t, kvHeads * d], seed: 12)
        let v = try random([b, t, kvHeads * d], seed: 13)
        let scale = Self(1 / Double(d).squareRoot())
        try compare(inputs: [q, k, v], seed: 14, wantGradient: detach ? [false, false, true] : nil) { x in
            try Layers.attention(q: x[0], k: x[1], v: x[2], heads: heads, kvHeads: kvHeads, scale: scale, keyMask: mask,
                                 detachProbabilities: detach)
        } reference: { x in
            func split(_ y: Variable<Self>, _ n: Int) throws -> Variable<Self> {
                try y.reshaped([b, t, n, d]).transposed(1, 2)  // [B, n, T, d]
            }
            let repeatKV = (0..<heads).map { $0 / group }
            let kk = try split(x[1], kvHeads).gathered(indices: repeatKV, axis: 1)
            let vv = try split(x[2], kvHeads).gathered(indices: repeatKV, axis: 1)
            let o = try scaledDotProductAttention(query: split(x[0], heads), key: kk, value: vv, mask: additive,
                                                  causal: true, scale: scale, detachProbabilities: detach)
            return try o.transposed(1, 2).reshaped([b, t, heads * d])
        }
        if detach {
            // q and k get no gradient at all.
            let (_, g) = try valueAndGradient(at: [q, k, v], seed: try random([b, t, heads * d], seed: 15)) { x in
                try Layers.attention(q: x[0], k: x[1], v: x[2], heads: heads, kvHeads: kvHeads, scale: scale,
                                     keyMask: mask, detachProbabilities: true)
            }
            #expect(g[0].scalars.allSatisfy { $0 == 0 } && g[1].scalars.allSatisfy { $0 == 0 })
        }
    }
}

import Foundation

/// A seeded pseudo-random generator (xoshiro256**, seeded through SplitMix64). The same seed gives the
/// same stream on every run and platform.
public struct TensorRNG: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    /// A generator whose stream is determined by `seed`.
    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotl(s.1 &* 5, 7) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = rotl(s.3, 45)
        return result
    }

    @inline(__always) private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// A uniform `Double` in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A standard normal `Double` (Box–Muller; both outputs are used, in order).
    public mutating func nextNormal() -> Double {
        if let z = spare { spare = nil; return z }
        var u1 = nextUnit()
        while u1 == 0 { u1 = nextUnit() }
        let u2 = nextUnit()
        let r = (-2 * Double.log(u1)).squareRoot()
        let theta = 2 * Double.pi * u2
        spare = r * Foundation.sin(theta)
        return r * Foundation.cos(theta)
    }

    private var spare: Double?
}


extension Tensor {
    /// Independent samples from U[`low`, `high`).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func uniform(_ shape: [Int], low: Scalar = 0, high: Scalar = 1,
                               using rng: inout TensorRNG) throws -> Tensor {
        let n = try checkedCount(shape, op: "uniform")
        let lo = Double(low), span = Double(high) - Double(low)
        let out = Tensor(uninitializedShape: shape)
        for i in 0..<n { out.storage.base[i] = Scalar(lo + span * rng.nextUnit()) }
        return out
    }

    /// Independent samples from N(`mean`, `std`²).
    @_specialize(where Scalar == Float)
    @_specialize(where Scalar == Double)
    public static func normal(_ shape: [Int], mean: Scalar = 0, std: Scalar = 1,
                              using rng: inout TensorRNG) throws -> Tensor {
        let n = try checkedCount(shape, op: "normal")
        let out = Tensor(uninitializedShape: shape)
        for i in 0..<n { out.storage.base[i] = Scalar(Double(mean) + Double(std) * rng.nextNormal()) }
        return out
    }
}

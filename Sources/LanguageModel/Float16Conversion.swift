/// Bit-exact conversions between `Float` and the 16-bit formats checkpoints use: IEEE 754 binary16
/// (safetensors `F16`) and bfloat16 (`BF16`).
///
/// Written with integer operations so they behave the same on every platform (Swift's `Float16` is not
/// available everywhere). Widening is exact, including subnormals and infinities; NaNs keep their sign and
/// payload and come out quiet, as a hardware conversion does. Narrowing rounds to nearest, ties to even.
public enum HalfPrecision {
    /// The `Float` value of binary16 bits.
    ///
    /// Branch-free, so conversion loops vectorise: the exponent and mantissa shifted into a `Float` and
    /// scaled by 2^112 give every finite value exactly (subnormals included); infinities and NaNs are
    /// selected separately.
    @inline(__always)
    public static func float(fromHalf bits: UInt16) -> Float {
        let x = UInt32(bits)
        let sign = (x & 0x8000) << 16
        let magnitudeBits = x & 0x7FFF
        let finite = (Float(bitPattern: magnitudeBits << 13) * 0x1p112).bitPattern
        let special = 0x7F80_0000 | (magnitudeBits & 0x3FF) << 13 | (magnitudeBits > 0x7C00 ? 0x40_0000 : 0)
        return Float(bitPattern: sign | (magnitudeBits >= 0x7C00 ? special : finite))
    }

    /// The binary16 bits nearest to `value` (ties to even; overflow gives infinity).
    public static func half(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let exponent = Int((bits >> 23) & 0xFF)
        let mantissa = bits & 0x7F_FFFF
        if exponent == 0xFF {
            if mantissa == 0 { return sign | 0x7C00 }
            return sign | 0x7E00 | UInt16(truncatingIfNeeded: mantissa >> 13)
        }
        let e = exponent - 112  // the binary16 biased exponent
        if e >= 0x1F { return sign | 0x7C00 }
        if e >= 1 {
            var h = UInt32(e) << 10 | mantissa >> 13
            let rest = mantissa & 0x1FFF
            if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }  // a carry may reach infinity: right
            return sign | UInt16(truncatingIfNeeded: h)
        }
        if e < -10 { return sign }  // below half the smallest subnormal (2^-25): rounds to zero
        // Subnormal result: k · 2^-24 with k = m · 2^(e - 14), rounded; k = 1024 is the smallest normal.
        let m = mantissa | 0x80_0000
        let shift = UInt32(14 - e)
        var k = m >> shift
        let rest = m & ((1 << shift) - 1)
        let halfway = UInt32(1) << (shift - 1)
        if rest > halfway || (rest == halfway && k & 1 == 1) { k += 1 }
        return sign | UInt16(truncatingIfNeeded: k)
    }

    /// The `Float` value of bfloat16 bits (the upper half of a `Float`).
    @inline(__always)
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        let f = UInt32(bits) << 16
        let isNaN = f & 0x7FFF_FFFF > 0x7F80_0000
        return Float(bitPattern: f | (isNaN ? 0x0040_0000 : 0))  // NaNs come out quiet
    }

    /// The bfloat16 bits nearest to `value` (ties to even; overflow gives infinity; NaN stays NaN).
    public static func bfloat16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}

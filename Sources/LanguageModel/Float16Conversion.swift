/// Bit-exact conversions between `Float` and the 16-bit formats checkpoints use: IEEE 754 binary16
/// (safetensors `F16`) and bfloat16 (`BF16`).
///
/// Written with integer operations (and one IEEE addition) so they behave the same on every platform (Swift's
/// `Float16` is not available everywhere). Widening is exact, including subnormals and infinities; NaNs keep
/// their sign and payload and come out quiet, as a hardware conversion does. Narrowing rounds to nearest, ties
/// to even. All four are inlinable: a TinT run with 16-bit prefixes converts every prefix tensor before and
/// after each module, and as calls across modules the conversions took a fifth of its time.
public enum HalfPrecision {
    /// The `Float` value of binary16 bits.
    ///
    /// Branch-free, so conversion loops vectorise: the exponent and mantissa shifted into a `Float` and
    /// scaled by 2^112 give every finite value exactly (subnormals included); infinities and NaNs are
    /// selected separately.
    @inlinable @inline(__always)
    public static func float(fromHalf bits: UInt16) -> Float {
        let x = UInt32(bits)
        let sign = (x & 0x8000) << 16
        let magnitudeBits = x & 0x7FFF
        let finite = (Float(bitPattern: magnitudeBits << 13) * 0x1p112).bitPattern
        let special = 0x7F80_0000 | (magnitudeBits & 0x3FF) << 13 | (magnitudeBits > 0x7C00 ? 0x40_0000 : 0)
        return Float(bitPattern: sign | (magnitudeBits >= 0x7C00 ? special : finite))
    }

    /// The binary16 bits nearest to `value` (ties to even; overflow gives infinity; NaNs keep their sign and the
    /// top of their payload and come out quiet).
    ///
    /// Branch-free (the three cases are computed and selected), so conversion loops vectorise. Normal results
    /// round the mantissa with an integer add (`0xFFF` plus the kept last bit: ties to even, and a carry into the
    /// exponent is right, up to infinity); subnormal results come from the FPU's own rounding, by adding 0.5 so
    /// that the result's last place is the binary16 subnormal unit 2^-24.
    @inlinable @inline(__always)
    public static func half(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
        let f = bits & 0x7FFF_FFFF
        let special: UInt32 = f > 0x7F80_0000 ? 0x7E00 | (f >> 13) & 0x3FF : 0x7C00  // NaN : ±∞ or overflow
        let magic: UInt32 = 126 << 23  // 0.5
        let subnormal = (Float(bitPattern: f) + Float(bitPattern: magic)).bitPattern &- magic
        let normal = (f &+ 0xC800_0FFF &+ ((f >> 13) & 1)) >> 13  // rebias the exponent by 15 − 127, round
        let h = f >= 0x4780_0000 ? special : f < 0x3880_0000 ? subnormal : normal  // ≥ 2^16 : < 2^-14
        return sign | UInt16(truncatingIfNeeded: h)
    }

    /// The `Float` value of bfloat16 bits (the upper half of a `Float`).
    @inlinable @inline(__always)
    public static func float(fromBFloat16 bits: UInt16) -> Float {
        let f = UInt32(bits) << 16
        let isNaN = f & 0x7FFF_FFFF > 0x7F80_0000
        return Float(bitPattern: f | (isNaN ? 0x0040_0000 : 0))  // NaNs come out quiet
    }

    /// The bfloat16 bits nearest to `value` (ties to even; overflow gives infinity; NaN stays NaN).
    @inlinable @inline(__always)
    public static func bfloat16(from value: Float) -> UInt16 {
        let bits = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: bits >> 16) | 0x0040 }
        let rounded = bits &+ 0x7FFF &+ ((bits >> 16) & 1)
        return UInt16(truncatingIfNeeded: rounded >> 16)
    }
}

import Foundation
import Testing
import Tensor
@testable import LanguageModel
@testable import OPT

@Suite struct HalfPrecisionTests {
    /// The branch-free narrowing against the branchy one it replaced (case by case: overflow, normal rounding,
    /// subnormal rounding by shift, NaN payloads) and, where Swift has `Float16`, against the platform's conversion.
    /// Every combination of sign, exponent and top 10 mantissa bits with the 13 dropped bits at and around the
    /// rounding boundary (0, 1, just below, at and just above half, all ones), plus 1M random bit patterns.
    @Test func narrowingMatchesReferenceBitForBit() {
        var mismatches: [UInt32] = []
        func check(_ bits: UInt32) {
            let x = Float(bitPattern: bits)
            var want = referenceHalf(x)
#if !(os(macOS) && arch(x86_64))
            if !x.isNaN { want = Float16(x).bitPattern }  // the platform rounds NaN payloads its own way
#endif
            if HalfPrecision.half(from: x) != want, mismatches.count < 8 { mismatches.append(bits) }
        }
        for high in UInt32(0)..<(1 << 19) {
            for low: UInt32 in [0, 1, 0xFFF, 0x1000, 0x1001, 0x1FFF] { check(high << 13 | low) }
        }
        // Subnormal results round at a higher bit (below 2^-14 the binary16 unit is 2^-24): around every halfway point.
        for exponent in UInt32(102)..<113 {
            let shift = 126 - exponent  // dropped bits of the 24-bit significand
            for k in UInt32(0)..<(1 << (24 - shift)) where k % 3 == 0 || k < 64 {
                let halfway = (k << shift) | (1 << (shift - 1))
                for m in [halfway - 1, halfway, halfway + 1] where m < 1 << 24 && m >= 1 << 23 {
                    check(exponent << 23 | (m & 0x7F_FFFF))
                }
            }
        }
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15  // xorshift64, fixed seed
        for _ in 0..<1_000_000 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            check(UInt32(truncatingIfNeeded: state >> 16))
        }
        #expect(mismatches.isEmpty, "first mismatching fp32 bit patterns: \(mismatches.map { String($0, radix: 16) })")
    }

    @Test func halfToFloatKnownPatterns() {
        let cases: [(UInt16, Float)] = [
            (0x0000, 0), (0x3C00, 1), (0xBC00, -1), (0x4000, 2), (0x3555, 0.333251953125), (0xC000, -2),
            (0x0001, 0x1p-24), (0x8001, -0x1p-24), (0x03FF, 1023 * 0x1p-24), (0x0400, 0x1p-14),
            (0x7BFF, 65504), (0xFBFF, -65504), (0x7C00, .infinity), (0xFC00, -.infinity), (0x3C01, 1 + 0x1p-10),
        ]
        for (bits, value) in cases {
            #expect(HalfPrecision.float(fromHalf: bits) == value, "0x\(String(bits, radix: 16))")
        }
        #expect(HalfPrecision.float(fromHalf: 0x8000).bitPattern == 0x8000_0000)  // -0 keeps its sign
        for nan: UInt16 in [0x7E00, 0xFE00, 0x7C01, 0x7FFF, 0x7D55] {
            let f = HalfPrecision.float(fromHalf: nan)
            #expect(f.isNaN && !f.isSignalingNaN)
            #expect((f.sign == .minus) == (nan & 0x8000 != 0))
            #expect(f.bitPattern & 0x003F_E000 == UInt32(nan & 0x1FF) << 13, "payload kept")
        }
    }

    @Test func floatToHalfRoundsToNearestEven() {
        let cases: [(Float, UInt16)] = [
            (0, 0x0000), (-0.0, 0x8000), (1, 0x3C00), (65504, 0x7BFF), (65519.996, 0x7BFF), (65520, 0x7C00),
            (1e10, 0x7C00), (-1e10, 0xFC00), (.infinity, 0x7C00), (-.infinity, 0xFC00),
            (0x1p-24, 0x0001), (0x1p-25, 0x0000), (0x1.000002p-25, 0x0001), (1.5 * 0x1p-24, 0x0002),
            (2.5 * 0x1p-24, 0x0002), (3.5 * 0x1p-24, 0x0004), (0x1p-14, 0x0400), (0x1.ffcp-15, 0x0400), (0x1.ff8p-15, 0x03FF),
            (0x1.ff0p-15, 0x03FE), (1 + 0x1p-11, 0x3C00), (1 + 3 * 0x1p-11, 0x3C02), (Float(bitPattern: 0x3F80_1001), 0x3C01),
            (.leastNonzeroMagnitude, 0x0000), (-.leastNonzeroMagnitude, 0x8000), (.greatestFiniteMagnitude, 0x7C00),
        ]
        for (value, bits) in cases {
            #expect(HalfPrecision.half(from: value) == bits, "\(value)")
        }
        let nan = HalfPrecision.half(from: .nan)
        #expect(nan & 0x7C00 == 0x7C00 && nan & 0x03FF != 0)
        #expect(HalfPrecision.half(from: -Float.nan) & 0x8000 != 0)
    }

    @Test func everyHalfRoundTripsThroughFloat() {
        for bits in 0...UInt16.max {
            let f = HalfPrecision.float(fromHalf: bits)
            let back = HalfPrecision.half(from: f)
            if f.isNaN {
                #expect(back & 0x7C00 == 0x7C00 && back & 0x3FF != 0 && back & 0x8000 == bits & 0x8000)
            } else if back != bits {
                Issue.record("0x\(String(bits, radix: 16)) → \(f) → 0x\(String(back, radix: 16))")
            }
        }
    }

    /// Narrowing checked against exact arithmetic: the result is the nearest half, ties to even mantissa.
    @Test func halfNarrowingMatchesExactNearest() {
        var rng = TensorRNG(seed: 7)
        var finite: [Float] = []
        for bits in 0...UInt16.max where !HalfPrecision.float(fromHalf: bits).isNaN && bits & 0x7C00 != 0x7C00 {
            finite.append(HalfPrecision.float(fromHalf: bits))
        }
        finite.sort()
        for _ in 0..<200_000 {
            let u = UInt32(truncatingIfNeeded: rng.next())
            // Exponents spread over the half range and beyond.
            let bits = (u & 0x807F_FFFF) | (UInt32(97 + (u >> 23) % 48) << 23)
            let x = Float(bitPattern: bits)
            let h = HalfPrecision.half(from: x)
            let got = HalfPrecision.float(fromHalf: h)
            if abs(x) >= 65520 { #expect(got.isInfinite); continue }
            // The neighbours of |x| among finite halves.
            let m = abs(x)
            var lo = 0, hi = finite.count - 1
            while lo < hi { let mid = (lo + hi + 1) / 2; if finite[mid] <= m { lo = mid } else { hi = mid - 1 } }
            let below = finite[lo], above = lo + 1 < finite.count ? finite[lo + 1] : .infinity
            let dBelow = Double(m) - Double(below), dAbove = Double(above) - Double(m)
            let expected: Float
            if dBelow < dAbove { expected = below } else if dAbove < dBelow { expected = above } else {
                expected = HalfPrecision.half(from: below) & 1 == 0 ? below : above
            }
            if abs(got) != expected { Issue.record("\(x): got \(got), expected \(expected)"); break }
        }
    }

    #if !((os(macOS) || os(iOS) || os(tvOS) || os(watchOS)) && arch(x86_64))
    @Test func agreesWithSwiftFloat16() {
        for bits in 0...UInt16.max {
            let ours = HalfPrecision.float(fromHalf: bits)
            let swift = Float(Float16(bitPattern: bits))
            #expect(ours.bitPattern == swift.bitPattern || (ours.isNaN && swift.isNaN))
        }
        var rng = TensorRNG(seed: 3)
        for _ in 0..<100_000 {
            let x = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
            let swift = Float16(x)
            let ours = HalfPrecision.half(from: x)
            #expect(ours == swift.bitPattern || (x.isNaN && swift.isNaN))
        }
    }
    #endif

    @Test func bfloat16Conversions() {
        #expect(HalfPrecision.float(fromBFloat16: 0x3F80) == 1)
        #expect(HalfPrecision.float(fromBFloat16: 0xC2F7) == -123.5)
        #expect(HalfPrecision.float(fromBFloat16: 0x0001) == Float(bitPattern: 0x0001_0000))  // subnormal
        #expect(HalfPrecision.float(fromBFloat16: 0x7F80) == .infinity)
        #expect(HalfPrecision.float(fromBFloat16: 0xFF80) == -.infinity)
        #expect(HalfPrecision.float(fromBFloat16: 0x7F81).isNaN && !HalfPrecision.float(fromBFloat16: 0x7F81).isSignalingNaN)
        for bits in 0...UInt16.max {
            let f = HalfPrecision.float(fromBFloat16: bits)
            if !f.isNaN { #expect(f.bitPattern == UInt32(bits) << 16) }
            let back = HalfPrecision.bfloat16(from: f)
            #expect(back == bits || (f.isNaN && back & 0x7F80 == 0x7F80 && back & 0x7F != 0))
        }
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie → even
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x3F81_8000)) == 0x3F82)  // tie → even
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x3F80_8001)) == 0x3F81)
        #expect(HalfPrecision.bfloat16(from: Float(bitPattern: 0x7F7F_8000)) == 0x7F80)  // overflow → inf
        #expect(HalfPrecision.bfloat16(from: .nan) & 0x7FC0 == 0x7FC0)
    }

    /// torch 2.13's CPU conversions of special patterns (Scripts/make_fixtures.py).
    @Test func matchesTorchConversions() throws {
        let file = try SafetensorsFile(contentsOf: Fixtures.url("safetensors/conversions.safetensors"))
        func bits16(_ name: String) throws -> [UInt16] {
            let raw = try file.rawBytes(of: name)
            return stride(from: 0, to: raw.count, by: 2).map { UInt16(raw[$0]) | UInt16(raw[$0 + 1]) << 8 }
        }
        func same(_ a: [Float], _ b: [Float], _ label: String) {
            #expect(a.count == b.count && !a.isEmpty, "\(label)")
            for (x, y) in zip(a, b) where !(x.bitPattern == y.bitPattern || (x.isNaN && y.isNaN)) {
                Issue.record("\(label): \(x) vs torch \(y)")
            }
        }
        same(try file.tensor(named: "f16").scalars, try file.tensor(named: "f16_as_f32").scalars, "F16 → F32")
        same(try file.tensor(named: "bf16").scalars, try file.tensor(named: "bf16_as_f32").scalars, "BF16 → F32")
        let f32 = try file.tensor(named: "f32").scalars
        let toHalf = try bits16("f32_as_f16"), toBF16 = try bits16("f32_as_bf16")
        for (k, x) in f32.enumerated() {
            let h = HalfPrecision.half(from: x), b = HalfPrecision.bfloat16(from: x)
            if x.isNaN {
                #expect(HalfPrecision.float(fromHalf: toHalf[k]).isNaN && HalfPrecision.float(fromHalf: h).isNaN)
            } else {
                #expect(h == toHalf[k], "F32 \(x) → F16")
                #expect(b == toBF16[k], "F32 \(x) → BF16")
            }
        }
    }
}

/// The narrowing `HalfPrecision.half(from:)` had before it was made branch-free: the reference of its test.
private func referenceHalf(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    let sign = UInt16(truncatingIfNeeded: (bits >> 16) & 0x8000)
    let exponent = Int((bits >> 23) & 0xFF)
    let mantissa = bits & 0x7F_FFFF
    if exponent == 0xFF {
        if mantissa == 0 { return sign | 0x7C00 }
        return sign | 0x7E00 | UInt16(truncatingIfNeeded: mantissa >> 13)
    }
    let e = exponent - 112
    if e >= 0x1F { return sign | 0x7C00 }
    if e >= 1 {
        var h = UInt32(e) << 10 | mantissa >> 13
        let rest = mantissa & 0x1FFF
        if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) { h += 1 }
        return sign | UInt16(truncatingIfNeeded: h)
    }
    if e < -10 { return sign }
    let m = mantissa | 0x80_0000
    let shift = UInt32(14 - e)
    var k = m >> shift
    let rest = m & ((1 << shift) - 1)
    let halfway = UInt32(1) << (shift - 1)
    if rest > halfway || (rest == halfway && k & 1 == 1) { k += 1 }
    return sign | UInt16(truncatingIfNeeded: k)
}

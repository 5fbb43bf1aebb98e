import LanguageModel
import Tensor

/// How a TinT run keeps its prefix tensors (the aux weights, Docs/TINT.md §1) between modules: as computed
/// (`.native`: the program's scalar), or rounded to 16 bits — bfloat16 (8-bit significand, fp32's range) or IEEE
/// binary16 (11-bit significand, range ±65504) — and widened back before each module, so every product still
/// accumulates in the program's scalar (as llama.cpp and MLX keep half weights). Half storage halves the prefixes'
/// memory; the Descent's updated prefixes are rounded to the format when kept, so an update smaller than half the
/// weight's last place is lost (Docs/BENCHMARKS.md, "Half-precision prefix storage").
public enum PrefixStorage: String, Sendable, CaseIterable, Codable {
    case native, bfloat16, float16
}

/// One prefix tensor as a run keeps it: the tensor itself, or its 16-bit rounding.
struct StoredPrefix<Scalar: TensorScalar>: Sendable {
    private let native: Tensor<Scalar>?
    private let bits: [UInt16]
    private let shape: [Int]
    private let storage: PrefixStorage

    init(_ t: Tensor<Scalar>, storage: PrefixStorage) {
        self.storage = storage
        shape = t.shape
        guard storage != .native else { native = t; bits = []; return }
        native = nil
        bits = t.withUnsafeBufferPointer { narrowToHalf($0, bfloat: storage == .bfloat16) }
    }

    /// The tensor in the program's scalar (widened from 16 bits, exactly).
    var tensor: Tensor<Scalar> {
        if let native { return native }
        return bits.withUnsafeBufferPointer { b in
            Tensor<Scalar>.uninitialized(shape) { widenFromHalf(b, into: $0, bfloat: storage == .bfloat16) }
        }
    }

    /// Bytes held.
    var bytes: Int { native.map { $0.count * MemoryLayout<Scalar>.stride } ?? bits.count * 2 }
}

/// The nearest 16-bit values (ties to even) of `x`: bfloat16 or binary16 bits. Split over threads in chunks of
/// ``halfConversionGrain`` elements: a node's prefixes are tens of megabytes, narrowed at every Descent (and widened
/// before every module), and on one thread they left the other idle.
@_specialize(where S == Float)
@_specialize(where S == Double)
func narrowToHalf<S: TensorScalar>(_ x: UnsafeBufferPointer<S>, bfloat: Bool) -> [UInt16] {
    // Through Float: a Double is first rounded to fp32 (the double rounding is below a 16-bit format's last place
    // except at exact ties).
    [UInt16](unsafeUninitializedCapacity: x.count) { out, count in
        let p = UncheckedSendable((x.baseAddress, out.baseAddress))
        parallelChunks(count: x.count, grain: halfConversionGrain) { r in
            guard let src = p.value.0, let dst = p.value.1 else { return }
            // Plain indexed loops over the inlined conversions, so they vectorise.
            if bfloat {
                for i in r { dst[i] = HalfPrecision.bfloat16(from: Float(src[i])) }
            } else {
                for i in r { dst[i] = HalfPrecision.half(from: Float(src[i])) }
            }
        }
        count = x.count
    }
}

/// `out[i]` = the value of 16-bit `bits[i]` (exact); split over threads as ``narrowToHalf(_:bfloat:)``.
@_specialize(where S == Float)
@_specialize(where S == Double)
func widenFromHalf<S: TensorScalar>(_ bits: UnsafeBufferPointer<UInt16>, into out: UnsafeMutablePointer<S>, bfloat: Bool) {
    let p = UncheckedSendable((bits.baseAddress, out))
    parallelChunks(count: bits.count, grain: halfConversionGrain) { r in
        guard let src = p.value.0 else { return }
        let dst = p.value.1
        if bfloat {
            for i in r { dst[i] = S(HalfPrecision.float(fromBFloat16: src[i])) }
        } else {
            for i in r { dst[i] = S(HalfPrecision.float(fromHalf: src[i])) }
        }
    }
}

/// Elements per chunk of a half-precision conversion: 256 KiB of 16-bit values, tens of microseconds.
let halfConversionGrain = 1 << 17
